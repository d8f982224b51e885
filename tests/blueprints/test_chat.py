"""在线客服: the resident's chat and the desk's queue, WeChat both ways through a stand-in that
posts signed (and encrypted) XML, conversations into tickets, hours and emergency words, and the
hotline's caller screen from a stand-in PBX."""
import re
import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import (
    Call,
    Channel,
    ChatMessage,
    CommRecord,
    Conversation,
    ConversationStatus,
    Delivery,
    DeliveryStatus,
    InboundEvent,
    Notification,
    Role,
    Sender,
    Ticket,
    TicketChannel,
    utcnow,
)
from portal.services import chat, settings
from tests.blueprints.test_notices import PNG
from tests.markup import element, elements, text_of, texts_of
from tests.standins.providers import Providers
from tests.standins.wechat_push import PBX, WeChatPush, event_xml, image_xml, location_xml, sign, text_xml

SHANGHAI = timezone(timedelta(hours=8))


@pytest.fixture(autouse=True)
def daytime(app):
    """Customer service is staffed all day in these tests unless one says otherwise."""
    settings.update({"chat_hours_start": "00:00", "chat_hours_end": "23:59"}, None)
    db.session.commit()


def _send(client, text, url="/chat/", **kw):
    return client.post(url, {"body": text, **kw})


def _bubbles(page):
    """The conversation as shown: (who, text) per message."""
    return [(text_of(b, ".who").split(" · ")[0], " ".join(texts_of(b, ".text"))) for b in elements(page, "#chat-messages .bubble")]


def test_a_resident_chats_and_the_desk_answers_from_the_queue(client, make_client, make_user):
    resident = make_user(name="周杰")
    kefu = make_user(role=Role.STAFF, name="王敏", wecom_userid="WangMin")
    client.login(resident)
    assert client.get("/chat/").status_code == 200
    assert _send(client, "你好，小区快递柜在哪里？").status_code == 302
    conversation = db.session.scalar(select(Conversation))
    assert conversation.resident_id == resident.id and conversation.status == ConversationStatus.OPEN and conversation.waiting_since
    assert db.session.scalar(select(Notification.user_id).where(Notification.kind == "chat_message")) == kefu.id
    desk = make_client()
    desk.login(kefu)
    queue = desk.get("/chat/").get_data(as_text=True)
    assert [(a.text, a.get("href")) for a in elements(queue, "#chat-queue tbody td a")] == [("周杰", f"/chat/{conversation.id}")]
    assert desk.post(f"/chat/{conversation.id}/messages", {"body": "在东门岗亭旁边。"}).status_code == 302
    db.session.refresh(conversation)
    assert conversation.status == ConversationStatus.ASSIGNED and conversation.assignee_id == kefu.id and conversation.waiting_since is None
    page = client.get("/chat/").get_data(as_text=True)
    assert _bubbles(page) == [("我", "你好，小区快递柜在哪里？"), ("物业服务中心", "在东门岗亭旁边。")]
    note = db.session.scalar(select(Notification).where(Notification.kind == "chat_reply"))
    assert note.user_id == resident.id and note.link == f"/go/h{conversation.id}"


def test_the_poll_is_a_fragment_and_304_until_something_is_written(app, client, make_client, make_user):
    from tests.blueprints.test_tickets import _count

    resident = make_user()
    client.login(resident)
    assert _send(client, "有人吗").status_code == 302
    conversation = db.session.scalar(select(Conversation))
    first = client.get(f"/chat/{conversation.id}/messages", headers={"HX-Request": "true"})
    assert first.status_code == 200 and "<html" not in first.get_data(as_text=True) and "HX-Request" in first.headers["Vary"]
    tag = first.headers["ETag"]
    headers = {"HX-Request": "true", "If-None-Match": tag}
    assert client.get(f"/chat/{conversation.id}/messages", headers=headers).status_code == 304
    assert _count(app, lambda: client.get(f"/chat/{conversation.id}/messages", headers=headers)) == 1  # before Flask, one statement
    desk = make_client()
    desk.login(make_user(role=Role.STAFF))
    assert desk.post(f"/chat/{conversation.id}/messages", {"body": "在的"}).status_code == 302
    changed = client.get(f"/chat/{conversation.id}/messages", headers=headers)
    assert changed.status_code == 200 and _bubbles(changed) == [("我", "有人吗"), ("物业服务中心", "在的")]
    queue = desk.get("/chat/", headers={"HX-Request": "true"})
    assert desk.get("/chat/", headers={"HX-Request": "true", "If-None-Match": queue.headers["ETag"]}).status_code == 304


