"""Events and meetings at the service level: the policy's notice period, day and duration (S4.3),
sign-ups per household with a fair waitlist, deadlines, changes and cancellations and who hears of
them, reminders, attendance, feedback into the register, minutes and the yearly calendar."""
from datetime import datetime, timedelta, timezone

import pytest
from flask_babel import force_locale
from sqlalchemy import func, select

from portal import permissions
from portal.extensions import db
from portal.models import (
    Event,
    EventSignup,
    EventType,
    Notice,
    NoticeCategory,
    Notification,
    Role,
    SignupStatus,
    TicketCategory,
    TicketChannel,
)
from portal.services import events, settings
from portal.services.events import EventError

SHANGHAI = timezone(timedelta(hours=8))
NOW = datetime(2026, 11, 2, 10, 0, tzinfo=SHANGHAI)  # a Monday
SATURDAY = datetime(2026, 11, 21, 9, 0, tzinfo=SHANGHAI)  # nineteen days later
WEDNESDAY = datetime(2026, 11, 18, 10, 0, tzinfo=SHANGHAI)


@pytest.fixture(autouse=True)
def english(app):
    with force_locale("en"):
        yield


@pytest.fixture
def staff(make_user):
    return make_user(role=Role.STAFF, name="王敏")


@pytest.fixture
def homes(make_building, make_user):
    """Six households in one building, one resident each."""
    building = make_building("1号楼", units=6)
    return [make_user(units=[unit]) for unit in building.units]


def _event(staff, kind=EventType.ACTIVITY, starts=SATURDAY, hours=2, capacity=None, seats=1, deadline=None, buildings=(), **kw):
    event = events.create(kind=kind, title=" 亲子手工 ", description=" 带上剪刀 ", location=" 中心广场 ", starts_at=starts,
                          ends_at=starts + timedelta(hours=hours), capacity=capacity, seats_per_household=seats, signup_deadline=deadline,
                          buildings=list(buildings), actor=staff, now=kw.pop("now", NOW), **kw)
    db.session.commit()
    return event


def _join(event, person, seats=1, now=NOW):
    return events.sign_up(event, person, person.residencies[0].unit, seats, now)


def _told(kind):
    return sorted(db.session.scalars(select(Notification.user_id).where(Notification.kind == kind)))


# The policy (S4.3)


def test_a_forum_on_a_saturday_announced_a_week_ahead_for_two_hours_keeps_the_policy():
    assert events.policy_breaches(EventType.FORUM, SATURDAY, SATURDAY + timedelta(hours=2), SATURDAY - timedelta(days=7)) == []


def test_a_forum_announced_less_than_the_notice_period_ahead():
    (breach,) = events.policy_breaches(EventType.FORUM, SATURDAY, SATURDAY + timedelta(hours=2), SATURDAY - timedelta(days=6, hours=23))
    assert breach == "announced less than 7 days ahead"


def test_a_forum_on_a_weekday_unless_it_is_a_public_holiday():
    assert events.policy_breaches(EventType.FORUM, WEDNESDAY, WEDNESDAY + timedelta(hours=2), NOW) == [
        "a forum should be held on a weekend or public holiday"]
    assert events.policy_breaches(EventType.FORUM, WEDNESDAY, WEDNESDAY + timedelta(hours=2), NOW, public_holiday=True) == []


def test_an_activity_on_a_weekday_evening_from_six_oclock():
    evening = WEDNESDAY.replace(hour=18)
    assert events.policy_breaches(EventType.ACTIVITY, evening, evening + timedelta(hours=2), NOW) == []
    afternoon = WEDNESDAY.replace(hour=17, minute=59)
    assert events.policy_breaches(EventType.ACTIVITY, afternoon, afternoon + timedelta(hours=2), NOW) == [
        "an activity should be on a weekend, a public holiday or an evening"]


def test_the_minimum_duration_is_a_setting():
    short = SATURDAY + timedelta(hours=1, minutes=59)
    assert events.policy_breaches(EventType.FORUM, SATURDAY, short, NOW) == ["shorter than 2 hours"]
    settings.update({"forum_min_hours": 1}, None)
    assert events.policy_breaches(EventType.FORUM, SATURDAY, short, NOW) == []
    assert events.policy_breaches(EventType.ACTIVITY, SATURDAY, short, NOW) == ["shorter than 2 hours"]  # its own setting


def test_campaigns_drills_and_meetings_are_not_bound_by_the_forum_rules():
    tomorrow = NOW + timedelta(days=1)
    for kind in (EventType.DRILL, EventType.CAMPAIGN, EventType.GENERAL_MEETING):
        assert events.policy_breaches(kind, tomorrow, tomorrow + timedelta(minutes=30), NOW) == []


