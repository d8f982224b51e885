"""Online customer service at the service level: staffed hours and the automatic answer, emergency
words, who is told of a message, the queue, take / hand over / close, conversations into tickets,
WeChat's 48 hours and what the worker makes of WeChat's messages."""
from datetime import datetime, timedelta, timezone

import pytest
from flask_babel import force_locale
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import (
    Blob,
    ChatMessage,
    Conversation,
    ConversationStatus,
    Delivery,
    InboundEvent,
    Notification,
    Role,
    Sender,
    TicketCategory,
    TicketChannel,
    WeChatFollower,
)
from portal.services import chat, settings
from portal.services.chat import ChatError

SHANGHAI = timezone(timedelta(hours=8))
DAY = datetime(2026, 12, 8, 10, 0, tzinfo=SHANGHAI)  # a Tuesday morning, staffed (08:00 to 20:00 by default)
NIGHT = datetime(2026, 12, 8, 23, 0, tzinfo=SHANGHAI)


@pytest.fixture(autouse=True)
def english(app):
    with force_locale("en"):
        yield


@pytest.fixture
def resident(make_user):
    return make_user(name="周杰", language="en")


@pytest.fixture
def kefu(make_user):
    return make_user(role=Role.STAFF, name="王敏")


@pytest.fixture
def colleague(make_user):
    return make_user(role=Role.STAFF, name="李娜")


def _start(resident, now=DAY):
    return chat.start(resident, resident.residencies[0].unit, now)


def _told(kind):
    return sorted(db.session.scalars(select(Notification.user_id).where(Notification.kind == kind)))


def _system(conversation):
    return db.session.scalars(select(ChatMessage).where(ChatMessage.conversation_id == conversation.id, ChatMessage.sender == Sender.SYSTEM)
                              .order_by(ChatMessage.id)).all()


def _wechat(follower_openid="oFollower1", user=None, last_message_at=DAY):
    follower = WeChatFollower(openid=follower_openid, user_id=user.id if user else None, last_message_at=last_message_at, created_at=DAY)
    db.session.add(follower)
    db.session.flush()
    unit = user.residencies[0].unit if user else None
    return chat.start(user, unit, DAY, channel="wechat", follower=follower)


# Hours


def test_staffed_hours_come_from_the_settings_in_community_time():
    assert chat.staffed(DAY)
    assert not chat.staffed(NIGHT)
    assert chat.staffed(DAY.replace(hour=8, minute=0)) and not chat.staffed(DAY.replace(hour=20, minute=0))
    assert chat.staffed(datetime(2026, 12, 8, 3, 0, tzinfo=timezone.utc))  # 11:00 in Shanghai


def test_staffed_hours_may_run_through_the_night():
    settings.update({"chat_hours_start": "20:00", "chat_hours_end": "08:00"}, None)
    assert chat.staffed(NIGHT) and chat.staffed(DAY.replace(hour=7)) and not chat.staffed(DAY)


def test_the_next_staffed_time_is_today_before_the_start_and_tomorrow_after_the_end():
    assert chat.next_staffed(DAY.replace(hour=6)) == DAY.replace(hour=8)
    assert chat.next_staffed(NIGHT) == datetime(2026, 12, 9, 8, 0, tzinfo=SHANGHAI)


def test_emergency_words_are_a_setting():
    assert chat.is_emergency("家里漏水了！") and not chat.is_emergency("快递柜在哪里") and not chat.is_emergency(None)
    settings.update({"chat_emergency_words": "救命，  火警、 "}, None)
    assert chat.emergency_words() == ["救命", "火警"]
    assert chat.is_emergency("火警") and not chat.is_emergency("漏水")


# Messages


def test_an_empty_message_or_one_too_long_is_refused(resident):
    conversation = _start(resident)
    with pytest.raises(ChatError, match="Write a message"):
        chat.post(conversation, Sender.RESIDENT, "   ", DAY)
    with pytest.raises(ChatError, match="at most 2000"):
        chat.post(conversation, Sender.RESIDENT, "字" * 2001, DAY)
    assert chat.post(conversation, Sender.RESIDENT, "字" * 2000, DAY).body == "字" * 2000


def test_a_photo_alone_is_a_message(resident):
    blob = Blob(sha256="a" * 64, mime="image/png", size=3, data=b"png")
    db.session.add(blob)
    conversation = _start(resident)
    message = chat.post(conversation, Sender.RESIDENT, "", DAY, photo=blob)
    assert message.photo_sha256 == blob.sha256 and message.body == ""


