"""Events and meetings: the calendar, sign-ups and the waitlist, .ics, attendance and the
sign-in sheet, feedback into the register, and forum minutes (S2.2, S3.1.2, S4.3)."""
from datetime import timedelta

from flask import abort, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from icalendar import Calendar
from icalendar import Event as IcsEvent
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from portal import cache
from portal.blueprints.events import bp
from portal.blueprints.events.forms import CancelEventForm, ChangeForm, EventForm, FeedbackForm, MinutesForm, SignupForm
from portal.permissions import resident_building_ids
from portal.downloads import download
from portal.extensions import db
from portal.forms import ConfirmForm, choices
from portal.htmx import render_kept
from portal.i18n import to_local
from portal.inputs import int_arg, whole_number
from portal.links import external_url
from portal.models import Building, Event, EventSignup, EventType, Role, SignupStatus, Suggestion, User, utcnow
from portal.pdf import render_pdf
from portal.permissions import (
    BACK_OFFICE,
    OFFICE,
    can_edit_notices,
    can_see_community,
    can_see_event,
    event_scope,
    get_or_404,
    is_back_office,
    is_resident,
    login_required,
    me,
    role_required,
    suggestion_scope,
    viewer_kind,
)
from portal.services import events
from portal.services.events import SIGNUP_LABELS, TYPE_LABELS, EventError


def _labels():
    return {"types": {k: str(v) for k, v in TYPE_LABELS.items()}, "signup_labels": {k: str(v) for k, v in SIGNUP_LABELS.items()}}


def _visible(event_id):
    return get_or_404(Event, event_id, lambda user, event: can_see_event(user, event, resident_building_ids()))


@bp.route("/")
@login_required
def index():
    user = me()
    if not can_see_community(user):
        abort(404)
    now = utcnow()

    def context():
        rows = db.session.scalars(
            select(Event)
            .where(*event_scope(user, resident_building_ids()), Event.ends_at >= now - timedelta(days=30))
            .order_by(Event.starts_at)
            .limit(100)
        ).all()
        mine = {}
        if is_resident(user) and rows:
            mine = dict(db.session.execute(
                select(EventSignup.event_id, EventSignup.status).where(
                    EventSignup.user_id == user.id, EventSignup.event_id.in_([e.id for e in rows]))
            ).all())
        upcoming = [e for e in rows if e.ends_at >= now]
        past = [e for e in rows if e.ends_at < now]
        until = min((e.ends_at for e in upcoming), default=None)
        return {"upcoming": upcoming, "past": past, "mine": mine, "now": now, **_labels()}, until

    # Kept per person (their sign-ups are on it), role and buildings (what they may see), until any
    # event or sign-up changes.
    key = (user.id, viewer_kind(user), tuple(resident_building_ids() or ()))
    return render_kept("events", key, cache.COMMUNITY, "events/index.html", "events/_list.html", context, now)


@bp.route("/calendar")
@role_required(*BACK_OFFICE)
def calendar():
    year = int_arg("year", to_local(utcnow()).year, lo=2000, hi=2100)
    months, quarters = events.calendar(year)
    return render_template("events/calendar.html", year=year, months=months, quarters=quarters)


def _event_form():
    form = EventForm()
    form.buildings.choices = choices((b.id, b.name) for b in db.session.scalars(select(Building).where(Building.is_active).order_by(Building.name)))
    return form


@bp.route("/new", methods=["GET", "POST"])
@role_required(*OFFICE)
def new():
    form = _event_form()
    breaches = []
    if request.method == "GET" and request.args.get("kind") in {k.value for k in EventType}:
        form.kind.data = request.args["kind"]  # from the staff home's "a month without an activity"
    if form.validate_on_submit():
        now = utcnow()
        buildings = [db.session.get(Building, i) for i in form.buildings.data or []]
        try:
            with db.session.begin_nested():
                event = events.create(
                    kind=form.kind.data, title=form.title.data, description=form.description.data or "", location=form.location.data or "",
                    starts_at=form.starts_at.utc, ends_at=form.ends_at.utc, capacity=form.capacity.data,
                    seats_per_household=form.seats_per_household.data, signup_deadline=form.signup_deadline.utc,
                    buildings=[b for b in buildings if b], actor=current_user, now=now,
                    exception_reason=form.exception_reason.data or "", public_holiday=form.public_holiday.data,
                )
        except EventError as exc:
            form.exception_reason.errors.append(str(exc))
        else:
            flash(_("The event was created."), "success")
            return redirect(url_for("events.show", event_id=event.id))
    elif request.method == "POST" and form.starts_at.data and form.ends_at.data and form.kind.data in {k.value for k in EventType}:
        breaches = events.policy_breaches(EventType(form.kind.data), form.starts_at.utc, form.ends_at.utc, utcnow(), form.public_holiday.data)
    return render_template("events/new.html", form=form, breaches=breaches), (422 if request.method == "POST" else 200)


