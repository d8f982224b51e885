"""What tells whom: one test per step of the register, the notice board, events and consultations."""
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import (
    Channel,
    Delivery,
    DeliveryStatus,
    Department,
    EventKind,
    EventType,
    Notification,
    Role,
    SignupStatus,
    TicketCategory,
    utcnow,
)
from portal.notify import fanout
from portal.services import consultations, events, notices, tickets
from tests.markup import text_of, texts_of

NOW = utcnow().replace(microsecond=0)


def told(kind, user=None):
    """{user_id: set of channels beyond in-app} for a kind; in-app notifications are always there."""
    query = select(Notification.user_id).where(Notification.kind == kind)
    people = set(db.session.scalars(query))
    if user is not None:
        people &= {user.id}
    found = {uid: set() for uid in people}
    for row in db.session.scalars(select(Delivery).where(Delivery.kind == kind, Delivery.status != DeliveryStatus.STANDBY)):
        if row.user_id is not None:
            found.setdefault(row.user_id, set()).add(row.channel)
        else:
            found.setdefault(f"robot{row.department_id}", set()).add(row.channel)
    return found


@pytest.fixture
def dept(app):
    d = Department(name="工程维修部", robot_webhook="robot-key-gongcheng-1")
    db.session.add(d)
    db.session.commit()
    return d


@pytest.fixture
def people(make_user, dept):
    class People:
        resident = make_user(name="周杰", email="zj@example.com", sms_consent_at=NOW, wechat_openid="o-zj", wechat_consent_at=NOW)
        kefu = make_user(role=Role.STAFF, name="王敏", wecom_userid="WangMin")
        kefu2 = make_user(role=Role.STAFF, name="李娜", wecom_userid="LiNa")
        head = make_user(role=Role.HEAD, name="张强", department_id=dept.id, wecom_userid="ZhangQiang", email="zq@example.com")
        worker = make_user(role=Role.WORKER, name="赵师傅", department_id=dept.id, wecom_userid="ZhaoShifu")

    return People


def _online(p, **kw):
    ticket, _ = tickets.create(category=kw.pop("category", "repair"), channel="online", description="水管漏水", actor=p.resident, now=NOW,
                               resident=p.resident, unit=p.resident.residencies[0].unit, **kw)
    db.session.commit()
    return ticket


def test_a_residents_new_request_tells_customer_service_on_duty_in_app_and_on_wecom(people):
    ticket = _online(people)
    assert told("ticket_created") == {people.kefu.id: {Channel.WECOM}, people.kefu2.id: {Channel.WECOM}}
    assert told("ticket_registered") == {}  # the resident did it: nobody tells them what they just did
    created = ticket.events[0]
    assert {d.user_id for d in db.session.scalars(select(Delivery).where(Delivery.ticket_event_id == created.id))} == {people.kefu.id, people.kefu2.id}


def test_a_request_taken_on_the_hotline_tells_the_resident_its_number(people):
    ticket, _ = tickets.create(category="complaint", channel="hotline", description="噪音", actor=people.kefu, now=NOW, resident=people.resident,
                               unit=people.resident.residencies[0].unit)
    db.session.commit()
    assert told("ticket_registered") == {people.resident.id: {Channel.WECHAT, Channel.EMAIL}}  # WeChat first, SMS on standby
    note = db.session.scalar(select(Notification).where(Notification.kind == "ticket_registered"))
    assert note.title == f"已登记，编号 {ticket.number}" and note.link == f"/go/t{ticket.id}"
    assert told("ticket_created") == {}  # customer service took it themselves


def test_a_residents_message_goes_to_the_assignee_else_the_head_else_customer_service(people, dept):
    ticket = _online(people)
    tickets.resident_reply(ticket, "什么时候来？", people.resident, NOW)
    db.session.commit()
    assert set(told("ticket_message")) == {people.kefu.id, people.kefu2.id}  # no department yet
    tickets.transfer(ticket, dept, [], people.kefu, NOW)
    tickets.resident_reply(ticket, "我下午在家", people.resident, NOW + timedelta(minutes=1))
    db.session.commit()
    assert told("ticket_message") == {people.kefu.id: {Channel.WECOM}, people.kefu2.id: {Channel.WECOM}, people.head.id: {Channel.WECOM}}
    second = ticket.events[-1]
    assert {d.user_id for d in db.session.scalars(select(Delivery).where(Delivery.ticket_event_id == second.id))} == {people.head.id}
    tickets.assign_person(ticket, people.worker, people.head, NOW)
    step = tickets.resident_reply(ticket, "门禁密码 1234", people.resident, NOW + timedelta(minutes=2))
    db.session.commit()
    latest = {d.user_id for d in db.session.scalars(select(Delivery).where(Delivery.ticket_event_id == step.id))}
    assert latest == {people.worker.id}


