"""Communication records (S3.6), daily outreach (S4.1.1) and training (S6.2)."""
import re
from datetime import datetime, timedelta

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from portal.blueprints.records import bp
from portal.blueprints.records.forms import RecordForm, TrainingForm
from portal.downloads import csv_download, download
from portal.extensions import db
from portal.forms import choices
from portal.i18n import from_local, to_local
from portal.models import Event, RecordKind, TrainingAttendance, TrainingSession, User, utcnow
from portal.pdf import render_pdf
from portal.permissions import BACK_OFFICE, OFFICE, can_see_training_of, get_or_404, outreach_department, role_required
from portal.services import people, records, tickets
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


def _query():
    kind = request.args.get("kind", "")
    kind = kind if kind in {k.value for k in RecordKind} else None
    since, until, start, end = _period()
    return records.search(kind, start, end, (request.args.get("q") or "").strip()[:50]), kind, since, until


@bp.route("/")
@role_required(*OFFICE)
def index():
    query, kind, since, until = _query()
    before = request.args.get("before", type=int)
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
                        event=event)
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
    if form.validate_on_submit():
        session_row = TrainingSession(title=form.title.data.strip(), topic=form.topic.data, method=form.method.data,
                                      held_on=form.held_on.data, trainer=form.trainer.data.strip())
        session_row.attendees = [TrainingAttendance(user_id=i) for i in form.attendees.data or []]
        db.session.add(session_row)
        db.session.flush()
        flash(_("The training session was recorded."), "success")
        return redirect(url_for("records.training_session", session_id=session_row.id))
    sessions = db.session.scalars(select(TrainingSession).order_by(TrainingSession.held_on.desc()).limit(100)).all()
    return render_template("records/training.html", form=form, sessions=sessions, staff=staff, **_labels()), (422 if request.method == "POST" else 200)


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


