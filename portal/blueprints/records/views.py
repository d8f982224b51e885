"""Communication records (S3.6), daily outreach (S4.1.1) and training (S6.2)."""
import re
from datetime import date, datetime, timedelta

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from portal import cache
from portal.blueprints.records import bp
from portal.blueprints.records.forms import RecordForm, TrainingForm, TrainingPlanForm
from portal.downloads import csv_download, download
from portal.extensions import db
from portal.forms import choices
from portal.i18n import from_local, to_local
from portal.inputs import int_arg
from portal.models import Department, Event, RecordKind, TrainingAttendance, TrainingMethod, TrainingPlanItem, TrainingSession, TrainingTopic, User, utcnow
from portal.pdf import render_pdf
from portal.permissions import (
    BACK_OFFICE,
    OFFICE,
    can_edit_training_item,
    can_plan_training,
    can_see_training_of,
    get_or_404,
    outreach_department,
    role_required,
    training_plan_departments,
)
from portal.services import people, records, tickets
from portal.services import training as plans
from portal.services.records import KIND_LABELS, METHOD_LABELS, TOPIC_LABELS

PAGE = 50


def _labels():
    return {"kinds": {k: str(v) for k, v in KIND_LABELS.items()}, "topics": TOPIC_LABELS, "methods": METHOD_LABELS}


def _period():
    def day(name):
        try:
            value = datetime.strptime(request.args.get(name, ""), "%Y-%m-%d").date()
        except ValueError:
            return None
        return value if 2000 <= value.year <= 2100 else None

    since, until = day("since"), day("until")
    return (since, until,
            from_local(datetime.combine(since, datetime.min.time())) if since else None,
            from_local(datetime.combine(until + timedelta(days=1), datetime.min.time())) if until else None)


def _local_time(raw):
    try:
        value = datetime.strptime(raw, "%Y-%m-%dT%H:%M")
    except ValueError:
        return None
    return value if 2000 <= value.year <= 2100 else None


def _query():
    kind = request.args.get("kind", "")
    kind = kind if kind in {k.value for k in RecordKind} else None
    since, until, start, end = _period()
    return records.search(kind, start, end, (request.args.get("q") or "").strip()[:50]), kind, since, until


@bp.route("/")
@role_required(*OFFICE)
def index():
    query, kind, since, until = _query()
    before = int_arg("before")
    if before:
        query = records.after(query, before)
    rows = db.session.scalars(query.order_by(records.CommRecord.occurred_at.desc(), records.CommRecord.id.desc()).limit(PAGE + 1)).all()
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    args = {k: v for k, v in request.args.items() if k != "before" and v}
    return render_template("records/index.html", rows=rows, kind=kind, since=since, until=until, q=request.args.get("q", ""),
                           next_url=url_for("records.index", before=rows[-1].id, **args) if more else None, args=args, **_labels())


@bp.route("/new", methods=["GET", "POST"])
@role_required(*OFFICE)
def new():
    form = RecordForm()
    now = utcnow()
    recent = db.session.scalars(
        select(Event).where(Event.starts_at > now - timedelta(days=90), Event.starts_at < now + timedelta(days=60)).order_by(Event.starts_at.desc())
    ).all()
    form.event_id.choices = choices([(0, "—")] + [(e.id, f"{to_local(e.starts_at):%Y-%m-%d} {e.title}") for e in recent])
    if request.method == "GET" and request.args.get("kind") in {k.value for k in RecordKind}:
        form.kind.data = request.args["kind"]
    if request.method == "GET" and request.args.get("at"):
        form.occurred_at.data = _local_time(request.args["at"])  # a missed week's meeting, filed after the fact
    if form.validate_on_submit():
        resident = None
        if (form.resident_phone.data or "").strip():
            resident = people.resident_by_phone(form.resident_phone.data.strip())
            if resident is None:
                form.resident_phone.errors.append(_("No registered resident has this phone number."))
        ticket = None
        if (form.ticket_number.data or "").strip():
            ticket = tickets.by_number(form.ticket_number.data)
            if ticket is None:
                form.ticket_number.errors.append(_("There is no ticket with this number."))
        event = db.session.get(Event, form.event_id.data) if form.event_id.data else None
        if not form.errors:
            records.add(form.kind.data, form.occurred_at.utc or now, form.content.data, current_user, now, place=form.place.data or "",
                        participants=form.participants.data or "", result=form.result.data or "", resident=resident, ticket=ticket,
                        event=event, idempotency_key=form.key)
            flash(_("The record was filed."), "success")
            return redirect(url_for("records.index"))
    return render_template("records/new.html", form=form), (422 if request.method == "POST" else 200)


