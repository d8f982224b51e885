"""The worker's half: send what is due from the outbox, on every channel.

Rows are claimed with FOR UPDATE SKIP LOCKED (PostgreSQL) and a conditional claim update under the
write lock (SQLite), each claim marked with this round's token, so any number of workers on any
number of hosts send each row once. Sending happens outside any transaction, several at a time
in threads (adapters are shared and thread-safe); the outcomes are written in one transaction.
A transient failure is retried with backoff; a permanent one is never retried and the next
channel in the person's order takes over; when none is left, the ticket's timeline says who
could not be reached, so that someone calls. A worker killed between sending and recording
leaves its claim to expire after CLAIM_SECONDS, and the row is sent again: a message is never
lost, and is repeated only in that one case.
"""
import logging
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from sqlalchemy import or_, select, update

from portal.database import unit_of_work
from portal.extensions import db
from portal.models import Channel, Delivery, DeliveryAttempt, DeliveryStatus, EventKind, Role, Ticket, User, utcnow
from portal.notify import activate, texts
from portal.notify.channels import Message, PermanentError, TransientError, channels_for
from portal.notify.channels.wechat import field_limit
from portal.notify.kinds import KINDS
from portal.services import chat

log = logging.getLogger("portal.notify")

CLAIM_SECONDS = 120  # longer than any provider call may take (the adapters time out after PORTAL_CHANNEL_TIMEOUT)
MAX_ATTEMPTS = 12  # 30 s, 1, 2, 4, 8, 16, 32 min, then hourly: about 8 hours
URGENT_MAX_ATTEMPTS = 40  # every 10 to 60 s for about half an hour
THREADS = 8
_pool = None


@dataclass
class Round:
    sent: int = 0
    retried: int = 0
    failed: int = 0

    def __bool__(self):
        return bool(self.sent or self.retried or self.failed)


def backoff(attempts, urgent=False):
    if urgent:
        return timedelta(seconds=min(10 * 2 ** max(attempts - 1, 0), 60))
    return timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 3600))


def deliver_due(limit=200, now=None, channels=None):
    """One round: claim up to `limit` due rows, send them, record the outcomes. Returns a Round."""
    explicit = now is not None
    now = now or utcnow()
    channels = channels or channels_for(current_app._get_current_object())
    claimed = _claim(limit, now)
    stats = Round()
    if not claimed:
        return stats
    rows = db.session.scalars(select(Delivery).where(Delivery.id.in_(claimed)).order_by(Delivery.id)).all()
    unneeded = [row for row in rows if not chat.still_needed(row)]
    rows = [row for row in rows if row not in unneeded]
    messages = [message_for(row) for row in rows]
    sent_ids, unneeded_ids = [row.id for row in rows], [row.id for row in unneeded]
    db.session.rollback()  # no transaction is held open while the providers answer
    results = list(_executor().map(lambda m: _send(channels, m), messages)) if len(messages) > 1 else [_send(channels, m) for m in messages]
    with unit_of_work():
        _record_all(sent_ids, unneeded_ids, results, now if explicit else utcnow(), stats)
    return stats


def _record_all(sent_ids, unneeded_ids, results, done_at, stats):
    rows = db.session.scalars(select(Delivery).where(Delivery.id.in_(sent_ids)).order_by(Delivery.id)).all()  # refreshed in one query
    for row in db.session.scalars(select(Delivery).where(Delivery.id.in_(unneeded_ids))) if unneeded_ids else ():
        row.status, row.error_code, row.last_error = DeliveryStatus.SKIPPED, "seen", "the resident saw it on the portal"
        row.claimed_until = row.claim_token = None
        _skip_standby(row, done_at)
    for row, (outcome, value, seconds) in zip(rows, results):
        record(row, outcome, value, seconds, done_at)
        if outcome == "sent":
            stats.sent += 1
        elif outcome == "transient" and row.status == DeliveryStatus.PENDING:
            stats.retried += 1
        else:
            stats.failed += 1


