"""Each figure against hand-computed data."""
from datetime import date, datetime, timedelta, timezone

import pytest

from portal.extensions import db
from portal.models import (
    Consultation,
    ConsultationAnswer,
    ConsultationOption,
    Department,
    Event,
    EventSignup,
    EventType,
    FigureKey,
    Role,
    SignupStatus,
    Ticket,
    TicketCategory,
    TicketChannel,
    TicketStatus,
)
from portal.services import figures

START = datetime(2026, 1, 1, tzinfo=timezone.utc)
END = datetime(2026, 7, 1, tzinfo=timezone.utc)
IN = datetime(2026, 3, 1, tzinfo=timezone.utc)
BEFORE = datetime(2025, 12, 1, tzinfo=timezone.utc)


def _ticket(n, **kw):
    values = dict(number=f"BX-2026-{n:04d}", category=TicketCategory.REPAIR, channel=TicketChannel.ONLINE, status=TicketStatus.NEW,
                  description="x", created_at=IN, due_at=IN + timedelta(hours=24))
    values.update(kw)
    ticket = Ticket(**values)
    db.session.add(ticket)
    return ticket


@pytest.fixture
def data(app):
    a, b = Department(name="工程"), Department(name="保洁")
    db.session.add_all([a, b])
    db.session.flush()
    # 1: resolved, fed back on time, rated 5 (dept a)
    _ticket(1, lead_department_id=a.id, resolved_at=IN + timedelta(hours=2), feedback_at=IN + timedelta(hours=3), rated_at=IN + timedelta(hours=4), rating=5)
    # 2: resolved, fed back late, rated 2, reopened once (dept a)
    _ticket(2, lead_department_id=a.id, resolved_at=IN + timedelta(hours=30), feedback_at=IN + timedelta(hours=30), rated_at=IN + timedelta(hours=31),
            rating=2, reopened_count=1)
    # 3: unresolved, reclassified (dept b), a complaint
    _ticket(3, lead_department_id=b.id, category=TicketCategory.COMPLAINT, reclassified_count=1)
    # 4: urgent, answered in time; 5: urgent, answered late
    _ticket(4, lead_department_id=b.id, is_urgent=True, response_due_at=IN + timedelta(minutes=30), responded_at=IN + timedelta(minutes=10), acknowledged_at=IN + timedelta(minutes=10),
            resolved_at=IN + timedelta(hours=1))
    _ticket(5, lead_department_id=b.id, is_urgent=True, response_due_at=IN + timedelta(minutes=30), responded_at=IN + timedelta(minutes=45), acknowledged_at=IN + timedelta(minutes=45))
    # 6: registered before the period, rated 4 inside it: counts for satisfaction only
    _ticket(6, created_at=BEFORE, due_at=BEFORE + timedelta(days=1), resolved_at=BEFORE, feedback_at=BEFORE + timedelta(hours=1),
            rated_at=IN, rating=4)
    # 7: entirely after the period
    _ticket(7, created_at=END + timedelta(days=1), rated_at=END + timedelta(days=1), rating=1)
    db.session.commit()
    return a, b


def test_satisfaction_average_and_share_satisfied(data):
    result, _ = figures.compute(START, END)
    s = result[FigureKey.SATISFACTION]
    assert (s.numerator, s.denominator) == (2, 3)  # ratings 5, 2, 4 in the period; 5 and 4 are satisfied
    assert s.extra["average"] == pytest.approx(11 / 3, abs=0.01)


def test_resolution_rate(data):
    result, _ = figures.compute(START, END)
    r = result[FigureKey.RESOLUTION]
    assert (r.numerator, r.denominator) == (3, 5)  # tickets 1, 2, 4 of the five registered in the period


def test_timeliness_and_emergency_response(data):
    result, _ = figures.compute(START, END)
    t = result[FigureKey.TIMELINESS]
    assert (t.numerator, t.denominator, t.extra["late"]) == (1, 2, 1)
    e = result[FigureKey.EMERGENCY]
    assert (e.numerator, e.denominator) == (1, 2)


def test_accuracy(data):
    result, _ = figures.compute(START, END)
    a = result[FigureKey.ACCURACY]
    assert (a.numerator, a.denominator, a.extra["inaccurate"]) == (3, 5, 2)


def test_breakdowns_by_department_and_category(data):
    dept_a, dept_b = data
    _, breakdowns = figures.compute(START, END)
    assert breakdowns["department"][dept_a.id][FigureKey.TIMELINESS].value == 0.5
    assert breakdowns["department"][dept_b.id][FigureKey.RESOLUTION].numerator == 1
    assert breakdowns["category"][TicketCategory.COMPLAINT][FigureKey.RESOLUTION].denominator == 1
    only_b, _ = figures.compute(START, END, department=dept_b.id)
    assert only_b[FigureKey.EMERGENCY].denominator == 2 and only_b[FigureKey.SATISFACTION].denominator == 0


def test_participation_signups_attendance_and_turnout(app, make_user, make_building):
    building = make_building(units=4)
    owners = [make_user(units=[u]) for u in building.units]
    staff = make_user(role=Role.STAFF)
    event = Event(kind=EventType.ACTIVITY, title="活动", starts_at=IN, ends_at=IN + timedelta(hours=2), created_by_id=staff.id)
    db.session.add(event)
    db.session.flush()
    for i, owner in enumerate(owners[:3]):
        db.session.add(EventSignup(event_id=event.id, unit_id=owner.residencies[0].unit_id, user_id=owner.id, seats=1,
                                   status=SignupStatus.CONFIRMED if i < 2 else SignupStatus.CANCELLED, attended=i == 0))
    question = Consultation(title="问", deadline=IN, created_by_id=staff.id, buildings=[building],
                            options=[ConsultationOption(label="甲"), ConsultationOption(label="乙")])
    db.session.add(question)
    db.session.flush()
    db.session.add(ConsultationAnswer(consultation_id=question.id, unit_id=building.units[0].id, option_id=question.options[0].id, user_id=owners[0].id))
    db.session.commit()
    p = figures.participation(START, END)
    assert (p.numerator, p.denominator) == (2, 4)  # two confirmed sign-ups, four households
    assert p.extra["attended"] == 1 and p.extra["turnout"] == pytest.approx(1 / 4)


def test_half_year_before():
    assert figures.half_year_before(date(2026, 11, 27)) == (date(2026, 1, 1), date(2026, 6, 30))
    assert figures.half_year_before(date(2026, 3, 1)) == (date(2025, 7, 1), date(2025, 12, 31))