def test_a_resident_reads_only_their_own_conversation(client, make_client, make_user):
    owner, other = make_user(), make_user()
    owner_client = make_client()
    owner_client.login(owner)
    _send(owner_client, "我的问题", photo=(__import__("io").BytesIO(PNG), "a.png"))
    conversation = db.session.scalar(select(Conversation))
    message = db.session.scalar(select(ChatMessage).where(ChatMessage.photo_sha256.is_not(None)))
    client.login(other)
    for url in (f"/chat/{conversation.id}", f"/chat/{conversation.id}/messages", f"/chat/photo/{message.id}"):
        assert client.get(url).status_code == 404, url
    assert client.get(f"/chat/{conversation.id}/messages", headers={"HX-Request": "true"}).status_code == 404
    assert client.post(f"/chat/{conversation.id}/messages", {"body": "偷看"}).status_code == 404
    assert client.post(f"/chat/{conversation.id}/urgent").status_code == 404
    for role in (Role.HEAD, Role.WORKER, Role.COMMITTEE):
        staff = make_client()
        staff.login(make_user(role=role))
        assert staff.get(f"/chat/{conversation.id}").status_code == 404 and staff.post(f"/chat/{conversation.id}/take").status_code == 404
    assert owner_client.get(f"/chat/photo/{message.id}").status_code == 200


def test_take_hand_over_canned_replies_and_close(client, make_client, make_user):
    resident = make_user()
    a, b = make_user(role=Role.STAFF, name="王敏"), make_user(role=Role.STAFF, name="李娜")
    client.login(resident)
    _send(client, "装修要办什么手续")
    conversation = db.session.scalar(select(Conversation))
    desk = make_client()
    desk.login(a)
    assert desk.post("/chat/canned", {"title": "装修", "body": "请携带施工方案到客服中心办理装修登记。"}).status_code == 302
    from portal.models import CannedReply

    canned = db.session.scalar(select(CannedReply))
    assert desk.post(f"/chat/{conversation.id}/take").status_code == 302
    assert desk.post(f"/chat/{conversation.id}/messages", {"body": "", "canned": str(canned.id)}).status_code == 302
    assert _bubbles(client.get("/chat/"))[-1] == ("物业服务中心", "请携带施工方案到客服中心办理装修登记。")
    assert desk.post(f"/chat/{conversation.id}/handover", {"colleague": str(b.id)}).status_code == 302
    db.session.refresh(conversation)
    assert conversation.assignee_id == b.id
    assert db.session.scalar(select(Notification.id).where(Notification.user_id == b.id, Notification.kind == "chat_message")) is not None
    resident_view = client.get("/chat/").get_data(as_text=True)
    assert "李娜" not in resident_view  # the hand-over line is for the desk only
    assert _bubbles(resident_view) == [("我", "装修要办什么手续"), ("物业服务中心", "请携带施工方案到客服中心办理装修登记。")]
    assert [t for who, t in _bubbles(desk.get(f"/chat/{conversation.id}")) if "李娜" in t] == ["王敏 已将会话转交给 李娜。"]
    assert desk.post(f"/chat/{conversation.id}/close").status_code == 302
    db.session.refresh(conversation)
    assert conversation.status == ConversationStatus.CLOSED
    assert _send(client, "还有一个问题").status_code == 302  # a new message opens a new conversation
    assert db.session.scalar(select(func.count(Conversation.id))) == 2


