"""Tickets (诉求/工单): intake from every channel, the register, the transfer slip, handling,
feedback, the formal reply and the satisfaction rating (S2.1, S3.1–S3.6, S4.2.1)."""
import re
from datetime import datetime, timedelta

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from portal import cache
from portal.blueprints.tickets import bp
from portal.blueprints.tickets.forms import (
    AssignForm,
    CallForm,
    ClassifyForm,
    FeedbackForm,
    FormalReplyForm,
    GovReplyForm,
    HoldForm,
    IntakeForm,
    MessageForm,
    NoteForm,
    ProgressForm,
    RatingForm,
    RegisterFilterForm,
    ResidentTicketForm,
    ResolveForm,
    TransferForm,
    UrgencyForm,
)
from portal.downloads import csv_download, download
from portal.extensions import db
from portal.forms import ConfirmForm, choices
from portal.htmx import render, render_kept, wants_fragment
from portal.i18n import from_local, locale_name
from portal.inputs import int_arg
from portal.models import (
    Blob,
    Call,
    Channel,
    Page,
    Delivery,
    Department,
    EventKind,
    Ticket,
    TicketCategory,
    TicketChannel,
    TicketPhoto,
    TicketStatus,
    User,
    utcnow,
)
from portal.pdf import render_pdf
from portal.notify import admin as channel_admin
from portal.notify import prefs
from portal.permissions import (
    BACK_OFFICE,
    can_act,
    can_use_register,
    can_view_ticket,
    get_or_404,
    is_back_office,
    is_head,
    is_resident,
    login_required,
    me,
    relays_tickets,
    role_required,
    sees_internal,
    ticket_actions,
    ticket_audience,
)
from portal.services import duty, paging, people, settings, tickets
from portal.services.notices import UploadRejected
from portal.services.tickets import CATEGORY_LABELS, CHANNEL_LABELS, EVENT_LABELS, FEEDBACK_METHODS, STATUS_LABELS, TicketError

PAGE = 30


_LABELS = {}


def _labels():
    """Labels as plain strings, once per language (lists use them on every row)."""
    locale = locale_name()
    if locale not in _LABELS:
        _LABELS[locale] = _build_labels()
    return _LABELS[locale]


def _build_labels():
    return {
        "categories": {k: str(v) for k, v in CATEGORY_LABELS.items()},
        "channels": {k: str(v) for k, v in CHANNEL_LABELS.items()},
        "statuses": {k: str(v) for k, v in STATUS_LABELS.items()},
        "event_labels": EVENT_LABELS,
        "methods": FEEDBACK_METHODS,
        "delivery_channels": {k: str(v) for k, v in channel_admin.CHANNEL_NAMES.items()},
        "delivery_statuses": channel_admin.status_labels(),
    }


def _visible(ticket_id):
    """The ticket, if this person may see it; otherwise 404, exactly like a missing one."""
    return get_or_404(Ticket, ticket_id, can_view_ticket)


# Lists


@bp.route("/")
@login_required
def index():
    user = me()
    if not can_use_register(user):
        abort(404)
    if is_resident(user):
        return _resident_list(user)
    return _register()


def _resident_list(user):
    before = int_arg("before")
    now = utcnow()

    def context():
        query = select(Ticket).where(Ticket.resident_id == user.id)
        rows = db.session.scalars(tickets.after_id(query, before).order_by(Ticket.id.desc()).limit(PAGE + 1)).all()
        more = len(rows) > PAGE
        rows = rows[:PAGE]
        return {"rows": rows, "next_before": rows[-1].id if more else None, "now": now, **_labels()}, _next_due(rows, now)

    return render_kept("my-tickets", (user.id, before), cache.resident_tickets_key(user.id),
                       "tickets/mine.html", "tickets/_mine_rows.html", context, now)


def _next_due(rows, now):
    """Kept lists show "overdue": they must be rebuilt when the next shown ticket passes its due time."""
    return min((t.due_at for t in rows if t.is_open and t.due_at and t.due_at > now), default=None)


_VALUES = {enum: frozenset(e.value for e in enum) for enum in (TicketStatus, TicketCategory, TicketChannel)}