def test_the_same_idempotency_key_posts_once(resident):
    conversation = _start(resident)
    first = chat.post(conversation, Sender.RESIDENT, "你好", DAY, idempotency_key="k1")
    again = chat.post(conversation, Sender.RESIDENT, "你好", DAY, idempotency_key="k1")
    assert again.id == first.id
    assert db.session.scalar(select(func.count(ChatMessage.id))) == 1


def test_the_residents_first_message_waits_and_tells_the_desk_once_until_answered(resident, kefu, colleague):
    conversation = _start(resident)
    first = chat.post(conversation, Sender.RESIDENT, "快递柜在哪里？", DAY)
    chat.post(conversation, Sender.RESIDENT, "在吗？", DAY + timedelta(minutes=1))
    assert conversation.status == ConversationStatus.OPEN and conversation.waiting_since == DAY
    assert conversation.last_message_at == DAY + timedelta(minutes=1)
    assert _told("chat_message") == sorted([kefu.id, colleague.id])  # every customer-service member, once
    assert _system(conversation) == []  # staffed: no automatic answer
    chat.post(conversation, Sender.STAFF, "在东门。", DAY + timedelta(minutes=2), author=kefu)
    assert conversation.waiting_since is None
    db.session.commit()  # each message is its own request
    chat.post(conversation, Sender.RESIDENT, "谢谢", DAY + timedelta(minutes=3))
    assert conversation.waiting_since == DAY + timedelta(minutes=3)
    assert db.session.scalar(select(func.count(Notification.id)).where(Notification.kind == "chat_message")) == 3  # then only the assignee
    assert first.sender == Sender.RESIDENT


def test_a_staff_reply_assigns_the_conversation_and_tells_the_resident(resident, kefu):
    conversation = _start(resident)
    chat.post(conversation, Sender.RESIDENT, "快递柜在哪里？", DAY)
    reply = chat.post(conversation, Sender.STAFF, "在东门。", DAY + timedelta(minutes=1), author=kefu)
    assert conversation.status == ConversationStatus.ASSIGNED and conversation.assignee_id == kefu.id
    assert reply.author_id == kefu.id and conversation.last_message_id == reply.id
    note = db.session.scalar(select(Notification).where(Notification.kind == "chat_reply"))
    assert note.user_id == resident.id and note.body == "在东门。"


def test_out_of_hours_the_resident_is_told_when_someone_answers_once_a_night(resident, kefu):
    conversation = _start(resident, NIGHT)
    chat.post(conversation, Sender.RESIDENT, "楼道灯坏了", NIGHT)
    chat.post(conversation, Sender.RESIDENT, "还有门禁", NIGHT + timedelta(hours=1))
    (answer,) = _system(conversation)
    assert answer.body == "Customer service answers from 08:00. For anything urgent call the 24-hour hotline 400-800-1234."  # their language
    assert conversation.auto_answered_at == NIGHT
    next_night = NIGHT + timedelta(days=1)
    chat.post(conversation, Sender.RESIDENT, "灯还是不亮", next_night)
    assert len(_system(conversation)) == 2 and conversation.auto_answered_at == next_night


def test_an_emergency_word_marks_the_conversation_urgent_and_offers_an_urgent_ticket_once(resident, kefu):
    conversation = _start(resident)
    chat.post(conversation, Sender.RESIDENT, "厨房漏水了，很急", DAY)
    chat.post(conversation, Sender.RESIDENT, "还在漏水", DAY + timedelta(minutes=1))
    assert conversation.is_urgent
    assert _told("chat_emergency") == [kefu.id]
    note = db.session.scalar(select(Notification).where(Notification.kind == "chat_emergency"))
    assert note.is_urgent
    (offer,) = _system(conversation)
    assert offer.data == {"offer": "urgent"} and offer.body == (
        "If this is an emergency, tap “Report as urgent”: the people on duty are paged at once. Or call the 24-hour hotline 400-800-1234.")


def test_writing_into_a_closed_conversation_opens_it_again_for_the_desk(resident, kefu, colleague):
    conversation = _start(resident)
    chat.post(conversation, Sender.RESIDENT, "你好", DAY)
    chat.post(conversation, Sender.STAFF, "您好", DAY, author=kefu)
    chat.close(conversation, kefu, DAY + timedelta(minutes=5))
    db.session.commit()
    chat.post(conversation, Sender.RESIDENT, "还有一个问题", DAY + timedelta(hours=1))
    assert conversation.status == ConversationStatus.OPEN and conversation.assignee_id is None and conversation.closed_at is None
    assert conversation.waiting_since == DAY + timedelta(hours=1)
    told = db.session.scalars(select(Notification.user_id).where(Notification.kind == "chat_message", Notification.created_at == DAY + timedelta(hours=1)))
    assert sorted(told) == sorted([kefu.id, colleague.id])  # the desk, not only whoever had it before