def test_a_conversation_becomes_a_ticket_in_one_click(client, make_client, make_user):
    resident = make_user(name="吴婷")
    client.login(resident)
    import io

    assert _send(client, "卫生间天花板漏水", photo=(io.BytesIO(PNG), "漏水.png")).status_code == 302
    assert _send(client, "楼上没人在家").status_code == 302
    conversation = db.session.scalar(select(Conversation))
    desk = make_client()
    desk.login(make_user(role=Role.STAFF))
    assert desk.post(f"/chat/{conversation.id}/ticket", {"category": "repair"}).status_code == 302
    ticket = db.session.scalar(select(Ticket))
    db.session.refresh(conversation)
    assert conversation.ticket_id == ticket.id and ticket.resident_id == resident.id and ticket.unit_id == resident.residencies[0].unit_id
    assert ticket.description == "卫生间天花板漏水\n楼上没人在家" and len(ticket.photos) == 1
    assert ticket.channel == TicketChannel.ONLINE
    assert _bubbles(client.get("/chat/"))[-1] == ("自动回复", f"已为您登记为诉求 {ticket.number}，可在“我的诉求”中查看进展。")  # told in the conversation
    assert desk.post(f"/chat/{conversation.id}/ticket", {"category": "repair"}).status_code == 302
    assert db.session.scalar(select(func.count(Ticket.id))) == 1


def test_outside_the_staffed_hours_an_automatic_answer_gives_the_hotline(client, make_user):
    settings.update({"chat_hours_start": "08:00", "chat_hours_end": "20:00", "hotline": "400-800-1234"}, None)
    db.session.commit()
    resident = make_user()
    conversation = chat.start(resident, resident.residencies[0].unit, utcnow())
    night = datetime(2026, 12, 8, 23, 30, tzinfo=SHANGHAI)
    chat.post(conversation, Sender.RESIDENT, "物业费怎么交", night)
    chat.post(conversation, Sender.RESIDENT, "还有停车费", night + timedelta(minutes=1))
    db.session.commit()
    automatic = [m for m in conversation.messages if m.sender == Sender.SYSTEM]
    assert len(automatic) == 1 and automatic[0].body == "客服将于 08:00 起回复。如有紧急情况，请拨打 24 小时服务热线 400-800-1234。"


def test_an_emergency_word_prompts_the_desk_at_once_and_offers_an_urgent_ticket(client, make_user):
    resident = make_user()
    kefu = make_user(role=Role.STAFF, wecom_userid="WangMin", phone="13900000001")
    client.login(resident)
    _send(client, "厨房燃气味很重！")
    conversation = db.session.scalar(select(Conversation))
    assert conversation.is_urgent
    alert = db.session.scalar(select(Delivery).where(Delivery.kind == "chat_emergency", Delivery.user_id == kefu.id))
    assert alert is not None and alert.is_urgent
    page = client.get("/chat/").get_data(as_text=True)
    assert text_of(page, f"#chat-messages form[action='/chat/{conversation.id}/urgent'] button") == "一键报急"
    assert client.post(f"/chat/{conversation.id}/urgent").status_code == 302
    ticket = db.session.scalar(select(Ticket))
    assert ticket.is_urgent and ticket.resident_id == resident.id and ticket.page_round == 1


def test_a_reply_reaches_a_resident_who_left_the_page_but_not_one_who_saw_it(client, make_client, make_user):
    from portal.notify import delivery

    seen_it = make_user(sms_consent_at=utcnow())
    gone = make_user(sms_consent_at=utcnow())
    desk = make_client()
    desk.login(make_user(role=Role.STAFF))
    convs = []
    for person in (seen_it, gone):
        conversation = chat.start(person, person.residencies[0].unit, utcnow())
        chat.post(conversation, Sender.RESIDENT, "在吗", utcnow())
        convs.append(conversation)
    db.session.commit()
    for conversation in convs:
        assert desk.post(f"/chat/{conversation.id}/messages", {"body": "在的，请讲"}).status_code == 302
    client.login(seen_it)
    page = client.get("/chat/")
    upto = re.search(r'name="upto" value="(\d+)"', page.get_data(as_text=True)).group(1)
    assert client.post(f"/chat/{convs[0].id}/seen", {"upto": upto}).status_code == 204
    db.session.refresh(convs[0])
    # past the 15 minutes the page has to show a reply, and past the residents' quiet hours
    # should the test run at night
    later = utcnow() + timedelta(hours=12)
    delivery.deliver_due(now=later)
    db.session.expire_all()
    rows = {r.user_id: r for r in db.session.scalars(select(Delivery).where(Delivery.kind == "chat_reply", Delivery.channel == Channel.SMS))}
    assert rows[seen_it.id].status == DeliveryStatus.SKIPPED and rows[seen_it.id].error_code == "seen"
    assert rows[gone.id].status == DeliveryStatus.SENT