# Creating


def test_an_event_must_end_after_it_starts(staff):
    with pytest.raises(EventError, match="end after"):
        _event(staff, hours=0)


def test_departing_from_the_policy_needs_a_reason_which_is_kept(staff):
    with pytest.raises(EventError, match="give a reason"):
        _event(staff, kind=EventType.FORUM, starts=WEDNESDAY)
    forum = _event(staff, kind=EventType.FORUM, starts=WEDNESDAY, exception_reason="  电梯故障紧急沟通 ")
    assert forum.policy_exception == "电梯故障紧急沟通"
    kept = _event(staff, exception_reason="不需要")
    assert kept.policy_exception == ""  # nothing departs from the policy: no exception recorded


def test_an_event_is_stored_tidy_with_sensible_capacity_and_seats(staff, make_building):
    building = make_building("2号楼")
    event = _event(staff, capacity=0, seats=0, buildings=[building])
    assert (event.title, event.description, event.location) == ("亲子手工", "带上剪刀", "中心广场")
    assert event.capacity is None and event.seats_per_household == 1  # 0 means as many as come, at least one seat
    assert not event.is_community_wide and event.buildings == [building]
    assert event.notice_id is None  # an activity does not announce itself
    assert event.created_by_id == staff.id


@pytest.mark.parametrize("kind", [EventType.FORUM, EventType.GENERAL_MEETING])
def test_forums_and_meetings_announce_themselves_on_the_notice_board_until_they_end(staff, make_building, kind):
    building = make_building("3号楼")
    event = _event(staff, kind=kind, buildings=[building])
    notice = db.session.get(Notice, event.notice_id)
    assert notice.is_pinned and notice.category == NoticeCategory.NEWS
    assert notice.publish_at == NOW and notice.expires_at == event.ends_at
    assert not notice.is_community_wide and notice.buildings == [building]
    assert notice.title == {EventType.FORUM: "业主座谈会：亲子手工", EventType.GENERAL_MEETING: "业主大会：亲子手工"}[kind]
    assert notice.body == f"亲子手工 将于 2026-11-21 09:00 至 11:00 在 中心广场 举行。请在平台报名：http://portal.test/events/{event.id}\n\n带上剪刀"


# Sign-ups


def test_households_are_confirmed_while_seats_last_then_waitlisted(staff, homes):
    event = _event(staff, capacity=3, seats=2)
    assert _join(event, homes[0], 2).status == SignupStatus.CONFIRMED
    assert _join(event, homes[1], 1).status == SignupStatus.CONFIRMED
    assert _join(event, homes[2], 1).status == SignupStatus.WAITLISTED
    assert events.seats_taken(event) == 3


def test_a_household_signs_up_once_whoever_in_it_asks(staff, homes, make_user):
    event = _event(staff, capacity=5)
    spouse = make_user(units=[homes[0].residencies[0].unit])
    first = _join(event, homes[0])
    again = _join(event, spouse, 1)
    assert again.id == first.id and again.user_id == homes[0].id
    assert db.session.scalar(select(func.count(EventSignup.id))) == 1


def test_nobody_jumps_the_waitlist_even_when_a_smaller_request_would_fit(staff, homes):
    event = _event(staff, capacity=3, seats=3)
    _join(event, homes[0], 2)
    assert _join(event, homes[1], 2).status == SignupStatus.WAITLISTED
    assert _join(event, homes[2], 1).status == SignupStatus.WAITLISTED  # one seat is free, but someone waits


def test_seats_per_household_are_limited(staff, homes):
    event = _event(staff, seats=2)
    for seats in (0, 3):
        with pytest.raises(EventError, match="1 to 2 seats"):
            _join(event, homes[0], seats)


def test_sign_up_closes_at_the_deadline_or_the_start(staff, homes):
    deadline = SATURDAY - timedelta(days=1)
    event = _event(staff, deadline=deadline)
    assert _join(event, homes[0], now=deadline).status == SignupStatus.CONFIRMED  # on the deadline itself: still open
    with pytest.raises(EventError, match="closed"):
        _join(event, homes[1], now=deadline + timedelta(seconds=1))
    open_event = _event(staff)
    with pytest.raises(EventError, match="closed"):
        _join(open_event, homes[2], now=SATURDAY)


def test_a_cancelled_event_takes_no_sign_ups(staff, homes):
    event = _event(staff)
    events.cancel_event(event, "台风", staff, NOW)
    with pytest.raises(EventError, match="cancelled"):
        _join(event, homes[0])


