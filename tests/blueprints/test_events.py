import threading
from datetime import datetime, timedelta, timezone

import pytest
from icalendar import Calendar
from sqlalchemy import func, select

from portal import database
from portal.extensions import db
from portal.i18n import from_local
from portal.models import Channel, Delivery, Event, EventSignup, EventType, Notice, Role, SignupStatus, Ticket, TicketChannel, utcnow
from portal.services import events
from portal.services.events import EventError
from tests.conftest import PortalClient
from tests.markup import element, elements, rows_of, text_of, texts_of


def _saturday(weeks=3, hour=9):
    today = datetime.now(timezone.utc).date()
    day = today + timedelta(days=(5 - today.weekday()) % 7 + 7 * weeks)
    return from_local(datetime(day.year, day.month, day.day, hour))


def _event(staff, capacity=2, kind=EventType.ACTIVITY, buildings=(), seats=1, start=None):
    start = start or _saturday()
    event = events.create(kind=kind, title="亲子手工", description="", location="中心广场", starts_at=start, ends_at=start + timedelta(hours=2),
                          capacity=capacity, seats_per_household=seats, signup_deadline=None, buildings=list(buildings), actor=staff, now=utcnow())
    db.session.commit()
    return event


def test_policy_checks_for_forums_and_activities(make_user):
    staff = make_user(role=Role.STAFF)
    now = utcnow()
    tuesday_morning = from_local(datetime.combine((now + timedelta(days=2)).date(), datetime.min.time()) + timedelta(hours=10))
    breaches = events.policy_breaches(EventType.FORUM, tuesday_morning, tuesday_morning + timedelta(hours=1), now)
    weekday = tuesday_morning.astimezone(timezone(timedelta(hours=8))).weekday() < 5
    # too soon, too short, and a weekday unless it happens to be a weekend
    assert breaches == ["提前通知不足 7 天", *(["座谈会应安排在周末或节假日"] if weekday else []), "时长不足 2 小时"]
    with pytest.raises(EventError):
        events.create(kind=EventType.FORUM, title="座谈会", description="", location="", starts_at=tuesday_morning,
                      ends_at=tuesday_morning + timedelta(hours=1), capacity=None, seats_per_household=1, signup_deadline=None,
                      buildings=[], actor=staff, now=now)
    ok = _saturday()
    assert events.policy_breaches(EventType.FORUM, ok, ok + timedelta(hours=2), now) == []
    evening = _saturday(hour=19) - timedelta(days=3)  # a Wednesday evening
    assert events.policy_breaches(EventType.ACTIVITY, evening, evening + timedelta(hours=2), now) == []
    assert events.policy_breaches(EventType.FORUM, evening, evening + timedelta(hours=2), now) == ["座谈会应安排在周末或节假日"]
    # a stated reason lets it go ahead, and is kept
    event = events.create(kind=EventType.FORUM, title="临时座谈会", description="", location="", starts_at=tuesday_morning,
                          ends_at=tuesday_morning + timedelta(hours=1), capacity=None, seats_per_household=1, signup_deadline=None,
                          buildings=[], actor=staff, now=now, exception_reason="电梯故障紧急沟通")
    assert event.policy_exception == "电梯故障紧急沟通"


def test_a_forum_announces_itself_on_the_notice_board(make_user):
    staff = make_user(role=Role.STAFF)
    forum = _event(staff, kind=EventType.FORUM)
    notice = db.session.get(Notice, forum.notice_id)
    assert notice is not None and notice.title == "业主座谈会：亲子手工" and notice.is_current(utcnow()) and notice.is_pinned