def test_mark_seen_moves_forward_only_and_never_past_the_last_message(resident, kefu):
    conversation = _start(resident)
    message = chat.post(conversation, Sender.STAFF, "您好", DAY, author=kefu)
    chat.mark_seen(conversation, message.id + 100)
    assert conversation.resident_seen_id == message.id
    chat.mark_seen(conversation, 0)
    assert conversation.resident_seen_id == message.id


def test_a_reply_the_resident_has_seen_on_the_portal_is_not_sent_on(resident, kefu):
    conversation = _start(resident)
    reply = chat.post(conversation, Sender.STAFF, "您好", DAY, author=kefu)
    row = Delivery(kind="chat_reply", object_type="conversation", object_id=conversation.id, payload={"values": {"message_id": reply.id}})
    assert chat.still_needed(row)
    chat.mark_seen(conversation, reply.id)
    db.session.flush()
    assert not chat.still_needed(row)
    assert chat.still_needed(Delivery(kind="ticket_progress", object_type="ticket", object_id=1, payload={}))


# Take, hand over, close


def test_take_hand_over_and_close(resident, kefu, colleague):
    conversation = _start(resident)
    chat.post(conversation, Sender.RESIDENT, "你好", DAY)
    chat.take(conversation, kefu, DAY)
    assert conversation.status == ConversationStatus.ASSIGNED and conversation.assignee_id == kefu.id
    chat.hand_over(conversation, colleague, kefu, DAY + timedelta(minutes=1))
    assert conversation.assignee_id == colleague.id
    (note,) = _system(conversation)
    assert note.data == {"internal": True} and note.body == "王敏 已将会话转交给 李娜。"
    assert db.session.scalar(select(Notification.user_id).where(Notification.kind == "chat_message", Notification.body.contains("handed over"))) == colleague.id
    chat.close(conversation, colleague, DAY + timedelta(minutes=2))
    assert conversation.status == ConversationStatus.CLOSED and conversation.closed_by_id == colleague.id
    assert conversation.closed_at == DAY + timedelta(minutes=2) and conversation.waiting_since is None


def test_a_conversation_is_handed_to_a_colleague_not_to_oneself_or_nobody(resident, kefu):
    conversation = _start(resident)
    with pytest.raises(ChatError, match="colleague"):
        chat.hand_over(conversation, kefu, kefu, DAY)
    with pytest.raises(ChatError, match="colleague"):
        chat.hand_over(conversation, None, kefu, DAY)


def test_a_closed_conversation_cannot_be_taken_handed_over_or_closed_again(resident, kefu, colleague):
    conversation = _start(resident)
    chat.close(conversation, kefu, DAY)
    with pytest.raises(ChatError):
        chat.take(conversation, kefu, DAY)
    with pytest.raises(ChatError):
        chat.hand_over(conversation, colleague, kefu, DAY)
    with pytest.raises(ChatError, match="closed already"):
        chat.close(conversation, kefu, DAY)


# The queue


def test_the_queue_puts_emergencies_first_then_the_longest_waiting(resident, make_user, kefu):
    a, b, c = resident, make_user(name="吴婷"), make_user(name="孙丽")
    later = _start(a)
    chat.post(later, Sender.RESIDENT, "物业费怎么交", DAY + timedelta(minutes=10))
    earlier = _start(b)
    chat.post(earlier, Sender.RESIDENT, "快递柜在哪", DAY)
    urgent = _start(c)
    chat.post(urgent, Sender.RESIDENT, "燃气味很重", DAY + timedelta(minutes=20))
    answered = _start(make_user())
    chat.post(answered, Sender.RESIDENT, "你好", DAY - timedelta(hours=1))
    chat.post(answered, Sender.STAFF, "您好", DAY - timedelta(hours=1), author=kefu)
    closed = _start(make_user())
    chat.close(closed, kefu, DAY)
    rows, _open = chat.queue(DAY + timedelta(minutes=30))
    assert [r.id for r in rows] == [urgent.id, earlier.id, later.id, answered.id]
    everything, _open = chat.queue(DAY, include_closed=True)
    assert closed.id in {r.id for r in everything}