def _filters():
    """The register's filters from the query string; anything malformed is simply ignored."""
    args = request.args.to_dict()  # a plain dict: a missing key costs no exception

    def enum_value(name, enum):
        value = args.get(name, "")
        return value if value in _VALUES[enum] else None

    def day(name):
        try:
            value = datetime.strptime(args[name], "%Y-%m-%d")
        except (KeyError, ValueError):
            return None
        return value if 2000 <= value.year <= 2100 else None

    def row_id(name):
        """An id from the query string; anything else (a word, a number no row can have) is no filter."""
        value = args.get(name, "")
        return int(value) if value.isdigit() and len(value) <= 9 else None

    since, until = day("since"), day("until")
    return {
        "q": (args.get("q") or "").strip()[:100],
        "status": enum_value("status", TicketStatus),
        "category": enum_value("category", TicketCategory),
        "channel": enum_value("channel", TicketChannel),
        "department": row_id("department"),
        "building": row_id("building"),
        "overdue": bool(args.get("overdue")),
        "urgent": bool(args.get("urgent")),
        "unreplied": bool(args.get("unreplied")),
        "late": bool(args.get("late")),
        "dissatisfied": bool(args.get("dissatisfied")),
        "unresolved": bool(args.get("unresolved")),
        "inaccurate": bool(args.get("inaccurate")),
        "since": from_local(since) if since else None,
        "until": from_local(until + timedelta(days=1)) if until else None,
    }


def _filter_form_html(names):
    """The filter form, rendered once per language and query (it holds nothing personal)."""

    def build():
        form = RegisterFilterForm(request.args)
        form.status.choices = choices([("", _("All statuses"))] + [(s.value, str(STATUS_LABELS[s])) for s in TicketStatus])
        form.category.choices = choices([("", _("All categories"))] + [(c.value, str(CATEGORY_LABELS[c])) for c in TicketCategory])
        form.channel.choices = choices([("", _("All channels"))] + [(c.value, str(CHANNEL_LABELS[c])) for c in TicketChannel])
        form.department.choices = choices([("", _("All departments"))] + [(str(k), v) for k, v in sorted(names["departments"].items())])
        form.building.choices = choices(
            [("", _("All buildings"))] + [(str(k), v) for k, v in sorted(names["buildings"].items(), key=lambda kv: kv[1])]
        )
        form.validate()  # shows what was typed, without complaining about it
        return Markup(render_template("tickets/_filters.html", form=form)), None  # noqa: S704 - rendered with autoescape

    key = (locale_name(), tuple(sorted((k, v) for k, v in request.args.items() if k != "before")))
    return cache.cached("register-filters", key, cache.PLACES, build)


def _register():
    filters, names = _filters(), cache.names()
    now = utcnow()
    before = int_arg("before")
    args = {k: v for k, v in request.args.items() if k != "before" and v}

    user = me()

    def page():  # (made only when the kept page or its fingerprint must be made again)
        return tickets.after_id(tickets.register_query(user, filters, now), before).order_by(Ticket.id.desc()).limit(PAGE + 1)

    def context():
        rows = db.session.scalars(page()).all()
        more = len(rows) > PAGE
        rows = rows[:PAGE]
        return {
            "filters_html": None if wants_fragment() else _filter_form_html(names),
            "rows": rows,
            "names": names,
            "next_url": url_for("tickets.index", before=rows[-1].id, **args) if more else None,
            "export_url": url_for("tickets.export", **args),
            "now": now,
            **_labels(),
        }, _next_due(rows, now)

    # Everyone with the same view of the register shares the kept page, until one of its tickets
    # changes or another comes onto it: the key holds a fingerprint of the (id, version) of the
    # rows it shows, read again after any ticket write (and always when it lists the overdue).
    view = (ticket_audience(user), before, tuple(sorted(args.items())))
    shown = cache.fingerprint("register", view, cache.TICKETS, lambda: page().with_only_columns(Ticket.id, Ticket.version),
                              always=filters["overdue"])
    key = (*view, shown)
    return render_kept("register", key, (), "tickets/register.html", "tickets/_register_rows.html", context, now)