# WeChat, both ways


@pytest.fixture
def wechat(app, standin):
    push = WeChatPush(Providers.WECHAT_TOKEN, Providers.WECHAT_AES_KEY, Providers.WECHAT_APPID)
    return push


def test_the_server_check_echoes_echostr_only_when_signed(client, wechat):
    assert client.get(wechat.check("hello-wechat")).get_data(as_text=True) == "hello-wechat"
    forged = wechat.check("x").replace("signature=", "signature=0")
    assert client.get(forged).status_code == 403
    stale = wechat.check("x", at=time.time() - 600)
    assert client.get(stale).status_code == 403


@pytest.mark.parametrize("encrypt", [False, True])
def test_follower_messages_join_the_queue_once_and_the_desk_answers_by_customer_service_message(app, client, make_client, make_user, wechat,
                                                                                               standin, encrypt):
    from portal.notify import delivery
    from portal.worker import run_round

    resident = make_user(name="周杰", wechat_openid="o_zhoujie", wechat_consent_at=utcnow())
    standin.follow("o_zhoujie")
    standin.interact("o_zhoujie")
    path, body = wechat.post(text_xml("o_zhoujie", "电梯又坏了", 6800000001), encrypt=encrypt)
    first = client.http.post(path, data=body, content_type="text/xml")
    assert first.status_code == 200
    again = client.http.post(path, data=body, content_type="text/xml")  # WeChat retries the same MsgId
    assert again.status_code == 200
    assert db.session.scalar(select(func.count(InboundEvent.id))) == 1
    run_round()
    conversation = db.session.scalar(select(Conversation))
    assert conversation.channel == "wechat" and conversation.resident_id == resident.id
    assert [m.body for m in conversation.messages] == ["电梯又坏了"]
    desk = make_client()
    desk.login(make_user(role=Role.STAFF))
    assert desk.post(f"/chat/{conversation.id}/messages", {"body": "已通知工程部，马上到。"}).status_code == 302
    delivery.deliver_due()
    sent = [m for m in standin.messages("wechat") if m.get("text") == "已通知工程部，马上到。"]
    assert len(sent) == 1 and sent[0]["to"] == "o_zhoujie"


def test_images_locations_and_events_from_followers(app, client, wechat, standin, make_user):
    from portal.worker import run_round

    for xml in (image_xml("o_new", "http://mmbiz.example/1.jpg", "MEDIA1", 6800000010), location_xml("o_new", 30.27, 120.15, "3号楼", 6800000011)):
        path, body = wechat.post(xml)
        assert client.http.post(path, data=body, content_type="text/xml").status_code == 200
    path, body = wechat.post(event_xml("o_new", "subscribe"))
    welcome = client.http.post(path, data=body, content_type="text/xml").get_data(as_text=True)
    assert "<MsgType><![CDATA[text]]></MsgType>" in welcome and "绑定账户" in welcome
    path, body = wechat.post(event_xml("o_new", "CLICK", "BIND"), encrypt=True)
    answer = client.http.post(path, data=body, content_type="text/xml").get_data(as_text=True)
    ciphertext = re.search(r"<Encrypt><!\[CDATA\[(.+?)\]\]></Encrypt>", answer).group(1)
    plain, appid = wechat.decrypt(ciphertext)
    assert appid == Providers.WECHAT_APPID and "/wechat/bind" in plain
    run_round()
    conversation = db.session.scalar(select(Conversation))
    kinds = [m.kind for m in conversation.messages]
    assert kinds == ["image", "location"] and conversation.resident_id is None
    assert (conversation.messages[1].data["lat"], conversation.messages[1].data["lng"]) == ("30.27", "120.15")
    # the desk recognises the follower
    resident = make_user(name="吴婷", phone="13800000002")
    desk = client
    desk.login(make_user(role=Role.STAFF))
    assert desk.post(f"/chat/{conversation.id}/link", {"phone": "138 0000 0002"}).status_code == 302
    db.session.refresh(conversation)
    assert conversation.resident_id == resident.id and conversation.follower.user_id == resident.id


