"""Tickets: the register from every channel to the closing satisfaction rating (S2.1, S3.1–S3.6, S4.2.1).

Every step is an append-only TicketEvent (who, when, what); the Ticket row carries the current
state so lists and figures need no replay. Services never commit: the caller commits once.
"""
from datetime import timedelta

from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, exists, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from portal import database, permissions
from portal.extensions import db
from portal.i18n import to_local
from portal.notify import notify
from portal.pdf import render_pdf
from portal.search import matches
from portal.models import (
    INTERNAL_EVENTS,
    NUMBER_PREFIX,
    OPEN_STATUSES,
    EventKind,
    Role,
    Ticket,
    TicketCategory,
    TicketChannel,
    TicketAlias,
    TicketCounter,
    TicketDepartment,
    TicketEvent,
    TicketPhoto,
    TicketStatus,
    User,
)
from portal.services import paging, settings, workdays
from portal.services.notices import store_blob

PHOTO_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp", "image/heic"}
MAX_PHOTOS = 6

CATEGORY_LABELS = {
    TicketCategory.INQUIRY: _l("Inquiry"),
    TicketCategory.COMPLAINT: _l("Complaint"),
    TicketCategory.SUGGESTION: _l("Suggestion"),
    TicketCategory.PRAISE: _l("Praise"),
    TicketCategory.REPAIR: _l("Repair"),
}
CHANNEL_LABELS = {
    TicketChannel.ONLINE: _l("Online"),
    TicketChannel.HOTLINE: _l("Hotline"),
    TicketChannel.WALK_IN: _l("Walk-in"),
    TicketChannel.EMAIL: _l("Email"),
    TicketChannel.SUGGESTION_BOX: _l("Suggestion box"),
    TicketChannel.NOTICE_QUESTION: _l("Question on a notice"),
    TicketChannel.EVENT_FEEDBACK: _l("Event feedback"),
    TicketChannel.RELAYED: _l("Relayed by staff"),
    TicketChannel.GOV_HOTLINE: _l("12345 hotline"),
    TicketChannel.WECHAT: _l("WeChat"),
}
STATUS_LABELS = {
    TicketStatus.NEW: _l("Registered"),
    TicketStatus.ASSIGNED: _l("Transferred"),
    TicketStatus.IN_PROGRESS: _l("In progress"),
    TicketStatus.ON_HOLD: _l("On hold"),
    TicketStatus.RESOLVED: _l("Resolved"),
    TicketStatus.FEEDBACK_GIVEN: _l("Result given"),
    TicketStatus.CLOSED: _l("Closed"),
}
EVENT_LABELS = {
    EventKind.CREATED: _l("Registered"),
    EventKind.CLASSIFIED: _l("Reclassified"),
    EventKind.TRANSFERRED: _l("Transferred"),
    EventKind.DUE_CHANGED: _l("Due time changed"),
    EventKind.CALLED: _l("On-duty head called"),
    EventKind.PROGRESS: _l("Progress"),
    EventKind.INTERNAL_NOTE: _l("Internal note"),
    EventKind.RESIDENT_REPLY: _l("Resident's message"),
    EventKind.REPLY: _l("Reply"),
    EventKind.ON_HOLD: _l("Put on hold"),
    EventKind.RESUMED: _l("Resumed"),
    EventKind.RESOLVED: _l("Resolved"),
    EventKind.FEEDBACK: _l("Result given"),
    EventKind.FORMAL_REPLY: _l("Formal written reply"),
    EventKind.RATING: _l("Satisfaction rating"),
    EventKind.REOPENED: _l("Reopened"),
    EventKind.CLOSED: _l("Closed"),
    EventKind.ESCALATED: _l("Escalated"),
    EventKind.ASSIGNED: _l("Assigned"),
    EventKind.NOT_REACHED: _l("Resident not reached"),
    EventKind.PAGED: _l("Paged"),
    EventKind.ACKNOWLEDGED: _l("Acknowledged"),
    EventKind.ON_SITE: _l("On site"),
    EventKind.URGENCY_CHANGED: _l("Urgency changed"),
    EventKind.GOV_REPLY: _l("Reply to the 12345 hotline"),
}
FEEDBACK_METHODS = {
    "phone": _l("Phone"),
    "sms": _l("SMS"),
    "written": _l("In writing"),
    "portal": _l("On the portal"),
}


class TicketError(ValueError):
    """A step that the ticket's state does not allow; the message is for the user."""