def test_waitlist_promotes_in_order_when_a_household_cancels(make_user, make_building):
    staff = make_user(role=Role.STAFF)
    event = _event(staff, capacity=2)
    people = [make_user() for _ in range(4)]
    signups = [events.sign_up(event, p, p.residencies[0].unit, 1, utcnow() + timedelta(seconds=i)) for i, p in enumerate(people)]
    db.session.commit()
    assert [s.status for s in signups] == [SignupStatus.CONFIRMED] * 2 + [SignupStatus.WAITLISTED] * 2
    promoted = events.cancel(signups[0], utcnow())
    db.session.commit()
    assert promoted == [signups[2]] and signups[3].status == SignupStatus.WAITLISTED
    assert events.sign_up(event, people[1], people[1].residencies[0].unit, 1, utcnow()) is signups[1]  # twice: once


def test_seats_per_household_are_enforced(make_user):
    staff = make_user(role=Role.STAFF)
    event = _event(staff, capacity=10, seats=2)
    resident = make_user()
    with pytest.raises(EventError):
        events.sign_up(event, resident, resident.residencies[0].unit, 3, utcnow())


def test_fifty_households_signing_up_at_once_for_ten_seats_get_exactly_ten(concurrent_app):
    from portal.models import Building, Residency, Unit, User

    with concurrent_app.app_context():
        building = Building(name="1号楼", units=[Unit(number=f"1-{i:03d}") for i in range(50)])
        staff = User(name="王敏", username="kefu", role=Role.STAFF)
        people = [User(name=f"住户{i}", phone=f"1380000{i:04d}", role=Role.RESIDENT) for i in range(50)]
        for person, unit in zip(people, building.units):
            person.residencies.append(Residency(unit=unit))
        db.session.add_all([building, staff, *people])
        db.session.commit()
        start = _saturday()
        event = events.create(kind=EventType.CAMPAIGN, title="义诊", description="", location="", starts_at=start, ends_at=start + timedelta(hours=2),
                              capacity=10, seats_per_household=1, signup_deadline=None, buildings=[], actor=staff, now=utcnow())
        db.session.commit()
        event_id, ids = event.id, [p.id for p in people]
    errors, barrier = [], threading.Barrier(50)

    def sign(user_id):
        try:
            with concurrent_app.app_context():
                barrier.wait()
                database.begin_write(db.session)
                user = db.session.get(User, user_id)
                events.sign_up(db.session.get(Event, event_id), user, user.residencies[0].unit, 1, utcnow())
                db.session.commit()
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=sign, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with concurrent_app.app_context():
        counts = dict(db.session.execute(select(EventSignup.status, func.count()).where(EventSignup.event_id == event_id).group_by(EventSignup.status)).all())
        assert counts == {SignupStatus.CONFIRMED: 10, SignupStatus.WAITLISTED: 40}


def test_resident_signs_up_cancels_and_downloads_an_ics_calendars_can_read(client, make_user):
    staff = make_user(role=Role.STAFF)
    event = _event(staff, capacity=5)
    resident = make_user()
    client.login(resident)
    assert client.post(f"/events/{event.id}/signup", {"seats": "1"}).status_code == 302
    assert client.post(f"/events/{event.id}/signup", {"seats": "1"}).status_code == 302  # twice: once
    assert db.session.scalar(select(func.count(EventSignup.id))) == 1
    ics = client.get(f"/events/{event.id}/event.ics")
    cal = Calendar.from_ical(ics.data)
    item = next(iter(cal.walk("VEVENT")))
    assert str(item["summary"]) == "亲子手工" and item.decoded("dtstart") == event.starts_at
    assert client.post(f"/events/{event.id}/cancel").status_code == 302
    db.session.expire_all()
    assert db.session.scalar(select(EventSignup.status)) == SignupStatus.CANCELLED


