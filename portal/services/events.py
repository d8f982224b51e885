"""Events and meetings (S2.2): monthly activities, quarterly owners' forums, campaigns and drills,
owners' general meetings; sign-ups with a waitlist, the policy's notice periods (S4.3), reminders,
attendance, feedback into the register (S3.1.2) and forum minutes."""
from datetime import timedelta

from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from portal import database
from portal.extensions import db
from portal.i18n import to_local
from portal.links import external_url
from portal.models import (
    Event,
    EventSignup,
    EventType,
    Notice,
    NoticeCategory,
    Residency,
    SignupStatus,
    TicketChannel,
    Unit,
)
from portal.notify import notify
from portal.services import notices, settings, tickets

TYPE_LABELS = {
    EventType.ACTIVITY: _l("Community activity"),
    EventType.FORUM: _l("Owners' forum"),
    EventType.CAMPAIGN: _l("Campaign"),
    EventType.DRILL: _l("Drill"),
    EventType.GENERAL_MEETING: _l("Owners' general meeting"),
}
SIGNUP_LABELS = {
    SignupStatus.CONFIRMED: _l("Signed up"),
    SignupStatus.WAITLISTED: _l("On the waitlist"),
    SignupStatus.CANCELLED: _l("Cancelled"),
}
EVENING_HOUR = 18


class EventError(ValueError):
    pass


def policy_breaches(kind, starts_at, ends_at, now, public_holiday=False):
    """What a forum or activity does against S4.3: notice period, day or hour, duration."""
    if kind not in (EventType.FORUM, EventType.ACTIVITY):
        return []
    breaches = []
    days = settings.get("forum_notice_days")
    if starts_at - now < timedelta(days=days):
        breaches.append(_("announced less than %(n)d days ahead", n=days))
    local = to_local(starts_at)
    weekend = local.weekday() >= 5 or public_holiday
    if kind == EventType.FORUM and not weekend:
        breaches.append(_("a forum should be held on a weekend or public holiday"))
    if kind == EventType.ACTIVITY and not (weekend or local.hour >= EVENING_HOUR):
        breaches.append(_("an activity should be on a weekend, a public holiday or an evening"))
    hours = settings.get("forum_min_hours" if kind == EventType.FORUM else "activity_min_hours")
    if ends_at - starts_at < timedelta(hours=hours):
        breaches.append(_("shorter than %(n)d hours", n=hours))
    return breaches


def create(*, kind, title, description, location, starts_at, ends_at, capacity, seats_per_household, signup_deadline,
           buildings, actor, now, exception_reason="", public_holiday=False):
    kind = EventType(kind)
    if ends_at <= starts_at:
        raise EventError(_("The event must end after it starts."))
    breaches = policy_breaches(kind, starts_at, ends_at, now, public_holiday)
    if breaches and not exception_reason.strip():
        raise EventError(_("This departs from the policy (%(what)s): give a reason to go ahead.", what="; ".join(breaches)))
    event = Event(
        kind=kind, title=title.strip(), description=description.strip(), location=location.strip(), starts_at=starts_at,
        ends_at=ends_at, capacity=capacity or None, seats_per_household=max(1, seats_per_household or 1),
        signup_deadline=signup_deadline, is_community_wide=not buildings, buildings=list(buildings),
        policy_exception=exception_reason.strip() if breaches else "", created_by_id=actor.id, created_at=now,
    )
    db.session.add(event)
    db.session.flush()
    if kind in (EventType.FORUM, EventType.GENERAL_MEETING):
        announce(event, actor, now)
    return event


def announce(event, actor, now):
    """A forum announces itself on the notice board (S4.3.1); moved, the same notice says the new
    time and place; cancelled, it says so and why."""
    local_start, local_end = to_local(event.starts_at), to_local(event.ends_at)
    with force_locale("zh_Hans"):
        body = _(
            "%(title)s will be held on %(day)s from %(start)s to %(end)s at %(place)s. Sign up on the portal: %(url)s",
            title=event.title, day=local_start.strftime("%Y-%m-%d"), start=local_start.strftime("%H:%M"),
            end=local_end.strftime("%H:%M"), place=event.location or "-", url=external_url("events.show", event_id=event.id),
        )
        if event.description:
            body += "\n\n" + event.description
        title = f"{TYPE_LABELS[event.kind]}：{event.title}"
        if event.cancelled_at is not None:
            title = _("Cancelled: %(title)s", title=title)
            body = _("This meeting is cancelled: %(reason)s", reason=event.cancel_reason) + "\n\n" + body
        elif event.sequence:
            body = _("The time or place has changed (see below).") + "\n\n" + body
    notice = db.session.get(Notice, event.notice_id) if event.notice_id else None
    notice = notice or Notice()
    notices.save(
        notice, title=title[:200], body=body, category=NoticeCategory.NEWS, community_wide=event.is_community_wide,
        buildings=event.buildings, publish_at=notice.publish_at or now, expires_at=event.ends_at, is_pinned=event.cancelled_at is None,
        actor=actor, now=now,
    )
    event.notice_id = notice.id
    return notice


