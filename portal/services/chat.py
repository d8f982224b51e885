"""Online customer service (在线客服, S2.1.2): a resident's conversation with the service centre, on the
portal or through the WeChat official account, in one queue for customer service: take it, answer
(canned replies at hand), hand it over, close it, or turn it into a ticket in one click. Outside
the staffed hours an automatic answer says when someone will reply and gives the 24-hour hotline;
an emergency word prompts staff at once and offers the resident an urgent ticket."""
import re
from datetime import datetime, time, timedelta

from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from portal.extensions import db
from portal.i18n import community_tz, to_local
from portal.models import (
    OPEN_STATUSES,
    Channel,
    ChatMessage,
    Conversation,
    ConversationStatus,
    Delivery,
    Sender,
    Ticket,
    TicketCategory,
    TicketChannel,
    TicketPhoto,
    WeChatFollower,
)
from portal.notify import notify
from portal.services import settings

MAX_LENGTH = 2000
WECHAT_WINDOW = timedelta(hours=48)


class ChatError(ValueError):
    pass


def emergency_words():
    return [w.strip() for w in re.split(r"[,，、\s]+", settings.get("chat_emergency_words") or "") if w.strip()]


def is_emergency(text):
    return any(word in (text or "") for word in emergency_words())


def _clock(value):
    hours, _sep, minutes = str(value).partition(":")
    return time(int(hours), int(minutes or 0))


def staffed(at):
    """Is someone answering the chat at `at` (the staffed hours, a setting)?"""
    start, end = _clock(settings.get("chat_hours_start")), _clock(settings.get("chat_hours_end"))
    t = to_local(at).time()
    return start <= t < end if start < end else (t >= start or t < end)


def next_staffed(at):
    """When someone will next answer."""
    start = _clock(settings.get("chat_hours_start"))
    local = to_local(at)
    day = local.date() if local.time() < start else local.date() + timedelta(days=1)
    return datetime.combine(day, start, tzinfo=community_tz())


def open_conversation(resident):
    return db.session.scalar(
        select(Conversation).where(Conversation.resident_id == resident.id, Conversation.channel == "portal",
                                   Conversation.status != ConversationStatus.CLOSED).order_by(Conversation.id.desc()).limit(1)
    )


def latest_for(resident):
    return db.session.scalar(select(Conversation).where(Conversation.resident_id == resident.id).order_by(Conversation.id.desc()).limit(1))


def start(resident, unit, now, channel="portal", follower=None):
    conversation = Conversation(channel=channel, resident_id=resident.id if resident else None, unit_id=unit.id if unit else None,
                                follower_id=follower.id if follower else None, created_at=now)
    db.session.add(conversation)
    db.session.flush()
    return conversation


def post(conversation, sender, body, now, author=None, photo=None, kind="text", data=None, wechat_msg_id=None, idempotency_key=None):
    """A message in the conversation; what follows from it (telling the other side, the
    automatic answer, the emergency prompt) happens here too."""
    body = (body or "").strip()
    if not body and photo is None and kind == "text":
        raise ChatError(_("Write a message or add a photo."))
    if len(body) > MAX_LENGTH:
        raise ChatError(_("A message has at most %(n)d characters.", n=MAX_LENGTH))
    if idempotency_key:
        existing = db.session.scalar(select(ChatMessage).where(ChatMessage.idempotency_key == idempotency_key))
        if existing is not None:
            return existing
    message = ChatMessage(conversation_id=conversation.id, sender=sender, author_id=author.id if author else None, body=body, kind=kind,
                          photo_sha256=photo.sha256 if photo is not None else None, data=data or {}, wechat_msg_id=wechat_msg_id,
                          idempotency_key=idempotency_key, created_at=now)
    db.session.add(message)
    db.session.flush()
    conversation.last_message_id = message.id
    conversation.last_message_at = now
    if sender == Sender.RESIDENT:
        _from_resident(conversation, message, now)
    elif sender == Sender.STAFF:
        _from_staff(conversation, message, author, now)
    return message


