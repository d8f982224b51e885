import threading
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from portal import database
from portal.extensions import db
from portal.models import (
    Department,
    EventKind,
    Channel,
    Delivery,
    Role,
    Ticket,
    TicketCategory,
    TicketChannel,
    TicketEvent,
    TicketStatus,
    utcnow,
)
from portal.services import settings, tickets, workdays
from portal.services.tickets import TicketError

NOW = datetime(2026, 5, 4, 2, 0, tzinfo=timezone.utc)
SHANGHAI = timezone(timedelta(hours=8))


@pytest.fixture
def resident(make_user):
    return make_user(email="r@example.com")


@pytest.fixture
def staff(make_user):
    return make_user(role=Role.STAFF)


@pytest.fixture
def dept():
    d = Department(name="工程维修部")
    db.session.add(d)
    db.session.commit()
    return d


def _new(resident, category="repair", now=NOW, **kw):
    ticket, _ = tickets.create(
        category=category, channel=TicketChannel.ONLINE, description="卫生间漏水", actor=resident, now=now,
        resident=resident, unit=resident.residencies[0].unit, **kw,
    )
    db.session.commit()
    return ticket


def test_numbers_per_category_and_year(resident):
    assert _new(resident, "repair").number == "BX-2026-0001"
    assert _new(resident, "repair").number == "BX-2026-0002"
    assert _new(resident, "complaint").number == "TS-2026-0001"
    assert _new(resident, "inquiry").number == "ZX-2026-0001"
    assert _new(resident, "suggestion").number == "JY-2026-0001"
    assert _new(resident, "praise").number == "BY-2026-0001"
    assert _new(resident, "repair", now=datetime(2027, 1, 1, 1, tzinfo=timezone.utc)).number == "BX-2027-0001"


def test_the_year_is_the_communitys(resident):
    # 2026-12-31 17:00 UTC is already 2027-01-01 01:00 in Shanghai
    assert _new(resident, now=datetime(2026, 12, 31, 17, tzinfo=timezone.utc)).number == "BX-2027-0001"


def test_reclassifying_renumbers_keeps_the_old_number_as_an_alias_and_tells_the_resident(resident, staff):
    from portal import search
    from portal.models import Notification

    _new(resident, "complaint")  # TS-2026-0001 is taken
    ticket = _new(resident, "inquiry")
    assert ticket.number == "ZX-2026-0001"
    tickets.reclassify(ticket, "complaint", staff, NOW)
    db.session.commit()
    assert ticket.number == "TS-2026-0002" and ticket.category == TicketCategory.COMPLAINT and ticket.reclassified_count == 1
    assert [a.number for a in ticket.aliases] == ["ZX-2026-0001"]
    event = ticket.events[-1]
    assert event.kind == EventKind.CLASSIFIED and event.actor_id == staff.id
    assert event.data == {"from": "inquiry", "to": "complaint", "from_number": "ZX-2026-0001", "to_number": "TS-2026-0002"}
    # the old number still finds it, and the next inquiry does not take it again
    assert db.session.scalars(select(Ticket.id).where(search.matches(Ticket, "ZX-2026-0001"))).all() == [ticket.id]
    assert tickets.by_number("zx-2026-0001") is ticket and tickets.by_number("TS-2026-0002") is ticket
    assert _new(resident, "inquiry").number == "ZX-2026-0002"
    told = db.session.scalars(select(Notification.body).where(Notification.user_id == resident.id, Notification.object_id == ticket.id)).all()
    assert told == ["TS-2026-0002：您的诉求已改按投诉处理，新编号为 TS-2026-0002（原编号 ZX-2026-0001）。"]
    # moved back, it takes the next inquiry number: numbers are never given twice
    tickets.reclassify(ticket, "inquiry", staff, NOW)
    db.session.commit()
    assert ticket.number == "ZX-2026-0003" and [a.number for a in ticket.aliases] == ["ZX-2026-0001", "TS-2026-0002"]