# Numbering


def next_number(category, now):
    """`TS-2026-0042`: per category and (community) year; the counter row is locked until commit,
    so concurrent registrations queue for it and no number is ever given twice."""
    year = to_local(now).year
    table = TicketCounter.__table__
    bump = update(table).where(table.c.category == category.value, table.c.year == year).values(last_number=table.c.last_number + 1)
    for _attempt in range(5):
        if db.session.execute(bump).rowcount == 1:
            break
        try:
            with db.session.begin_nested():
                db.session.execute(insert(table).values(category=category.value, year=year, last_number=1))
            break
        except IntegrityError:
            continue  # another registration created the row first: take the next number from it
    number = db.session.execute(select(table.c.last_number).where(table.c.category == category.value, table.c.year == year)).scalar_one()
    return f"{NUMBER_PREFIX[category]}-{year}-{number:04d}"


# Registration


def due_hours(category, urgent):
    return settings.get(f"due_hours.{category.value}.{'urgent' if urgent else 'normal'}")


def due_from(now, category, urgent):
    """When the next answer is due: emergencies count wall-clock hours, everything else working
    hours on the working calendar (services/workdays.py)."""
    hours = due_hours(category, urgent)
    if urgent:
        return now + timedelta(hours=hours)
    return workdays.add_working_hours(now, hours)


def create(
    *,
    category,
    channel,
    description,
    actor,
    now,
    resident=None,
    unit=None,
    caller_name="",
    caller_phone="",
    caller_unit="",
    is_urgent=False,
    preferred_visit="",
    photos=(),
    notice=None,
    idempotency_key=None,
    gov_order_number="",
):
    """Registers a ticket and numbers it. With an idempotency key already used, returns the
    ticket that key created instead (a form submitted twice registers once). Returns (ticket, created)."""
    if idempotency_key:
        existing = db.session.scalar(select(Ticket).where(Ticket.idempotency_key == idempotency_key))
        if existing is not None:
            return existing, False
    category = TicketCategory(category)
    ticket = Ticket(
        number=next_number(category, now),
        category=category,
        channel=TicketChannel(channel),
        status=TicketStatus.NEW,
        description=description.strip(),
        is_urgent=bool(is_urgent),
        preferred_visit=(preferred_visit or "").strip() if category == TicketCategory.REPAIR else "",
        resident_id=resident.id if resident else None,
        caller_name=(caller_name or "").strip() or (resident.name if resident else ""),
        caller_phone=(caller_phone or "").strip() or ((resident.phone or "") if resident else ""),
        caller_unit=(caller_unit or "").strip(),
        unit_id=unit.id if unit else None,
        building_id=unit.building_id if unit else None,
        notice_id=notice.id if notice else None,
        idempotency_key=idempotency_key,
        created_by_id=actor.id if actor else None,
        created_at=now,
        due_at=due_from(now, category, is_urgent),
        gov_order_number=(gov_order_number or "").strip()[:40],
    )
    if ticket.channel == TicketChannel.GOV_HOTLINE:
        ticket.gov_reply_due_at = workdays.add_working_hours(now, settings.get("gov_reply_hours"))
    if ticket.is_urgent:
        ticket.response_due_at = now + timedelta(minutes=settings.get("emergency_response_minutes"))
    db.session.add(ticket)
    for name, data in photos:
        add_photo(ticket, name, data)
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError:
        if not idempotency_key:
            raise
        db.session.expunge(ticket)
        return db.session.scalar(select(Ticket).where(Ticket.idempotency_key == idempotency_key)), False
    step = add_event(ticket, EventKind.CREATED, actor, now, body=ticket.description, data={"channel": ticket.channel.value})
    if resident is not None and (actor is None or actor.id != resident.id):
        notify("ticket_registered", ticket, [resident], now=now, actor=actor, step=step)
    if actor is None or actor.role not in (Role.STAFF, Role.ADMIN):
        notify("ticket_created", ticket, customer_service_on_duty(now), now=now, actor=actor, step=step)
    if ticket.is_urgent:
        paging.start(ticket, now)
    return ticket, True


def add_photo(ticket, filename, data):
    if len(ticket.photos) >= MAX_PHOTOS:
        raise TicketError(_("At most %(n)d photos per ticket.", n=MAX_PHOTOS))
    blob = store_blob(data, allowed=PHOTO_TYPES)
    name = (filename or "photo").replace("\\", "/").rsplit("/", 1)[-1][:200] or "photo"
    photo = TicketPhoto(blob_sha256=blob.sha256, filename=name, mime=blob.mime)
    ticket.photos.append(photo)
    return photo


