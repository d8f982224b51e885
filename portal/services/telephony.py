"""The hotline's caller screen (来电弹屏, S2.1.1): the telephone system (a PBX or a cloud call centre)
posts each call's events, signed; staff on the hotline see who is calling before they answer,
their units, open tickets and last contacts, with a new-ticket form filled in; an ended call is a
communication record (S3.6) with its duration."""
import hashlib
import hmac
from datetime import datetime, timedelta, timezone

from flask_babel import gettext as _
from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload

from portal.extensions import db
from portal.inputs import has_controls
from portal.models import OPEN_STATUSES, Call, CommRecord, RecordKind, Residency, Role, Ticket, Unit, User
from portal.notify import phones

EVENTS = ("ringing", "answered", "ended")
RECENT = timedelta(minutes=15)


class TelephonyError(ValueError):
    pass


def verify(raw, header, secret):
    """X-Portal-Signature: sha256=<hex HMAC-SHA256 of the raw body with PORTAL_TELEPHONY_SECRET>."""
    if not secret or not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header[len("sha256="):].strip().lower())


def _at(value, now):
    if value in (None, ""):
        return now
    try:
        when = datetime.fromtimestamp(float(value), tz=timezone.utc) if isinstance(value, (int, float)) or str(value).replace(".", "", 1).isdigit() \
            else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        raise TelephonyError("bad time") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return min(when, now + timedelta(minutes=1))


def resident_for(number):
    normalized = phones.normalize(number) or number
    return db.session.scalar(select(User).where(User.phone == normalized, User.role == Role.RESIDENT, User.is_active))


def handle(event, now):
    """One event: {"event": ringing|answered|ended, "call_id", "caller", "line", "agent", "at"}."""
    if any(isinstance(value, str) and has_controls(value) for value in event.values()):
        raise TelephonyError("text with control characters")
    kind = str(event.get("event", "")).lower()
    call_id = str(event.get("call_id", "")).strip()[:128]
    if kind not in EVENTS or not call_id:
        raise TelephonyError("event and call_id are required")
    at = _at(event.get("at"), now)
    call = db.session.scalar(select(Call).where(Call.call_id == call_id))
    if call is None:
        caller = str(event.get("caller", "")).strip()[:32]
        person = resident_for(caller) if caller else None
        call = Call(call_id=call_id, caller=caller, line=str(event.get("line", ""))[:64], resident_id=person.id if person else None,
                    ringing_at=at, updated_at=now)
        db.session.add(call)
    agent = str(event.get("agent", "") or "")[:32]
    if agent:
        call.agent = agent
    if kind == "answered" and call.answered_at is None and call.ended_at is None:  # a late "answered" cannot revive an ended call
        call.answered_at = at
        call.state = "answered"
    elif kind == "ended" and call.ended_at is None:
        call.ended_at = at
        call.state = "ended"
        call.duration_seconds = max(int((at - (call.answered_at or at)).total_seconds()), 0)
        _record(call, now)
    call.updated_at = now
    db.session.flush()
    return call


def _record(call, now):
    """An ended call that was answered is a communication record (S3.6); a missed one too, for the call-back."""
    staff = call.taken_by or (db.session.scalar(select(User).where(User.phone_extension == call.agent, User.is_active)) if call.agent else None)
    if staff is None:
        staff = db.session.scalar(select(User).where(User.role.in_([Role.STAFF, Role.ADMIN]), User.is_active).order_by(User.id))
    if staff is None:
        return
    minutes, seconds = divmod(call.duration_seconds or 0, 60)
    content = _("Hotline call from %(caller)s on %(line)s, %(m)d min %(s)d s.", caller=call.caller or "?", line=call.line or "-", m=minutes, s=seconds) \
        if call.answered_at else _("Missed hotline call from %(caller)s on %(line)s: call back.", caller=call.caller or "?", line=call.line or "-")
    record = CommRecord(kind=RecordKind.CALL, occurred_at=call.ringing_at, place=call.line, participants=call.resident.name if call.resident else call.caller,
                        content=content, result="", resident_id=call.resident_id, ticket_id=call.ticket_id, staff_id=staff.id, created_at=now)
    db.session.add(record)
    db.session.flush()
    call.record_id = record.id


def take(call, staff):
    call.taken_by_id = staff.id


def screen(now):
    """The calls the hotline sees: ringing and answered ones, and those ended in the last minutes, newest first."""
    return db.session.scalars(
        select(Call).options(selectinload(Call.resident).selectinload(User.residencies).selectinload(Residency.unit).selectinload(Unit.building))
        .where(or_(Call.state != "ended", Call.ended_at >= now - RECENT), Call.ringing_at >= now - timedelta(hours=6))
        .order_by(Call.ringing_at.desc()).limit(20)
    ).all()


def context_for(call):
    """What the desk wants to know of the caller: open tickets and the last contacts."""
    if call.resident_id is None:
        tickets = db.session.scalars(select(Ticket).where(Ticket.caller_phone == call.caller, Ticket.status.in_(OPEN_STATUSES))
                                     .order_by(Ticket.id.desc()).limit(5)).all() if call.caller else []
        return {"tickets": tickets, "records": []}
    tickets = db.session.scalars(select(Ticket).where(Ticket.resident_id == call.resident_id, Ticket.status.in_(OPEN_STATUSES))
                                 .order_by(Ticket.id.desc()).limit(5)).all()
    records = db.session.scalars(select(CommRecord).where(CommRecord.resident_id == call.resident_id)
                                 .order_by(CommRecord.occurred_at.desc()).limit(3)).all()
    return {"tickets": tickets, "records": records}


def state(now):
    """The screen's ETag: the last change to any call."""
    last = db.session.scalar(select(Call.updated_at).order_by(Call.updated_at.desc()).limit(1))
    return f"calls-{last.timestamp() if last else 0}"