def test_due_time_comes_from_the_policy_settings(resident, staff):
    settings.update({"due_hours.repair.normal": 10, "due_hours.repair.urgent": 1}, staff)
    db.session.commit()
    # NOW is 10:00 on 4 May 2026, within the Labour Day holiday: ten working hours are Wednesday's
    # nine (08:30 to 17:30) and Thursday's first hour
    assert _new(resident).due_at == datetime(2026, 5, 7, 9, 30, tzinfo=SHANGHAI)
    urgent = _new(resident, is_urgent=True)
    assert urgent.due_at == NOW + timedelta(hours=1)
    assert urgent.response_due_at == NOW + timedelta(minutes=30)


def test_transfer_records_who_when_and_a_changed_due_time_needs_a_reason(resident, staff, dept):
    ticket = _new(resident)
    with pytest.raises(TicketError):
        tickets.transfer(ticket, dept, [], staff, NOW, due_at=NOW + timedelta(hours=3))
    db.session.rollback()
    ticket = db.session.get(Ticket, ticket.id)
    tickets.transfer(ticket, dept, [], staff, NOW + timedelta(minutes=5), due_at=NOW + timedelta(hours=3), due_reason="住户下午外出")
    db.session.commit()
    assert ticket.status == TicketStatus.ASSIGNED and ticket.assigned_by_id == staff.id
    assert ticket.assigned_at == NOW + timedelta(minutes=5) and ticket.due_at == NOW + timedelta(hours=3)
    assert [e.kind for e in ticket.events][-2:] == [EventKind.DUE_CHANGED, EventKind.TRANSFERRED]
    assert ticket.events[-2].is_internal and not ticket.events[-1].is_internal


def test_hold_stops_the_due_clock(resident, staff):
    monday = datetime(2026, 5, 11, 10, 0, tzinfo=SHANGHAI)
    ticket = _new(resident, now=monday)
    due = ticket.due_at
    tickets.hold(ticket, "等待配件", staff, monday + timedelta(hours=1))
    assert not ticket.is_overdue(monday + timedelta(days=30))
    tickets.resume(ticket, staff, monday + timedelta(hours=6))
    db.session.commit()
    assert ticket.due_at == workdays.add_working_hours(due, 5)  # five working hours on hold
    assert ticket.status == TicketStatus.NEW


def test_a_complaint_cannot_close_without_its_formal_reply(resident, staff):
    ticket = _new(resident, "complaint")
    tickets.resolve(ticket, "已整改", staff, NOW)
    with pytest.raises(TicketError):
        tickets.feedback(ticket, "phone", staff, NOW)
    with pytest.raises(TicketError):
        tickets.close(ticket, staff, NOW)
    tickets.formal_reply(ticket, "经核查，已责令整改。", staff, NOW)
    tickets.feedback(ticket, "written", staff, NOW)
    tickets.rate(ticket, 4, "", True, resident, NOW)
    db.session.commit()
    assert ticket.status == TicketStatus.CLOSED and ticket.formal_reply_sha256


def test_not_resolved_reopens_and_resolved_closes(resident, staff, dept):
    ticket = _new(resident)
    tickets.transfer(ticket, dept, [], staff, NOW)
    tickets.resolve(ticket, "已修好", staff, NOW)
    tickets.feedback(ticket, "sms", staff, NOW)
    tickets.rate(ticket, 2, "还是漏", False, resident, NOW + timedelta(hours=1))
    assert ticket.status == TicketStatus.ASSIGNED and ticket.reopened_count == 1 and ticket.resolved_at is None
    tickets.resolve(ticket, "更换了管件", staff, NOW + timedelta(hours=2))
    tickets.feedback(ticket, "phone", staff, NOW + timedelta(hours=2))
    tickets.rate(ticket, 5, "", True, staff, NOW + timedelta(hours=3), by_staff=True)
    db.session.commit()
    assert ticket.status == TicketStatus.CLOSED and ticket.rating == 5
    kinds = [e.kind for e in ticket.events]
    assert kinds.count(EventKind.REOPENED) == 1 and kinds[-1] == EventKind.CLOSED


def test_rating_needs_the_result_first(resident):
    ticket = _new(resident)
    with pytest.raises(TicketError):
        tickets.rate(ticket, 5, "", True, resident, NOW)