@bp.route("/export.csv")
@role_required(*OFFICE)
def export():
    query, *_rest = _query()
    labels = _labels()

    header = [_("When"), _("Kind"), _("Place"), _("Participants"), _("Content"), _("Result"), _("Recorded by")]

    def row(r):
        return [to_local(r.occurred_at).strftime("%Y-%m-%d %H:%M"), labels["kinds"][r.kind], r.place, r.participants, r.content, r.result,
                r.staff.name]

    return csv_download("communication-records.csv", header, query.order_by(records.CommRecord.occurred_at), row)


@bp.route("/register.pdf")
@role_required(*OFFICE)
def register_pdf():
    """The records of a period as a printed register, filed by time and kind."""
    query, kind, since, until = _query()
    rows = db.session.scalars(query.order_by(records.CommRecord.occurred_at).limit(2000)).all()
    with force_locale("zh_Hans"):  # the printed register is the company's Chinese archive
        pdf = render_pdf("pdf/records_register.html", rows=rows, since=since, until=until, kind=kind, **_labels())
    return download(pdf, "application/pdf", "communication-register.pdf")


@bp.route("/outreach")
@role_required(*BACK_OFFICE)
def outreach():
    now = utcnow()
    done, target = records.outreach_today(current_user, now)
    week = days = None
    sees_week, department_id = outreach_department(current_user)
    if sees_week:
        week, days = records.outreach_week(department_id, now)
    return render_template("records/outreach.html", done=done, target=target, week=week, days=days)


@bp.route("/training", methods=["GET", "POST"])
@role_required(*OFFICE)
def training():
    form = TrainingForm()
    staff = people.back_office_staff()
    form.attendees.choices = choices((u.id, u.name) for u in staff)
    form.plan_item_id.choices = choices([(0, "—")] + [(i, f"{y}-{m:02d} {title}") for i, y, m, title in plans.session_choices(to_local(utcnow()).date())])
    if request.method == "GET" and (plan := int_arg("plan")):
        _prefill_from_plan(form, plan)
    if form.validate_on_submit():
        session_row = TrainingSession(title=form.title.data.strip(), topic=form.topic.data, method=form.method.data,
                                      held_on=form.held_on.data, trainer=form.trainer.data.strip(), plan_item_id=form.plan_item_id.data or None)
        session_row.attendees = [TrainingAttendance(user_id=i) for i in form.attendees.data or []]
        db.session.add(session_row)
        db.session.flush()
        flash(_("The training session was recorded."), "success")
        return redirect(url_for("records.training_session", session_id=session_row.id))
    sessions = db.session.scalars(select(TrainingSession).order_by(TrainingSession.held_on.desc()).limit(100)).all()
    return render_template("records/training.html", form=form, sessions=sessions, staff=staff, **_labels()), (422 if request.method == "POST" else 200)


def _prefill_from_plan(form, item_id):
    """Recording the session a plan item asked for: its content, topic, method and audience filled in."""
    item = db.session.get(TrainingPlanItem, item_id)
    if item is None:
        return
    form.plan_item_id.data, form.title.data, form.topic.data, form.method.data = item.id, item.title, item.topic.value, item.method.value
    review = plans.review([item], to_local(utcnow()).date())[0]
    form.attendees.data = [p.id for p in review.expected]


