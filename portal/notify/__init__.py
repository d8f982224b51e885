"""Who is told what, when and how: the one decision point between the domain and the channels.

Domain code says what happened, inside its own transaction:

    notify("ticket_progress", ticket, [resident], now=now, actor=staff, step=event, extra={"text": note})

and this package decides the rest: an in-app notification always; then, by each person's choices,
addresses and consent, one outbox row per channel (WeChat before SMS, the later one used only if
the earlier fails for good; email beside them; 企业微信 for staff; a department's group robot),
holding residents' SMS and WeChat through the quiet hours, merging several SMS about one ticket
within the coalescing window into one, and keeping to the daily SMS cap. Emergencies ignore quiet
hours and caps. `flask worker` sends (delivery.py). An Audience (every resident of some
buildings) is written as one job the worker fans out (fanout.py), so telling 10,000 people costs
the request what telling one does.

Returns what was queued, person by person, so that nobody's record says someone was told when
nothing was.
"""
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from sqlalchemy import func, select

from portal.extensions import db
from portal.i18n import community_tz, to_local
from portal.models import Channel, Delivery, DeliveryStatus, Notification, NotifyJob, Role
from portal.notify import prefs, texts
from portal.notify.kinds import KINDS, STAFF

RESIDENT_ROLES = (Role.RESIDENT, Role.COMMITTEE)


@dataclass
class Audience:
    """Many people at once, fanned out by the worker: the residents of some buildings (all when
    `buildings` is None), optionally owners only, optionally only households that have not
    answered a consultation, or only those who have not answered a questionnaire (as it asks:
    its buildings, owners or all, per household or per person)."""

    buildings: list | None = None
    owners_only: bool = False
    unanswered_consultation: int | None = None
    unanswered_survey: int | None = None

    def as_dict(self):
        found = {"buildings": self.buildings, "owners_only": self.owners_only, "unanswered_consultation": self.unanswered_consultation}
        if self.unanswered_survey is not None:
            found["unanswered_survey"] = self.unanswered_survey
        return found


@dataclass
class Told:
    user_id: int
    name: str
    channels: list = field(default_factory=list)  # what was queued beyond in-app, first choice first


def notify(kind, obj, recipients, *, now, actor=None, ref=None, extra=None, step=None, departments=(), context=None):
    """Tell `recipients` (people, or an Audience) that `kind` happened to `obj`; see the module
    docstring. `ref` tells apart several tellings of one kind about one object (a timeline entry,
    a date); `step` is the ticket's timeline entry this tells of; `departments` have their
    企业微信 group robot told too. Returns [Told] (an Audience: [] now, the job counts later)."""
    spec = KINDS[kind]
    target = texts.target(obj)
    ref = str(ref if ref is not None else (step.id if step is not None else ""))
    if isinstance(recipients, Audience):
        db.session.add(NotifyJob(kind=kind, object_type=target.object_type, object_id=target.object_id, ref=ref,
                                 audience=recipients.as_dict(), created_at=now))
        return []
    people, seen = [], set()
    for person in recipients:
        if person is None or person.id in seen or not person.is_active:
            continue
        if actor is not None and person.id == actor.id and kind != "channel_test":
            continue  # nobody is told of what they did themselves
        seen.add(person.id)
        people.append(person)
    context = dict(context or {})
    if step is not None:
        context.setdefault("event", step)
    words = {}

    def words_in(language):
        if language not in words:
            words[language] = texts.render(spec, obj, language, extra, now, context)
        return words[language]

    base = f"{kind}:{target.object_type}{target.object_id or ''}:{ref}"
    existing = _existing_keys(Notification, [f"{base}:{p.id}" for p in people])
    user_prefs = prefs.load([p.id for p in people])
    told = []
    for person in people:
        key = f"{base}:{person.id}"
        w = words_in(person.language)
        if key not in existing:
            db.session.add(Notification(key=key, user_id=person.id, kind=kind, title=w.title, body=w.body, link=target.path,
                                        object_type=target.object_type, object_id=target.object_id, is_urgent=spec.urgent,
                                        created_at=now))
        queued = []
        for n, chain in enumerate(prefs.plan(person, spec, user_prefs.get(person.id))):
            rows = [Delivery(**row_values(spec, target, key, person, channel, w, now, i, f"{key}:{n}", step)) for i, channel in enumerate(chain)]
            rows = [r for r in rows if r.dedupe_key not in _existing_keys(Delivery, [r.dedupe_key])]
            if not rows:
                continue
            db.session.add_all(rows)
            db.session.flush()
            activate(rows[0], now, person=person)
            queued.append(chain[0])
        told.append(Told(person.id, person.name, queued))
    for department in departments:
        if department is not None and department.robot_webhook:
            language = "zh_Hans"
            w = words_in(language)
            row = Delivery(
                dedupe_key=f"{base}:robot{department.id}", channel=Channel.WECOM_ROBOT, kind=kind, department_id=department.id,
                address=department.robot_webhook, subject=w.title, body=w.body, payload={"values": w.values, "lang": language},
                is_urgent=spec.urgent, ticket_id=target.ticket_id, ticket_event_id=step.id if step is not None else None,
                object_type=target.object_type, object_id=target.object_id, created_at=now, next_attempt_at=now,
            )
            if not _existing_keys(Delivery, [row.dedupe_key]):
                db.session.add(row)
    db.session.flush()
    return told


