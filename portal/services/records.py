"""Communication records and their archive (S3.6), daily outreach (S4.1.1), retention, training (S6.2)."""
import logging
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, delete, func, or_, select, update

from portal import cache, database
from portal.extensions import db
from portal.i18n import from_local, to_local
from portal.models import (
    OUTREACH_KINDS,
    Call,
    CommRecord,
    Conversation,
    RecordKind,
    Role,
    Suggestion,
    Ticket,
    TicketStatus,
    TrainingAttendance,
    TrainingMethod,
    TrainingSession,
    TrainingTopic,
    User,
)
from portal.search import forget, matches
from portal.services import settings

log = logging.getLogger(__name__)

KIND_LABELS = {
    RecordKind.CALL: _l("Call"),
    RecordKind.VISIT: _l("Visit"),
    RecordKind.OUTREACH_CALL: _l("Outreach call"),
    RecordKind.OUTREACH_VISIT: _l("Outreach visit"),
    RecordKind.FORUM: _l("Forum"),
    RecordKind.COORDINATION: _l("Weekly coordination meeting"),
    RecordKind.OWNERS_COMMITTEE: _l("Owners' committee"),
    RecordKind.RESIDENTS_COMMITTEE: _l("Residents' committee"),
    RecordKind.GOVERNMENT: _l("Government body"),
    RecordKind.OTHER: _l("Other"),
}
TOPIC_LABELS = {
    TrainingTopic.COMMUNICATION: _l("Communication skills"),
    TrainingTopic.SERVICE: _l("Service awareness"),
    TrainingTopic.BUSINESS: _l("Business knowledge"),
    TrainingTopic.PROBLEM_HANDLING: _l("Problem handling"),
}
METHOD_LABELS = {
    TrainingMethod.INTERNAL: _l("Internal training"),
    TrainingMethod.COACHING: _l("On-site coaching"),
    TrainingMethod.CASE_STUDY: _l("Case study"),
    TrainingMethod.EXTERNAL: _l("External training"),
}


def add(kind, occurred_at, content, staff, now, place="", participants="", result="", resident=None, ticket=None, event=None,
        idempotency_key=None):
    """Files a record. The same form sent again (its idempotency key) files nothing more and
    returns the record it filed."""
    earlier = database.with_key(db.session, CommRecord, idempotency_key)
    if earlier is not None:
        return earlier
    record = CommRecord(
        kind=RecordKind(kind), occurred_at=occurred_at, content=content.strip(), place=place.strip(), participants=participants.strip(),
        result=result.strip(), staff_id=staff.id, resident_id=resident.id if resident else None,
        ticket_id=ticket.id if ticket else None, event_id=event.id if event else None, created_at=now, idempotency_key=idempotency_key,
    )
    db.session.add(record)
    return database.flush_once(db.session, CommRecord, idempotency_key) or record


def search(kind=None, since=None, until=None, q=None):
    query = select(CommRecord)
    if kind:
        query = query.where(CommRecord.kind == RecordKind(kind))
    if since:
        query = query.where(CommRecord.occurred_at >= since)
    if until:
        query = query.where(CommRecord.occurred_at < until)
    if q and q.strip():
        query = query.where(matches(CommRecord, q))  # content, participants, result and place (portal/search.py)
    return query


def after(query, before_id):
    """The records listed after record `before_id` in the list's order (newest first by when
    they happened, then by id): a keyset that holds when records are filed after the fact."""
    at = select(CommRecord.occurred_at).where(CommRecord.id == before_id).scalar_subquery()
    return query.where(or_(CommRecord.occurred_at < at, and_(CommRecord.occurred_at == at, CommRecord.id < before_id)))


def day_bounds(day):
    start = from_local(datetime.combine(day, datetime.min.time()))
    return start, start + timedelta(days=1)


def outreach_today(staff, now):
    """Proactive calls and visits today against the policy's daily target (S4.1.1)."""
    start, end = day_bounds(to_local(now).date())
    done = db.session.scalar(
        select(func.count(CommRecord.id)).where(CommRecord.staff_id == staff.id, CommRecord.kind.in_(OUTREACH_KINDS),
                                                CommRecord.occurred_at >= start, CommRecord.occurred_at < end)
    )
    return done, settings.get("outreach_daily_target")


def outreach_week(department_id, now):
    """Each staff member's outreach per day over the last seven days: {user: [count per day]}, days."""
    today = to_local(now).date()
    days = [today - timedelta(days=6 - i) for i in range(7)]
    start, _ = day_bounds(days[0])
    _, end = day_bounds(days[-1])
    people = db.session.scalars(
        select(User).where(User.is_active, User.role.in_([Role.STAFF, Role.HEAD, Role.WORKER]),
                           *([User.department_id == department_id] if department_id else [])).order_by(User.name)
    ).all()
    rows = db.session.execute(
        select(CommRecord.staff_id, CommRecord.occurred_at).where(
            CommRecord.kind.in_(OUTREACH_KINDS), CommRecord.occurred_at >= start, CommRecord.occurred_at < end,
            CommRecord.staff_id.in_([p.id for p in people] or [-1]))
    ).all()
    table = {p: [0] * 7 for p in people}
    by_id = {p.id: p for p in people}
    for staff_id, at in rows:
        table[by_id[staff_id]][days.index(to_local(at).date())] += 1
    return table, days


def expired(now):
    """What is past the retention period (S3.6): records by when they happened, tickets by when they closed."""
    cutoff = now - timedelta(days=365 * settings.get("records_retention_years"))
    records = db.session.scalars(
        select(CommRecord).where(CommRecord.occurred_at < cutoff, CommRecord.legal_hold.is_(False)).order_by(CommRecord.id)
    ).all()
    tickets = db.session.scalars(
        select(Ticket).where(Ticket.status == TicketStatus.CLOSED, Ticket.closed_at < cutoff, Ticket.legal_hold.is_(False)).order_by(Ticket.id)
    ).all()
    return cutoff, records, tickets


def purge(now):
    """Removes exactly what expired() lists (legal holds kept), logging each; the caller commits."""
    cutoff, records, tickets = expired(now)
    for record in records:
        log.info("purged communication record %s of %s (%s)", record.id, record.occurred_at.date(), record.kind.value)
    for ticket in tickets:
        log.info("purged ticket %s closed %s", ticket.number, ticket.closed_at.date())
    if records:
        ids = [r.id for r in records]
        db.session.execute(update(Call).where(Call.record_id.in_(ids)).values(record_id=None))  # the call stays, its record goes
        db.session.execute(delete(CommRecord).where(CommRecord.id.in_(ids)))
        forget(CommRecord, ids)  # a bulk DELETE: their index rows go by hand
    if tickets:
        _unlink([t.id for t in tickets])
    for ticket in tickets:
        db.session.delete(ticket)  # its timeline, photos and departments go with it
    db.session.flush()
    return cutoff, records, tickets


def _unlink(ticket_ids):
    """What outlives a purged ticket (a newer record, a suggestion, a conversation, a call) no longer points at it."""
    for model in (CommRecord, Suggestion, Conversation, Call):
        db.session.execute(update(model).where(model.ticket_id.in_(ticket_ids)).values(ticket_id=None))
    cache.bump(cache.COMMUNITY)  # a Core UPDATE: suggestions are cached


def training_history(user):
    return db.session.execute(
        select(TrainingSession, TrainingAttendance.score).join(TrainingAttendance, TrainingAttendance.session_id == TrainingSession.id)
        .where(TrainingAttendance.user_id == user.id).order_by(TrainingSession.held_on.desc())
    ).all()