def add_event(ticket, kind, actor, now, body="", data=None, internal=None):
    event = TicketEvent(
        kind=kind,
        actor_id=actor.id if actor else None,
        is_internal=kind in INTERNAL_EVENTS if internal is None else internal,
        body=body or "",
        data=data or {},
        created_at=now,
    )
    ticket.events.append(event)
    db.session.flush()
    return event


def by_number(number):
    """The ticket with this number, or the one that had it before it was reclassified; or None."""
    number = (number or "").strip().upper()
    if not number:
        return None
    return db.session.scalar(select(Ticket).where(Ticket.number == number)) or db.session.scalar(
        select(Ticket).join(TicketAlias, TicketAlias.ticket_id == Ticket.id).where(TicketAlias.number == number))


def tell_resident(ticket, kind, step, actor, now, text=""):
    """The resident hears of a step on their ticket through their channels."""
    if ticket.resident is None:
        return []
    return notify(kind, ticket, [ticket.resident], now=now, actor=actor, step=step, extra={"text": text})


# Working the ticket


# What a ticket's page offers in each state, the likely next step first (S3.2 to S3.6): a new
# ticket is transferred, an assigned one worked, one in progress resolved, one on hold resumed,
# a resolved one answered (a complaint in writing first) and a fed-back one called back.
NEXT_STEPS = {
    TicketStatus.NEW: ("transfer", "assign", "progress", "classify", "urgency", "note", "hold", "resolve"),
    TicketStatus.ASSIGNED: ("assign", "progress", "resolve", "hold", "note", "urgency", "transfer", "classify"),
    TicketStatus.IN_PROGRESS: ("resolve", "progress", "hold", "note", "urgency", "transfer", "classify", "assign"),
    TicketStatus.ON_HOLD: ("resume", "note", "progress", "transfer", "classify", "urgency"),
    TicketStatus.RESOLVED: ("formal_reply", "feedback", "note"),
    TicketStatus.FEEDBACK_GIVEN: ("formal_reply", "callback", "note"),
    TicketStatus.CLOSED: ("note",),
}


def offered_steps(ticket, may):
    """(the likely next step, [the other steps]) that `may` ({action: allowed}) lets this person
    take on the ticket in its state; (None, []) when there is nothing to do."""
    steps = [step for step in NEXT_STEPS[ticket.status] if may.get(step) and _fits(ticket, step)]
    if "formal_reply" in steps and ticket.formal_reply_at is not None:
        steps.append(steps.pop(steps.index("formal_reply")))  # issued already: a new version is not the next step
    return (steps[0], steps[1:]) if steps else (None, [])


def _fits(ticket, step):
    if step == "formal_reply":
        return ticket.category == TicketCategory.COMPLAINT
    if step == "assign":
        return ticket.lead_department_id is not None
    return True


def _require_open(ticket):
    if not ticket.is_open:
        raise TicketError(_("This ticket is no longer open."))


def reclassify(ticket, category, actor, now):
    """The ticket moves to another category and takes the next number of that category's series
    (a complaint registered as an inquiry becomes TS-...). The old number stays as an alias that
    search finds; the timeline shows both, and the resident is told the new number (S3.2)."""
    category = TicketCategory(category)
    if category == ticket.category:
        return None
    old, old_number = ticket.category, ticket.number
    ticket.category = category
    ticket.reclassified_count += 1
    ticket.number = next_number(category, now)
    ticket.aliases.append(TicketAlias(number=old_number, created_at=now))
    step = add_event(ticket, EventKind.CLASSIFIED, actor, now,
                     data={"from": old.value, "to": category.value, "from_number": old_number, "to_number": ticket.number})
    with force_locale(_resident_language(ticket)):
        text = _("Your request is now handled as %(category)s; its number is now %(number)s (it was %(old)s).",
                 category=CATEGORY_LABELS[category], number=ticket.number, old=old_number)
    tell_resident(ticket, "ticket_progress", step, actor, now, text)
    return step


def _resident_language(ticket):
    return (ticket.resident.language if ticket.resident is not None and ticket.resident.language else None) or "zh_Hans"


