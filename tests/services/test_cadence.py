"""What the policy repeats, checked: a week without a coordination meeting (S4.1.2), a month
without a community activity (S4.3.2), a quarter without an owners' forum (S4.3.1), each period
cut in the community's time (Asia/Shanghai) and none before the portal started."""
from datetime import date, datetime, timedelta, timezone

import pytest

from portal.extensions import db
from portal.models import Event, EventType, Role
from portal.services import cadence, records
from portal.services.cadence import Gap

SHANGHAI = timezone(timedelta(hours=8))


@pytest.fixture
def staff(make_user):
    return make_user(role=Role.STAFF)


def _meeting(staff, at):
    records.add("coordination", at, "周例会", staff, at)


def _event(staff, kind, starts_at, cancelled=False):
    event = Event(kind=kind, title="活动", starts_at=starts_at, ends_at=starts_at + timedelta(hours=2), created_by_id=staff.id,
                  cancelled_at=starts_at - timedelta(days=1) if cancelled else None)
    db.session.add(event)


def test_a_week_without_a_coordination_meeting_is_flagged_monday_to_sunday_in_shanghai_time(app, staff):
    _meeting(staff, datetime(2026, 3, 2, 9, 0, tzinfo=SHANGHAI))  # week of 2 March
    _meeting(staff, datetime(2026, 3, 15, 15, 59, 59, tzinfo=timezone.utc))  # Sunday 15 March 23:59:59 in Shanghai: that week
    _meeting(staff, datetime(2026, 3, 22, 16, 0, tzinfo=timezone.utc))  # Monday 23 March 00:00 in Shanghai (Sunday in UTC)
    _meeting(staff, datetime(2026, 3, 1, 15, 59, tzinfo=timezone.utc))  # Sunday 1 March: before the period, counts for nothing
    db.session.commit()
    now = datetime(2026, 4, 1, 12, 0, tzinfo=SHANGHAI)  # a Wednesday
    gaps = cadence.missing(now, since=date(2026, 3, 2))["coordination"]
    assert gaps == [
        Gap("coordination", date(2026, 3, 30), date(2026, 4, 5), True),  # this week, not yet
        Gap("coordination", date(2026, 3, 16), date(2026, 3, 22), False),  # 9–15 March had its meeting late on Sunday night
    ]


def test_the_week_boundary_is_midnight_between_sunday_and_monday_in_shanghai(app, staff):
    _meeting(staff, datetime(2026, 3, 8, 16, 0, tzinfo=timezone.utc))  # Monday 9 March 00:00 in Shanghai
    db.session.commit()
    now = datetime(2026, 3, 16, 8, 0, tzinfo=SHANGHAI)
    gaps = cadence.missing(now, since=date(2026, 3, 2))["coordination"]
    assert [(g.first, g.last) for g in gaps] == [(date(2026, 3, 16), date(2026, 3, 22)), (date(2026, 3, 2), date(2026, 3, 8))]


def test_months_without_an_activity_and_quarters_without_a_forum(app, staff):
    _event(staff, EventType.ACTIVITY, datetime(2026, 1, 25, 15, 0, tzinfo=SHANGHAI))
    _event(staff, EventType.ACTIVITY, datetime(2026, 2, 28, 16, 30, tzinfo=timezone.utc))  # 1 March 00:30 in Shanghai: March's
    _event(staff, EventType.ACTIVITY, datetime(2026, 4, 18, 15, 0, tzinfo=SHANGHAI), cancelled=True)  # cancelled: not held
    _event(staff, EventType.CAMPAIGN, datetime(2026, 4, 19, 15, 0, tzinfo=SHANGHAI))  # a campaign is not the monthly activity
    _event(staff, EventType.ACTIVITY, datetime(2026, 5, 30, 15, 0, tzinfo=SHANGHAI))  # later this month: planned
    _event(staff, EventType.FORUM, datetime(2026, 3, 31, 16, 30, tzinfo=timezone.utc))  # 1 April in Shanghai: the second quarter's
    db.session.commit()
    now = datetime(2026, 5, 10, 9, 0, tzinfo=SHANGHAI)
    gaps = cadence.missing(now, since=date(2026, 1, 20))
    assert gaps["activity"] == [Gap("activity", date(2026, 4, 1), date(2026, 4, 30), False),
                                Gap("activity", date(2026, 2, 1), date(2026, 2, 28), False)]
    assert gaps["forum"] == [Gap("forum", date(2026, 1, 1), date(2026, 3, 31), False)]
    assert gaps["forum"][0].quarter == 1


def test_the_current_month_and_quarter_are_flagged_while_nothing_is_planned(app, staff):
    now = datetime(2026, 11, 30, 23, 59, tzinfo=SHANGHAI)
    gaps = cadence.missing(now, since=date(2026, 11, 1))
    assert gaps["activity"] == [Gap("activity", date(2026, 11, 1), date(2026, 11, 30), True)]
    assert gaps["forum"] == [Gap("forum", date(2026, 10, 1), date(2026, 12, 31), True)]


def test_nothing_is_flagged_before_the_portal_started(app, make_user):
    first = make_user(role=Role.ADMIN, created_at=datetime(2026, 3, 17, 17, 0, tzinfo=timezone.utc))  # 18 March in Shanghai
    make_user(role=Role.STAFF, created_at=datetime(2025, 1, 1, tzinfo=timezone.utc))  # made later, backdated: not the start
    assert first.id < make_user(role=Role.STAFF).id
    assert cadence.portal_start() == date(2026, 3, 18)
    gaps = cadence.missing(datetime(2026, 4, 2, 12, 0, tzinfo=SHANGHAI))
    assert [(g.first, g.last) for g in gaps["coordination"]] == [
        (date(2026, 3, 30), date(2026, 4, 5)), (date(2026, 3, 23), date(2026, 3, 29)), (date(2026, 3, 16), date(2026, 3, 22))]
    assert [g.first for g in gaps["activity"]] == [date(2026, 4, 1), date(2026, 3, 1)]  # not February
    assert [g.first for g in gaps["forum"]] == [date(2026, 4, 1), date(2026, 1, 1)]


def test_an_empty_portal_flags_nothing(app):
    assert cadence.missing(datetime(2026, 4, 2, tzinfo=SHANGHAI)) == {"coordination": [], "activity": [], "forum": []}


def test_periods_of_a_week_month_and_quarter():
    assert cadence.period_of(cadence.WEEK, date(2026, 1, 1)) == (date(2025, 12, 29), date(2026, 1, 4))
    assert cadence.period_of(cadence.MONTH, date(2028, 2, 29)) == (date(2028, 2, 1), date(2028, 2, 29))
    assert cadence.period_of(cadence.QUARTER, date(2026, 12, 31)) == (date(2026, 10, 1), date(2026, 12, 31))
    assert cadence.periods(cadence.QUARTER, date(2025, 12, 31), date(2026, 1, 1)) == [
        (date(2025, 10, 1), date(2025, 12, 31)), (date(2026, 1, 1), date(2026, 3, 31))]