def test_the_queue_counts_each_residents_open_tickets(resident, kefu):
    conversation = _start(resident)
    chat.post(conversation, Sender.RESIDENT, "水管漏了", DAY)
    chat.to_ticket(conversation, "repair", kefu, DAY)
    _rows, open_tickets = chat.queue(DAY)
    assert open_tickets == {resident.id: 1}


def test_the_queue_state_changes_with_each_message_and_assignment(resident, kefu):
    before = chat.queue_state()
    conversation = _start(resident)
    chat.post(conversation, Sender.RESIDENT, "你好", DAY)
    after_message = chat.queue_state()
    chat.take(conversation, kefu, DAY)
    db.session.flush()
    assert len({before, after_message, chat.queue_state()}) == 3


# Conversation to ticket


def test_a_conversation_becomes_a_ticket_with_the_residents_words_and_photos(resident, kefu):
    blob = Blob(sha256="b" * 64, mime="image/jpeg", size=3, data=b"jpg")
    db.session.add(blob)
    conversation = _start(resident)
    chat.post(conversation, Sender.RESIDENT, "卫生间天花板有水渍", DAY)
    photo = chat.post(conversation, Sender.RESIDENT, "", DAY, photo=blob)
    chat.post(conversation, Sender.STAFF, "请问几号楼？", DAY, author=kefu)
    chat.post(conversation, Sender.RESIDENT, "1号楼", DAY)
    ticket = chat.to_ticket(conversation, "repair", kefu, DAY + timedelta(minutes=5), urgent=True)
    assert ticket.description == "卫生间天花板有水渍\n1号楼" and ticket.category == TicketCategory.REPAIR and ticket.is_urgent
    assert ticket.channel == TicketChannel.ONLINE and ticket.resident_id == resident.id and ticket.unit_id == resident.residencies[0].unit_id
    assert [(p.blob_sha256, p.filename) for p in ticket.photos] == [(blob.sha256, f"chat-{photo.id}.jpg")]
    assert conversation.ticket_id == ticket.id
    told = _system(conversation)[-1]
    assert told.body == f"Registered as {ticket.number}: follow it under My requests." and told.data == {"ticket": ticket.id}  # their language
    with pytest.raises(ChatError, match=ticket.number):
        chat.to_ticket(conversation, "repair", kefu, DAY)


def test_a_wechat_conversation_with_an_unknown_follower_becomes_a_wechat_ticket(kefu):
    conversation = _wechat()
    chat.post(conversation, Sender.RESIDENT, "东门路灯不亮", DAY)
    ticket = chat.to_ticket(conversation, "repair", kefu, DAY)
    assert ticket.channel == TicketChannel.WECHAT and ticket.resident_id is None and ticket.caller_name == "WeChat follower"


# WeChat


def test_a_reply_within_48_hours_goes_back_as_a_wechat_customer_message(resident, kefu):
    conversation = _wechat(user=resident, last_message_at=DAY)
    reply = chat.post(conversation, Sender.STAFF, "已安排师傅", DAY + timedelta(hours=47), author=kefu)
    row = db.session.scalar(select(Delivery).where(Delivery.kind == "chat_reply"))
    assert row.payload == {"custom": True, "values": {"message_id": reply.id}} and row.address == "oFollower1"
    assert _told("chat_reply") == []  # nothing else needed


def test_after_48_hours_a_reply_goes_through_the_residents_channels(resident, kefu):
    conversation = _wechat(user=resident, last_message_at=DAY)
    chat.post(conversation, Sender.STAFF, "已安排师傅", DAY + timedelta(hours=49), author=kefu)
    assert _told("chat_reply") == [resident.id]
    assert db.session.scalar(select(Delivery).where(Delivery.payload["custom"].as_boolean().is_(True))) is None


def test_an_unknown_follower_after_48_hours_cannot_be_reached(kefu):
    conversation = _wechat(last_message_at=DAY)
    chat.post(conversation, Sender.STAFF, "您好", DAY + timedelta(hours=49), author=kefu)
    assert db.session.scalar(select(func.count(Delivery.id)).where(Delivery.kind == "chat_reply")) == 0
    assert _told("chat_reply") == []


def test_an_unknown_follower_is_linked_to_a_resident(resident, kefu):
    conversation = _wechat()
    chat.link_follower(conversation, resident, kefu, DAY)
    assert conversation.resident_id == resident.id and conversation.follower.user_id == resident.id
    assert conversation.unit_id == resident.residencies[0].unit_id
    assert _system(conversation)[-1].data == {"internal": True}
    with pytest.raises(ChatError, match="WeChat"):
        chat.link_follower(_start(resident), resident, kefu, DAY)


