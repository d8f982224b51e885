"""The duty rota at the service level: shifts and their weekly pattern, night shifts that belong
to the day they started, one-day changes, the coming two weeks, and the hours nobody covers."""
from datetime import date, datetime, time, timedelta, timezone

import pytest
from flask_babel import force_locale
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Department, Role, RotaChange, RotaEntry
from portal.services import duty
from portal.services.duty import RotaError

SHANGHAI = timezone(timedelta(hours=8))
MONDAY = date(2026, 12, 7)


def at(day, hour, minute=0):
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=SHANGHAI)


@pytest.fixture(autouse=True)
def english(app):
    with force_locale("en"):
        yield


@pytest.fixture
def team(make_user):
    """工程维修部: 张强 holds Monday's day shift, 李师傅 Monday's night shift, each the other's deputy."""
    dept = Department(name="工程维修部")
    db.session.add(dept)
    db.session.commit()

    class Team:
        department = dept
        zhang = make_user(role=Role.HEAD, name="张强", department_id=dept.id)
        li = make_user(role=Role.WORKER, name="李师傅", department_id=dept.id)
        day = duty.add_shift(dept, " 白班 ", time(8), time(20))
        night = duty.add_shift(dept, "夜班", time(20), time(8))

    duty.set_pattern(Team.day, 0, Team.zhang, Team.li)
    duty.set_pattern(Team.night, 0, Team.li, Team.zhang)
    db.session.commit()
    return Team


def test_a_shift_needs_different_start_and_end_times(team):
    with pytest.raises(RotaError, match="same time"):
        duty.add_shift(team.department, "坏班", time(9), time(9))
    assert team.day.name == "白班" and team.day.department_id == team.department.id
    manager = duty.add_shift(None, "值班经理", time(8), time(20))
    assert manager.department_id is None


def test_the_pattern_is_one_entry_per_weekday_and_the_deputy_is_someone_else(team):
    with pytest.raises(RotaError, match="day of the week"):
        duty.set_pattern(team.day, 7, team.zhang, None)
    with pytest.raises(RotaError, match="someone else"):
        duty.set_pattern(team.day, 1, team.zhang, team.zhang)
    duty.set_pattern(team.day, 0, team.li, None)  # Monday changes hands
    db.session.commit()
    entries = db.session.scalars(select(RotaEntry).where(RotaEntry.shift_id == team.day.id)).all()
    assert [(e.weekday, e.primary_id, e.deputy_id) for e in entries] == [(0, team.li.id, None)]


def test_who_is_on_duty_by_the_hour_with_the_night_shift_belonging_to_the_day_it_started(team):
    rota = duty.Rota(at(MONDAY, 12))
    assert rota.on_duty(team.department.id, at(MONDAY, 8)).primary.name == "张强"  # the shift starts on the minute
    assert rota.on_duty(team.department.id, at(MONDAY, 19, 59)).shift.name == "白班"
    night = rota.on_duty(team.department.id, at(MONDAY, 20))
    assert night.shift.name == "夜班" and night.primary.name == "李师傅" and night.deputy.name == "张强"
    tuesday_3am = rota.on_duty(team.department.id, at(MONDAY + timedelta(days=1), 3))
    assert tuesday_3am.primary.name == "李师傅" and tuesday_3am.day == MONDAY  # Monday's night shift
    assert (tuesday_3am.starts, tuesday_3am.ends) == (at(MONDAY, 20), at(MONDAY + timedelta(days=1), 8))
    tuesday_9am = rota.on_duty(team.department.id, at(MONDAY + timedelta(days=1), 9))
    assert tuesday_9am is not None and tuesday_9am.primary is None  # Tuesday has no pattern yet


def test_times_in_utc_are_read_in_community_time(team):
    held = duty.on_duty(team.department.id, datetime(2026, 12, 7, 1, 0, tzinfo=timezone.utc))  # 09:00 in Shanghai
    assert held.shift.name == "白班" and held.primary.name == "张强"


def test_nobody_is_on_duty_outside_every_shift_or_for_an_unknown_department(team):
    duty.add_shift(None, "值班经理", time(9), time(17))
    db.session.commit()
    assert duty.on_duty(None, at(MONDAY, 8)) is None
    assert duty.on_duty_people(None, at(MONDAY, 8)) == (None, None)
    assert duty.on_duty(999, at(MONDAY, 12)) is None


def test_an_inactive_shift_is_nobodys_duty(team):
    team.day.is_active = False
    db.session.commit()
    assert duty.on_duty(team.department.id, at(MONDAY, 12)) is None


def test_a_change_for_one_day_overrides_the_pattern_and_is_recorded(team, make_user):
    kefu = make_user(role=Role.STAFF)
    now = at(MONDAY, 7)
    change = duty.change_day(team.day, MONDAY, team.li, None, "  调班  ", kefu, now)
    db.session.commit()
    assert (change.reason, change.changed_by_id, change.changed_at) == ("调班", kefu.id, now)
    assert duty.on_duty_people(team.department.id, at(MONDAY, 12)) == (team.li, None)
    assert duty.on_duty_people(team.department.id, at(MONDAY + timedelta(days=7), 12)) == (team.zhang, team.li)  # next Monday as usual
    held = duty.Rota(now).on_duty(team.department.id, at(MONDAY, 12))
    assert held.changed is not None and held.changed.id == change.id