def test_a_transfer_tells_the_heads_and_the_departments_group_robot_with_the_due_time(people, dept, make_user):
    other = Department(name="秩序维护部")
    db.session.add(other)
    db.session.commit()
    other_head = make_user(role=Role.HEAD, department_id=other.id, wecom_userid="LiuYang")
    ticket = _online(people)
    tickets.transfer(ticket, dept, [other], people.kefu, NOW)
    db.session.commit()
    assert told("ticket_transferred") == {people.head.id: {Channel.WECOM}, other_head.id: {Channel.WECOM}, f"robot{dept.id}": {Channel.WECOM_ROBOT}}
    robot = db.session.scalar(select(Delivery).where(Delivery.channel == Channel.WECOM_ROBOT))
    assert robot.subject == f"{ticket.number} 已转派至 工程维修部" and robot.address == "robot-key-gongcheng-1"


def test_an_assignment_tells_the_assignee_who_can_then_open_and_work_the_ticket(people, dept, client):
    ticket = _online(people)
    tickets.transfer(ticket, dept, [], people.kefu, NOW)
    db.session.commit()
    client.login(people.worker)
    assert client.get(f"/tickets/{ticket.id}").status_code == 404  # not yet theirs
    tickets.assign_person(ticket, people.worker, people.head, NOW)
    db.session.commit()
    assert told("ticket_assigned") == {people.worker.id: {Channel.WECOM}}
    assert client.get(f"/tickets/{ticket.id}").status_code == 200
    response = client.post(f"/tickets/{ticket.id}/progress", {"body": "已到现场", "expected_completion": ""})
    assert response.status_code == 302
    db.session.expire_all()
    assert ticket.events[-1].kind == EventKind.PROGRESS and ticket.events[-1].actor_id == people.worker.id


def test_an_hour_before_due_the_assignee_is_reminded_and_when_overdue_assignee_and_head(people, dept):
    ticket = _online(people)
    tickets.transfer(ticket, dept, [], people.kefu, NOW)
    tickets.assign_person(ticket, people.worker, people.head, NOW)
    db.session.commit()
    soon = ticket.due_at - timedelta(minutes=50)
    tickets.escalate(soon)
    db.session.commit()
    assert set(told("ticket_due_soon")) == {people.worker.id}
    tickets.escalate(soon + timedelta(minutes=5))  # once
    tickets.escalate(ticket.due_at + timedelta(minutes=1))
    db.session.commit()
    assert db.session.scalar(select(Notification.id).where(Notification.kind == "ticket_due_soon").offset(1)) is None
    assert told("ticket_overdue") == {people.worker.id: {Channel.WECOM}, people.head.id: {Channel.WECOM, Channel.EMAIL}}
    step = ticket.events[-1]
    assert step.kind == EventKind.ESCALATED and {t["name"] for t in step.data["told"]} == {"赵师傅", "张强"}


TITLES = {"ticket_progress": "{} 有新进展", "ticket_expected": "{}：预计 12-20 前完成", "ticket_on_hold": "{} 已暂停处理",
          "ticket_resumed": "{} 已恢复处理", "ticket_resolved": "{} 已处理完毕", "ticket_formal_reply": "{} 的书面答复",
          "ticket_rating_requested": "请评价 {} 的处理结果"}


@pytest.mark.parametrize("step, kind", [
    ("progress", "ticket_progress"), ("expected", "ticket_expected"), ("hold", "ticket_on_hold"), ("resume", "ticket_resumed"),
    ("resolve", "ticket_resolved"), ("formal_reply", "ticket_formal_reply"), ("feedback", "ticket_rating_requested"),
])
def test_each_step_the_resident_can_see_is_told_to_them(people, dept, step, kind):
    ticket = _online(people, category="complaint")
    tickets.transfer(ticket, dept, [], people.kefu, NOW)
    if step == "progress":
        tickets.progress(ticket, "已联系物业经理", None, people.head, NOW)
    elif step == "expected":
        tickets.progress(ticket, "等配件", date(2026, 12, 20), people.head, NOW)
    elif step in ("hold", "resume"):
        tickets.hold(ticket, "业主出差", people.head, NOW)
        if step == "resume":
            tickets.resume(ticket, people.head, NOW + timedelta(days=1))
    else:
        tickets.resolve(ticket, "已处理", people.head, NOW)
        if step in ("formal_reply", "feedback"):
            tickets.formal_reply(ticket, "经核查，……", people.kefu, NOW)
        if step == "feedback":
            tickets.feedback(ticket, "phone", people.kefu, NOW)
    db.session.commit()
    assert told(kind) == {people.resident.id: {Channel.WECHAT, Channel.EMAIL}}
    note = db.session.scalar(select(Notification).where(Notification.kind == kind))
    assert note.title == TITLES[kind].format(ticket.number) and note.user_id == people.resident.id


