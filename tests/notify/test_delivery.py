"""Delivery through the providers' stand-in, driven through their real SDKs: receipts, token
refresh, fallback from WeChat to SMS, retries, outages, refusals, quiet hours, coalescing, caps."""
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import (
    Channel,
    Delivery,
    DeliveryStatus,
    Department,
    EventKind,
    Notification,
    Role,
    TicketEvent,
    utcnow,
)
from portal.notify import delivery
from portal.models import Notice
from portal.services import tickets
from tests.conftest import approve_everything
from tests.markup import rows_of

SHANGHAI = timezone(timedelta(hours=8))
NOON = datetime(2026, 12, 8, 12, 0, tzinfo=SHANGHAI).astimezone(timezone.utc)  # a Tuesday, mid-day in the community


@pytest.fixture
def resident(make_user):
    return make_user(name="周杰", phone="13800000001", email=None, sms_consent_at=NOON - timedelta(days=30))


@pytest.fixture
def staff(make_user):
    return make_user(role=Role.STAFF, name="王敏", wecom_userid="WangMin")


@pytest.fixture
def ticket(standin, resident, staff):
    """A repair registered on the hotline an hour ago; its "registered" SMS has gone out."""
    created, _ = tickets.create(category="repair", channel="hotline", description="卫生间漏水", actor=staff, now=NOON - timedelta(hours=1),
                                resident=resident, unit=resident.residencies[0].unit)
    db.session.commit()
    delivery.deliver_due(now=NOON - timedelta(minutes=45))
    return created


def rounds(*times):
    """Worker rounds at these moments; returns the rows' final state."""
    for when in times:
        delivery.deliver_due(now=when)
    db.session.expire_all()


def sms_rows(user):
    return db.session.scalars(select(Delivery).where(Delivery.user_id == user.id, Delivery.channel == Channel.SMS).order_by(Delivery.id)).all()


def test_an_sms_is_sent_through_aliyun_and_its_bizid_kept(standin, ticket, resident, staff):
    tickets.progress(ticket, "师傅下午两点上门", None, staff, NOON)
    db.session.commit()
    rounds(NOON + timedelta(minutes=11))  # after the coalescing window
    rows = [r for r in sms_rows(resident) if r.kind == "ticket_progress"]
    assert len(rows) == 1 and rows[0].status == DeliveryStatus.SENT
    mine = [m for m in standin.messages("aliyun_sms") if m["id"] == rows[0].provider_id]
    assert len(mine) == 1 and mine[0]["to"] == "13800000001"
    assert mine[0]["params"] == {"number": ticket.number, "link": f"t{ticket.id}"}
    assert rows[0].attempt_log[-1].outcome == "sent" and rows[0].attempt_log[-1].provider_id == rows[0].provider_id


def test_tencent_sends_to_mainland_and_hong_kong_numbers(use_tencent, app, make_user, staff):
    from portal.notify import notify

    mainland = make_user(phone="13900000077", sms_consent_at=NOON)
    hong_kong = make_user(phone="+85291234567", sms_consent_at=NOON)
    notice = Notice(title="燃气管道抢修", body="", category="emergency", is_community_wide=True, author_id=staff.id, publish_at=NOON)
    db.session.add(notice)
    db.session.flush()
    notify("notice_emergency", notice, [mainland, hong_kong], now=NOON)
    db.session.commit()
    rounds(NOON)
    statuses = {r.address: (r.status, r.provider_id) for r in db.session.scalars(select(Delivery).where(Delivery.channel == Channel.SMS))}
    assert all(status == DeliveryStatus.SENT and serial for status, serial in statuses.values()), statuses
    sent = {m["to"]: m for m in use_tencent.messages("tencent_sms")}
    assert set(sent) == {"+8613900000077", "+85291234567"}
    assert sent["+85291234567"]["iso_code"] == "HK"