def test_unrated_tickets_close_by_themselves_after_the_policy_days(resident, staff):
    ticket = _new(resident)
    tickets.resolve(ticket, "好了", staff, NOW)
    tickets.feedback(ticket, "phone", staff, NOW)
    db.session.commit()
    assert tickets.close_unrated(NOW + timedelta(days=6)) == 0
    assert tickets.close_unrated(NOW + timedelta(days=7)) == 1
    db.session.commit()
    assert ticket.status == TicketStatus.CLOSED and ticket.events[-1].data == {"automatic": True}


def test_a_complaint_without_its_formal_reply_does_not_stop_the_others_closing(resident, staff):
    """A complaint given its result before it was reclassified as one (or imported so) waits for its
    formal reply; the worker closes the other unrated tickets around it."""
    complaint, repair = _new(resident), _new(resident)
    for ticket in (complaint, repair):
        tickets.resolve(ticket, "好了", staff, NOW)
        tickets.feedback(ticket, "phone", staff, NOW)
    complaint.category = TicketCategory.COMPLAINT  # no formal reply yet
    db.session.commit()
    assert tickets.close_unrated(NOW + timedelta(days=7)) == 1
    db.session.commit()
    assert (complaint.status, repair.status) == (TicketStatus.FEEDBACK_GIVEN, TicketStatus.CLOSED)


def test_emergency_breach_and_overdue_are_escalated_to_the_head_once(resident, staff, dept, make_user):
    head = make_user(role=Role.HEAD, department_id=dept.id, email="head@example.com")
    urgent = _new(resident, is_urgent=True)
    tickets.transfer(urgent, dept, [], staff, NOW)
    db.session.commit()
    assert tickets.escalate(NOW + timedelta(minutes=29)) == 0
    assert tickets.escalate(NOW + timedelta(minutes=31)) == 1
    db.session.commit()
    assert tickets.escalate(NOW + timedelta(minutes=40)) == 0
    assert tickets.escalate(NOW + timedelta(hours=3)) == 1  # now also past its due time
    db.session.commit()
    mails = db.session.scalars(select(Delivery).where(Delivery.channel == Channel.EMAIL, Delivery.address == head.email)).all()
    assert len(mails) == 2 and urgent.number in mails[0].subject


def test_a_recorded_call_is_the_emergency_response(resident, staff, dept):
    urgent = _new(resident, is_urgent=True)
    tickets.record_call(urgent, "张强 13900000003", NOW + timedelta(minutes=10), staff, NOW + timedelta(minutes=11))
    db.session.commit()
    assert urgent.responded_at == NOW + timedelta(minutes=10)
    assert tickets.escalate(NOW + timedelta(minutes=45)) == 0


def test_the_timeline_is_append_only_with_actor_and_time(resident, staff, dept):
    ticket = _new(resident)
    tickets.transfer(ticket, dept, [], staff, NOW)
    tickets.progress(ticket, "已派人", None, staff, NOW)
    tickets.internal_note(ticket, "住户脾气急", staff, NOW)
    tickets.resolve(ticket, "已修好", staff, NOW)
    db.session.commit()
    events = db.session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id)).all()
    assert [e.kind for e in events] == [EventKind.CREATED, EventKind.TRANSFERRED, EventKind.PROGRESS, EventKind.INTERNAL_NOTE, EventKind.RESOLVED]
    assert [e.actor_id for e in events] == [resident.id, staff.id, staff.id, staff.id, staff.id]
    assert all(e.created_at == NOW for e in events)
    assert events[3].is_internal


def test_the_resident_is_emailed_at_each_step_they_can_see(resident, staff, dept):
    ticket = _new(resident)
    tickets.transfer(ticket, dept, [], staff, NOW)
    tickets.progress(ticket, "师傅已出发", None, staff, NOW)
    tickets.internal_note(ticket, "内部", staff, NOW)
    tickets.resolve(ticket, "已修好", staff, NOW)
    db.session.commit()
    subjects = db.session.scalars(
        select(Delivery.subject).where(Delivery.channel == Channel.EMAIL, Delivery.address == "r@example.com").order_by(Delivery.id)
    ).all()
    assert len(subjects) == 2 and all(ticket.number in s for s in subjects)