def _from_resident(conversation, message, now):
    first_since_answer = conversation.waiting_since is None
    if conversation.status == ConversationStatus.CLOSED:
        conversation.status = ConversationStatus.OPEN
        conversation.closed_at = None
        conversation.assignee_id = None
    conversation.waiting_since = conversation.waiting_since or now
    staff = [conversation.assignee] if conversation.assignee is not None else _desk(now)
    if is_emergency(message.body) and not conversation.is_urgent:
        conversation.is_urgent = True
        notify("chat_emergency", conversation, _desk(now) + ([conversation.assignee] if conversation.assignee else []), now=now,
               ref=f"m{message.id}", extra={"text": message.body})
        system(conversation, _l("If this is an emergency, tap “Report as urgent”: the people on duty are paged at once. "
                                "Or call the 24-hour hotline %(hotline)s.", hotline=settings.get("hotline")), now, data={"offer": "urgent"},
               language=_language(conversation))
    elif first_since_answer:
        notify("chat_message", conversation, staff, now=now, ref=f"w{message.id}", extra={"text": message.body})
    if not staffed(now) and (conversation.auto_answered_at is None or now - conversation.auto_answered_at > timedelta(hours=12)):
        conversation.auto_answered_at = now
        with force_locale(_language(conversation)):
            when = next_staffed(now).strftime("%H:%M")
        system(conversation, _l("Customer service answers from %(when)s. For anything urgent call the 24-hour hotline %(hotline)s.",
                                when=when, hotline=settings.get("hotline")), now, language=_language(conversation))


def _language(conversation):
    return conversation.resident.language if conversation.resident else "zh_Hans"


def _from_staff(conversation, message, author, now):
    conversation.waiting_since = None
    if conversation.status == ConversationStatus.OPEN and author is not None:
        conversation.status = ConversationStatus.ASSIGNED
        conversation.assignee_id = author.id
    tell_resident(conversation, message, now)


def system(conversation, text, now, data=None, language="zh_Hans"):
    """An automatic line in the conversation, in the resident's language (the desk's internal lines
    in the community's): `text` is a lazy string, put into words here, whoever's request or the
    worker wrote it."""
    with force_locale(language):
        text = str(text)
    message = ChatMessage(conversation_id=conversation.id, sender=Sender.SYSTEM, body=text, data=data or {}, created_at=now)
    db.session.add(message)
    db.session.flush()
    conversation.last_message_id = message.id
    conversation.last_message_at = now
    if conversation.channel == "wechat":
        tell_resident(conversation, message, now)
    return message


def tell_resident(conversation, message, now):
    """A reply reaches the resident: on WeChat as a 客服消息 within WeChat's 48 hours (later as a
    template message or an SMS); on the portal in-app at once and, if they have not seen it a few
    minutes later, through their channels."""
    if conversation.channel == "wechat" and conversation.follower is not None:
        follower = conversation.follower
        key = f"chat:{conversation.id}:{message.id}"
        if follower.last_message_at and now - follower.last_message_at < WECHAT_WINDOW and follower.is_following:
            db.session.add(Delivery(
                dedupe_key=f"{key}:wechat_custom", channel=Channel.WECHAT, kind="chat_reply", user_id=follower.user_id,
                address=follower.openid, body=message.body, payload={"custom": True, "values": {"message_id": message.id}},
                object_type="conversation", object_id=conversation.id, created_at=now, next_attempt_at=now,
                chain_key=key, position=0,
            ))
            return
        if conversation.resident is None:
            return  # an unknown follower outside the window: nothing can reach them until they write again
    if conversation.resident is not None:
        notify("chat_reply", conversation, [conversation.resident], now=now, ref=f"m{message.id}",
               extra={"text": message.body, "message_id": message.id})


def _desk(now):
    from portal.services.tickets import customer_service_on_duty

    return customer_service_on_duty(now)


def take(conversation, staff, now):
    if not conversation.is_open:
        raise ChatError(_("This conversation is closed."))
    conversation.status = ConversationStatus.ASSIGNED
    conversation.assignee_id = staff.id


