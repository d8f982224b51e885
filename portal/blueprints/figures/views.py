"""Figures (S5.1.1), the half-year evaluation report (S5.1.2) and improvement measures (S5.2)."""
import re
from datetime import date, timedelta

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from portal import cache, charts
from portal.blueprints.figures import bp
from portal.blueprints.figures.forms import MeasureForm, ProblemsForm, ReportForm
from portal.downloads import download
from portal.extensions import db
from portal.forms import choices
from portal.htmx import render_kept
from portal.i18n import to_local
from portal.inputs import int_arg
from portal.models import Department, FigureKey, Measure, MeasureStatus, PublishedFigures, Report, TicketCategory, utcnow
from portal.pdf import render_pdf
from portal.permissions import (
    DESK,
    FIGURE_READERS,
    OFFICE,
    can_see_report,
    can_use_register,
    can_write_figures,
    figures_department,
    get_or_404,
    me,
    role_required,
    viewer_kind,
)
from portal.services import figures, people, settings
from portal.services.figures import LABELS, MEASURE_STATUSES
from portal.services.tickets import CATEGORY_LABELS



_DAY = re.compile(r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})")
_CATEGORIES = frozenset(c.value for c in TicketCategory)


def _day(name, default):
    """A day from the query string (YYYY-MM-DD), else `default` (read without strptime: the figures
    are viewed often)."""
    found = _DAY.fullmatch(request.args.get(name, ""))
    try:
        day = date(*map(int, found.groups())) if found else None
    except ValueError:
        return default
    return day if day is not None and 2000 <= day.year <= 2100 else default


def _scope(user):
    """A head sees their department's figures; the committee the whole community, without links."""
    return figures_department(user, int_arg("department"))


@bp.route("/")
@role_required(*FIGURE_READERS)
def index():
    """The figures of a period, opening on the current half year to date, with their monthly trend."""
    today = to_local(utcnow()).date()
    default_start, default_end = figures.half_year_to_date(today)
    start_day, end_day = _day("start", default_start), _day("end", default_end)
    if end_day < start_day or (end_day - start_day).days > 3 * 366:
        start_day, end_day = default_start, default_end
    category = request.args.get("category")
    category = category if category in _CATEGORIES else None
    user = me()
    department = _scope(user)
    links = can_use_register(user)
    building = int_arg("building") if links else None
    trend_from = figures.trend_start(start_day, end_day)

    def context():
        start, end = figures.period(start_day, end_day)
        trend = figures.period(trend_from, end_day)
        figures.prefetch((start, end), trend)  # the period's and the trend's month pieces, counted together
        result, breakdowns = figures.compute(start, end, category=category, department=department, building=building)
        months = figures.monthly(*trend, category=category, department=department, building=building)
        names = cache.names()
        return {
            "charts": _charts(breakdowns, names), "trends": _trends(months),
            "result": result, "breakdowns": breakdowns, "start_day": start_day, "end_day": end_day, "category": category,
            "department": department, "building": building, "names": names, "labels": LABELS,
            "categories": {k: str(v) for k, v in CATEGORY_LABELS.items()},
            "targets": {k: figures.target(k) for k in LABELS}, "links": links,
            "published": db.session.scalars(select(PublishedFigures).order_by(PublishedFigures.id.desc()).limit(1)).first(),
            "presets": _presets(today, category, department, building), "months": months,
        }, None

    # Kept per view until a ticket of one of the trend's months changes (the period's are among
    # them), or events and consultations do (participation), or a figure is published.
    key = (viewer_kind(user), start_day, end_day, category, department, building)
    depends = (*figures.day_keys(trend_from, end_day), cache.COMMUNITY, cache.NOTICES)
    return render_kept("dashboard", key, depends, "figures/index.html", "figures/index.html", context)


def _presets(today, category, department, building):
    """The periods one tap away: this half year to date, the previous complete half year."""
    filters = {"category": category, "department": department, "building": building}
    found = []
    for label, (first, last) in ((_("This half year to date"), figures.half_year_to_date(today)),
                                 (_("Previous half year"), figures.half_year_before(today))):
        found.append({"label": label, "first": first, "last": last,
                      "url": url_for("figures.index", start=first.isoformat(), end=last.isoformat(), **filters)})
    return found


CATEGORY_COLOURS = {  # told apart by the legend and the table too, not by colour alone
    TicketCategory.REPAIR: "#0b5cad", TicketCategory.INQUIRY: "#5b9bd5", TicketCategory.COMPLAINT: "#c62828",
    TicketCategory.SUGGESTION: "#f0a202", TicketCategory.PRAISE: "#2e7d32",
}


def _percent(figure):
    return "—" if figure.value is None else f"{figure.percent}%"


