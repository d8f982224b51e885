"""Each figure against hand-computed data."""
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.i18n import to_local
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


def test_consultation_turnout_counts_each_consultations_owner_households(app, make_user, make_building):
    a, b = make_building(units=3), make_building(units=2)
    owners = [make_user(units=[u]) for u in (*a.units, *b.units)]
    staff = make_user(role=Role.STAFF)
    both = Consultation(title="问一", deadline=IN, created_by_id=staff.id, buildings=[a, b],
                        options=[ConsultationOption(label="甲"), ConsultationOption(label="乙")])
    only_b = Consultation(title="问二", deadline=IN + timedelta(days=3), created_by_id=staff.id, buildings=[b],
                          options=[ConsultationOption(label="甲"), ConsultationOption(label="乙")])
    outside = Consultation(title="问三", deadline=END + timedelta(days=1), created_by_id=staff.id, buildings=[a],
                           options=[ConsultationOption(label="甲"), ConsultationOption(label="乙")])
    db.session.add_all([both, only_b, outside])
    db.session.flush()
    for consultation, owner in ((both, owners[0]), (both, owners[3]), (only_b, owners[3]), (outside, owners[1])):
        db.session.add(ConsultationAnswer(consultation_id=consultation.id, unit_id=owner.residencies[0].unit_id,
                                          option_id=consultation.options[0].id, user_id=owner.id))
    db.session.commit()
    p = figures.participation(START, END)
    assert (p.extra["answers"], p.extra["asked"]) == (3, 5 + 2)  # households asked: five by the first, two by the second


# The satisfaction survey (S3.5.2) beside the ticket ratings


def _satisfaction_survey(staff, buildings, closes_at, overall_answers, other_answers=(), is_satisfaction=True):
    """A published survey with an overall 1-to-5 question and another 1-to-5 question, answered by one home each."""
    from portal.services import surveys

    opens = closes_at - timedelta(days=10)
    survey = surveys.create("满意度调查", "", buildings, owners_only=False, per_household=True, opens_at=opens, closes_at=closes_at,
                            is_satisfaction=is_satisfaction, actor=staff, now=opens)
    overall = surveys.add_question(survey, "scale", "总体满意吗？", True, [], True, opens)
    other = surveys.add_question(survey, "scale", "保洁满意吗？", False, [], False, opens)
    surveys.publish(survey, opens)
    units = [u for b in buildings for u in b.units]
    for i, value in enumerate(overall_answers):
        unit = units[i]
        raw = {overall.id: [str(value)], other.id: [str(other_answers[i])] if i < len(other_answers) else []}
        surveys.submit(survey, staff, unit.id, raw, ((unit.id, unit.building_id, True),), opens + timedelta(hours=1))
    return survey


def test_the_satisfaction_survey_figure_counts_the_overall_question_of_surveys_closing_in_the_period(app, data, make_user, make_building):
    a, b = make_building(units=4), make_building(units=2)
    staff = make_user(role=Role.STAFF)
    _satisfaction_survey(staff, [a], IN, [5, 4, 3, 1], other_answers=[1, 1, 1, 1])  # the other question never counts
    _satisfaction_survey(staff, [b], IN + timedelta(days=30), [4, 2])
    _satisfaction_survey(staff, [a], END + timedelta(days=1), [1, 1])  # closes after the period
    _satisfaction_survey(staff, [b], IN, [1, 1], is_satisfaction=False)  # an ordinary questionnaire
    db.session.commit()
    result, _ = figures.compute(START, END)
    s = result[FigureKey.SATISFACTION].extra["survey"]
    assert (s.numerator, s.denominator, s.extra["surveys"]) == (3, 6, 2)  # 5, 4 and 4 of 5, 4, 3, 1, 4, 2
    assert s.value == pytest.approx(0.5) and s.extra["average"] == pytest.approx(19 / 6, abs=0.01)
    tickets = result[FigureKey.SATISFACTION]
    assert (tickets.numerator, tickets.denominator) == (2, 3)  # the ticket ratings stay as they were
    in_b, _ = figures.compute(START, END, building=b.id)
    assert (in_b[FigureKey.SATISFACTION].extra["survey"].numerator, in_b[FigureKey.SATISFACTION].extra["survey"].denominator) == (1, 2)


def test_no_satisfaction_survey_in_the_period_gives_no_figure(data):
    result, _ = figures.compute(START, END)
    s = result[FigureKey.SATISFACTION].extra["survey"]
    assert (s.value, s.denominator, s.extra["average"], s.extra["surveys"]) == (None, 0, None, 0)
# Monthly trends: the same month pieces, counted together


SH = timezone(timedelta(hours=8))


def _local_period(first, last):
    return figures.period(first, last)


