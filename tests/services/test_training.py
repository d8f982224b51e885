"""The yearly training plan (S6.2.1) against the sessions held: held, held late, missed, due,
planned, and who should have attended but did not."""
from datetime import date, datetime, timezone

import pytest

from portal.extensions import db
from portal.models import Department, Role, TrainingAttendance, TrainingMethod, TrainingSession, TrainingTopic
from portal.services import training


@pytest.fixture
def team(make_user):
    desk, works = Department(name="客服中心"), Department(name="工程维修部")
    db.session.add_all([desk, works])
    db.session.commit()
    joined = datetime(2026, 1, 5, tzinfo=timezone.utc)
    people = {
        "wang": make_user(role=Role.STAFF, name="王敏", department_id=desk.id, created_at=joined),
        "li": make_user(role=Role.STAFF, name="李娜", department_id=desk.id, created_at=joined),
        "gone": make_user(role=Role.STAFF, name="离职", department_id=desk.id, created_at=joined, is_active=False),
        "new": make_user(role=Role.STAFF, name="新人", department_id=desk.id, created_at=datetime(2026, 6, 1, tzinfo=timezone.utc)),
        "zhang": make_user(role=Role.HEAD, name="张强", department_id=works.id, created_at=joined),
        "resident": make_user(name="住户"),
    }
    return desk, works, people


def _item(admin, month, department=None, people=(), year=2026, title="沟通技巧"):
    return training.save_item(None, year=year, month=month, title=title, topic=TrainingTopic.COMMUNICATION,
                              method=TrainingMethod.INTERNAL, goal="", department_id=department.id if department else None,
                              people=list(people), actor=admin)


def _session(item, held_on, attendees):
    session = TrainingSession(title=item.title, topic=item.topic, method=item.method, held_on=held_on, trainer="王敏", plan_item_id=item.id)
    session.attendees = [TrainingAttendance(user_id=p.id) for p in attendees]
    db.session.add(session)
    db.session.flush()
    db.session.expire(item)
    return session


def test_who_should_have_attended_and_did_not(team):
    desk, _works, p = team
    item = _item(p["zhang"], 3, department=desk, people=[p["zhang"]])
    _session(item, date(2026, 3, 12), [p["wang"]])
    (review,) = training.review([item], date(2026, 4, 1))
    assert review.state == training.HELD
    # the department's active people who were there when it was held, and the head named besides
    assert [x.name for x in review.expected] == ["李娜", "王敏", "张强"]
    assert [x.name for x in review.absent] == ["李娜", "张强"]
    assert review.is_gap


def test_a_make_up_session_counts_for_attendance_but_the_item_was_late(team):
    desk, _works, p = team
    item = _item(p["zhang"], 3, people=[p["wang"], p["li"]])
    _session(item, date(2026, 4, 2), [p["wang"]])
    _session(item, date(2026, 4, 20), [p["li"]])
    (review,) = training.review([item], date(2026, 5, 1))
    assert review.state == training.LATE and review.absent == [] and not review.is_gap


def test_states_by_the_end_of_the_planned_month(team):
    desk, _works, p = team
    held = _item(p["zhang"], 3, people=[p["wang"]])
    _session(held, date(2026, 3, 31), [p["wang"]])  # the last day of its month: held in time
    missed, due, planned = (_item(p["zhang"], m, people=[p["wang"]]) for m in (3, 4, 5))
    states = [r.state for r in training.review([held, missed, due, planned], date(2026, 4, 30))]
    assert states == [training.HELD, training.MISSED, training.DUE, training.PLANNED]
    assert [r.state for r in training.review([due], date(2026, 5, 1))] == [training.MISSED]


def test_gaps_over_the_last_twelve_months_for_a_heads_department(team):
    desk, works, p = team
    old = _item(p["zhang"], 3, people=[p["wang"]], year=2025)  # more than twelve months back: not shown
    desk_item = _item(p["zhang"], 2, department=desk)
    works_item = _item(p["zhang"], 2, people=[p["zhang"]])
    db.session.commit()
    today = date(2026, 4, 15)
    assert {r.item.id for r in training.gaps(today)} == {desk_item.id, works_item.id}
    assert [r.item.id for r in training.gaps(today, {works.id})] == [works_item.id]
    assert old.id not in {r.item.id for r in training.gaps(today)}