def test_internal_notes_and_transfers_tell_the_resident_nothing(people, dept):
    ticket = _online(people)
    tickets.transfer(ticket, dept, [], people.kefu, NOW)
    tickets.internal_note(ticket, "住户脾气急", people.kefu, NOW)
    db.session.commit()
    assert db.session.scalar(select(Notification.id).where(Notification.user_id == people.resident.id)) is None


def test_an_emergency_notice_reaches_every_resident_of_its_buildings_by_sms_at_night(people, make_user, make_building):
    from datetime import datetime, timezone

    building = people.resident.residencies[0].unit.building
    neighbour = make_user(building=building, sms_consent_at=NOW)
    elsewhere = make_user(building=make_building(), sms_consent_at=NOW)
    night = datetime(2026, 12, 8, 16, 0, tzinfo=timezone.utc)  # 00:00 in Shanghai
    notice = notices.Notice(title="3号楼燃气泄漏", body="请勿使用明火", category="emergency", is_community_wide=False, buildings=[building],
                            author_id=people.kefu.id, publish_at=night)
    db.session.add(notice)
    db.session.flush()
    notices.tell(notice, night)
    db.session.commit()
    assert fanout.run_jobs(night) == 2
    db.session.commit()
    rows = db.session.scalars(select(Delivery).where(Delivery.kind == "notice_emergency", Delivery.channel == Channel.SMS)).all()
    assert {r.user_id for r in rows} == {people.resident.id, neighbour.id}
    assert elsewhere.id not in told("notice_emergency")
    assert all(r.next_attempt_at == night and r.is_urgent for r in rows if r.status == DeliveryStatus.PENDING)
    assert {r.user_id for r in rows if r.status == DeliveryStatus.PENDING} == {people.resident.id, neighbour.id}
    # 周杰 reads WeChat first for everything else; an emergency goes on every channel at once
    assert told("notice_emergency")[people.resident.id] == {Channel.SMS, Channel.WECHAT, Channel.EMAIL}


def test_an_ordinary_notice_waits_for_the_morning_and_uses_no_sms_unless_chosen(people, make_user):
    from datetime import datetime, timezone

    building = people.resident.residencies[0].unit.building
    wants_sms = make_user(building=building, sms_consent_at=NOW, channels={"notices": "sms"})
    night = datetime(2026, 12, 8, 14, 0, tzinfo=timezone.utc)  # 22:00 in Shanghai
    notice = notices.Notice(title="停水通知", body="周六停水", category="maintenance", is_community_wide=True, author_id=people.kefu.id, publish_at=night)
    db.session.add(notice)
    db.session.flush()
    notices.tell(notice, night)
    db.session.commit()
    fanout.run_jobs(night)
    db.session.commit()
    assert told("notice_published")[people.resident.id] == {Channel.WECHAT, Channel.EMAIL}
    sms = db.session.scalar(select(Delivery).where(Delivery.kind == "notice_published", Delivery.channel == Channel.SMS))
    assert sms.user_id == wants_sms.id and sms.next_attempt_at == datetime(2026, 12, 9, 0, 0, tzinfo=timezone.utc)  # 08:00


def _event(staff, **kw):
    start = NOW + timedelta(days=10)
    return events.create(kind=kw.get("kind", EventType.CAMPAIGN), title="消防演练", description="", location="中心广场", starts_at=start,
                         ends_at=start + timedelta(hours=2), capacity=kw.get("capacity", 1), seats_per_household=1, signup_deadline=None,
                         buildings=[], actor=staff, now=NOW)