def test_an_expired_wechat_token_is_refreshed_once_and_the_message_sent(standin, ticket, resident, staff):
    standin.follow("o_zhoujie", interacted_at=None)
    resident = db.session.get(type(resident), resident.id)
    resident.wechat_openid, resident.wechat_consent_at = "o_zhoujie", NOON
    db.session.commit()
    tickets.progress(ticket, "已派单", None, staff, NOON)
    db.session.commit()
    rounds(NOON)
    assert standin.tokens_issued("wechat") == 1
    standin.expire_tokens("wechat")
    tickets.progress(ticket, "师傅已出发", None, staff, NOON + timedelta(minutes=1))
    db.session.commit()
    rounds(NOON + timedelta(minutes=1))
    wechat = db.session.scalars(select(Delivery).where(Delivery.channel == Channel.WECHAT).order_by(Delivery.id)).all()
    assert [w.status for w in wechat] == [DeliveryStatus.SENT, DeliveryStatus.SENT]
    assert standin.tokens_issued("wechat") == 2 and len(standin.messages("wechat")) == 2
    # WeChat reached them
    assert [(r.status, r.error_code) for r in sms_rows(resident) if r.kind == "ticket_progress"] == [(DeliveryStatus.SKIPPED, "not_needed")] * 2


def test_a_follower_who_left_the_account_gets_the_sms_instead(standin, ticket, resident, staff):
    standin.follow("o_gone", following=False)
    resident = db.session.get(type(resident), resident.id)
    resident.wechat_openid, resident.wechat_consent_at = "o_gone", NOON
    db.session.commit()
    tickets.resolve(ticket, "已更换水管", staff, NOON)
    db.session.commit()
    rounds(NOON)
    wechat = db.session.scalar(select(Delivery).where(Delivery.channel == Channel.WECHAT))
    assert wechat.status == DeliveryStatus.FAILED and wechat.error_code == "43004"
    sms = [r for r in sms_rows(resident) if r.kind == "ticket_resolved"]
    assert sms[0].status == DeliveryStatus.PENDING  # the next in their order, after the coalescing window
    rounds(NOON + timedelta(minutes=11))
    assert sms[0].status == DeliveryStatus.SENT and len(standin.messages("aliyun_sms")) == 2  # registered, then this


def test_a_rate_limit_is_retried_later(standin, ticket, resident, staff):
    standin.fail("aliyun_sms", "rate_limit")
    tickets.resolve(ticket, "好了", staff, NOON)
    db.session.commit()
    due = NOON + timedelta(minutes=11)
    rounds(due)
    row = sms_rows(resident)[-1]
    assert row.status == DeliveryStatus.PENDING and row.error_code == "isv.BUSINESS_LIMIT_CONTROL" and row.next_attempt_at > due
    rounds(row.next_attempt_at)
    assert row.status == DeliveryStatus.SENT and [a.outcome for a in row.attempt_log] == ["transient", "sent"]


def test_provider_down_for_five_minutes_then_everything_arrives_exactly_once(standin, make_user, staff):
    from portal.notify import notify

    people = [make_user(phone=f"1370000{i:04d}", sms_consent_at=NOON) for i in range(12)]
    notice = Notice(title="停电抢修", body="", category="emergency", is_community_wide=True, author_id=staff.id, publish_at=NOON)
    db.session.add(notice)
    db.session.flush()
    notify("notice_emergency", notice, people, now=NOON)
    db.session.commit()
    standin.fail("aliyun_sms", "unavailable", times=None)
    when = NOON
    while when < NOON + timedelta(minutes=5):
        rounds(when)
        when += timedelta(seconds=20)
    standin.heal("aliyun_sms")
    while when < NOON + timedelta(minutes=15):
        rounds(when)
        when += timedelta(seconds=20)
    rows = db.session.scalars(select(Delivery).where(Delivery.channel == Channel.SMS)).all()
    assert [r.status for r in rows] == [DeliveryStatus.SENT] * 12
    received = [m["to"] for m in standin.messages("aliyun_sms")]
    assert sorted(received) == sorted(p.phone for p in people)  # each once
    assert all(any(a.outcome == "transient" and a.code.startswith("http_503") or a.code == "bad_answer" for a in r.attempt_log) for r in rows)