def test_a_cancellation_promotes_the_waitlist_in_the_order_people_joined(staff, homes):
    event = _event(staff, capacity=2, seats=2)
    first = _join(event, homes[0], 2)
    a = _join(event, homes[1], 1, now=NOW + timedelta(minutes=1))
    b = _join(event, homes[2], 1, now=NOW + timedelta(minutes=2))
    c = _join(event, homes[3], 1, now=NOW + timedelta(minutes=3))
    promoted = events.cancel(first, NOW + timedelta(hours=1))
    db.session.commit()
    assert promoted == [a, b] and c.status == SignupStatus.WAITLISTED and first.status == SignupStatus.CANCELLED
    assert _told("event_promoted") == sorted([homes[1].id, homes[2].id])


def test_a_large_household_at_the_head_of_the_queue_is_not_skipped(staff, homes):
    event = _event(staff, capacity=2, seats=2)
    one, two = _join(event, homes[0], 1), _join(event, homes[1], 1)
    big = _join(event, homes[2], 2, now=NOW + timedelta(minutes=1))
    small = _join(event, homes[3], 1, now=NOW + timedelta(minutes=2))
    assert events.cancel(one, NOW + timedelta(hours=1)) == []  # one seat free: the pair waiting first does not fit
    assert big.status == small.status == SignupStatus.WAITLISTED
    assert events.cancel(two, NOW + timedelta(hours=2)) == [big]
    assert small.status == SignupStatus.WAITLISTED


def test_cancelling_a_waitlisted_place_promotes_nobody(staff, homes):
    event = _event(staff, capacity=1)
    _join(event, homes[0])
    waiting = _join(event, homes[1])
    later = _join(event, homes[2])
    assert events.cancel(waiting, NOW) == [] and later.status == SignupStatus.WAITLISTED


def test_signing_up_again_after_cancelling_joins_the_back_of_the_queue(staff, homes):
    event = _event(staff, capacity=1)
    _join(event, homes[0])
    mine = _join(event, homes[1], now=NOW + timedelta(minutes=1))
    theirs = _join(event, homes[2], now=NOW + timedelta(minutes=2))
    events.cancel(mine, NOW + timedelta(minutes=3))
    again = _join(event, homes[1], now=NOW + timedelta(minutes=4))
    assert again.id == mine.id and again.status == SignupStatus.WAITLISTED and again.queued_at == NOW + timedelta(minutes=4)
    events.cancel(event.signups[0], NOW + timedelta(minutes=5))
    assert theirs.status == SignupStatus.CONFIRMED and again.status == SignupStatus.WAITLISTED


def test_without_a_capacity_everyone_is_confirmed(staff, homes):
    event = _event(staff, capacity=None, seats=4)
    assert len(homes) > 1 and [_join(event, person, 4).status for person in homes] == [SignupStatus.CONFIRMED] * len(homes)


def test_the_household_is_the_first_home_the_event_is_aimed_at(staff, make_building, make_user):
    a, b = make_building("A栋"), make_building("B栋")
    person = make_user(units=[a.units[0], b.units[0]])
    assert events.household_of(person, _event(staff)) == a.units[0]
    assert events.household_of(person, _event(staff, buildings=[b])) == b.units[0]
    c = make_building("C栋")
    assert events.household_of(person, _event(staff, buildings=[c])) is None
    assert events.household_of(make_user(units=[]), _event(staff)) is None


def test_residents_see_community_wide_events_and_those_of_their_buildings(staff, make_building, make_user):
    a, b = make_building("A栋"), make_building("B栋")
    everyone, only_b = _event(staff), _event(staff, buildings=[b])
    resident = make_user(units=[a.units[0]])
    assert permissions.can_see_event(resident, everyone, [a.id]) and not permissions.can_see_event(resident, only_b, [a.id])
    assert permissions.can_see_event(staff, only_b, [])
    seen = db.session.scalars(select(Event.id).where(*permissions.event_scope(resident, [a.id]))).all()
    assert seen == [everyone.id]
    assert permissions.event_scope(staff, []) == ()


# Reminders, changes and cancellation


def test_the_day_before_everyone_confirmed_is_reminded_once(staff, homes):
    event = _event(staff, capacity=1)
    _join(event, homes[0])
    _join(event, homes[1])  # waitlisted: no reminder
    assert events.remind_due(SATURDAY - timedelta(hours=25)) == 0
    assert events.remind_due(SATURDAY - timedelta(hours=23)) == 1
    assert events.remind_due(SATURDAY - timedelta(hours=1)) == 0
    assert event.reminded_at == SATURDAY - timedelta(hours=23)
    assert _told("event_reminder") == [homes[0].id]