def test_forged_replayed_oversized_and_entity_laden_posts_are_refused(client, wechat):
    path, body = wechat.post(text_xml("o_x", "hi", 1), tamper=True)
    assert client.http.post(path, data=body, content_type="text/xml").status_code == 403
    path, body = wechat.post(text_xml("o_x", "hi", 2), at=time.time() - 400)
    assert client.http.post(path, data=body, content_type="text/xml").status_code == 403
    path, body = wechat.post(text_xml("o_x", "hi", 3), encrypt=True, tamper=True)
    assert client.http.post(path, data=body, content_type="text/xml").status_code == 403
    path, _body = wechat.post("<xml></xml>")
    assert client.http.post(path, data=b"<xml>" + b"a" * (1024 * 1024 + 10) + b"</xml>", content_type="text/xml").status_code == 413
    evil = ('<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            '<xml><ToUserName>a</ToUserName><FromUserName>o_x</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType>'
            '<Content>&x;</Content><MsgId>9</MsgId></xml>')
    path, body = wechat.post(evil)
    assert client.http.post(path, data=body, content_type="text/xml").status_code == 400
    assert db.session.scalar(select(func.count(InboundEvent.id))) == 0


def test_stored_text_from_wechat_is_escaped(app, client, wechat, make_user):
    from portal.worker import run_round

    path, body = wechat.post(text_xml("o_evil", "<script>alert(1)</script>", 6800000099))
    assert client.http.post(path, data=body, content_type="text/xml").status_code == 200
    run_round()
    conversation = db.session.scalar(select(Conversation))
    client.login(make_user(role=Role.STAFF))
    page = client.get(f"/chat/{conversation.id}").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    assert _bubbles(page) == [("微信关注者", "<script>alert(1)</script>")]  # shown as the text it is


def test_a_reply_after_the_48_hours_goes_as_a_template_message_or_sms(app, make_user, standin):
    resident = make_user(name="周杰", wechat_openid="o_old", wechat_consent_at=utcnow(), sms_consent_at=utcnow())
    follower = chat.follower_for("o_old", utcnow())
    follower.last_message_at = utcnow() - timedelta(hours=60)
    conversation = chat.wechat_conversation(follower, utcnow())
    chat.post(conversation, Sender.RESIDENT, "上周的问题", utcnow() - timedelta(hours=60))
    staff = make_user(role=Role.STAFF)
    chat.post(conversation, Sender.STAFF, "已经处理好了", utcnow(), author=staff)
    db.session.commit()
    rows = db.session.scalars(select(Delivery).where(Delivery.kind == "chat_reply")).all()
    assert rows and not any((r.payload or {}).get("custom") for r in rows)  # not a 客服消息
    assert sorted((r.channel.value, r.status.value) for r in rows) == [("sms", "standby"), ("wechat", "pending")]  # the template message, SMS should it fail


# The hotline's caller screen


@pytest.fixture
def pbx(app):
    app.config["TELEPHONY_SECRET"] = "pbx-secret"
    return PBX("pbx-secret")


def _event(client, pbx, *args, **kw):
    body, headers = pbx.event(*args, **kw)
    return client.http.post("/telephony/events", data=body, headers=headers)