def test_an_event_changed_or_cancelled_tells_everyone_signed_up_or_waiting(people, make_user):
    event = _event(people.kefu)
    other = make_user(sms_consent_at=NOW)
    events.sign_up(event, people.resident, people.resident.residencies[0].unit, 1, NOW)
    waiting = events.sign_up(event, other, other.residencies[0].unit, 1, NOW)
    assert waiting.status == SignupStatus.WAITLISTED
    events.change(event, starts_at=event.starts_at + timedelta(hours=1), ends_at=event.ends_at + timedelta(hours=1), location="会所",
                  reason="广场施工", actor=people.kefu, now=NOW)
    events.cancel_event(event, "台风预警", people.kefu, NOW)
    db.session.commit()
    assert set(told("event_changed")) == {people.resident.id, other.id}
    assert set(told("event_cancelled")) == {people.resident.id, other.id}
    assert event.sequence == 2
    note = db.session.scalar(select(Notification).where(Notification.kind == "event_changed", Notification.user_id == other.id))
    from portal.i18n import to_local

    assert note.body == f"消防演练 改为 {to_local(event.starts_at):%m-%d %H:%M} 在 会所 举行。广场施工"


def test_a_freed_place_and_the_reminder_tell_those_signed_up(people, make_user):
    event = _event(people.kefu)
    other = make_user(sms_consent_at=NOW)
    first = events.sign_up(event, people.resident, people.resident.residencies[0].unit, 1, NOW)
    events.sign_up(event, other, other.residencies[0].unit, 1, NOW)
    events.cancel(first, NOW)
    db.session.commit()
    assert set(told("event_promoted")) == {other.id}
    events.remind_due(event.starts_at - timedelta(hours=20))
    db.session.commit()
    assert set(told("event_reminder")) == {other.id}


def test_a_consultation_tells_owners_and_reminds_those_who_have_not_answered(people, make_user, make_building):
    building = people.resident.residencies[0].unit.building
    answered = make_user(units=[building.units[1]], sms_consent_at=NOW)  # another household
    tenant = make_user(building=building)
    tenant.residencies[0].is_owner = False
    elsewhere = make_user(building=make_building())
    db.session.commit()
    consultation = consultations.create("电梯更新", "使用维修资金更新电梯", ["同意", "不同意"], NOW + timedelta(days=7), [building], people.kefu, NOW)
    db.session.commit()
    fanout.run_jobs(NOW)
    db.session.commit()
    assert set(told("consultation_opened")) == {people.resident.id, answered.id}
    assert tenant.id not in told("consultation_opened") and elsewhere.id not in told("consultation_opened")
    consultations.answer(consultation, answered, answered.residencies[0].unit, consultation.options[0].id, NOW)
    db.session.commit()
    consultations.remind_closing(consultation.deadline - timedelta(hours=20))
    db.session.commit()
    fanout.run_jobs(NOW)
    db.session.commit()
    assert set(told("consultation_closing")) == {people.resident.id}


def test_the_timeline_never_says_someone_was_told_when_nothing_was_queued(people, client, make_user):
    lonely = Department(name="绿化部")
    db.session.add(lonely)
    db.session.commit()
    ticket = _online(people)
    ticket.is_urgent = True
    ticket.response_due_at = NOW
    tickets.transfer(ticket, lonely, [], people.kefu, NOW)  # a department without a head
    db.session.commit()
    for person in (people.kefu, people.kefu2):  # and nobody at the desk with 企业微信 either
        person = db.session.get(type(person), person.id)
        person.wecom_userid = None
    db.session.commit()
    tickets.escalate(NOW + timedelta(minutes=40))
    db.session.commit()
    step = [e for e in ticket.events if e.kind == EventKind.ESCALATED][0]
    assert all(not t["channels"] for t in step.data["told"])
    client.login(people.kefu)
    page = client.get(f"/tickets/{ticket.id}").get_data(as_text=True)
    assert texts_of(page, ".timeline [data-told=nobody]") == ["无人能通过消息收到通知：请致电该部门。"]


def test_a_resident_with_no_channel_still_sees_everything_in_app_and_staff_are_warned(make_user, client):
    staff = make_user(role=Role.STAFF)
    lone = make_user(name="孤老人", email=None)  # no consent to SMS, no WeChat, no email
    ticket, _ = tickets.create(category=TicketCategory.REPAIR, channel="walk_in", description="灯坏了", actor=staff, now=NOW, resident=lone,
                               unit=lone.residencies[0].unit)
    tickets.progress(ticket, "明天上门", None, staff, NOW)
    db.session.commit()
    assert db.session.scalar(select(Delivery.id).where(Delivery.user_id == lone.id)) is None
    assert {n.kind for n in db.session.scalars(select(Notification).where(Notification.user_id == lone.id))} == {"ticket_registered", "ticket_progress"}
    client.login(staff)
    page = client.get(f"/tickets/{ticket.id}").get_data(as_text=True)
    assert text_of(page, "main > p.flash-error[role=alert]") == (
        f"无法通过短信或微信联系 孤老人（无手机号码、未同意或未绑定），对方只能在平台内看到进展。请致电联系。 {lone.phone}")