def test_forged_seats_events_and_buildings_are_refused(client, make_user, make_building):
    staff = make_user(role=Role.STAFF)
    a, b = make_building(), make_building()
    event = _event(staff, buildings=[b])
    client.login(make_user(building=a))
    assert client.get(f"/events/{event.id}").status_code == 404
    assert client.post(f"/events/{event.id}/signup", {"seats": "1"}).status_code == 404
    assert client.post("/events/99999/signup", {"seats": "1"}).status_code == 404
    assert "亲子手工" not in client.get("/events/").get_data(as_text=True)
    open_event = _event(staff, capacity=3, seats=1)
    assert [a.get("href") for a in elements(client.get("/events/"), "#event-list li.ticket a")] == [f"/events/{open_event.id}"]
    response = client.post(f"/events/{open_event.id}/signup", {"seats": "5"})
    assert response.status_code == 422 and text_of(response, "#seats-error") == "每户可报 1 至 1 个名额。"
    assert db.session.scalar(select(func.count(EventSignup.id))) == 0


def test_reminders_attendance_sheet_feedback_and_minutes(client, make_user, tmp_path):
    import shutil
    import subprocess

    staff = make_user(role=Role.STAFF)
    resident = make_user(email="r@example.com", name="周杰")
    start = utcnow() + timedelta(hours=5)
    forum = events.create(kind=EventType.FORUM, title="业主座谈会", description="", location="会议室", starts_at=start, ends_at=start + timedelta(hours=2),
                          capacity=10, seats_per_household=1, signup_deadline=None, buildings=[], actor=staff, now=utcnow(), exception_reason="测试")
    signup = events.sign_up(forum, resident, resident.residencies[0].unit, 1, utcnow())
    db.session.commit()
    assert events.remind_due(utcnow()) == 1 and events.remind_due(utcnow()) == 0
    db.session.commit()
    assert db.session.scalar(select(func.count(Delivery.id)).where(Delivery.kind == "event_reminder", Delivery.channel == Channel.EMAIL)) == 1
    client.login(staff)
    client.post(f"/events/{forum.id}/attendance", {"attended": str(signup.id)})
    db.session.expire_all()
    assert db.session.get(EventSignup, signup.id).attended is True
    sheet = client.get(f"/events/{forum.id}/sign-in-sheet.pdf")
    if shutil.which("pdftotext"):
        path = tmp_path / "s.pdf"
        path.write_bytes(sheet.data)
        text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
        assert "签到表" in text and "周杰" in text
    client.post(f"/events/{forum.id}/minutes", {"minutes": "会议纪要：讨论了电梯更新。"})
    forum = db.session.get(Event, forum.id)
    forum.starts_at = utcnow() - timedelta(hours=3)
    db.session.commit()
    other = PortalClient(client.app)
    other.login(resident)
    assert "会议纪要：讨论了电梯更新。" in other.get(f"/events/{forum.id}").get_data(as_text=True)
    assert other.post(f"/events/{forum.id}/feedback", {"category": "suggestion", "text": "希望多开几次"}).status_code == 302
    ticket = db.session.scalar(select(Ticket).where(Ticket.channel == TicketChannel.EVENT_FEEDBACK))
    assert ticket.event_id == forum.id and ticket.number.startswith("JY-")


def test_calendar_shows_months_without_an_activity_and_quarters_without_a_forum(client, make_user):
    staff = make_user(role=Role.STAFF)
    start = _saturday(weeks=5)
    _event(staff, kind=EventType.ACTIVITY, start=start)
    client.login(staff)
    year = start.astimezone(timezone(timedelta(hours=8))).year
    months, quarters = events.calendar(year)
    month = start.astimezone(timezone(timedelta(hours=8))).month
    assert [m for m, items in months.items() if items] == [month]
    assert list(quarters) == [1, 2, 3, 4] and all(not items for items in quarters.values())
    page = client.get(f"/events/calendar?year={year}")
    assert page.status_code == 200
    assert rows_of(page, "section:nth-of-type(1) tr") == [[f"第 {q} 季度", "本季度未召开座谈会"] for q in range(1, 5)]
    activity = rows_of(page, "section:nth-of-type(2) tr")
    assert [row[0] for row in activity] == [f"{m} 月" for m in range(1, 13)]
    assert [m for m, (_label, shown) in enumerate(activity, 1) if shown != "本月无活动"] == [month]
    assert activity[month - 1][1].startswith("亲子手工 ")
    assert [tr.get("class") for tr in elements(page, "section:nth-of-type(2) tr")] == ["overdue"] * (month - 1) + [""] + ["overdue"] * (12 - month)