def _my_signup(event):
    if not is_resident(current_user):
        return None, None
    home = events.household_of(current_user, event)
    if home is None:
        return None, None
    return home, db.session.scalar(select(EventSignup).where(EventSignup.event_id == event.id, EventSignup.unit_id == home.id))


def _page(event, forms=None, status=200):
    home, signup = _my_signup(event)
    base = {"signup": SignupForm(formdata=None), "confirm": ConfirmForm(), "feedback": FeedbackForm(formdata=None),
            "minutes": MinutesForm(formdata=None, minutes=event.minutes),
            "change": ChangeForm(formdata=None, starts_at=event.starts_at, ends_at=event.ends_at, location=event.location,
                                 title=event.title, description=event.description, capacity=event.capacity),
            "cancel_event": CancelEventForm(formdata=None)}
    base.update(forms or {})
    staff = is_back_office(current_user)
    signups = []
    if staff:
        signups = db.session.scalars(
            select(EventSignup).options(selectinload(EventSignup.unit), selectinload(EventSignup.user))
            .where(EventSignup.event_id == event.id).order_by(EventSignup.queued_at, EventSignup.id)
        ).all()
    agenda = db.session.scalars(select(Suggestion).where(
        Suggestion.forum_id == event.id, Suggestion.hidden_at.is_(None), *suggestion_scope(current_user, resident_building_ids())
    )).all()
    return render_template(
        "events/show.html", event=event, home=home, signup=signup, forms=base, staff=staff, signups=signups, agenda=agenda,
        taken=events.seats_taken(event), now=utcnow(), editor=can_edit_notices(current_user), **_labels(),
    ), status


@bp.route("/<int:event_id>")
@login_required
def show(event_id):
    return _page(_visible(event_id))


@bp.route("/<int:event_id>/signup", methods=["POST"])
@role_required(Role.RESIDENT)
def signup(event_id):
    event = _visible(event_id)
    form = SignupForm()
    home = events.household_of(current_user, event)
    if home is None:
        abort(404)
    if not form.validate_on_submit():
        return _page(event, {"signup": form}, 422)
    try:
        with db.session.begin_nested():
            result = events.sign_up(event, db.session.get(User, current_user.id), home, form.seats.data, utcnow(), form.key)
    except EventError as exc:
        form.seats.errors.append(str(exc))
        return _page(db.session.get(Event, event_id), {"signup": form}, 422)
    flash(_("You are signed up.") if result.status == SignupStatus.CONFIRMED else _("The event is full: you are on the waitlist."), "success")
    return redirect(url_for("events.show", event_id=event.id))


@bp.route("/<int:event_id>/cancel", methods=["POST"])
@role_required(Role.RESIDENT)
def cancel(event_id):
    event = _visible(event_id)
    _home, mine = _my_signup(event)
    if mine is None or mine.status == SignupStatus.CANCELLED or not ConfirmForm().validate_on_submit():
        abort(404)
    events.cancel(mine, utcnow())
    flash(_("Your sign-up was cancelled."), "success")
    return redirect(url_for("events.show", event_id=event.id))


@bp.route("/<int:event_id>/change", methods=["POST"])
@role_required(*OFFICE)
def change(event_id):
    event = _visible(event_id)
    form = ChangeForm()
    if not form.validate_on_submit():
        return _page(event, {"change": form}, 422)
    try:
        with db.session.begin_nested():
            told = events.change(event, starts_at=form.starts_at.utc, ends_at=form.ends_at.utc, location=form.location.data or "",
                                 reason=form.reason.data, actor=current_user, now=utcnow(), exception_reason=form.exception_reason.data or "",
                                 public_holiday=form.public_holiday.data, title=form.title.data, description=form.description.data or "",
                                 capacity=form.capacity.data or 0)
    except EventError as exc:
        form.reason.errors.append(str(exc))
        return _page(db.session.get(Event, event_id), {"change": form}, 422)
    flash(_("The event was changed; %(n)d signed up are being told.", n=len(told)), "success")
    return redirect(url_for("events.show", event_id=event.id))