def _executor():
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="delivery")
    return _pool


def _claim(limit, now):
    with unit_of_work():
        return _claim_rows(limit, now)


def _claim_rows(limit, now):
    due = (
        select(Delivery.id)
        .where(
            Delivery.status == DeliveryStatus.PENDING,
            Delivery.next_attempt_at <= now,
            or_(Delivery.claimed_until.is_(None), Delivery.claimed_until < now),
        )
        .order_by(Delivery.is_urgent.desc(), Delivery.next_attempt_at, Delivery.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    ids = db.session.scalars(due).all()
    if not ids:
        return []
    token = secrets.token_hex(8)
    db.session.execute(
        update(Delivery)
        .where(Delivery.id.in_(ids), Delivery.status == DeliveryStatus.PENDING,
               or_(Delivery.claimed_until.is_(None), Delivery.claimed_until < now))
        .values(claimed_until=now + timedelta(seconds=CLAIM_SECONDS), claim_token=token)
        .execution_options(synchronize_session=False)
    )
    return db.session.scalars(select(Delivery.id).where(Delivery.id.in_(ids), Delivery.claim_token == token)).all()


def message_for(row):
    """The row as its channel's adapter takes it; template codes and field mappings are read now,
    so that fixing one on the admin page and retrying uses the fix."""
    from portal.services import settings

    values = (row.payload or {}).get("values") or {}
    language = (row.payload or {}).get("lang") or "zh_Hans"
    kind = KINDS.get(row.kind)
    message = Message(channel=row.channel.value, address=row.address, kind=row.kind, subject=row.subject, body=row.body,
                      url=values.get("link", ""), reference=str(row.id), urgent=row.is_urgent)
    if (row.payload or {}).get("custom"):
        message.custom = True  # a 客服消息: plain text within WeChat's 48 hours
        return message
    if kind is None:
        return message
    if row.channel in (Channel.SMS, Channel.VOICE):
        prefix = "sms_template" if row.channel == Channel.SMS else "voice_template"
        code = settings.get(f"{prefix}_en.{kind.name}") if language == "en" and row.channel == Channel.SMS else ""
        message.template = code or settings.get(f"{prefix}.{kind.name}")
        if row.channel == Channel.SMS:
            message.template_intl = settings.get(f"sms_template_intl.{kind.name}")
        if row.channel == Channel.SMS:
            capped = texts.sms_caps(values)
            message.params = [[name, sms_param(name, capped)] for name in kind.sms_params]
        else:
            message.params = [[name, values.get(name, "")] for name in kind.voice_params]
    elif row.channel == Channel.WECHAT:
        message.template = settings.get(f"wechat_template.{kind.name}")
        mapping = parse_fields(settings.get(f"wechat_fields.{kind.name}")) or list(kind.wechat)
        message.fields = {key: _limit(values.get(param, ""), field_limit(key)) for key, param in mapping}
    return message


def sms_param(name, values):
    """A template parameter as the provider gets it. Links are fixed in approved templates (both
    providers refuse a URL in a variable): the template carries BASE_URL/go/ and the parameter
    only the object's code (t123)."""
    value = values.get(name, "")
    if name == "link":
        return value.rsplit("/go/", 1)[-1]
    return value


def parse_fields(text):
    """'character_string1=number, thing2=what' -> [("character_string1", "number"), ("thing2", "what")]."""
    pairs = []
    for part in str(text or "").replace("\n", ",").split(","):
        key, sep, param = part.partition("=")
        if sep and key.strip() and param.strip():
            pairs.append((key.strip(), param.strip()))
    return pairs


def _limit(value, n):
    value = str(value or "")
    return value if len(value) <= n else value[: n - 1] + "…"


def _send(channels, message):
    started = time.monotonic()
    try:
        receipt = channels.get(message.channel).send(message)
    except TransientError as exc:
        return "transient", exc, time.monotonic() - started
    except PermanentError as exc:
        return "permanent", exc, time.monotonic() - started
    except Exception as exc:  # an adapter bug must not lose the message: retry it, and say so
        log.exception("delivery %s: unexpected error", message.reference)
        return "transient", TransientError(type(exc).__name__, str(exc)), time.monotonic() - started
    return "sent", receipt, time.monotonic() - started


def record(row, outcome, value, seconds, now):
    """The outcome of one attempt, and what follows from it."""
    row.attempts += 1
    row.claimed_until = None
    row.claim_token = None
    if outcome == "sent":
        row.status = DeliveryStatus.SENT
        row.sent_at = now
        row.provider_id = (value.provider_id or "")[:128]
        row.error_code = ""
        row.last_error = ""
        db.session.add(DeliveryAttempt(delivery_id=row.id, at=now, outcome="sent", provider_id=row.provider_id, seconds=seconds))
        _skip_standby(row, now)
        return
    db.session.add(DeliveryAttempt(delivery_id=row.id, at=now, outcome=outcome, code=value.code, message=value.message, seconds=seconds))
    row.error_code = value.code
    row.last_error = value.message
    if outcome == "transient":
        limit = URGENT_MAX_ATTEMPTS if row.is_urgent else MAX_ATTEMPTS
        if row.attempts < limit:
            row.next_attempt_at = now + backoff(row.attempts, row.is_urgent)
            log.warning("delivery %s (%s to %s): attempt %s failed, retrying: %s", row.id, row.channel, row.address, row.attempts, value)
            return
        row.status = DeliveryStatus.DEAD
        log.error("delivery %s (%s): giving up after %s attempts: %s", row.id, row.channel, row.attempts, value)
    else:
        row.status = DeliveryStatus.FAILED
        log.warning("delivery %s (%s to %s) refused for good: %s", row.id, row.channel, row.address, value)
    fall_back(row, now)


def _standby(row):
    if not row.chain_key:
        return []
    return db.session.scalars(
        select(Delivery).where(Delivery.chain_key == row.chain_key, Delivery.position > row.position, Delivery.status == DeliveryStatus.STANDBY)
        .order_by(Delivery.position)
    ).all()


def _skip_standby(row, now):
    for later in _standby(row):
        later.status = DeliveryStatus.SKIPPED
        later.error_code = "not_needed"
        later.last_error = f"delivered by {row.channel.value}"


def fall_back(row, now):
    """The next channel in the person's order takes over; with none left, say so on the ticket."""
    person = db.session.get(User, row.user_id) if row.user_id else None
    for later in _standby(row):
        activate(later, now, person=person)
        if later.status == DeliveryStatus.PENDING:
            return later
    if (row.payload or {}).get("custom") and person is not None:
        return chat.reply_another_way(row, person, now)  # past WeChat's 48 hours: a template message or an SMS
    unreachable(row, person, now)
    return None


def unreachable(row, person, now):
    """Nobody could be reached for this step: the ticket's timeline (for staff) says who and why."""
    if row.ticket_id is None or person is None or person.role != Role.RESIDENT:
        return
    from portal.services import tickets

    ticket = db.session.get(Ticket, row.ticket_id)
    if ticket is None:
        return
    tickets.add_event(ticket, EventKind.NOT_REACHED, None, now, internal=True, data={
        "user": person.name, "channel": row.channel.value, "address": row.address, "code": row.error_code,
        "error": row.last_error[:200], "delivery": row.id, "kind": row.kind,
    })


def retry(row, now):
    """An administrator sends a failed or dead delivery again (after fixing a template code, say)."""
    if row.status not in (DeliveryStatus.FAILED, DeliveryStatus.DEAD, DeliveryStatus.SKIPPED):
        return False
    row.status = DeliveryStatus.PENDING
    row.attempts = 0
    row.next_attempt_at = now
    row.claimed_until = None
    row.claim_token = None
    return True