def transfer(ticket, lead, co_departments, actor, now, due_at=None, due_reason=""):
    """The transfer slip (信息传递单): lead department, co-departments, who, when, the due time."""
    _require_open(ticket)
    if ticket.status == TicketStatus.ON_HOLD:
        raise TicketError(_("Resume the ticket before transferring it."))
    ticket.lead_department = lead
    wanted = {lead.id: True, **{d.id: False for d in co_departments if d.id != lead.id}}
    for row in list(ticket.departments):  # changed in place: a department stays one row
        if row.department_id in wanted:
            row.is_lead = wanted.pop(row.department_id)
        else:
            ticket.departments.remove(row)
    for department_id, is_lead in wanted.items():
        ticket.departments.append(TicketDepartment(department_id=department_id, is_lead=is_lead))
    ticket.assigned_at = now
    ticket.assigned_by_id = actor.id
    ticket.assignee_id = None
    if ticket.status == TicketStatus.NEW:
        ticket.status = TicketStatus.ASSIGNED
    if due_at is not None and due_at != ticket.due_at:
        if not due_reason.strip():
            raise TicketError(_("Give a reason for changing the due time."))
        add_event(
            ticket, EventKind.DUE_CHANGED, actor, now, body=due_reason.strip(),
            data={"from": ticket.due_at.isoformat() if ticket.due_at else None, "to": due_at.isoformat()},
        )
        ticket.due_at = due_at
    step = add_event(
        ticket,
        EventKind.TRANSFERRED,
        actor,
        now,
        data={
            "lead": lead.name,
            "co": [d.name for d in co_departments if d.id != lead.id],
            "due_at": ticket.due_at.isoformat() if ticket.due_at else None,
        },
    )
    departments = [lead] + [d for d in co_departments if d.id != lead.id]
    notify("ticket_transferred", ticket, heads_of([d.id for d in departments]), now=now, actor=actor, step=step, departments=departments)
    return step


def assign_person(ticket, assignee, actor, now):
    """A head hands the ticket to someone in the department, who can then open and work it."""
    _require_open(ticket)
    ticket.assignee_id = assignee.id
    step = add_event(ticket, EventKind.ASSIGNED, actor, now, body=_("Assigned to %(name)s", name=assignee.name), data={"assignee": assignee.id})
    notify("ticket_assigned", ticket, [assignee], now=now, actor=actor, step=step)
    return step


RECORDED_LATE = timedelta(minutes=15)


def record_call(ticket, to_whom, called_at, actor, now):
    """Emergencies: the call to the on-duty head, with its time (S3.3.2). The time can be neither
    later than now nor earlier than the registration; one written down more than 15 minutes after
    the call is marked as recorded late. Reaching the head acknowledges the emergency."""
    if called_at > now + timedelta(minutes=1):
        raise TicketError(_("The call cannot be later than now."))
    if called_at < ticket.created_at - timedelta(minutes=1):
        raise TicketError(_("The call cannot be earlier than the registration (%(at)s).", at=to_local(ticket.created_at).strftime("%Y-%m-%d %H:%M")))
    called_at = min(max(called_at, ticket.created_at), now)
    late = now - called_at > RECORDED_LATE
    ticket.responded_at = ticket.responded_at or called_at
    step = add_event(ticket, EventKind.CALLED, actor, now, body=to_whom.strip(),
                     data={"called_at": called_at.isoformat(), "recorded_late": late})
    if ticket.is_urgent and ticket.acknowledged_at is None:
        ticket.acknowledged_at = called_at
        ticket.acknowledged_by_id = None
        ticket.acknowledged_via = "call"
        paging.stop(ticket)
    return step


def set_urgency(ticket, urgent, reason, actor, now):
    """Staff raise a ticket to urgent (paging starts, due times recomputed) or lower it, with a reason."""
    _require_open(ticket)
    urgent = bool(urgent)
    if urgent == ticket.is_urgent:
        raise TicketError(_("The ticket is already urgent.") if urgent else _("The ticket is not urgent."))
    if not urgent and not reason.strip():
        raise TicketError(_("Give a reason for lowering the urgency."))
    due_at = due_from(now, ticket.category, urgent)
    if urgent:  # the response clock comes with the urgency (a CHECK constraint holds them together)
        ticket.response_due_at = now + timedelta(minutes=settings.get("emergency_response_minutes"))
    ticket.is_urgent, ticket.due_at = urgent, due_at
    step = add_event(ticket, EventKind.URGENCY_CHANGED, actor, now, body=reason.strip(),
                     data={"urgent": urgent, "due_at": ticket.due_at.isoformat()})
    if urgent:
        ticket.acknowledged_at = ticket.acknowledged_by_id = None
        ticket.acknowledged_via = ""
        paging.start(ticket, now)
    else:
        paging.stop(ticket)
    return step