def _inbound(n, **payload):
    payload.setdefault("source", "oFollower9")
    db.session.add(InboundEvent(source="wechat", external_id=f"ev{n}", payload=payload, received_at=DAY))
    db.session.flush()


def test_the_worker_turns_wechat_messages_into_a_conversation_and_stores_a_retry_once(kefu):
    _inbound(1, type="text", content="东门路灯不亮", id="m1", time=int(DAY.timestamp()))
    _inbound(2, type="text", content="东门路灯不亮", id="m1", time=int(DAY.timestamp()))  # WeChat sent it again
    _inbound(3, type="image", image="http://mmbiz/pic.jpg", media_id="MEDIA1", id="m2", time=int(DAY.timestamp()) + 1)
    _inbound(4, type="location", label="翠湖花园东门", location_x="30.1", location_y="120.2", scale="15", id="m3")  # no time: now
    assert chat.process_inbound(DAY + timedelta(seconds=5)) == 4
    follower = db.session.scalar(select(WeChatFollower).where(WeChatFollower.openid == "oFollower9"))
    assert follower.is_following and follower.last_message_at == DAY + timedelta(seconds=5)  # WeChat's 48 hours run from the latest
    (conversation,) = db.session.scalars(select(Conversation)).all()
    assert conversation.channel == "wechat" and conversation.follower_id == follower.id and conversation.resident_id is None
    said = [(m.kind, m.body) for m in conversation.messages if m.sender == Sender.RESIDENT]
    assert said == [("text", "东门路灯不亮"), ("image", "[photo]"), ("location", "翠湖花园东门")]
    assert conversation.messages[1].data == {"pic_url": "http://mmbiz/pic.jpg", "media_id": "MEDIA1"}
    assert db.session.scalar(select(func.count(InboundEvent.id)).where(InboundEvent.processed_at.is_(None))) == 0
    assert chat.process_inbound(DAY + timedelta(seconds=10)) == 0


def test_a_bound_follower_writes_into_their_residents_conversation(resident, kefu):
    resident.wechat_openid = "oBound1"
    db.session.flush()
    _inbound(1, source="oBound1", type="text", content="你好", id="m1")
    chat.process_inbound(DAY)
    conversation = db.session.scalar(select(Conversation))
    assert conversation.resident_id == resident.id and conversation.unit_id == resident.residencies[0].unit_id


def test_unsubscribing_is_remembered_and_a_bad_message_is_kept_with_its_error(kefu):
    _inbound(1, type="event", event="subscribe")
    _inbound(2, type="event", event="unsubscribe")
    _inbound(3, type="text", content="", id="m9")  # empty: refused by the chat's rules
    chat.process_inbound(DAY)
    follower = db.session.scalar(select(WeChatFollower))
    assert follower.is_following is False
    bad = db.session.scalar(select(InboundEvent).where(InboundEvent.external_id == "ev3"))
    assert bad.processed_at == DAY and "Write a message" in bad.error
    assert db.session.scalar(select(func.count(ChatMessage.id))) == 0


def test_a_follower_who_writes_again_continues_their_last_conversation(kefu):
    _inbound(1, type="text", content="你好", id="m1")
    chat.process_inbound(DAY)
    conversation = db.session.scalar(select(Conversation))
    chat.close(conversation, kefu, DAY + timedelta(minutes=1))
    _inbound(2, type="text", content="又有问题", id="m2")
    chat.process_inbound(DAY + timedelta(hours=1))
    assert db.session.scalar(select(func.count(Conversation.id))) == 1
    assert conversation.status == ConversationStatus.OPEN


def test_automatic_lines_are_in_the_residents_language_whoever_writes_them(make_user, kefu, colleague):
    """The system's lines follow the resident's language, not the interface of the staff member (or
    the worker) that caused them; the desk's internal lines are in the community's language."""
    chinese = make_user(name="吴婷")  # zh_Hans
    conversation = _start(chinese)
    chat.post(conversation, Sender.RESIDENT, "门禁坏了", DAY)
    with force_locale("en"):  # a desk whose interface is English
        ticket = chat.to_ticket(conversation, "repair", kefu, DAY + timedelta(minutes=1))
        chat.hand_over(conversation, colleague, kefu, DAY + timedelta(minutes=2))
    told, handed = _system(conversation)
    assert told.body == f"已为您登记为诉求 {ticket.number}，可在“我的诉求”中查看进展。"
    assert handed.body == "王敏 已将会话转交给 李娜。" and handed.data == {"internal": True}