def _existing_keys(model, keys):
    if not keys:
        return set()
    column = model.key if model is Notification else model.dedupe_key
    found = set()
    for i in range(0, len(keys), 500):
        found.update(db.session.scalars(select(column).where(column.in_(keys[i : i + 500]))))
    return found


def row_values(spec, target, key, person, channel, words, now, position, chain_key, step=None):
    """One outbox row (as column values) for `person` on `channel`, position `position` in their order."""
    if channel == Channel.EMAIL:
        subject, body = words.subject, words.email
    elif channel in (Channel.SMS, Channel.VOICE):
        subject, body = "", words.sms
    else:
        subject, body = words.title, words.body
    return {
        "dedupe_key": f"{key}:{channel.value}", "channel": channel, "kind": spec.name, "user_id": person.id,
        "department_id": None, "address": prefs.address(person, channel) or "", "subject": subject[:300], "body": body,
        "payload": {"values": words.values, "lang": person.language}, "is_urgent": spec.urgent, "chain_key": chain_key,
        "position": position,
        "coalesce_key": f"{person.id}:{target.object_type}{target.object_id}" if channel == Channel.SMS and spec.coalesce else None,
        "coalesced": 1, "ticket_id": target.ticket_id, "ticket_event_id": step.id if step is not None else None,
        "object_type": target.object_type, "object_id": target.object_id,
        "status": DeliveryStatus.PENDING if position == 0 else DeliveryStatus.STANDBY, "attempts": 0,
        "next_attempt_at": now, "claimed_until": None, "claim_token": None, "provider_id": "", "error_code": "", "last_error": "",
        "created_at": now, "sent_at": None,
    }


def activate(row, now, person=None):
    """A delivery becomes due: now, or after the quiet hours, the coalescing window or not at all
    (merged into an SMS already waiting, or over the daily cap)."""
    from portal.services import settings

    if row.id is None:
        db.session.flush()
    row.status = DeliveryStatus.PENDING
    row.next_attempt_at = now
    spec = KINDS.get(row.kind)
    if spec is not None and spec.delay_minutes:
        minutes = settings.get("chat_reply_minutes") if spec.delay_minutes < 0 else spec.delay_minutes
        now = now + timedelta(minutes=minutes)  # in-app at once; the rest only if still unseen then
        row.next_attempt_at = now
    resident = person is None or person.role in RESIDENT_ROLES
    if row.is_urgent or not resident or row.channel not in (Channel.SMS, Channel.WECHAT):
        return row
    when = now
    if row.channel == Channel.SMS and row.coalesce_key:
        waiting = db.session.scalar(
            select(Delivery).where(
                Delivery.coalesce_key == row.coalesce_key, Delivery.status == DeliveryStatus.PENDING, Delivery.id != row.id,
                Delivery.claimed_until.is_(None), Delivery.next_attempt_at > now,
            ).order_by(Delivery.id).limit(1)
        )
        if waiting is not None:
            waiting.kind, waiting.body, waiting.payload = row.kind, row.body, row.payload
            waiting.coalesced += 1
            row.status = DeliveryStatus.SKIPPED
            row.error_code = "merged"
            row.last_error = f"merged into delivery {waiting.id}"
            return row
        when = now + timedelta(minutes=settings.get("sms_coalesce_minutes"))
    when = after_quiet_hours(when)
    if row.channel == Channel.SMS and over_cap(row.user_id, when, exclude=row.id):
        row.status = DeliveryStatus.SKIPPED
        row.error_code = "cap"
        row.last_error = "daily SMS cap reached"
        return row
    row.next_attempt_at = when
    return row


def _clock(value):
    hours, _, minutes = str(value).partition(":")
    return time(int(hours), int(minutes or 0))


def quiet_window():
    from portal.services import settings

    return _clock(settings.get("quiet_hours_start")), _clock(settings.get("quiet_hours_end"))


def after_quiet_hours(when):
    """`when`, or the end of the residents' quiet hours if it falls inside them."""
    start, end = quiet_window()
    if start == end:
        return when
    local = to_local(when)
    t = local.time()
    quiet = (t >= start or t < end) if start > end else (start <= t < end)
    if not quiet:
        return when
    day = local.date() + timedelta(days=1) if (start > end and t >= start) else local.date()
    return datetime.combine(day, end, tzinfo=community_tz()).astimezone(when.tzinfo)


def local_day_bounds(when):
    local = to_local(when)
    start = datetime.combine(local.date(), time(0), tzinfo=community_tz())
    return start.astimezone(when.tzinfo), (start + timedelta(days=1)).astimezone(when.tzinfo)


def over_cap(user_id, when, exclude=None):
    """Has this resident already got the day's allowance of SMS (the day `when` falls on)?"""
    from portal.services import settings

    since, until = local_day_bounds(when)
    count = db.session.scalar(
        select(func.count(Delivery.id)).where(
            Delivery.user_id == user_id, Delivery.channel == Channel.SMS, Delivery.is_urgent.is_(False),
            Delivery.status.in_([DeliveryStatus.PENDING, DeliveryStatus.SENT]),
            Delivery.next_attempt_at >= since, Delivery.next_attempt_at < until, Delivery.id != exclude,
        )
    )
    return count >= settings.get("sms_daily_cap")


def staff_kind(kind):
    return KINDS[kind].category == STAFF