def test_changing_the_same_day_again_updates_it_and_clearing_it_restores_the_pattern(team):
    duty.change_day(team.day, MONDAY, team.li, None, "调班", team.zhang, at(MONDAY, 7))
    duty.change_day(team.day, MONDAY, team.li, team.zhang, "调班，张强替补", team.zhang, at(MONDAY, 7))
    db.session.commit()
    assert db.session.scalar(select(func.count(RotaChange.id))) == 1
    assert duty.on_duty_people(team.department.id, at(MONDAY, 12)) == (team.li, team.zhang)
    assert duty.change_day(team.day, MONDAY, None, None, "", team.zhang, at(MONDAY, 7)) is None
    db.session.commit()
    assert db.session.scalar(select(func.count(RotaChange.id))) == 0
    assert duty.on_duty_people(team.department.id, at(MONDAY, 12)) == (team.zhang, team.li)
    assert duty.change_day(team.day, MONDAY, None, None, "", team.zhang, at(MONDAY, 7)) is None  # nothing to clear: fine


def test_a_change_needs_a_reason_and_a_different_deputy(team):
    with pytest.raises(RotaError, match="why"):
        duty.change_day(team.day, MONDAY, team.li, None, "  ", team.zhang, at(MONDAY, 7))
    with pytest.raises(RotaError, match="someone else"):
        duty.change_day(team.day, MONDAY, team.li, team.li, "调班", team.zhang, at(MONDAY, 7))


def test_a_long_reason_is_cut_to_what_the_rota_keeps(team):
    change = duty.change_day(team.day, MONDAY, team.li, None, "请" * 250, team.zhang, at(MONDAY, 7))
    db.session.commit()
    assert len(change.reason) == 200


def test_the_schedule_lists_each_day_and_shift_with_changes(team):
    duty.change_day(team.night, MONDAY + timedelta(days=7), team.zhang, None, "请假", team.zhang, at(MONDAY, 7))
    db.session.commit()
    schedule = duty.Rota(at(MONDAY, 7)).schedule(team.department.id, MONDAY)
    assert len(schedule) == 14 and schedule[0][0] == MONDAY and schedule[-1][0] == MONDAY + timedelta(days=13)
    first_day = schedule[0][1]
    assert [(h.shift.name, h.primary.name if h.primary else None) for h in first_day] == [("白班", "张强"), ("夜班", "李师傅")]
    next_monday = schedule[7][1]
    assert next_monday[1].primary.name == "张强" and next_monday[1].changed.reason == "请假"
    assert [(h.shift.name, h.primary) for h in schedule[1][1]] == [("白班", None), ("夜班", None)]  # Tuesday is uncovered


def test_the_gaps_are_the_stretches_nobody_covers(team):
    for weekday in range(1, 7):
        duty.set_pattern(team.day, weekday, team.zhang, None)
        duty.set_pattern(team.night, weekday, team.li, None)
    duty.set_pattern(team.night, 2, None, team.zhang)  # Wednesday night: only a deputy, which is no cover
    empty = Department(name="绿化部")
    db.session.add(empty)
    db.session.commit()
    gaps = duty.Rota(at(MONDAY, 0)).gaps([team.department, empty], at(MONDAY, 0), days=7)
    by_department = {}
    for department, since, until in gaps:
        by_department.setdefault(department.name if department else None, []).append((since, until))
    # Monday 00:00 to 08:00 is the night shift that started on Sunday, which is covered
    assert by_department["工程维修部"] == [(at(MONDAY + timedelta(days=2), 20), at(MONDAY + timedelta(days=3), 8))]
    assert by_department["绿化部"] == [(at(MONDAY, 0), at(MONDAY + timedelta(days=7), 0))]
    assert by_department[None] == [(at(MONDAY, 0), at(MONDAY + timedelta(days=7), 0))]  # no duty manager at all


def test_who_may_hold_a_departments_shift_and_the_duty_managers(team, make_user):
    admin = make_user(role=Role.ADMIN, name="陈立")
    other_head = make_user(role=Role.HEAD, name="刘洋")
    make_user(role=Role.STAFF, name="离职", department_id=team.department.id, is_active=False)
    make_user(name="住户")
    assert [u.name for u in duty.staff_choices(team.department.id)] == sorted(["张强", "李师傅"])
    assert {u.name for u in duty.staff_choices(None)} == {"陈立", "张强", "刘洋"}
    assert admin in duty.staff_choices(None) and other_head in duty.staff_choices(None)


def test_departments_are_the_active_ones_in_order(team):
    closed = Department(name="已撤销部门", is_active=False)
    later = Department(name="保洁部")
    db.session.add_all([closed, later])
    db.session.commit()
    assert [d.name for d in duty.departments()] == ["工程维修部", "保洁部"]