def test_a_call_shows_the_caller_before_it_is_answered_and_ends_as_a_record(client, make_client, make_user, pbx):
    resident = make_user(name="周杰", phone="13800000001")
    kefu = make_user(role=Role.STAFF, name="王敏", phone_extension="8001")
    from portal.services import tickets

    tickets.create(category="repair", channel="online", description="门禁坏了", actor=resident, now=utcnow(), resident=resident,
                   unit=resident.residencies[0].unit)
    db.session.commit()
    assert _event(client, pbx, "ringing", "call-1", caller="13800000001").status_code == 200
    desk = make_client()
    desk.login(kefu)
    screen = desk.get("/telephony/").get_data(as_text=True)
    card = element(screen, "#calls article.call-card")
    assert text_of(card, "h2") == "13800000001 · 周杰"
    assert text_of(card, "h2 + p") == f"{resident.residencies[0].unit.building.name} 1-101 (业主)"
    assert text_of(card, "p:has(a[href^='/tickets/'])") == f"未结诉求: {db.session.scalar(select(Ticket.number))} 门禁坏了"
    tag = desk.get("/telephony/", headers={"HX-Request": "true"}).headers["ETag"]
    assert desk.get("/telephony/", headers={"HX-Request": "true", "If-None-Match": tag}).status_code == 304
    start = utcnow() - timedelta(minutes=3)
    assert _event(client, pbx, "answered", "call-1", caller="13800000001", agent="8001", at=start.timestamp()).status_code == 200
    assert _event(client, pbx, "ended", "call-1", caller="13800000001", agent="8001", at=(start + timedelta(seconds=95)).timestamp()).status_code == 200
    call = db.session.scalar(select(Call))
    assert call.state == "ended" and call.duration_seconds == 95
    record = db.session.get(CommRecord, call.record_id)
    assert record.kind.value == "call" and record.resident_id == resident.id and record.staff_id == kefu.id
    assert record.content == "服务热线来电：13800000001 拨打 400-800-1234，通话 1 分 35 秒。"
    form = desk.post(f"/telephony/{call.id}/take")
    assert form.status_code == 302 and f"resident_id={resident.id}" in form.headers["Location"]
    page = desk.get(form.headers["Location"]).get_data(as_text=True)
    assert text_of(page, "form p.flash strong") == "周杰" and f'name="call_id" type="hidden" value="{call.id}"' in page


def test_an_unknown_number_gets_a_form_with_the_number_filled_in(client, make_client, make_user, pbx):
    _event(client, pbx, "ringing", "call-2", caller="02188886666")
    desk = make_client()
    desk.login(make_user(role=Role.STAFF))
    call = db.session.scalar(select(Call))
    page = desk.get(desk.post(f"/telephony/{call.id}/take").headers["Location"]).get_data(as_text=True)
    assert element(page, "input#caller_phone").get("value") == "02188886666" and element(page, "input#caller_name").get("value") == ""


def test_call_events_must_be_signed(client, pbx, make_user):
    body, headers = pbx.event("ringing", "call-3", caller="13800000001")
    assert client.http.post("/telephony/events", data=body).status_code == 403
    assert client.http.post("/telephony/events", data=body, headers={"X-Portal-Signature": "sha256=" + "0" * 64}).status_code == 403
    assert client.http.post("/telephony/events", data=b"not json", headers=PBX("pbx-secret").event("x", "y")[1]).status_code == 403
    import hashlib
    import hmac

    raw = b"not json"
    good = {"X-Portal-Signature": "sha256=" + hmac.new(b"pbx-secret", raw, hashlib.sha256).hexdigest()}
    assert client.http.post("/telephony/events", data=raw, headers=good).status_code == 400
    assert db.session.scalar(select(func.count(Call.id))) == 0
    client.login(make_user())
    assert client.get("/telephony/").status_code == 404


def test_nothing_is_accepted_without_a_secret(client, app):
    app.config["TELEPHONY_SECRET"] = None
    body, headers = PBX("anything").event("ringing", "call-4", caller="1")
    assert client.http.post("/telephony/events", data=body, headers=headers).status_code == 403


def test_the_wechat_callback_is_404_when_no_account_is_configured(client, app):
    app.config["WECHAT_URL"] = None
    app.extensions.pop("portal_channels", None)
    assert client.get(f"/wechat/callback?signature={sign('x', '1', '1')}&timestamp=1&nonce=1&echostr=e").status_code == 404