def test_a_cancelled_event_is_not_reminded(staff, homes):
    event = _event(staff)
    _join(event, homes[0])
    events.cancel_event(event, "台风", staff, NOW)
    assert events.remind_due(SATURDAY - timedelta(hours=2)) == 0


def test_moving_an_event_checks_the_policy_again_and_tells_everyone_signed_up_or_waiting(staff, homes):
    event = _event(staff, capacity=1)
    _join(event, homes[0])
    _join(event, homes[1])
    cancelled = _join(event, homes[2])
    events.cancel(cancelled, NOW)
    with pytest.raises(EventError, match="give a reason"):
        events.change(event, starts_at=WEDNESDAY, ends_at=WEDNESDAY + timedelta(hours=2), location="会议室", reason="改期", actor=staff, now=NOW)
    sunday = SATURDAY + timedelta(days=1)
    events.change(event, starts_at=sunday, ends_at=sunday + timedelta(hours=2), location=" 会议室 ", reason=" 广场施工 ", actor=staff, now=NOW)
    db.session.commit()
    assert (event.starts_at, event.location, event.sequence) == (sunday, "会议室", 1)
    assert _told("event_changed") == sorted([homes[0].id, homes[1].id])
    assert "广场施工" in db.session.scalar(select(Notification.body).where(Notification.kind == "event_changed"))


def test_a_change_that_changes_nothing_is_refused(staff):
    event = _event(staff)
    with pytest.raises(EventError, match="Nothing"):
        events.change(event, starts_at=event.starts_at, ends_at=event.ends_at, location="中心广场 ", reason="", actor=staff, now=NOW)
    with pytest.raises(EventError, match="end after"):
        events.change(event, starts_at=event.starts_at, ends_at=event.starts_at, location="会议室", reason="", actor=staff, now=NOW)


def test_an_event_moved_later_after_its_reminder_is_reminded_again(staff, homes):
    event = _event(staff)
    _join(event, homes[0])
    events.remind_due(SATURDAY - timedelta(hours=12))
    later = SATURDAY + timedelta(days=7)
    events.change(event, starts_at=later, ends_at=later + timedelta(hours=2), location="中心广场", reason="延期", actor=staff,
                  now=SATURDAY - timedelta(hours=11))
    assert event.reminded_at is None
    assert events.remind_due(later - timedelta(hours=12)) == 1


def test_cancelling_an_event_needs_a_reason_tells_everyone_and_happens_once(staff, homes):
    event = _event(staff)
    _join(event, homes[0])
    with pytest.raises(EventError, match="reason"):
        events.cancel_event(event, "  ", staff, NOW)
    events.cancel_event(event, " 台风预警 ", staff, NOW)
    assert (event.cancelled_at, event.cancel_reason, event.sequence) == (NOW, "台风预警", 1)
    assert _told("event_cancelled") == [homes[0].id]
    with pytest.raises(EventError, match="cancelled"):
        events.cancel_event(event, "again", staff, NOW)
    with pytest.raises(EventError, match="cancelled"):
        events.change(event, starts_at=SATURDAY, ends_at=SATURDAY + timedelta(hours=3), location="x", reason="", actor=staff, now=NOW)


# Afterwards


def test_attendance_is_marked_for_confirmed_households_only(staff, homes):
    event = _event(staff, capacity=2)
    came, missed = _join(event, homes[0]), _join(event, homes[1])
    waiting = _join(event, homes[2])
    events.mark_attendance(event, {came.id, waiting.id})
    assert came.attended is True and missed.attended is False and waiting.attended is None


def test_feedback_after_an_event_joins_the_register(staff, homes):
    event = _event(staff)
    person = homes[0]
    ticket = events.feedback(event, person, person.residencies[0].unit, "suggestion", "希望多办几次", NOW)
    assert ticket.event_id == event.id and ticket.channel == TicketChannel.EVENT_FEEDBACK
    assert ticket.category == TicketCategory.SUGGESTION and ticket.resident_id == person.id and ticket.number.startswith("JY-")


def test_minutes_are_kept_for_forums_and_meetings_only(staff):
    forum = _event(staff, kind=EventType.FORUM)
    events.publish_minutes(forum, "  一、通报服务情况。  ", SATURDAY + timedelta(hours=3))
    assert forum.minutes == "一、通报服务情况。" and forum.minutes_published_at == SATURDAY + timedelta(hours=3)
    with pytest.raises(EventError, match="forums and meetings"):
        events.publish_minutes(_event(staff), "纪要", NOW)