@bp.route("/training/plan", methods=["GET", "POST"])
@role_required(*OFFICE)
def training_plan():
    """The year's training plan against the sessions held (S6.2): the office reads it, the
    administrator and the heads keep it."""
    today = to_local(utcnow()).date()
    year = int_arg("year", today.year, lo=2000, hi=2100)
    form = _plan_form(TrainingPlanForm())
    if request.method == "POST":
        if not can_plan_training(current_user):
            abort(404)
        if form.validate_on_submit():
            item = plans.save_item(None, **_plan_values(form), actor=current_user)
            flash(_("The item was added to the training plan."), "success")
            return redirect(url_for("records.training_plan", year=item.year))
    elif not form.year.data:
        form.year.data = year
    plan = plans.review(plans.items(date(year, 1, 1), date(year, 12, 31)), today)
    return render_template("records/plan.html", year=year, plan=plan, form=form, names=cache.names(), today=today,
                           **_labels()), (422 if form.errors else 200)


@bp.route("/training/plan/<int:item_id>", methods=["GET", "POST"])
@role_required(*OFFICE)
def training_plan_item(item_id):
    item = get_or_404(TrainingPlanItem, item_id, can_edit_training_item)
    if request.method == "POST" and request.form.get("action") == "delete":
        from flask_wtf.csrf import validate_csrf

        validate_csrf(request.form.get("csrf_token"))
        year = item.year
        db.session.delete(item)
        flash(_("The item was removed from the training plan."), "success")
        return redirect(url_for("records.training_plan", year=year))
    form = _plan_form(TrainingPlanForm(obj=item if request.method == "GET" else None))
    if request.method == "GET":
        form.topic.data, form.method.data = item.topic.value, item.method.value
        form.department_id.data, form.people.data = item.department_id or 0, [p.id for p in item.people]
    elif form.validate_on_submit():
        plans.save_item(item, **_plan_values(form), actor=current_user)
        if can_edit_training_item(current_user, item):
            flash(_("Saved."), "success")
            return redirect(url_for("records.training_plan", year=item.year))
        abort(404)  # a head may not give their item to another department
    return render_template("records/plan_item.html", item=item, form=form), (422 if request.method == "POST" else 200)


def _plan_form(form):
    """The departments and people a plan item may be for: all (the administrator) or the head's own."""
    departments = training_plan_departments(current_user)
    query = select(Department).where(Department.is_active).order_by(Department.name)
    staff = people.back_office_staff()
    if departments is not None:
        query = query.where(Department.id.in_(departments or [-1]))
        staff = [u for u in staff if u.department_id in departments]
    form.department_id.choices = choices([(0, "—")] + [(d.id, d.name) for d in db.session.scalars(query)])
    form.people.choices = choices((u.id, u.name) for u in staff)
    return form


def _plan_values(form):
    chosen = set(form.people.data or [])
    return {"year": form.year.data, "month": form.month.data, "title": form.title.data, "topic": TrainingTopic(form.topic.data),
            "method": TrainingMethod(form.method.data), "goal": form.goal.data, "department_id": form.department_id.data,
            "people": [u for u in people.back_office_staff() if u.id in chosen]}


@bp.route("/training/<int:session_id>", methods=["GET", "POST"])
@role_required(*OFFICE)
def training_session(session_id):
    row = db.session.get(TrainingSession, session_id) or abort(404)
    if request.method == "POST":
        for attendance in row.attendees:
            raw = request.form.get(f"score-{attendance.id}", "").strip()
            if raw:
                if not re.fullmatch(r"[0-9]{1,3}", raw) or not 0 <= int(raw) <= 100:
                    flash(_("Scores are whole numbers from 0 to 100."), "error")
                    return render_template("records/session.html", row=row, **_labels()), 422
                attendance.score = int(raw)
        flash(_("Saved."), "success")
        return redirect(url_for("records.training_session", session_id=row.id))
    return render_template("records/session.html", row=row, **_labels())


@bp.route("/training/people/<int:user_id>")
@role_required(*OFFICE)
def history(user_id):
    person = get_or_404(User, user_id, can_see_training_of)
    return render_template("records/history.html", person=person, rows=records.training_history(person), **_labels())