def gov_reply(ticket, text, actor, now):
    """The reply sent back to the city's 12345 hotline for its work order."""
    if ticket.channel != TicketChannel.GOV_HOTLINE:
        raise TicketError(_("Only 12345 work orders are answered to the hotline."))
    ticket.gov_reply = text.strip()
    ticket.gov_replied_at = now
    if ticket.page_reason == "gov_overdue":
        paging.stop(ticket)
    return add_event(ticket, EventKind.GOV_REPLY, actor, now, body=ticket.gov_reply,
                     data={"order": ticket.gov_order_number, "late": bool(ticket.gov_reply_due_at and now > ticket.gov_reply_due_at)})


def progress(ticket, body, expected_completion, actor, now):
    _require_open(ticket)
    if ticket.status in (TicketStatus.NEW, TicketStatus.ASSIGNED):
        ticket.status = TicketStatus.IN_PROGRESS
    new_date = expected_completion is not None and expected_completion != ticket.expected_completion
    if expected_completion is not None:
        ticket.expected_completion = expected_completion
    step = add_event(
        ticket, EventKind.PROGRESS, actor, now, body=body.strip(),
        data={"expected": expected_completion.isoformat() if expected_completion else None},
    )
    tell_resident(ticket, "ticket_expected" if new_date else "ticket_progress", step, actor, now, step.body)
    return step


def internal_note(ticket, body, actor, now):
    return add_event(ticket, EventKind.INTERNAL_NOTE, actor, now, body=body.strip())


def resident_reply(ticket, body, resident, now, idempotency_key=None):
    """The resident writes on their ticket: its assignee hears of it, else the handling
    department's heads, else customer service. The same form sent again (its idempotency key)
    writes nothing more and returns the message it wrote."""
    earlier = database.with_key(db.session, TicketEvent, idempotency_key)
    if earlier is not None:
        return earlier
    if ticket.status == TicketStatus.CLOSED:
        raise TicketError(_("This ticket is closed. Rate it as not resolved to reopen it."))
    step = TicketEvent(kind=EventKind.RESIDENT_REPLY, actor_id=resident.id, is_internal=False, body=body.strip(), data={}, created_at=now,
                       idempotency_key=idempotency_key)
    ticket.events.append(step)
    earlier = database.flush_once(db.session, TicketEvent, idempotency_key)
    if earlier is not None:
        return earlier
    notify("ticket_message", ticket, handlers(ticket, now), now=now, actor=resident, step=step, extra={"excerpt": step.body[:60]})
    return step


def hold(ticket, reason, actor, now):
    """Waiting for parts, resident away: the due-time clock stops until the ticket resumes."""
    _require_open(ticket)
    if ticket.status == TicketStatus.ON_HOLD:
        raise TicketError(_("The ticket is already on hold."))
    previous = ticket.status
    ticket.status = TicketStatus.ON_HOLD
    ticket.held_since = now
    if ticket.due_at is not None and not ticket.is_urgent:
        ticket.held_work_seconds = workdays.working_seconds_between(now, ticket.due_at)
    ticket.hold_reason = reason.strip()
    step = add_event(ticket, EventKind.ON_HOLD, actor, now, body=ticket.hold_reason, data={"previous": previous.value})
    tell_resident(ticket, "ticket_on_hold", step, actor, now, ticket.hold_reason)
    return step


def resume(ticket, actor, now):
    if ticket.status != TicketStatus.ON_HOLD:
        raise TicketError(_("The ticket is not on hold."))
    held = now - ticket.held_since
    if ticket.due_at is not None and ticket.held_work_seconds is not None and not ticket.is_urgent:
        ticket.due_at = workdays.add_working_time(now, ticket.held_work_seconds)  # the working time that was left
    elif ticket.due_at is not None:
        ticket.due_at = ticket.due_at + held
    ticket.held_work_seconds = None
    previous = next((e.data.get("previous") for e in reversed(ticket.events) if e.kind == EventKind.ON_HOLD), None)
    ticket.status = TicketStatus(previous) if previous in {s.value for s in OPEN_STATUSES} else TicketStatus.IN_PROGRESS
    ticket.held_since = None
    ticket.hold_reason = ""
    step = add_event(ticket, EventKind.RESUMED, actor, now, data={"held_seconds": int(held.total_seconds())})
    tell_resident(ticket, "ticket_resumed", step, actor, now)
    return step