def hand_over(conversation, colleague, by, now):
    if not conversation.is_open:
        raise ChatError(_("This conversation is closed."))
    if colleague is None or colleague.id == by.id:
        raise ChatError(_("Choose a colleague."))
    conversation.status = ConversationStatus.ASSIGNED
    conversation.assignee_id = colleague.id
    system(conversation, _l("%(from)s handed the conversation to %(to)s.", **{"from": by.name, "to": colleague.name}), now,
           data={"internal": True})
    notify("chat_message", conversation, [colleague], now=now, ref=f"h{conversation.last_message_id}",
           extra={"text": _("handed over by %(name)s", name=by.name)})


def close(conversation, by, now):
    if not conversation.is_open:
        raise ChatError(_("This conversation is closed already."))
    conversation.status = ConversationStatus.CLOSED
    conversation.closed_at = now
    conversation.closed_by_id = by.id
    conversation.waiting_since = None


def mark_seen(conversation, upto):
    if upto > conversation.resident_seen_id:
        conversation.resident_seen_id = min(upto, conversation.last_message_id)


def to_ticket(conversation, category, actor, now, urgent=False):
    """One click: the resident's messages, their photos, the resident and the unit become a ticket;
    the two link to each other and the resident is told its number in the conversation."""
    from portal.services import tickets

    if conversation.ticket_id is not None:
        raise ChatError(_("This conversation is already the ticket %(number)s.", number=db.session.get(Ticket, conversation.ticket_id).number))
    said = [m for m in conversation.messages if m.sender == Sender.RESIDENT]
    text = "\n".join(m.body for m in said if m.body) or _("(photos only)")
    channel = TicketChannel.WECHAT if conversation.channel == "wechat" else TicketChannel.ONLINE
    resident = conversation.resident
    ticket, _created = tickets.create(
        category=TicketCategory(category), channel=channel, description=text[:4000], actor=actor, now=now, resident=resident,
        unit=conversation.unit, caller_name="" if resident else _("WeChat follower"), is_urgent=urgent,
    )
    for m in said:
        if m.photo_sha256 and len(ticket.photos) < tickets.MAX_PHOTOS:
            ticket.photos.append(TicketPhoto(blob_sha256=m.photo_sha256, filename=f"chat-{m.id}.jpg", mime="image/jpeg"))
    conversation.ticket_id = ticket.id
    system(conversation, _l("Registered as %(number)s: follow it under My requests.", number=ticket.number), now,
           data={"ticket": ticket.id}, language=_language(conversation))
    return ticket


def queue(now, include_closed=False):
    """Open conversations, the longest waiting first, with their residents' open tickets counted."""
    query = select(Conversation).options(selectinload(Conversation.resident), selectinload(Conversation.unit),
                                         selectinload(Conversation.assignee), selectinload(Conversation.follower))
    if not include_closed:
        query = query.where(Conversation.status != ConversationStatus.CLOSED)
    rows = db.session.scalars(query.order_by(Conversation.is_urgent.desc(), Conversation.waiting_since.is_(None),
                                             Conversation.waiting_since, Conversation.last_message_at.desc()).limit(200)).all()
    ids = [c.resident_id for c in rows if c.resident_id]
    open_tickets = dict(db.session.execute(
        select(Ticket.resident_id, func.count(Ticket.id)).where(Ticket.resident_id.in_(ids), Ticket.status.in_(OPEN_STATUSES))
        .group_by(Ticket.resident_id)
    ).all()) if ids else {}
    return rows, open_tickets


def queue_state():
    """What the queue's ETag is made of: the newest message and how many are open."""
    row = db.session.execute(
        select(func.coalesce(func.max(Conversation.last_message_id), 0), func.count(Conversation.id),
               func.coalesce(func.sum(Conversation.assignee_id), 0))
        .where(Conversation.status != ConversationStatus.CLOSED)
    ).one()
    return f"queue-{row[0]}-{row[1]}-{row[2]}"


def follower_for(openid, now):
    follower = db.session.scalar(select(WeChatFollower).where(WeChatFollower.openid == openid))
    if follower is None:
        from portal.models import User

        bound = db.session.scalar(select(User).where(User.wechat_openid == openid))
        follower = WeChatFollower(openid=openid, user_id=bound.id if bound else None, created_at=now)
        db.session.add(follower)
        db.session.flush()
    return follower