def seats_taken(event):
    return db.session.scalar(
        select(func.coalesce(func.sum(EventSignup.seats), 0)).where(EventSignup.event_id == event.id, EventSignup.status == SignupStatus.CONFIRMED)
    )


def lock(event):
    """Serialise sign-ups for one event: PostgreSQL locks its row; on SQLite the POST already holds
    the write lock (database.begin_write)."""
    db.session.execute(select(Event.id).where(Event.id == event.id).with_for_update())


def sign_up(event, user, unit, seats, now, idempotency_key=None):
    """A household's sign-up: confirmed while seats last, else on the waitlist. Idempotent per
    household, and per form (its idempotency key) while the sign-up stands."""
    earlier = database.with_key(db.session, EventSignup, idempotency_key)
    if earlier is not None and earlier.status != SignupStatus.CANCELLED:
        return earlier
    if event.cancelled_at is not None:
        raise EventError(_("This event was cancelled."))
    if event.signup_deadline and now > event.signup_deadline or now >= event.starts_at:
        raise EventError(_("Sign-up for this event has closed."))
    if not 1 <= seats <= event.seats_per_household:
        raise EventError(_("A household may take 1 to %(n)d seats.", n=event.seats_per_household))
    lock(event)
    signup = db.session.scalar(select(EventSignup).where(EventSignup.event_id == event.id, EventSignup.unit_id == unit.id))
    if signup is not None and signup.status != SignupStatus.CANCELLED:
        return signup
    free = None if event.capacity is None else event.capacity - seats_taken(event)
    waiting = db.session.scalar(
        select(func.count(EventSignup.id)).where(EventSignup.event_id == event.id, EventSignup.status == SignupStatus.WAITLISTED)
    )
    status = SignupStatus.CONFIRMED if free is None or (free >= seats and not waiting) else SignupStatus.WAITLISTED
    if signup is None:
        signup = EventSignup(event_id=event.id, unit_id=unit.id, user_id=user.id, seats=seats, status=status, queued_at=now, created_at=now)
        db.session.add(signup)
    else:
        signup.user_id, signup.seats, signup.status, signup.queued_at = user.id, seats, status, now
    signup.idempotency_key = idempotency_key
    db.session.flush()
    return signup


def cancel(signup, now):
    """A household cancels; the waitlist moves up in the order people joined it."""
    event = signup.event
    lock(event)
    was_confirmed = signup.status == SignupStatus.CONFIRMED
    signup.status = SignupStatus.CANCELLED
    db.session.flush()
    promoted = promote(event, now) if was_confirmed else []
    return promoted


def promote(event, now):
    promoted = []
    free = None if event.capacity is None else event.capacity - seats_taken(event)
    queue = db.session.scalars(
        select(EventSignup).where(EventSignup.event_id == event.id, EventSignup.status == SignupStatus.WAITLISTED)
        .order_by(EventSignup.queued_at, EventSignup.id)
    ).all()
    for waiting in queue:
        if free is not None and waiting.seats > free:
            break  # first come, first served: nobody jumps the queue
        waiting.status = SignupStatus.CONFIRMED
        promoted.append(waiting)
        if free is not None:
            free -= waiting.seats
        notify("event_promoted", event, [waiting.user], now=now, ref=f"{waiting.id}:{waiting.queued_at.isoformat()}",
               context={"signup": waiting})
    db.session.flush()
    return promoted


def household_of(user, event):
    """The household a resident signs up for: their first home the event is aimed at."""
    units = db.session.scalars(select(Unit).join(Residency, Residency.unit_id == Unit.id).where(Residency.user_id == user.id).order_by(Unit.id)).all()
    if event.is_community_wide:
        return units[0] if units else None
    aimed = {b.id for b in event.buildings}
    return next((u for u in units if u.building_id in aimed), None)


def remind_due(now, ahead=timedelta(hours=24)):
    """Worker: a day before, everyone signed up gets a reminder (once)."""
    due = db.session.scalars(
        select(Event).where(Event.reminded_at.is_(None), Event.cancelled_at.is_(None), Event.starts_at > now, Event.starts_at <= now + ahead)
    ).all()
    for event in due:
        for signup in event.signups:
            if signup.status == SignupStatus.CONFIRMED:
                notify("event_reminder", event, [signup.user], now=now, ref=f"{signup.id}:{event.starts_at.isoformat()}",
                       context={"signup": signup})
        event.reminded_at = now
    return len(due)