def resolve(ticket, result, actor, now, tell=True):
    _require_open(ticket)
    if ticket.status == TicketStatus.ON_HOLD:
        raise TicketError(_("Resume the ticket before resolving it."))
    ticket.status = TicketStatus.RESOLVED
    ticket.resolved_at = now
    ticket.result = result.strip()
    step = add_event(ticket, EventKind.RESOLVED, actor, now, body=ticket.result)
    if tell:
        tell_resident(ticket, "ticket_resolved", step, actor, now, ticket.result)
    return step


def feedback(ticket, method, actor, now, tell=True):
    """How the resident was told the result (S3.5.1). A complaint needs its formal reply first."""
    if ticket.status != TicketStatus.RESOLVED:
        raise TicketError(_("Record the result first."))
    if method not in FEEDBACK_METHODS:
        raise TicketError(_("Choose how the resident was told."))
    if ticket.category == TicketCategory.COMPLAINT and ticket.formal_reply_at is None:
        raise TicketError(_("A complaint needs its formal written reply before the result is given."))
    ticket.status = TicketStatus.FEEDBACK_GIVEN
    ticket.feedback_at = now
    ticket.feedback_method = method
    step = add_event(ticket, EventKind.FEEDBACK, actor, now, data={"method": method})
    if tell:
        tell_resident(ticket, "ticket_rating_requested", step, actor, now)
    return step


def formal_reply(ticket, text, actor, now):
    """The complaint's formal written reply (书面答复): a PDF letter, rendered once and kept with
    the ticket as written, downloadable by its resident."""
    if ticket.status not in (TicketStatus.RESOLVED, TicketStatus.FEEDBACK_GIVEN):
        raise TicketError(_("Resolve the ticket before writing the formal reply."))
    event = add_event(ticket, EventKind.FORMAL_REPLY, actor, now, body=text.strip())
    with force_locale("zh_Hans"):  # the letter is the company's written Chinese
        pdf = render_pdf(
            "pdf/formal_reply.html", ticket=ticket, event=event, department=ticket.lead_department,
            category=CATEGORY_LABELS[ticket.category], signer=actor,
            hotline=settings.get("hotline"), contact_person=settings.get("contact_person"),
        )
    blob = store_blob(pdf, allowed={"application/pdf"}, limit=20 * 1024 * 1024)
    ticket.formal_reply_sha256 = blob.sha256
    ticket.formal_reply_at = now
    tell_resident(ticket, "ticket_formal_reply", event, actor, now)
    return event


def rate(ticket, rating, comment, resolved, actor, now, by_staff=False):
    """The satisfaction survey (S3.5.2): online by the resident, or a call-back recorded by staff.
    "Not resolved" reopens the ticket; otherwise it closes."""
    if ticket.status != TicketStatus.FEEDBACK_GIVEN:
        raise TicketError(_("This ticket is not waiting for a rating."))
    if not 1 <= int(rating) <= 5:
        raise TicketError(_("Choose a rating from 1 to 5."))
    ticket.rating = int(rating)
    ticket.rating_comment = (comment or "").strip()
    ticket.rated_at = now
    add_event(
        ticket, EventKind.RATING, actor, now, body=ticket.rating_comment,
        data={"rating": ticket.rating, "resolved": bool(resolved), "by_staff": by_staff},
    )
    if resolved:
        return close(ticket, actor, now)
    return reopen(ticket, actor, now)


def reopen(ticket, actor, now):
    ticket.status = TicketStatus.ASSIGNED if ticket.lead_department_id else TicketStatus.NEW
    ticket.reopened_count += 1
    ticket.resolved_at = None
    ticket.feedback_at = None
    ticket.feedback_method = ""
    ticket.rating = None
    ticket.rated_at = None
    ticket.due_at = due_from(now, ticket.category, ticket.is_urgent)
    return add_event(ticket, EventKind.REOPENED, actor, now)


def close(ticket, actor, now, automatic=False):
    if ticket.category == TicketCategory.COMPLAINT and ticket.formal_reply_at is None:
        raise TicketError(_("A complaint cannot close without its formal written reply."))
    ticket.status = TicketStatus.CLOSED
    ticket.closed_at = now
    return add_event(ticket, EventKind.CLOSED, actor, now, data={"automatic": automatic})