@bp.route("/export.csv")
@role_required(*BACK_OFFICE)
def export():
    """The register as CSV, with the same filters as on screen (UTF-8 with BOM: Excel opens it)."""
    filters, names = _filters(), cache.names()
    now = utcnow()
    query = tickets.register_query(current_user, filters, now).order_by(Ticket.id.desc())
    labels = _labels()
    header = [
        _("Number"), _("Category"), _("Channel"), _("Status"), _("Urgent"), _("Registered"), _("Name"), _("Phone"),
        _("Building"), _("Unit"), _("Lead department"), _("Due"), _("Resolved"), _("Result given"), _("On time"),
        _("Rating"), _("What happened"),
    ]

    def local(value):
        from portal.i18n import to_local

        return to_local(value).strftime("%Y-%m-%d %H:%M") if value else ""

    def row(t):
        on_time = t.answered_on_time
        return [
            t.number, labels["categories"][t.category], labels["channels"][t.channel], labels["statuses"][t.status],
            _("yes") if t.is_urgent else "", local(t.created_at), t.caller_name, t.caller_phone,
            names["buildings"].get(t.building_id, ""), t.caller_unit, names["departments"].get(t.lead_department_id, ""),
            local(t.due_at), local(t.resolved_at), local(t.feedback_at),
            "" if on_time is None else (_("yes") if on_time else _("no")), t.rating or "", t.description,
        ]

    return csv_download(f"tickets-{now:%Y%m%d}.csv", header, query, row)


# Intake


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new():
    if is_resident(current_user):
        return _resident_new()
    if is_back_office(current_user):
        return _intake()
    abort(404)


def _resident_new():
    resident = db.session.get(User, current_user.id)
    units = [r.unit for r in resident.residencies]
    form = ResidentTicketForm()
    form.unit_id.choices = choices((u.id, f"{u.building.name} {u.number}") for u in units)
    if form.validate_on_submit():
        unit = next((u for u in units if u.id == form.unit_id.data), None)
        if unit is None:
            abort(404)
        files = [(f.filename, f.read()) for f in form.photos.data or [] if f and f.filename]
        try:
            with db.session.begin_nested():
                ticket, _created = tickets.create(
                    category=form.category.data,
                    channel=TicketChannel.ONLINE,
                    description=form.description.data,
                    actor=resident,
                    now=utcnow(),
                    resident=resident,
                    unit=unit,
                    is_urgent=form.is_urgent.data,
                    preferred_visit=form.preferred_visit.data,
                    photos=files,
                    idempotency_key=form.idempotency_key.data or None,
                )
        except (UploadRejected, TicketError) as exc:
            form.photos.errors = [str(exc)]
        else:
            flash(_("Registered as %(number)s. We will answer by %(due)s.", number=ticket.number, due=_due(ticket)), "success")
            return redirect(url_for("tickets.show", ticket_id=ticket.id))
    return render_template("tickets/new.html", form=form), (422 if request.method == "POST" else 200)


def _due(ticket):
    from portal.i18n import localtime

    return localtime(ticket.due_at) if ticket.due_at else ""


def _intake():
    form = IntakeForm()
    if request.method == "GET" and request.args.get("resident_id"):
        form.resident_id.data = request.args["resident_id"]
    if request.method == "GET" and request.args.get("caller_phone"):  # from the hotline's caller screen
        form.caller_phone.data = request.args["caller_phone"][:32]
        form.channel.data = TicketChannel.HOTLINE.value
    if request.method == "GET" and request.args.get("call", "").isdigit():
        form.call_id.data = request.args["call"]
    relayed = relays_tickets(current_user)
    resident = None
    if form.resident_id.data and re.fullmatch(r"[0-9]{1,9}", form.resident_id.data):
        resident = db.session.get(User, int(form.resident_id.data))
        if resident is None or not is_resident(resident):
            resident = None
            form.resident_id.data = ""
    units = [r.unit for r in resident.residencies] if resident else []
    form.unit_id.choices = choices([(0, "—")] + [(u.id, f"{u.building.name} {u.number}") for u in units])
    if form.validate_on_submit():
        unit = next((u for u in units if u.id == form.unit_id.data), units[0] if len(units) == 1 else None)
        files = [(f.filename, f.read()) for f in form.photos.data or [] if f and f.filename]
        try:
            with db.session.begin_nested():
                ticket, _created = tickets.create(
                    category=form.category.data,
                    channel=TicketChannel.RELAYED if relayed else form.channel.data,
                    description=form.description.data,
                    actor=current_user,
                    now=utcnow(),
                    resident=resident,
                    unit=unit,
                    caller_name=form.caller_name.data,
                    caller_phone=form.caller_phone.data,
                    caller_unit=form.caller_unit.data,
                    is_urgent=form.is_urgent.data,
                    preferred_visit=form.preferred_visit.data,
                    photos=files,
                    idempotency_key=form.idempotency_key.data or None,
                    gov_order_number="" if relayed else form.gov_order_number.data,
                )
        except (UploadRejected, TicketError) as exc:
            form.photos.errors = [str(exc)]
        else:
            call = db.session.get(Call, int(form.call_id.data)) if (form.call_id.data or "").isdigit() and len(form.call_id.data) < 10 else None
            if call is not None:  # the call that brought it
                call.ticket_id = ticket.id
            flash(_("Registered as %(number)s.", number=ticket.number), "success")
            return redirect(url_for("tickets.show", ticket_id=ticket.id))
    now = utcnow()
    rota = duty.Rota(now, days=1)
    on_duty = [(d, rota.on_duty(d.id, now)) for d in duty.departments()]
    return render_template("tickets/intake.html", form=form, resident=resident, relayed=relayed, on_duty=on_duty,
                           manager=rota.on_duty(None, now)), (422 if request.method == "POST" else 200)