@bp.route("/<int:event_id>/cancel-event", methods=["POST"])
@role_required(*OFFICE)
def cancel_event(event_id):
    event = _visible(event_id)
    form = CancelEventForm()
    if not form.validate_on_submit():
        return _page(event, {"cancel_event": form}, 422)
    try:
        with db.session.begin_nested():
            told = events.cancel_event(event, form.reason.data, current_user, utcnow())
    except EventError as exc:
        form.reason.errors.append(str(exc))
        return _page(db.session.get(Event, event_id), {"cancel_event": form}, 422)
    flash(_("The event was cancelled; %(n)d signed up are being told.", n=len(told)), "success")
    return redirect(url_for("events.show", event_id=event.id))


@bp.route("/<int:event_id>/event.ics")
@login_required
def ics(event_id):
    event = _visible(event_id)
    cal = Calendar()
    cal.add("prodid", "-//resident-portal//events//ZH")
    cal.add("version", "2.0")
    item = IcsEvent()
    item.add("uid", f"event-{event.id}@resident-portal")  # stable: a calendar replaces its copy
    item.add("sequence", event.sequence or 0)  # raised on each change
    item.add("status", "CANCELLED" if event.cancelled_at else "CONFIRMED")
    item.add("dtstamp", utcnow())
    item.add("dtstart", event.starts_at)
    item.add("dtend", event.ends_at)
    item.add("summary", event.title)
    item.add("location", event.location)
    item.add("description", f"{event.description}\n{external_url('events.show', event_id=event.id)}")
    cal.add_component(item)
    response = make_response(cal.to_ical())
    response.headers["Content-Type"] = "text/calendar; charset=utf-8"
    response.headers["Content-Disposition"] = f"attachment; filename=event-{event.id}.ics"
    return response


@bp.route("/<int:event_id>/attendance", methods=["GET", "POST"])
@role_required(*BACK_OFFICE)
def attendance(event_id):
    event = _visible(event_id)
    if request.method == "POST":
        if not ConfirmForm().validate_on_submit():
            abort(400)
        events.mark_attendance(event, {i for i in map(whole_number, request.form.getlist("attended")) if i})
        flash(_("Attendance was saved."), "success")
        return redirect(url_for("events.attendance", event_id=event.id))
    signups = [s for s in event.signups if s.status == SignupStatus.CONFIRMED]
    return render_template("events/attendance.html", event=event, signups=signups, confirm=ConfirmForm())


@bp.route("/<int:event_id>/sign-in-sheet.pdf")
@role_required(*BACK_OFFICE)
def sheet(event_id):
    event = _visible(event_id)
    signups = sorted((s for s in event.signups if s.status == SignupStatus.CONFIRMED), key=lambda s: (s.unit.building.name, s.unit.number))
    pdf = render_pdf("pdf/sign_in_sheet.html", event=event, signups=signups, kind=TYPE_LABELS[event.kind])
    return download(pdf, "application/pdf", f"event-{event.id}-sign-in.pdf")


@bp.route("/<int:event_id>/feedback", methods=["POST"])
@role_required(Role.RESIDENT)
def feedback(event_id):
    event = _visible(event_id)
    form = FeedbackForm()
    home = events.household_of(current_user, event)
    if home is None or utcnow() < event.starts_at:
        abort(404)
    if not form.validate_on_submit():
        return _page(event, {"feedback": form}, 422)
    ticket = events.feedback(event, db.session.get(User, current_user.id), home, form.category.data, form.text.data, utcnow(), form.key)
    flash(_("Thank you: your feedback is registered as %(number)s.", number=ticket.number), "success")
    return redirect(url_for("events.show", event_id=event.id))


@bp.route("/<int:event_id>/minutes", methods=["POST"])
@role_required(*OFFICE)
def minutes(event_id):
    event = _visible(event_id)
    form = MinutesForm()
    if not form.validate_on_submit():
        return _page(event, {"minutes": form}, 422)
    try:
        events.publish_minutes(event, form.minutes.data, utcnow())
    except EventError as exc:
        form.minutes.errors.append(str(exc))
        return _page(event, {"minutes": form}, 422)
    flash(_("The minutes were published to residents."), "success")
    return redirect(url_for("events.show", event_id=event.id))