def _trends(months):
    """The monthly trend charts: satisfaction, timeliness, emergencies answered in time, tickets per category."""
    firsts = [m.first for m in months]
    span = f"{months[0].first:%Y-%m} – {months[-1].last:%Y-%m}" if months else ""
    header = _("Month")
    trends = {}
    for key in (FigureKey.SATISFACTION, FigureKey.TIMELINESS, FigureKey.EMERGENCY):
        target = figures.target(key)
        trends[key.value] = {
            "title": _("%(figure)s, month by month", figure=LABELS[key]),
            "desc": _("%(figure)s in each month from %(span)s, as a share of %(of)s; the dashed line is the target, %(target)d%%.",
                      figure=LABELS[key], span=span, of=_OF[key], target=round(target * 100)),
            "chart": charts.line(firsts, [m.figures[key].value for m in months], target),
            "headers": [header, LABELS[key], _OF[key]],
            "rows": [(f"{m.first:%Y-%m}", _percent(m.figures[key]), m.figures[key].denominator) for m in months],
        }
    used = [c for c in TicketCategory if any(m.volume.get(c) for m in months)]
    legend = {c: str(CATEGORY_LABELS[c]) for c in used}
    trends["volume"] = {
        "title": _("Tickets registered per month, by category"),
        "desc": _("Tickets registered in each month from %(span)s, stacked by category.", span=span),
        "chart": charts.stacked(firsts, [m.volume for m in months], used), "colours": CATEGORY_COLOURS, "legend": legend,
        "headers": [header, *legend.values(), _("All")],
        "rows": [(f"{m.first:%Y-%m}", *(m.volume.get(c, 0) for c in used), m.total) for m in months],
    }
    return trends


_OF = {FigureKey.SATISFACTION: _l("ratings"), FigureKey.TIMELINESS: _l("results given"), FigureKey.EMERGENCY: _l("emergencies")}


def _charts(breakdowns, names):
    """Rows for the bar charts: (label, value) per category, department and building."""
    label_of = {
        "category": lambda k: str(CATEGORY_LABELS.get(k, k)),
        "department": lambda k: names["departments"].get(k, str(k)),
        "building": lambda k: names["buildings"].get(k, str(k)),
    }
    charts = {}
    for name, groups in breakdowns.items():
        ordered = sorted(groups.items(), key=lambda kv: label_of[name](kv[0]))
        charts[name] = {
            key.value: [(label_of[name](group), figures_[key].value) for group, figures_ in ordered]
            for key in (FigureKey.TIMELINESS, FigureKey.SATISFACTION, FigureKey.RESOLUTION)
        }
    return charts


def _last_month(today):
    first = today.replace(day=1)
    end = first - timedelta(days=1)
    return end.replace(day=1), end


@bp.route("/publish", methods=["POST"])
@role_required(*DESK)
def publish():
    """Last month's headline figures, for residents and the lobby screens."""
    from flask_wtf.csrf import validate_csrf

    validate_csrf(request.form.get("csrf_token"))
    figures.publish(*_last_month(to_local(utcnow()).date()), current_user)
    flash(_("Last month's figures were published to residents and the lobby screens."), "success")
    return redirect(url_for("figures.index"))


@bp.route("/published")
def published():
    """The figures published to residents and the lobby screens: open without signing in, as the
    lobby screens show them to anyone passing (their QR code leads here)."""
    rows = db.session.scalars(select(PublishedFigures).order_by(PublishedFigures.id.desc()).limit(12)).all()
    return render_template("figures/published.html", rows=rows)


# Reports


@bp.route("/reports", methods=["GET", "POST"])
@role_required(*FIGURE_READERS)
def reports():
    form = ReportForm()
    if can_write_figures(current_user) and form.validate_on_submit():
        if form.period_end.data < form.period_start.data:
            form.period_end.errors.append(_("The last day must come after the first."))
        else:
            report = Report(title=form.title.data.strip(), period_start=form.period_start.data, period_end=form.period_end.data,
                            problems=form.problems.data or "", created_by_id=current_user.id)
            db.session.add(report)
            db.session.flush()
            return redirect(url_for("figures.report", report_id=report.id))
    elif request.method == "POST" and not can_write_figures(current_user):
        abort(404)
    if request.method == "GET":
        form.period_start.data, form.period_end.data = figures.half_year_before(to_local(utcnow()).date())
    query = select(Report).order_by(Report.period_end.desc())
    if not can_write_figures(current_user):
        query = query.where(Report.published_at.is_not(None))
    return render_template("figures/reports.html", rows=db.session.scalars(query).all(), form=form,
                           writer=can_write_figures(current_user)), (422 if form.errors else 200)


def _report(report_id):
    return get_or_404(Report, report_id, can_see_report)


def _report_context(report):
    start, end = figures.period(report.period_start, report.period_end)
    length = report.period_end - report.period_start
    prev_end_day = report.period_start - timedelta(days=1)
    prev_start, prev_end = figures.period(prev_end_day - length, prev_end_day)
    current, breakdowns = figures.compute(start, end)
    previous, _prev = figures.compute(prev_start, prev_end)
    measures = db.session.scalars(
        select(Measure).where(Measure.starts_on <= report.period_end, Measure.deadline >= report.period_start).order_by(Measure.id)
    ).all()
    return {"report": report, "current": current, "previous": previous, "breakdowns": breakdowns, "labels": LABELS,
            "targets": {k: figures.target(k) for k in LABELS}, "measures": measures, "names": cache.names(),
            "previous_period": (prev_end_day - length, prev_end_day), "met": figures.met, "measure_statuses": MEASURE_STATUSES}