@bp.route("/residents")
@role_required(*BACK_OFFICE)
def lookup():
    """Find a registered resident by phone, name or unit, to take their call."""
    q = (request.args.get("q") or "").strip()[:50]
    rows = people.find_residents(q) if len(q) >= 2 else []
    return render("tickets/lookup.html", "tickets/_lookup.html", rows=rows, q=q)


# One ticket


def transfer_form(ticket, formdata=None):
    """The transfer slip's form, its departments to choose from, the current lead preselected."""
    form = TransferForm(formdata=formdata)
    form.lead.choices = form.co.choices = choices(
        (d.id, d.name) for d in db.session.scalars(select(Department).where(Department.is_active).order_by(Department.id)))
    if formdata is None and ticket.lead_department_id:
        form.lead.data = ticket.lead_department_id
    return form


def assign_form(formdata=None):
    """A head assigns to someone of their department."""
    form = AssignForm(formdata=formdata)
    form.assignee.choices = choices((u.id, u.name) for u in people.department_staff(current_user.department_id)) if is_head(current_user) else []
    return form


def _forms(ticket, bound=None):
    """Every form the page may show, with the one that was just sent keeping its input."""
    forms = {
        "classify": ClassifyForm(formdata=None, category=ticket.category.value),
        "call": CallForm(formdata=None),
        "progress": ProgressForm(formdata=None),
        "note": NoteForm(formdata=None),
        "message": MessageForm(formdata=None),
        "hold": HoldForm(formdata=None),
        "resolve": ResolveForm(formdata=None),
        "feedback": FeedbackForm(formdata=None),
        "formal_reply": FormalReplyForm(formdata=None),
        "rate": RatingForm(formdata=None),
        "callback": RatingForm(formdata=None),
        "urgency": UrgencyForm(formdata=None, urgent="0" if ticket.is_urgent else "1"),
        "gov_reply": GovReplyForm(formdata=None, text=ticket.gov_reply),
        "confirm": ConfirmForm(formdata=None),
    }
    if "transfer" not in (bound or {}):
        forms["transfer"] = transfer_form(ticket)
    if "assign" not in (bound or {}):
        forms["assign"] = assign_form()
    forms.update(bound or {})
    return forms


def _page(ticket, bound=None, status=200):
    resident_view = not sees_internal(current_user, ticket)
    events = [e for e in ticket.events if not (resident_view and e.is_internal)]
    actors = {e.actor_id for e in events if e.actor_id}
    people = dict(db.session.execute(select(User.id, User.name).where(User.id.in_(actors))).all()) if actors else {}
    calls = [e for e in ticket.events if e.kind == EventKind.CALLED]
    may = ticket_actions(current_user, ticket)
    forms = _forms(ticket, bound)
    if not forms["assign"].assignee.choices:
        may["assign"] = False  # nobody in the department to give it to
    next_step, more_steps = tickets.offered_steps(ticket, may)
    if bound and (sent := next(iter(bound))) in more_steps:
        next_step, more_steps = sent, [next_step, *(s for s in more_steps if s != sent)]  # the form with the error comes first
    return (
        render_template(
            "tickets/show.html",
            ticket=ticket,
            events=events,
            people=people,
            calls=calls,
            forms=forms,
            now=utcnow(),
            may=may,
            next_step=next_step,
            more_steps=more_steps,
            duty_phone=settings.get(settings.duty_phone_key(ticket.lead_department_id)) if ticket.lead_department_id else "",
            told={} if resident_view else told_by_step(ticket),
            duty_now=None if resident_view else duty_for(ticket),
            pages=[] if resident_view else db.session.scalars(
                select(Page).options(selectinload(Page.user)).where(Page.ticket_id == ticket.id).order_by(Page.id)).all(),
            unreachable=(not resident_view) and ticket.resident is not None and not reaches_by_message(ticket.resident),
            minutes=settings.get("emergency_response_minutes"),
            **_labels(),
        ),
        status,
    )