def test_the_calendar_places_activities_by_month_and_forums_by_quarter_in_community_time(staff):
    _event(staff, starts=datetime(2026, 1, 31, 23, 0, tzinfo=SHANGHAI), now=datetime(2026, 1, 1, tzinfo=SHANGHAI))  # 15:00 UTC: still January
    _event(staff, kind=EventType.FORUM, starts=datetime(2026, 3, 28, 9, 0, tzinfo=SHANGHAI), now=datetime(2026, 3, 1, tzinfo=SHANGHAI))
    _event(staff, kind=EventType.FORUM, starts=datetime(2026, 4, 4, 9, 0, tzinfo=SHANGHAI), now=datetime(2026, 3, 1, tzinfo=SHANGHAI))
    cancelled = _event(staff, starts=datetime(2026, 5, 9, 9, 0, tzinfo=SHANGHAI), now=datetime(2026, 4, 1, tzinfo=SHANGHAI))
    events.cancel_event(cancelled, "下雨", staff, NOW)
    _event(staff, starts=datetime(2027, 1, 1, 0, 30, tzinfo=SHANGHAI), now=datetime(2026, 12, 1, tzinfo=SHANGHAI),
           exception_reason="元旦")  # the next year already
    _event(staff, kind=EventType.DRILL, starts=datetime(2026, 6, 3, 19, 0, tzinfo=SHANGHAI), now=datetime(2026, 5, 1, tzinfo=SHANGHAI))
    months, quarters = events.calendar(2026)
    assert {m: len(v) for m, v in months.items() if v} == {1: 1}
    assert {q: len(v) for q, v in quarters.items() if v} == {1: 1, 2: 1}
    assert months[1][0][2].hour == 23


def test_more_places_move_the_waitlist_up_and_fewer_than_taken_are_refused(staff, homes):
    event = _event(staff, capacity=2)
    _join(event, homes[0])
    _join(event, homes[1])
    waiting = _join(event, homes[2])
    assert waiting.status == SignupStatus.WAITLISTED
    with pytest.raises(EventError, match="2 places are taken"):
        events.change(event, starts_at=event.starts_at, ends_at=event.ends_at, location="中心广场", reason="", actor=staff, now=NOW, capacity=1)
    events.change(event, starts_at=event.starts_at, ends_at=event.ends_at, location="中心广场", reason="加座", actor=staff, now=NOW, capacity=3)
    assert waiting.status == SignupStatus.CONFIRMED and event.capacity == 3
    assert _told("event_promoted") == [homes[2].id]


def test_a_new_title_or_description_is_a_change_everyone_hears_of(staff, homes):
    event = _event(staff)
    _join(event, homes[0])
    events.change(event, starts_at=event.starts_at, ends_at=event.ends_at, location="中心广场", reason="更正", actor=staff, now=NOW,
                  title="亲子手工：风筝", description="材料由物业提供")
    assert (event.title, event.description, event.sequence) == ("亲子手工：风筝", "材料由物业提供", 1)
    assert _told("event_changed") == [homes[0].id]
    with pytest.raises(EventError, match="title"):
        events.change(event, starts_at=event.starts_at, ends_at=event.ends_at, location="中心广场", reason="", actor=staff, now=NOW, title="  ")


def test_a_forums_notice_follows_its_moves_and_its_cancellation(staff, homes):
    forum = _event(staff, kind=EventType.FORUM, exception_reason="测试")
    notice = db.session.get(Notice, forum.notice_id)
    later = SATURDAY + timedelta(days=7)
    events.change(forum, starts_at=later, ends_at=later + timedelta(hours=2), location="会所", reason="延期", actor=staff, now=NOW,
                  exception_reason="测试")
    assert forum.notice_id == notice.id and notice.is_pinned
    assert notice.body == (f"时间或地点已变更（见下文）。\n\n亲子手工 将于 2026-11-28 09:00 至 11:00 在 会所 举行。"
                           f"请在平台报名：http://portal.test/events/{forum.id}\n\n带上剪刀")
    events.cancel_event(forum, "台风预警", staff, NOW)
    assert notice.title == "活动取消：业主座谈会：亲子手工" and not notice.is_pinned  # the board speaks Chinese
    assert notice.body == (f"本次会议已取消：台风预警\n\n亲子手工 将于 2026-11-28 09:00 至 11:00 在 会所 举行。"
                           f"请在平台报名：http://portal.test/events/{forum.id}\n\n带上剪刀")