def test_events_page_fragment_and_statement_count(app, client, make_user):
    from tests.blueprints.test_tickets import _count

    staff = make_user(role=Role.STAFF)
    for _ in range(3):
        _event(staff)
    client.login(make_user())
    response = client.get("/events/", headers={"HX-Request": "true"})
    assert "<html" not in response.get_data(as_text=True) and "HX-Request" in response.headers["Vary"]
    assert len(texts_of(client.get("/events/"), "#event-list li.ticket .title")) == 3
    assert _count(app, lambda: client.get("/events/")) == 1
    for _ in range(20):
        _event(staff)
    assert len(texts_of(client.get("/events/"), "#event-list li.ticket .title")) == 23
    assert _count(app, lambda: client.get("/events/")) == 1


def test_staff_edit_move_and_cancel_an_event_and_the_calendars_follow(client, make_client, make_user):
    from portal.i18n import to_local_input
    from portal.models import Notification

    staff_user = make_user(role=Role.STAFF)
    event = _event(staff_user, capacity=1)
    first, second = make_user(), make_user()
    for person in (first, second):
        client.login(person)
        assert client.post(f"/events/{event.id}/signup", {"seats": "1"}).status_code == 302
        client.logout()
    client.login(first)

    def calendar_item():
        item = next(iter(Calendar.from_ical(client.get(f"/events/{event.id}/event.ics").data).walk("VEVENT")))
        return str(item["uid"]), int(item["sequence"]), str(item["status"]), item.decoded("dtstart"), str(item["summary"])

    uid, sequence, status, _start, _title = calendar_item()
    assert (sequence, status) == (0, "CONFIRMED")
    staff = make_client()
    staff.login(staff_user)
    later = event.starts_at + timedelta(days=7)
    form = {"title": "亲子手工（改期）", "description": "带上剪刀和胶水", "capacity": "2", "location": "会所二楼",
            "starts_at": to_local_input(later).strftime("%Y-%m-%dT%H:%M"), "ends_at": to_local_input(later + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"),
            "reason": "广场施工，改到下周"}
    # bad input: a clear error and the form keeps what was typed
    page = staff.post(f"/events/{event.id}/change", {**form, "capacity": "0"})
    assert page.status_code == 422 and element(page, "input#location").get("value") == "会所二楼"
    assert text_of(page, "#capacity-error") == "数值大小必须介于 1 到 100000 之间。"
    assert staff.post(f"/events/{event.id}/change", form).status_code == 302
    db.session.expire_all()
    assert calendar_item() == (uid, 1, "CONFIRMED", later, "亲子手工（改期）")  # the same UID: calendars replace their copy
    told = db.session.scalars(select(Notification.user_id).where(Notification.kind == "event_changed")).all()
    assert sorted(told) == sorted([first.id, second.id])  # the waitlisted hear of it too
    # the second place moved the waitlisted household up
    assert db.session.scalars(select(EventSignup.status).order_by(EventSignup.id)).all() == [SignupStatus.CONFIRMED, SignupStatus.CONFIRMED]
    assert staff.post(f"/events/{event.id}/cancel-event", {"reason": "台风预警"}).status_code == 302
    db.session.expire_all()
    uid_after, sequence, status, _start, _title = calendar_item()
    assert (uid_after, sequence, status) == (uid, 2, "CANCELLED")
    assert sorted(db.session.scalars(select(Notification.user_id).where(Notification.kind == "event_cancelled"))) == sorted([first.id, second.id])
    # nobody else may change it
    assert client.post(f"/events/{event.id}/change", form).status_code == 404