def told_by_step(ticket):
    """Who was told of each timeline entry, on which channel, and how it went (staff only)."""
    rows = db.session.scalars(
        select(Delivery).options(selectinload(Delivery.user)).where(Delivery.ticket_id == ticket.id).order_by(Delivery.id)
    ).all()
    found = {}
    for row in rows:
        if row.ticket_event_id is not None:
            found.setdefault(row.ticket_event_id, []).append(row)
    return found


def duty_for(ticket):
    """Who is on duty now for the ticket's department (or the one its category routes to), and the manager."""
    now = utcnow()
    rota = duty.Rota(now, days=1)
    department_id = paging.routed_department(ticket)
    return {
        "department": db.session.get(Department, department_id) if department_id else None,
        "held": rota.on_duty(department_id, now) if department_id else None,
        "manager": rota.on_duty(None, now),
    }


def reaches_by_message(person):
    return any(c in (Channel.SMS, Channel.WECHAT) for c in prefs.reachable(person))


@bp.route("/<int:ticket_id>")
@login_required
def show(ticket_id):
    return _page(_visible(ticket_id))


def _acting_on(ticket_id, action):
    """The ticket, if this person may see it and take `action` on it; otherwise 404."""
    ticket = _visible(ticket_id)
    if not can_act(current_user, ticket, action):
        abort(404)
    return ticket


def _refused(ticket, name, form, error):
    """The service said no: the page again, with the reason and what was typed."""
    flash(str(error), "error")
    return _page(ticket, {name: form}, 422)


def _done(ticket, message):
    flash(message, "success")
    return redirect(url_for("tickets.show", ticket_id=ticket.id))


REFUSALS = (TicketError, UploadRejected, paging.PagingError)


@bp.route("/<int:ticket_id>/classify", methods=["POST"])
@login_required
def classify(ticket_id):
    ticket = _acting_on(ticket_id, "classify")
    form = ClassifyForm()
    if not form.validate_on_submit():
        return _page(ticket, {"classify": form}, 422)
    try:
        with db.session.begin_nested():
            tickets.reclassify(ticket, form.category.data, current_user, utcnow())
    except REFUSALS as exc:
        return _refused(ticket, "classify", form, exc)
    return _done(ticket, _("The category was changed."))


@bp.route("/<int:ticket_id>/transfer", methods=["POST"])
@login_required
def transfer(ticket_id):
    """The transfer slip (信息传递单): the lead department, any co-departments, the due time."""
    ticket = _acting_on(ticket_id, "transfer")
    form = transfer_form(ticket, formdata=request.form)
    if not form.validate_on_submit():
        return _page(ticket, {"transfer": form}, 422)
    lead = db.session.get(Department, form.lead.data)
    co = [d for d in (db.session.get(Department, i) for i in form.co.data or []) if d]
    try:
        with db.session.begin_nested():
            tickets.transfer(ticket, lead, co, current_user, utcnow(), due_at=form.due_at.utc, due_reason=form.due_reason.data or "")
    except REFUSALS as exc:
        return _refused(ticket, "transfer", form, exc)
    return _done(ticket, _("The transfer slip was issued."))


@bp.route("/<int:ticket_id>/assign", methods=["POST"])
@login_required
def assign(ticket_id):
    """A head gives the ticket to someone of the department."""
    ticket = _acting_on(ticket_id, "assign")
    form = assign_form(formdata=request.form)
    if not form.validate_on_submit():
        return _page(ticket, {"assign": form}, 422)
    try:
        with db.session.begin_nested():
            tickets.assign_person(ticket, db.session.get(User, form.assignee.data), current_user, utcnow())
    except REFUSALS as exc:
        return _refused(ticket, "assign", form, exc)
    return _done(ticket, _("Saved."))