def test_the_same_idempotency_key_registers_once(resident):
    first = _new(resident, idempotency_key="abc")
    second = _new(resident, idempotency_key="abc")
    assert first.id == second.id
    assert db.session.scalar(select(func.count(Ticket.id))) == 1


def test_fifty_tickets_registered_at_once_get_fifty_different_numbers(concurrent_app):
    from portal.models import Building, Residency, Unit, User

    with concurrent_app.app_context():
        building = Building(name="1号楼", units=[Unit(number="1-101")])
        user = User(name="周杰", phone="13800000001", role=Role.RESIDENT)
        user.residencies.append(Residency(unit=building.units[0]))
        db.session.add_all([building, user])
        db.session.commit()
        user_id = user.id
    errors = []
    barrier = threading.Barrier(50)

    def register(i):
        try:
            with concurrent_app.app_context():
                barrier.wait()
                database.begin_write(db.session)
                resident = db.session.get(User, user_id)
                tickets.create(
                    category="repair", channel="online", description=f"第{i}个", actor=resident, now=utcnow(),
                    resident=resident, unit=resident.residencies[0].unit,
                )
                db.session.commit()
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=register, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with concurrent_app.app_context():
        numbers = db.session.scalars(select(Ticket.number)).all()
        year = numbers[0].split("-")[1]
        assert sorted(numbers) == [f"BX-{year}-{n:04d}" for n in range(1, 51)]


# What the ticket page offers, state by state (the likely next step first)

EVERYTHING = dict.fromkeys(("transfer", "assign", "progress", "resume", "hold", "resolve", "note", "urgency", "classify",
                            "formal_reply", "feedback", "callback"), True)


@pytest.mark.parametrize(("status", "category", "expected_next", "also", "never"), [
    (TicketStatus.NEW, "repair", "transfer", ["progress", "classify", "urgency", "note", "hold", "resolve"],
     {"resume", "feedback", "callback", "formal_reply", "assign"}),
    (TicketStatus.ASSIGNED, "repair", "assign", ["progress", "resolve", "hold", "note", "urgency", "transfer", "classify"],
     {"resume", "feedback", "callback"}),
    (TicketStatus.IN_PROGRESS, "repair", "resolve", ["progress", "hold", "note", "urgency", "transfer", "classify", "assign"],
     {"resume", "feedback", "callback"}),
    (TicketStatus.ON_HOLD, "repair", "resume", ["note", "progress", "transfer", "classify", "urgency"], {"hold", "resolve", "feedback", "callback"}),
    (TicketStatus.RESOLVED, "repair", "feedback", ["note"], {"formal_reply", "resolve", "progress", "callback"}),
    (TicketStatus.RESOLVED, "complaint", "formal_reply", ["feedback", "note"], {"resolve", "callback"}),
    (TicketStatus.FEEDBACK_GIVEN, "repair", "callback", ["note"], {"feedback", "resolve", "formal_reply"}),
    (TicketStatus.CLOSED, "repair", "note", [], {"callback", "feedback", "resolve", "transfer", "classify"}),
])
def test_each_state_offers_its_valid_steps_the_likely_next_first(resident, dept, status, category, expected_next, also, never):
    ticket = _new(resident, category)
    ticket.status = status
    ticket.lead_department_id = dept.id if status != TicketStatus.NEW else None
    first, more = tickets.offered_steps(ticket, EVERYTHING)
    assert first == expected_next
    assert more == also and not (never & {first, *more})  # the rest, in the order they are offered


def test_what_a_person_may_not_do_is_not_offered(resident):
    ticket = _new(resident)
    first, more = tickets.offered_steps(ticket, {**dict.fromkeys(EVERYTHING, False), "note": True, "progress": True})
    assert (first, more) == ("progress", ["note"])
    assert tickets.offered_steps(ticket, dict.fromkeys(EVERYTHING, False)) == (None, [])


def test_an_issued_formal_reply_is_no_longer_the_next_step(resident):
    ticket = _new(resident, "complaint")
    ticket.status, ticket.formal_reply_at = TicketStatus.RESOLVED, NOW
    assert tickets.offered_steps(ticket, EVERYTHING) == ("feedback", ["note", "formal_reply"])