def ask_on_notice(notice, resident, body, now, idempotency_key=None):
    """A question under a notice joins the register as a ticket of its own channel (S3.1)."""
    unit = resident.residencies[0].unit if resident.residencies else None
    return create(
        category=TicketCategory.INQUIRY,
        channel=TicketChannel.NOTICE_QUESTION,
        description=body,
        actor=resident,
        now=now,
        resident=resident,
        unit=unit,
        notice=notice,
        idempotency_key=idempotency_key,
    )


def answer_question(ticket, text, actor, now):
    """A question asked under a notice, answered in place: the answer is the result, given on the portal."""
    if ticket.status in (TicketStatus.NEW, TicketStatus.ASSIGNED, TicketStatus.IN_PROGRESS):
        resolve(ticket, text, actor, now, tell=False)
        step = feedback(ticket, "portal", actor, now, tell=False)
        tell_resident(ticket, "ticket_reply", step, actor, now, text)
        return step
    raise TicketError(_("This question has already been answered."))


# Background work


def close_unrated(now):
    """Tickets whose result was given `unrated_close_days` ago without a rating close by themselves;
    a complaint still waiting for its formal written reply stays open (its page asks for the reply)."""
    limit = now - timedelta(days=settings.get("unrated_close_days"))
    due = db.session.scalars(
        select(Ticket).where(Ticket.status == TicketStatus.FEEDBACK_GIVEN, Ticket.feedback_at <= limit,
                             or_(Ticket.category != TicketCategory.COMPLAINT, Ticket.formal_reply_at.is_not(None))).limit(200)
    ).all()
    for ticket in due:
        close(ticket, None, now, automatic=True)
    return len(due)


def escalate(now):
    """Worker: emergencies without a response in time go to the heads; an hour before a ticket is
    due its assignee (else the heads) is reminded; an overdue ticket goes to its assignee and heads."""
    count = 0
    breaches = db.session.scalars(
        select(Ticket).where(
            Ticket.is_urgent, Ticket.acknowledged_at.is_(None), Ticket.escalated_at.is_(None), Ticket.response_due_at < now,
            Ticket.status.in_(OPEN_STATUSES),
        ).limit(200).with_for_update(skip_locked=True)
    ).all()
    for ticket in breaches:
        ticket.escalated_at = now
        step = add_event(ticket, EventKind.ESCALATED, None, now, data={"reason": "response"})
        told = notify("ticket_escalated", ticket, heads_for(ticket, now), now=now, step=step,
                      extra={"minutes": settings.get("emergency_response_minutes")},
                      context={"minutes": settings.get("emergency_response_minutes")})
        step.data = {**step.data, "told": told_summary(told)}
        count += 1
    working = [TicketStatus.NEW, TicketStatus.ASSIGNED, TicketStatus.IN_PROGRESS]
    soon = db.session.scalars(
        select(Ticket).where(
            Ticket.status.in_(working), Ticket.due_at > now, Ticket.due_at <= now + timedelta(hours=1),
            Ticket.due_soon_notified_at.is_(None),
        ).limit(200).with_for_update(skip_locked=True)
    ).all()
    for ticket in soon:
        ticket.due_soon_notified_at = now
        people = [ticket.assignee] if ticket.assignee is not None else heads_for(ticket, now)
        notify("ticket_due_soon", ticket, people, now=now)
        count += 1
    overdue = db.session.scalars(
        select(Ticket).where(
            Ticket.status.in_(working),
            Ticket.due_at < now,
            Ticket.overdue_notified_at.is_(None),
        ).limit(200).with_for_update(skip_locked=True)
    ).all()
    for ticket in overdue:
        ticket.overdue_notified_at = now
        step = add_event(ticket, EventKind.ESCALATED, None, now, data={"reason": "overdue"})
        people = ([ticket.assignee] if ticket.assignee is not None else []) + heads_for(ticket, now)
        told = notify("ticket_overdue", ticket, people, now=now, step=step)
        step.data = {**step.data, "told": told_summary(told)}
        count += 1
    gov_late = db.session.scalars(
        select(Ticket).where(
            Ticket.channel == TicketChannel.GOV_HOTLINE, Ticket.gov_replied_at.is_(None), Ticket.gov_reply_due_at < now,
            Ticket.page_reason != "gov_overdue", Ticket.status.in_(OPEN_STATUSES),
        ).limit(100).with_for_update(skip_locked=True)
    ).all()
    for ticket in gov_late:  # a 12345 work order past the hotline's deadline escalates like an emergency
        add_event(ticket, EventKind.ESCALATED, None, now, data={"reason": "gov_overdue", "order": ticket.gov_order_number})
        paging.start(ticket, now, reason="gov_overdue")
        count += 1
    return count