@bp.route("/<int:ticket_id>/call", methods=["POST"])
@login_required
def call(ticket_id):
    """A call to the head about an emergency, recorded with the time it was made."""
    ticket = _acting_on(ticket_id, "call")
    form = CallForm()
    if not form.validate_on_submit():
        return _page(ticket, {"call": form}, 422)
    now = utcnow()
    try:
        with db.session.begin_nested():
            tickets.record_call(ticket, form.to_whom.data, form.called_at.utc or now, current_user, now)
    except REFUSALS as exc:
        return _refused(ticket, "call", form, exc)
    return _done(ticket, _("The call was recorded."))


@bp.route("/<int:ticket_id>/progress", methods=["POST"])
@login_required
def progress(ticket_id):
    ticket = _acting_on(ticket_id, "progress")
    form = ProgressForm()
    if not form.validate_on_submit():
        return _page(ticket, {"progress": form}, 422)
    try:
        with db.session.begin_nested():
            tickets.progress(ticket, form.body.data, form.expected_completion.data, current_user, utcnow())
    except REFUSALS as exc:
        return _refused(ticket, "progress", form, exc)
    return _done(ticket, _("The progress was posted."))


@bp.route("/<int:ticket_id>/note", methods=["POST"])
@login_required
def note(ticket_id):
    ticket = _acting_on(ticket_id, "note")
    form = NoteForm()
    if not form.validate_on_submit():
        return _page(ticket, {"note": form}, 422)
    try:
        with db.session.begin_nested():
            tickets.internal_note(ticket, form.body.data, current_user, utcnow())
    except REFUSALS as exc:
        return _refused(ticket, "note", form, exc)
    return _done(ticket, _("The note was added."))


@bp.route("/<int:ticket_id>/message", methods=["POST"])
@login_required
def message(ticket_id):
    """The resident writes to customer service on their own ticket."""
    ticket = _acting_on(ticket_id, "message")
    form = MessageForm()
    if not form.validate_on_submit():
        return _page(ticket, {"message": form}, 422)
    try:
        with db.session.begin_nested():
            tickets.resident_reply(ticket, form.body.data, db.session.get(User, current_user.id), utcnow(), form.key)
    except REFUSALS as exc:
        return _refused(ticket, "message", form, exc)
    return _done(ticket, _("Your message was sent."))


@bp.route("/<int:ticket_id>/hold", methods=["POST"])
@login_required
def hold(ticket_id):
    ticket = _acting_on(ticket_id, "hold")
    form = HoldForm()
    if not form.validate_on_submit():
        return _page(ticket, {"hold": form}, 422)
    try:
        with db.session.begin_nested():
            tickets.hold(ticket, form.reason.data, current_user, utcnow())
    except REFUSALS as exc:
        return _refused(ticket, "hold", form, exc)
    return _done(ticket, _("The ticket is on hold."))


@bp.route("/<int:ticket_id>/resume", methods=["POST"])
@login_required
def resume(ticket_id):
    ticket = _acting_on(ticket_id, "resume")
    form = ConfirmForm()
    if not form.validate_on_submit():
        return _page(ticket, {"confirm": form}, 422)
    try:
        with db.session.begin_nested():
            tickets.resume(ticket, current_user, utcnow())
    except REFUSALS as exc:
        return _refused(ticket, "confirm", form, exc)
    return _done(ticket, _("The ticket resumed."))


@bp.route("/<int:ticket_id>/resolve", methods=["POST"])
@login_required
def resolve(ticket_id):
    ticket = _acting_on(ticket_id, "resolve")
    form = ResolveForm()
    if not form.validate_on_submit():
        return _page(ticket, {"resolve": form}, 422)
    try:
        with db.session.begin_nested():
            tickets.resolve(ticket, form.result.data, current_user, utcnow())
    except REFUSALS as exc:
        return _refused(ticket, "resolve", form, exc)
    return _done(ticket, _("The result was recorded."))


@bp.route("/<int:ticket_id>/feedback", methods=["POST"])
@login_required
def feedback(ticket_id):
    """How the resident was told the result (S3.5.1)."""
    ticket = _acting_on(ticket_id, "feedback")
    form = FeedbackForm()
    if not form.validate_on_submit():
        return _page(ticket, {"feedback": form}, 422)
    try:
        with db.session.begin_nested():
            tickets.feedback(ticket, form.method.data, current_user, utcnow())
    except REFUSALS as exc:
        return _refused(ticket, "feedback", form, exc)
    return _done(ticket, _("Recorded how the resident was told."))