def wechat_conversation(follower, now):
    conversation = db.session.scalar(
        select(Conversation).where(Conversation.follower_id == follower.id, Conversation.status != ConversationStatus.CLOSED)
        .order_by(Conversation.id.desc()).limit(1)
    )
    if conversation is None:
        conversation = db.session.scalar(select(Conversation).where(Conversation.follower_id == follower.id).order_by(Conversation.id.desc()).limit(1))
        if conversation is None:
            resident = follower.user
            unit = resident.residencies[0].unit if resident is not None and resident.residencies else None
            conversation = start(resident, unit, now, channel="wechat", follower=follower)
    return conversation


def link_follower(conversation, resident, by, now):
    """Staff tell who an unknown follower is: the conversation and the follower belong to that resident."""
    if conversation.follower is None:
        raise ChatError(_("Only a WeChat conversation has a follower to link."))
    conversation.follower.user_id = resident.id
    conversation.resident_id = resident.id
    conversation.unit_id = resident.residencies[0].unit_id if resident.residencies else None
    system(conversation, _l("%(name)s linked this follower to %(resident)s.", name=by.name, resident=resident.name), now, data={"internal": True})


def reply_another_way(row, person, now):
    """A 客服消息 WeChat refused (the 48 hours had passed): the reply goes as a notification."""
    conversation = db.session.get(Conversation, row.object_id)
    message_id = ((row.payload or {}).get("values") or {}).get("message_id")
    message = db.session.get(ChatMessage, message_id) if message_id else None
    if conversation is None or message is None:
        return None
    return notify("chat_reply", conversation, [person], now=now, ref=f"m{message.id}", extra={"text": message.body, "message_id": message.id})


def still_needed(row):
    """A chat reply the resident has seen on the portal in the meantime is not sent on."""
    if row.kind != "chat_reply" or row.object_type != "conversation" or (row.payload or {}).get("custom"):
        return True
    message_id = int(((row.payload or {}).get("values") or {}).get("message_id") or 0)
    seen = db.session.scalar(select(Conversation.resident_seen_id).where(Conversation.id == row.object_id)) or 0
    return seen < message_id



def process_inbound(now, limit=200):
    """Worker: what WeChat sent, turned into followers, conversations and messages."""
    from portal.models import InboundEvent

    rows = db.session.scalars(
        select(InboundEvent).where(InboundEvent.processed_at.is_(None)).order_by(InboundEvent.id).limit(limit).with_for_update(skip_locked=True)
    ).all()
    for row in rows:
        try:
            with db.session.begin_nested():
                _handle(row.payload, now)
        except ChatError as exc:
            row.error = str(exc)[:2000]
        row.processed_at = now
    return len(rows)


def _handle(event, now):
    kind = event.get("type")
    openid = event.get("source") or ""
    if not openid:
        return
    follower = follower_for(openid, now)
    at = datetime.fromtimestamp(int(event.get("time") or 0), tz=community_tz()) if event.get("time") else now
    if kind == "event":
        name = (event.get("event") or "").lower()
        if name == "subscribe":
            follower.is_following = True
        elif name == "unsubscribe":
            follower.is_following = False
        return
    follower.is_following = True
    follower.last_message_at = max(filter(None, [follower.last_message_at, at]), default=at)
    conversation = wechat_conversation(follower, now)
    body, data = event.get("content") or "", {}
    if kind == "image":
        body, data = _("[photo]"), {"pic_url": event.get("image") or "", "media_id": event.get("media_id") or ""}
    elif kind == "voice":
        body, data = event.get("recognition") or _("[voice message]"), {"media_id": event.get("media_id") or ""}
    elif kind == "location":
        body = event.get("label") or _("[location]")
        data = {"lat": event.get("location_x"), "lng": event.get("location_y"), "scale": event.get("scale")}
    elif kind != "text":
        body = _("[a %(kind)s message]", kind=kind)
    message_id = str(event.get("id") or "")
    if message_id and db.session.scalar(select(ChatMessage.id).where(ChatMessage.wechat_msg_id == message_id)) is not None:
        return  # WeChat sent it again
    post(conversation, Sender.RESIDENT, body[:MAX_LENGTH], now, kind=kind if kind in ("image", "voice", "location") else "text", data=data,
         wechat_msg_id=message_id or None)