@bp.route("/reports/<int:report_id>", methods=["GET", "POST"])
@role_required(*FIGURE_READERS)
def report(report_id):
    row = _report(report_id)
    form = ProblemsForm(obj=row)
    if request.method == "POST":
        if not can_write_figures(current_user):
            abort(404)
        if not form.validate_on_submit():
            return render_template("figures/report.html", writer=True, form=form, **_report_context(row)), 422
        if request.form.get("action") == "publish":
            row.published_at = utcnow()
        else:
            row.problems = form.problems.data or ""
        flash(_("Saved."), "success")
        return redirect(url_for("figures.report", report_id=row.id))
    return render_template("figures/report.html", writer=can_write_figures(current_user), form=form, **_report_context(row))


@bp.route("/reports/<int:report_id>/report.pdf")
@role_required(*FIGURE_READERS)
def report_pdf(report_id):
    row = _report(report_id)
    with force_locale("zh_Hans"):  # the company's written report is Chinese
        pdf = render_pdf("pdf/evaluation_report.html", **_report_context(row), hotline=settings.get("hotline"))
    return download(pdf, "application/pdf", f"evaluation-report-{row.period_start}-{row.period_end}.pdf")


# Improvement measures


def _measure_form(form):
    form.department_id.choices = choices([(0, "—")] + [(d.id, d.name) for d in db.session.scalars(select(Department).where(Department.is_active))])
    form.owner_id.choices = choices((u.id, u.name) for u in people.back_office_staff())
    return form


@bp.route("/measures", methods=["GET", "POST"])
@role_required(*OFFICE)
def measures():
    form = _measure_form(MeasureForm())
    if form.validate_on_submit():
        measure = _new_measure(form)
        flash(_("The measure was recorded with its figure before it started."), "success")
        return redirect(url_for("figures.measure", measure_id=measure.id))
    rows = db.session.scalars(select(Measure).order_by(Measure.id.desc())).all()
    return render_template("figures/measures.html", rows=rows, form=form, labels=LABELS, statuses=MEASURE_STATUSES), (422 if request.method == "POST" else 200)


def _baseline(figure, starts_on, department):
    """The figure over the same length of time before the measure started."""
    start, end = figures.period(starts_on - timedelta(days=90), starts_on - timedelta(days=1))
    return figures.single(figure, start, end, department=department)


def _new_measure(form, revision_of=None):
    department = form.department_id.data or None
    measure = Measure(
        problem=form.problem.data, goal=form.goal.data, figure=FigureKey(form.figure.data), target=form.target.data / 100,
        department_id=department, owner_id=form.owner_id.data, starts_on=form.starts_on.data, deadline=form.deadline.data,
        steps=form.steps.data or "", status=MeasureStatus.PLANNED, revision_of_id=revision_of.id if revision_of else None,
        before_value=_baseline(form.figure.data, form.starts_on.data, department),
    )
    db.session.add(measure)
    db.session.flush()
    return measure


@bp.route("/measures/<int:measure_id>", methods=["GET", "POST"])
@role_required(*OFFICE)
def measure(measure_id):
    row = db.session.get(Measure, measure_id) or abort(404)
    form = _measure_form(MeasureForm(obj=row if request.method == "GET" else None))
    if request.method == "GET":
        form.target.data = round(row.target * 100)
        form.figure.data = row.figure.value
        form.department_id.data = row.department_id or 0
    if request.method == "POST":
        from flask_wtf.csrf import validate_csrf

        action = request.form.get("action")
        if action in ("start", "verify"):
            validate_csrf(request.form.get("csrf_token"))
            if action == "start":
                row.status = MeasureStatus.IN_PROGRESS
            else:
                start, end = figures.period(row.starts_on, min(row.deadline, to_local(utcnow()).date()))
                row.after_value = figures.single(row.figure, start, end, department=row.department_id)
                row.verified_at = utcnow()
                row.status = MeasureStatus.MET if row.after_value is not None and row.after_value >= row.target else MeasureStatus.MISSED
            return redirect(url_for("figures.measure", measure_id=row.id))
        if action == "revise" and form.validate_on_submit() and row.status == MeasureStatus.MISSED:
            revised = _new_measure(form, revision_of=row)
            row.status = MeasureStatus.REVISED
            flash(_("The revised measure is tracked again."), "success")
            return redirect(url_for("figures.measure", measure_id=revised.id))
    return render_template("figures/measure.html", row=row, form=form, labels=LABELS, statuses=MEASURE_STATUSES), (422 if request.method == "POST" else 200)