def signed_up(event):
    """Everyone signed up or waiting for a place."""
    return [s.user for s in event.signups if s.status in (SignupStatus.CONFIRMED, SignupStatus.WAITLISTED)]


def change(event, *, starts_at, ends_at, location, reason, actor, now, exception_reason="", public_holiday=False,
           title=None, description=None, capacity=None):
    """Staff edit an event: its title and description, move it to another time or place, or give
    it more places. The policy is checked again, a forum's notice says the new time and place,
    the waitlist moves up into new places, and everyone signed up or waiting hears of it; their
    calendars replace their copy (the .ics keeps its UID and raises its SEQUENCE)."""
    if event.cancelled_at is not None:
        raise EventError(_("This event was cancelled."))
    if ends_at <= starts_at:
        raise EventError(_("The event must end after it starts."))
    breaches = policy_breaches(event.kind, starts_at, ends_at, now, public_holiday)
    if breaches and not exception_reason.strip():
        raise EventError(_("This departs from the policy (%(what)s): give a reason to go ahead.", what="; ".join(breaches)))
    title = event.title if title is None else title.strip()
    description = event.description if description is None else description.strip()
    capacity = event.capacity if capacity is None else (capacity or None)
    if capacity is not None and capacity < seats_taken(event):
        raise EventError(_("%(n)d places are taken already: the event cannot have fewer.", n=seats_taken(event)))
    before = (event.starts_at, event.ends_at, event.location, event.title, event.description, event.capacity)
    if (starts_at, ends_at, location.strip(), title, description, capacity) == before:
        raise EventError(_("Nothing was changed."))
    if not title:
        raise EventError(_("The event needs a title."))
    event.starts_at, event.ends_at, event.location = starts_at, ends_at, location.strip()
    event.title, event.description, event.capacity = title, description, capacity
    event.policy_exception = exception_reason.strip() if breaches else ""
    event.reminded_at = None if starts_at > now else event.reminded_at
    event.sequence = (event.sequence or 0) + 1
    db.session.flush()
    if event.notice_id:
        announce(event, actor, now)
    told = notify("event_changed", event, signed_up(event), now=now, actor=actor, ref=f"v{event.sequence}", extra={"text": reason.strip()})
    if capacity is None or capacity > (before[5] or 0):
        promote(event, now)
    return told


def cancel_event(event, reason, actor, now):
    """Staff cancel an event with a reason; everyone signed up or waiting hears of it, and a
    forum's notice says it is cancelled."""
    if event.cancelled_at is not None:
        raise EventError(_("This event was cancelled."))
    if not reason.strip():
        raise EventError(_("Give a reason for the cancellation."))
    event.cancelled_at = now
    event.cancel_reason = reason.strip()
    event.sequence = (event.sequence or 0) + 1
    db.session.flush()
    if event.notice_id:
        announce(event, actor, now)
    return notify("event_cancelled", event, signed_up(event), now=now, actor=actor, extra={"text": event.cancel_reason})


def mark_attendance(event, attended_ids):
    for signup in event.signups:
        if signup.status == SignupStatus.CONFIRMED:
            signup.attended = signup.id in attended_ids


def feedback(event, user, unit, category, text, now, idempotency_key=None):
    """Feedback after an event joins the register (S3.1.2)."""
    ticket, _created = tickets.create(
        category=category, channel=TicketChannel.EVENT_FEEDBACK, description=text, actor=user, now=now, resident=user, unit=unit,
        idempotency_key=idempotency_key,
    )
    ticket.event_id = event.id
    return ticket


def publish_minutes(event, text, now):
    if event.kind not in (EventType.FORUM, EventType.GENERAL_MEETING):
        raise EventError(_("Minutes are kept for forums and meetings."))
    event.minutes = text.strip()
    event.minutes_published_at = now


def calendar(year):
    """Months with and without an activity, quarters with and without a forum (S2.2.1)."""
    from datetime import datetime

    from portal.i18n import from_local

    start = from_local(datetime(year, 1, 1))
    end = from_local(datetime(year + 1, 1, 1))
    rows = db.session.execute(
        select(Event.kind, Event.starts_at, Event.title, Event.id).where(Event.starts_at >= start, Event.starts_at < end, Event.cancelled_at.is_(None))
        .order_by(Event.starts_at)
    ).all()
    months = {m: [] for m in range(1, 13)}
    quarters = {q: [] for q in range(1, 5)}
    for kind, starts_at, title, event_id in rows:
        local = to_local(starts_at)
        if kind == EventType.ACTIVITY:
            months[local.month].append((event_id, title, local))
        if kind == EventType.FORUM:
            quarters[(local.month - 1) // 3 + 1].append((event_id, title, local))
    return months, quarters