def test_an_invalid_number_is_not_retried_and_staff_see_it_on_the_ticket(standin, client, ticket, resident, staff):
    standin.fail("aliyun_sms", "invalid_number")
    tickets.resolve(ticket, "好了", staff, NOON)
    db.session.commit()
    rounds(NOON + timedelta(minutes=11), NOON + timedelta(hours=2))
    row = [r for r in sms_rows(resident) if r.kind == "ticket_resolved"][0]
    assert row.status == DeliveryStatus.FAILED and row.error_code == "isv.MOBILE_NUMBER_ILLEGAL" and row.attempts == 1
    missed = db.session.scalar(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id, TicketEvent.kind == EventKind.NOT_REACHED))
    assert missed.is_internal and missed.data["code"] == "isv.MOBILE_NUMBER_ILLEGAL"
    client.login(staff)
    page = client.get(f"/tickets/{ticket.id}").get_data(as_text=True)
    assert f'id="event-{missed.id}"' in page and "isv.MOBILE_NUMBER_ILLEGAL" in page  # staff see who and why
    client.logout()
    client.login(resident)
    assert f'id="event-{missed.id}"' not in client.get(f"/tickets/{ticket.id}").get_data(as_text=True)


def test_html_from_a_proxy_is_a_transient_failure_logged_with_its_first_bytes(standin, ticket, resident, staff, caplog):
    standin.fail("aliyun_sms", "html")
    tickets.resolve(ticket, "好了", staff, NOON)
    db.session.commit()
    rounds(NOON + timedelta(minutes=11))
    row = sms_rows(resident)[-1]
    assert row.status == DeliveryStatus.PENDING and row.error_code == "bad_answer" and "<" in row.last_error and len(row.last_error) <= 200
    assert any("bad_answer" in r.getMessage() for r in caplog.records)


def test_quiet_hours_hold_a_residents_sms_and_let_an_emergency_through(standin, ticket, resident, staff):
    from portal.notify import notify

    night = datetime(2026, 12, 8, 23, 30, tzinfo=SHANGHAI).astimezone(timezone.utc)
    tickets.progress(ticket, "材料已到", None, staff, night)
    notice = Notice(title="3号楼燃气泄漏", body="", category="emergency", is_community_wide=True, author_id=staff.id, publish_at=night)
    db.session.add(notice)
    db.session.flush()
    notify("notice_emergency", notice, [resident], now=night)
    db.session.commit()
    rounds(night + timedelta(minutes=15))
    rows = {r.kind: r for r in sms_rows(resident)}
    assert rows["notice_emergency"].status == DeliveryStatus.SENT
    held = rows["ticket_progress"]
    morning = datetime(2026, 12, 9, 8, 0, tzinfo=SHANGHAI).astimezone(timezone.utc)
    assert held.status == DeliveryStatus.PENDING and held.next_attempt_at == morning
    rounds(morning)
    assert held.status == DeliveryStatus.SENT


def test_several_updates_within_ten_minutes_become_one_sms(standin, ticket, resident, staff):
    tickets.progress(ticket, "已派单", None, staff, NOON)
    tickets.progress(ticket, "师傅已出发", None, staff, NOON + timedelta(minutes=3))
    tickets.resolve(ticket, "已修好", staff, NOON + timedelta(minutes=6))
    db.session.commit()
    rounds(NOON + timedelta(minutes=7), NOON + timedelta(minutes=11))
    rows = [r for r in sms_rows(resident) if r.kind != "ticket_registered"]
    sent = [r for r in rows if r.status == DeliveryStatus.SENT]
    assert len(sent) == 1 and sent[0].coalesced == 3 and sent[0].kind == "ticket_resolved"
    assert sorted(r.error_code for r in rows if r.status == DeliveryStatus.SKIPPED) == ["merged", "merged"]
    assert len([m for m in standin.messages("aliyun_sms") if m["params"].get("number") == ticket.number]) == 2  # registered + one
    # every update is still in the resident's notifications
    assert db.session.scalar(select(func.count(Notification.id)).where(Notification.user_id == resident.id)) == 4