@bp.route("/<int:ticket_id>/formal-reply", methods=["POST"])
@login_required
def formal_reply(ticket_id):
    """A complaint's formal written reply, issued as a PDF."""
    ticket = _acting_on(ticket_id, "formal_reply")
    form = FormalReplyForm()
    if not form.validate_on_submit():
        return _page(ticket, {"formal_reply": form}, 422)
    try:
        with db.session.begin_nested():
            tickets.formal_reply(ticket, form.text.data, current_user, utcnow())
    except REFUSALS as exc:
        return _refused(ticket, "formal_reply", form, exc)
    return _done(ticket, _("The formal reply was issued."))


@bp.route("/<int:ticket_id>/rate", methods=["POST"])
@login_required
def rate(ticket_id):
    """Only a submitted form records a rating: no link does."""
    ticket = _acting_on(ticket_id, "rate")
    form = RatingForm()
    if not form.validate_on_submit():
        return _page(ticket, {"rate": form}, 422)
    resident = db.session.get(User, current_user.id)
    try:
        with db.session.begin_nested():
            tickets.rate(ticket, form.rating.data, form.comment.data, form.resolved.data == "yes", resident, utcnow())
    except REFUSALS as exc:
        return _refused(ticket, "rate", form, exc)
    return _done(ticket, _("Thank you for your rating."))


@bp.route("/<int:ticket_id>/callback", methods=["POST"])
@login_required
def callback(ticket_id):
    """Staff record the rating given on the call-back (回访)."""
    ticket = _acting_on(ticket_id, "callback")
    form = RatingForm()
    if not form.validate_on_submit():
        return _page(ticket, {"callback": form}, 422)
    try:
        with db.session.begin_nested():
            tickets.rate(ticket, form.rating.data, form.comment.data, form.resolved.data == "yes", current_user, utcnow(), by_staff=True)
    except REFUSALS as exc:
        return _refused(ticket, "callback", form, exc)
    return _done(ticket, _("The call-back was recorded."))


@bp.route("/<int:ticket_id>/acknowledge", methods=["POST"])
@login_required
def acknowledge(ticket_id):
    """已受理: someone on duty takes the emergency; paging stops for everyone."""
    ticket = _acting_on(ticket_id, "acknowledge")
    form = ConfirmForm()
    if not form.validate_on_submit():
        return _page(ticket, {"confirm": form}, 422)
    try:
        with db.session.begin_nested():
            paging.acknowledge(ticket, db.session.get(User, current_user.id), utcnow(), "button")
    except REFUSALS as exc:
        return _refused(ticket, "confirm", form, exc)
    return _done(ticket, _("Acknowledged: paging has stopped."))


@bp.route("/<int:ticket_id>/on-site", methods=["POST"])
@login_required
def on_site(ticket_id):
    """到场: someone arrived."""
    ticket = _acting_on(ticket_id, "on_site")
    form = ConfirmForm()
    if not form.validate_on_submit():
        return _page(ticket, {"confirm": form}, 422)
    try:
        with db.session.begin_nested():
            paging.on_site(ticket, db.session.get(User, current_user.id), utcnow())
    except REFUSALS as exc:
        return _refused(ticket, "confirm", form, exc)
    return _done(ticket, _("The arrival was recorded."))


@bp.route("/<int:ticket_id>/urgency", methods=["POST"])
@login_required
def urgency(ticket_id):
    """Raise to urgent (paging starts) or lower with a reason."""
    ticket = _acting_on(ticket_id, "urgency")
    form = UrgencyForm()
    if not form.validate_on_submit():
        return _page(ticket, {"urgency": form}, 422)
    try:
        with db.session.begin_nested():
            tickets.set_urgency(ticket, form.urgent.data == "1", form.reason.data or "", current_user, utcnow())
    except REFUSALS as exc:
        return _refused(ticket, "urgency", form, exc)
    return _done(ticket, _("The urgency was changed."))