def told_summary(told):
    """For the timeline: who was queued a message on which channels (never more than that)."""
    return [{"name": t.name, "channels": [str(c) for c in t.channels]} for t in told]


def customer_service_on_duty(now):
    """The customer-service staff who take new requests: the desk's rota at this hour (with its
    deputy), or every customer-service member where the desk keeps no rota."""
    from portal.services import duty

    desk = settings.get("desk_department") or None
    if desk and now is not None:
        primary, deputy = duty.on_duty_people(desk, now)
        if primary is not None:
            return [p for p in (primary, deputy) if p is not None]
    return db.session.scalars(select(User).where(User.role == Role.STAFF, User.is_active).order_by(User.id)).all()


def heads_of(department_ids):
    if not department_ids:
        return []
    return db.session.scalars(
        select(User).where(User.role == Role.HEAD, User.is_active, User.department_id.in_(department_ids)).order_by(User.id)
    ).all()


def heads_for(ticket, now=None):
    """The heads of the ticket's departments; before a transfer, customer service."""
    heads = heads_of([d.department_id for d in ticket.departments])
    return heads or customer_service_on_duty(now)


def handlers(ticket, now):
    """Who hears a resident's message: the assignee, else the handling heads, else customer service."""
    if ticket.assignee is not None and ticket.assignee.is_active:
        return [ticket.assignee]
    return heads_for(ticket, now)


# The register


# The register's filters that compare one column with the value given
_EQUAL_FILTERS = (
    ("status", Ticket.status, TicketStatus),
    ("category", Ticket.category, TicketCategory),
    ("channel", Ticket.channel, TicketChannel),
    ("building", Ticket.building_id, int),
)
WORKING_STATUSES = (TicketStatus.NEW, TicketStatus.ASSIGNED, TicketStatus.IN_PROGRESS)


# The register's yes/no filters, each built only when asked for. The figures link to the last four.
_FLAG_CLAUSES = {
    "overdue": lambda now: and_(Ticket.status.in_(WORKING_STATUSES), Ticket.due_at < now),
    "urgent": lambda now: Ticket.is_urgent,
    "unreplied": lambda now: and_(Ticket.channel == TicketChannel.GOV_HOTLINE, Ticket.gov_replied_at.is_(None)),  # 12345 replies still due
    "late": lambda now: Ticket.feedback_at > Ticket.due_at,
    "dissatisfied": lambda now: Ticket.rating <= 3,
    "unresolved": lambda now: Ticket.resolved_at.is_(None),
    "inaccurate": lambda now: (Ticket.reopened_count > 0) | (Ticket.reclassified_count > 0),
}


def _period_clauses(f):
    """The figures link here: "late" dates by when the result was given, "dissatisfied" by the
    rating's date, everything else by registration, as the figure counted them."""
    basis = Ticket.feedback_at if f.get("late") else Ticket.rated_at if f.get("dissatisfied") else Ticket.created_at
    clauses = []
    if f.get("since"):
        clauses.append(basis >= f["since"])
    if f.get("until"):
        clauses.append(basis < f["until"])
    return clauses


def register_query(user, filters, now):
    """The register, filtered and searched (`q`: portal/search.py); keyset-paginated by id
    (newest first) by the caller."""
    f = filters
    clauses = [] if (visible := permissions.ticket_scope(user)) is None else [visible]
    clauses += [column == kind(f[key]) for key, column, kind in _EQUAL_FILTERS if f.get(key)]
    clauses += [clause(now) for key, clause in _FLAG_CLAUSES.items() if f.get(key)]
    clauses += _period_clauses(f)
    if f.get("department"):
        clauses.append(exists().where(TicketDepartment.ticket_id == Ticket.id, TicketDepartment.department_id == f["department"]))
    if f.get("q") and f["q"].strip():
        clauses.append(matches(Ticket, f["q"]))
    return select(Ticket).where(*clauses)


def after_id(query, before_id):
    return query.where(Ticket.id < before_id) if before_id else query