@pytest.fixture
def months_data(app):
    dept = Department(name="工程")
    db.session.add(dept)
    db.session.flush()
    jan = datetime(2026, 1, 10, 10, 0, tzinfo=SH)
    # January: two repairs (one rated 5, fed back on time), a complaint rated 2 and fed back late
    _ticket(1, created_at=jan, due_at=jan + timedelta(hours=24), feedback_at=jan + timedelta(hours=2), rated_at=jan + timedelta(hours=3), rating=5,
            lead_department_id=dept.id)
    _ticket(2, created_at=jan, due_at=jan + timedelta(hours=24))
    _ticket(3, category=TicketCategory.COMPLAINT, number="TS-2026-0003", created_at=jan, due_at=jan + timedelta(hours=1),
            feedback_at=jan + timedelta(hours=5), rated_at=jan + timedelta(hours=6), rating=2)
    # 28 February 16:30 UTC is 1 March 00:30 in Shanghai: a March ticket, an emergency answered in 10 minutes
    march = datetime(2026, 2, 28, 16, 30, tzinfo=timezone.utc)
    _ticket(4, created_at=march, due_at=march + timedelta(hours=2), is_urgent=True, response_due_at=march + timedelta(minutes=30),
            acknowledged_at=march + timedelta(minutes=10))
    # registered in January, rated at the very start of March in Shanghai (still February in UTC)
    _ticket(5, created_at=jan, due_at=jan + timedelta(hours=24), feedback_at=jan + timedelta(hours=1),
            rated_at=datetime(2026, 2, 28, 16, 0, tzinfo=timezone.utc), rating=4)
    db.session.commit()
    return dept


def test_monthly_series_values_for_known_data(months_data):
    start, end = _local_period(date(2026, 1, 1), date(2026, 3, 31))
    months = figures.monthly(start, end)
    assert [(m.first, m.last) for m in months] == [(date(2026, 1, 1), date(2026, 1, 31)), (date(2026, 2, 1), date(2026, 2, 28)),
                                                   (date(2026, 3, 1), date(2026, 3, 31))]
    jan, feb, mar = months
    assert (jan.figures[FigureKey.SATISFACTION].numerator, jan.figures[FigureKey.SATISFACTION].denominator) == (1, 2)
    assert (jan.figures[FigureKey.TIMELINESS].numerator, jan.figures[FigureKey.TIMELINESS].denominator) == (2, 3)
    assert jan.volume == {TicketCategory.REPAIR: 3, TicketCategory.COMPLAINT: 1} and jan.total == 4
    assert feb.volume == {} and feb.figures[FigureKey.SATISFACTION].value is None
    assert mar.volume == {TicketCategory.REPAIR: 1}
    assert mar.figures[FigureKey.SATISFACTION].value == 1.0  # ticket 5's rating, in March by Shanghai time
    assert (mar.figures[FigureKey.EMERGENCY].numerator, mar.figures[FigureKey.EMERGENCY].denominator) == (1, 1)
    assert mar.figures[FigureKey.EMERGENCY].extra["ack_minutes"] == 10.0


def test_monthly_series_agree_with_the_figures_of_each_month_and_filter_alike(months_data):
    months = figures.monthly(*_local_period(date(2026, 1, 1), date(2026, 3, 31)), department=months_data.id)
    assert [m.total for m in months] == [1, 0, 0]
    for first, last in ((date(2026, 1, 1), date(2026, 1, 31)), (date(2026, 3, 1), date(2026, 3, 31))):
        whole, _ = figures.compute(*_local_period(first, last))
        (month,) = figures.monthly(*_local_period(first, last))
        for key in (FigureKey.SATISFACTION, FigureKey.TIMELINESS, FigureKey.EMERGENCY, FigureKey.RESOLUTION, FigureKey.ACCURACY):
            assert (month.figures[key].numerator, month.figures[key].denominator) == (whole[key].numerator, whole[key].denominator)


def test_a_period_starting_mid_month_counts_only_its_days(months_data):
    (part,) = figures.monthly(*_local_period(date(2026, 1, 11), date(2026, 1, 31)))
    assert part.first == date(2026, 1, 11) and part.total == 0  # the January tickets came on the 10th


def _statements(fn):
    from sqlalchemy import event

    seen = []

    def before(conn, cursor, statement, *args):
        if "ticket" in statement and "cache_version" not in statement:
            seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", before)
    try:
        fn()
    finally:
        event.remove(db.engine, "before_cursor_execute", before)
    return seen


def test_the_months_are_counted_together_and_kept_each_on_its_own(months_data, monkeypatch):
    from portal import cache

    cache.clear()
    two_years = _local_period(date(2025, 1, 1), date(2026, 12, 31))
    assert len(_statements(lambda: figures.monthly(*two_years))) == 2  # 24 months: one grouped count, one list of emergencies
    assert _statements(lambda: figures.monthly(*two_years)) == []  # all kept
    built = []
    original = figures._build_pieces
    monkeypatch.setattr(figures, "_build_pieces", lambda pieces: built.extend(pieces) or original(pieces))
    ticket = db.session.scalar(select(Ticket).where(Ticket.number == "BX-2026-0004"))
    ticket.rating, ticket.rated_at = 3, datetime(2026, 3, 5, tzinfo=SH)
    db.session.commit()
    figures.monthly(*two_years)
    assert [to_local(a).date() for a, _b in built] == [date(2026, 3, 1)]  # only the changed month was counted again


def test_trend_start_and_the_half_year_to_date():
    assert figures.trend_start(date(2026, 7, 1), date(2026, 12, 5)) == date(2026, 1, 1)  # twelve months to December
    assert figures.trend_start(date(2026, 1, 1), date(2026, 6, 30)) == date(2025, 7, 1)
    assert figures.trend_start(date(2024, 3, 15), date(2026, 6, 30)) == date(2024, 3, 1)  # a longer chosen period: all of it
    assert figures.half_year_to_date(date(2026, 12, 5)) == (date(2026, 7, 1), date(2026, 12, 5))
    assert figures.half_year_to_date(date(2026, 6, 30)) == (date(2026, 1, 1), date(2026, 6, 30))