def test_the_daily_sms_cap_holds_and_emergencies_pass_it(standin, resident, staff, app):
    from portal.notify import notify

    made = []
    for i in range(12):
        t, _ = tickets.create(category="repair", channel="hotline", description=f"问题{i}", actor=staff, now=NOON, resident=resident,
                              unit=resident.residencies[0].unit)
        made.append(t)
    notice = Notice(title="紧急停水", body="", category="emergency", is_community_wide=True, author_id=staff.id, publish_at=NOON)
    db.session.add(notice)
    db.session.flush()
    notify("notice_emergency", notice, [resident], now=NOON)
    db.session.commit()
    rows = sms_rows(resident)
    capped = [r for r in rows if r.error_code == "cap"]
    assert len([r for r in rows if r.kind == "ticket_registered" and r.status == DeliveryStatus.PENDING]) == 10
    assert len(capped) == 2 and all(r.status == DeliveryStatus.SKIPPED for r in capped)
    assert [r.status for r in rows if r.kind == "notice_emergency"] == [DeliveryStatus.PENDING]


def test_a_parameter_too_long_for_the_provider_is_shortened_not_refused(standin, make_user, staff):
    from portal.models import Event, EventType
    from portal.notify import notify

    person = make_user(phone="13700009999", sms_consent_at=NOON)
    event = Event(kind=EventType.ACTIVITY, title="一" * 60, location="会所", starts_at=NOON + timedelta(days=3),
                  ends_at=NOON + timedelta(days=3, hours=2), created_by_id=staff.id)
    db.session.add(event)
    db.session.flush()
    notify("event_cancelled", event, [person], now=NOON)
    db.session.commit()
    rounds(NOON)
    row = sms_rows(person)[0]
    assert row.status == DeliveryStatus.SENT
    sent = standin.messages("aliyun_sms")[0]["params"]["title"]
    assert len(sent) <= 35 and sent.endswith("…")


def test_staff_hear_of_a_new_request_on_wecom_and_the_department_robot_of_a_transfer(standin, app, make_user, resident, staff):
    standin.add_member("WangMin")
    standin.add_member("ZhangQiang")
    standin.add_robot("robot-gongcheng-0001")
    dept = Department(name="工程维修部", robot_webhook=standin.robot_url("robot-gongcheng-0001"))
    db.session.add(dept)
    db.session.commit()
    head = make_user(role=Role.HEAD, name="张强", department_id=dept.id, wecom_userid="ZhangQiang")
    ticket, _ = tickets.create(category="repair", channel="online", description="电梯困人", actor=resident, now=NOON, resident=resident,
                               unit=resident.residencies[0].unit)
    tickets.transfer(ticket, dept, [], staff, NOON)
    db.session.commit()
    rounds(NOON)
    cards = {m["to"]: m for m in standin.messages("wecom")}
    assert set(cards) == {"WangMin", "ZhangQiang"}
    assert ticket.number in cards["ZhangQiang"]["title"] and cards["ZhangQiang"]["url"].endswith(f"/go/t{ticket.id}")
    robot = standin.messages("wecom_robot")
    assert len(robot) == 1 and ticket.number in robot[0]["text"] and "工程维修部" in robot[0]["text"]
    assert head.id in {r.user_id for r in db.session.scalars(select(Delivery).where(Delivery.status == DeliveryStatus.SENT))}


def test_a_wecom_member_the_app_cannot_reach_is_refused_for_good(standin, make_user, resident):
    make_user(role=Role.STAFF, name="新人", wecom_userid="nobody-here")
    tickets.create(category="inquiry", channel="online", description="物业费怎么交", actor=resident, now=NOON, resident=resident,
                   unit=resident.residencies[0].unit)
    db.session.commit()
    rounds(NOON, NOON + timedelta(hours=1))
    row = db.session.scalar(select(Delivery).where(Delivery.channel == Channel.WECOM, Delivery.address == "nobody-here"))
    assert row.status == DeliveryStatus.FAILED and row.error_code == "81013" and row.attempts == 1