@bp.route("/<int:ticket_id>/gov-reply", methods=["POST"])
@login_required
def gov_reply(ticket_id):
    """The reply sent back to the city's 12345 hotline."""
    ticket = _acting_on(ticket_id, "gov_reply")
    form = GovReplyForm()
    if not form.validate_on_submit():
        return _page(ticket, {"gov_reply": form}, 422)
    try:
        with db.session.begin_nested():
            tickets.gov_reply(ticket, form.text.data, current_user, utcnow())
    except REFUSALS as exc:
        return _refused(ticket, "gov_reply", form, exc)
    return _done(ticket, _("The reply to the 12345 hotline was recorded."))


@bp.route("/ack/<int:page_id>/<sig>", methods=["GET", "POST"])
@login_required
def ack_link(page_id, sig):
    """A page's one-tap link: the signed-in person it paged sees the emergency and one button.
    The link is theirs alone, works once and for 24 hours; anyone else gets 404."""
    now = utcnow()
    page = paging.page_for_link(page_id, sig, current_user, now)
    if page is None:
        abort(404)
    ticket = db.session.get(Ticket, page.ticket_id)
    form = ConfirmForm()
    if request.method == "POST" and form.validate_on_submit():
        try:
            with db.session.begin_nested():
                paging.acknowledge(ticket, db.session.get(User, current_user.id), now, "link", page=page)
        except paging.PagingError as exc:
            flash(str(exc), "error")
            return redirect(url_for("tickets.show", ticket_id=ticket.id))
        flash(_("Acknowledged: paging has stopped."), "success")
        return redirect(url_for("tickets.show", ticket_id=ticket.id))
    return render_template("tickets/ack.html", ticket=ticket, page=page, form=form, sig=sig, now=now, **_labels())


# Documents


@bp.route("/<int:ticket_id>/slip.pdf")
@role_required(*BACK_OFFICE)
def slip(ticket_id):
    """The transfer slip (信息传递单)."""
    ticket = _visible(ticket_id)
    pdf = render_pdf(
        "pdf/transfer_slip.html", ticket=ticket, category=CATEGORY_LABELS[ticket.category], channel=CHANNEL_LABELS[ticket.channel],
        co_departments=[d.department.name for d in ticket.departments if not d.is_lead],
        assigned_by=db.session.get(User, ticket.assigned_by_id) if ticket.assigned_by_id else None,
        hotline=settings.get("hotline"), contact_person=settings.get("contact_person"),
    )
    return download(pdf, "application/pdf", f"{ticket.number}-transfer-slip.pdf")


@bp.route("/<int:ticket_id>/emergency.pdf")
@role_required(*BACK_OFFICE)
def emergency_slip(ticket_id):
    """The emergency slip (紧急信息处理单)."""
    ticket = _visible(ticket_id)
    if not ticket.is_urgent:
        abort(404)
    calls = [
        {"body": e.body, "called_at": datetime.fromisoformat(e.data["called_at"]), "recorded_at": e.created_at,
         "late": e.data.get("recorded_late", False)}
        for e in ticket.events
        if e.kind == EventKind.CALLED and e.data.get("called_at")
    ]
    pages = db.session.scalars(select(Page).options(selectinload(Page.user)).where(Page.ticket_id == ticket.id).order_by(Page.id)).all()
    acknowledged_by = db.session.get(User, ticket.acknowledged_by_id) if ticket.acknowledged_by_id else None
    on_site_by = db.session.get(User, ticket.on_site_by_id) if ticket.on_site_by_id else None
    pdf = render_pdf("pdf/emergency_slip.html", ticket=ticket, channel=CHANNEL_LABELS[ticket.channel], calls=calls, pages=pages,
                     acknowledged_by=acknowledged_by, on_site_by=on_site_by, minutes=settings.get("emergency_response_minutes"))
    return download(pdf, "application/pdf", f"{ticket.number}-emergency-slip.pdf")


@bp.route("/<int:ticket_id>/reply.pdf")
@login_required
def reply_pdf(ticket_id):
    """The formal written reply, exactly as it was issued."""
    ticket = _visible(ticket_id)
    if ticket.formal_reply_sha256 is None:
        abort(404)
    blob = db.session.get(Blob, ticket.formal_reply_sha256)
    return download(blob.data, "application/pdf", f"{ticket.number}-reply.pdf")


@bp.route("/photos/<int:photo_id>")
@login_required
def photo(photo_id):
    item = db.session.get(TicketPhoto, photo_id)
    if item is None:
        abort(404)
    _visible(item.ticket_id)
    blob = db.session.get(Blob, item.blob_sha256)
    return download(blob.data, blob.mime, item.filename)