def test_a_slow_provider_and_two_workers_still_send_each_message_once(standin, concurrent_app):
    """Two workers at once against a provider that takes a second to answer."""
    import threading

    from portal.models import Building, Residency, Unit, User

    with concurrent_app.app_context():
        concurrent_app.config.update(SMS_URL=standin.urls()["aliyun"], CHANNEL_TIMEOUT=5)
        approve_everything(standin, concurrent_app)
        building = Building(name="9号楼", units=[Unit(number=f"1-{i}") for i in range(20)])
        db.session.add(building)
        db.session.flush()
        people = []
        for i, unit in enumerate(building.units):
            person = User(name=f"住户{i}", phone=f"1350000{i:04d}", role=Role.RESIDENT, sms_consent_at=NOON)
            person.residencies.append(Residency(unit=unit))
            people.append(person)
        db.session.add_all(people)
        staff_user = User(name="客服", username="kefu-x", role=Role.STAFF)
        db.session.add(staff_user)
        db.session.flush()
        notice = Notice(title="停水", body="", category="emergency", is_community_wide=True, author_id=staff_user.id, publish_at=NOON)
        db.session.add(notice)
        db.session.flush()
        from portal.notify import notify

        notify("notice_emergency", notice, people, now=NOON)
        db.session.commit()
        db.session.remove()
    standin.delay("aliyun_sms", 0.3)

    def work():
        with concurrent_app.app_context():
            for _ in range(6):
                delivery.deliver_due(limit=5, now=NOON)
            db.session.remove()

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    standin.delay("aliyun_sms", 0)
    received = [m["to"] for m in standin.messages("aliyun_sms")]
    assert len(received) == 20 and len(set(received)) == 20
    with concurrent_app.app_context():
        assert db.session.scalar(select(func.count(Delivery.id)).where(Delivery.status == DeliveryStatus.SENT)) == 20
        concurrent_app.extensions.pop("portal_channels", None)
        db.session.remove()


def test_a_worker_that_died_after_claiming_leaves_its_rows_to_the_next_after_the_claim_expires(standin, ticket, resident, staff):
    from portal.notify.delivery import CLAIM_SECONDS, _claim

    tickets.resolve(ticket, "好了", staff, NOON)
    db.session.commit()
    due = NOON + timedelta(minutes=11)
    before = len(standin.messages("aliyun_sms"))  # the registered SMS went out earlier
    claimed = _claim(100, due)  # ...and the worker is killed before it sends anything
    assert claimed
    rounds(due + timedelta(seconds=30))
    assert len(standin.messages("aliyun_sms")) == before  # still claimed: nobody else sends it meanwhile
    rounds(due + timedelta(seconds=CLAIM_SECONDS + 1), due + timedelta(seconds=CLAIM_SECONDS + 60))
    assert len(standin.messages("aliyun_sms")) == before + 1  # sent once, after the claim ran out


def test_an_admin_retries_a_failed_delivery_after_fixing_the_template(standin, client, make_user, ticket, resident, staff, app):
    from portal.services import settings as settings_service

    code = settings_service.get("sms_template.ticket_resolved")
    settings_service.update({"sms_template.ticket_resolved": ""}, None)
    db.session.commit()
    tickets.resolve(ticket, "好了", staff, NOON)
    db.session.commit()
    rounds(NOON + timedelta(minutes=11))
    row = [r for r in sms_rows(resident) if r.kind == "ticket_resolved"][0]
    assert row.status == DeliveryStatus.FAILED and row.error_code == "no_template"
    admin = make_user(role=Role.ADMIN)
    client.login(admin)
    page = client.get("/admin/deliveries?status=failed").get_data(as_text=True)
    assert [(r[0], r[3], r[6]) for r in rows_of(page, "table.deliveries tbody tr")] == [
        (str(row.id), f"周杰 {resident.phone}", "no_template No Aliyun SMS template code is set for this kind (Administration → Channels).")]
    settings_service.update({"sms_template.ticket_resolved": code}, None)
    db.session.commit()
    assert client.post(f"/admin/deliveries/{row.id}/retry").status_code == 302
    rounds(utcnow() + timedelta(seconds=1))
    assert row.status == DeliveryStatus.SENT
