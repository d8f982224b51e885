"""The figures of S5.1.1, computed from the records themselves: satisfaction, resolution rate,
timeliness, emergency response, accuracy and participation, for any period, by category,
department and building."""
import functools
from bisect import bisect_right
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, case, func, select

from portal import cache
from portal.extensions import db
from portal.i18n import community_tz, from_local, to_local
from portal.models import (
    Consultation,
    ConsultationAnswer,
    Event,
    EventSignup,
    FigureKey,
    MeasureStatus,
    QuestionKind,
    PublishedFigures,
    Residency,
    SignupStatus,
    Survey,
    SurveyAnswer,
    SurveyQuestion,
    SurveyResponse,
    Ticket,
    TicketCategory,
    Unit,
    consultation_building,
)
from portal.services import settings

LABELS = {
    FigureKey.SATISFACTION: _l("Satisfaction"),
    FigureKey.RESOLUTION: _l("Resolution rate"),
    FigureKey.TIMELINESS: _l("Results given on time"),
    FigureKey.EMERGENCY: _l("Emergencies answered in time"),
    FigureKey.ACCURACY: _l("Accuracy"),
    FigureKey.PARTICIPATION: _l("Participation"),
}
MEASURE_STATUSES = {
    MeasureStatus.PLANNED: _l("planned"),
    MeasureStatus.IN_PROGRESS: _l("in progress"),
    MeasureStatus.MET: _l("goal met"),
    MeasureStatus.MISSED: _l("goal missed"),
    MeasureStatus.REVISED: _l("revised"),
}
TARGETS = {
    FigureKey.SATISFACTION: "target_satisfaction",
    FigureKey.RESOLUTION: "target_resolution",
    FigureKey.TIMELINESS: "target_timeliness",
    FigureKey.EMERGENCY: "target_emergency",
    FigureKey.ACCURACY: "target_accuracy",
    FigureKey.PARTICIPATION: "target_participation",
}


@dataclass
class Figure:
    key: FigureKey
    value: float | None  # 0..1 (participation: sign-ups per household)
    numerator: int
    denominator: int
    extra: dict

    @property
    def percent(self):
        return None if self.value is None else round(self.value * 100, 1)


def period(start_day, end_day):
    """Days (inclusive, community time) as [start, end) in UTC."""
    return from_local(datetime.combine(start_day, datetime.min.time())), from_local(datetime.combine(end_day + timedelta(days=1), datetime.min.time()))


def half_year_before(today):
    """The last complete half year: January–June or July–December."""
    if today.month > 6:
        return date(today.year, 1, 1), date(today.year, 6, 30)
    return date(today.year - 1, 7, 1), date(today.year - 1, 12, 31)


def _in(column, start, end):
    return and_(column >= start, column < end)


def _ticket_columns(start, end):
    created = _in(Ticket.created_at, start, end)
    fed = _in(Ticket.feedback_at, start, end)
    rated = _in(Ticket.rated_at, start, end)
    return [
        func.sum(case((created, 1), else_=0)).label("created"),
        func.sum(case((and_(created, Ticket.resolved_at.is_not(None)), 1), else_=0)).label("resolved"),
        func.sum(case((fed, 1), else_=0)).label("fed"),
        func.sum(case((and_(fed, Ticket.feedback_at <= Ticket.due_at), 1), else_=0)).label("on_time"),
        func.sum(case((rated, 1), else_=0)).label("rated"),
        func.sum(case((rated, Ticket.rating), else_=0)).label("rating_sum"),
        func.sum(case((and_(rated, Ticket.rating >= 4), 1), else_=0)).label("satisfied"),
        func.sum(case((and_(created, Ticket.is_urgent), 1), else_=0)).label("urgent"),
        # answered in time: acknowledged (a page's link, the button, or a call reaching the head) within the policy's minutes
        func.sum(case((and_(created, Ticket.is_urgent, Ticket.acknowledged_at <= Ticket.response_due_at), 1), else_=0)).label("urgent_ok"),
        func.sum(case((and_(created, (Ticket.reopened_count > 0) | (Ticket.reclassified_count > 0)), 1), else_=0)).label("inaccurate"),
    ]


def _touching(start, end):
    return (_in(Ticket.created_at, start, end)) | (_in(Ticket.feedback_at, start, end)) | (_in(Ticket.rated_at, start, end))


def _ratio(a, b):
    return (a / b) if b else None


def _ticket_figures(counts):
    created, resolved, fed, on_time, rated, rating_sum, satisfied, urgent, urgent_ok, inaccurate = counts
    return {
        FigureKey.SATISFACTION: Figure(FigureKey.SATISFACTION, _ratio(satisfied, rated), satisfied, rated,
                                       {"average": round(rating_sum / rated, 2) if rated else None}),
        FigureKey.RESOLUTION: Figure(FigureKey.RESOLUTION, _ratio(resolved, created), resolved, created, {}),
        FigureKey.TIMELINESS: Figure(FigureKey.TIMELINESS, _ratio(on_time, fed), on_time, fed, {"late": fed - on_time}),
        FigureKey.EMERGENCY: Figure(FigureKey.EMERGENCY, _ratio(urgent_ok, urgent), urgent_ok, urgent,
                                    {"minutes": settings.get("emergency_response_minutes")}),
        FigureKey.ACCURACY: Figure(FigureKey.ACCURACY, _ratio(created - inaccurate, created), created - inaccurate, created,
                                   {"inaccurate": inaccurate}),
    }


# A period's figures are sums over its tickets, so they are computed in pieces: the period cut at
# the community's month starts. Each piece is kept until a ticket of one of its months changes
# (cache.month_key), so after a write only the pieces of that ticket's months are counted again,
# and every period containing a whole month shares its piece.


def _pieces(start, end):
    """[start, end) cut at the community's month starts, as [(a, b), ...]."""
    cuts = [start]
    month = to_local(start).date().replace(day=1)
    while True:
        month = (month + timedelta(days=32)).replace(day=1)
        cut = from_local(datetime.combine(month, datetime.min.time()))
        if cut >= end:
            break
        cuts.append(cut)
    cuts.append(end)
    return list(zip(cuts, cuts[1:]))


def _month_keys(a, b):
    """The cache keys of the community's months [a, b) overlaps: what a piece depends on."""
    return _month_keys_in(a, b, community_tz())


@functools.lru_cache(maxsize=1024)
def _month_keys_in(a, b, _zone):
    """(Worked out once per interval and time zone: every view of the figures asks for them.)"""
    keys, month, last = [], to_local(a).date().replace(day=1), to_local(b - timedelta(microseconds=1)).date()
    while month <= last:
        keys.append(cache.month_key(from_local(datetime.combine(month, datetime.min.time()))))
        month = (month + timedelta(days=32)).replace(day=1)
    return tuple(keys)


def period_keys(start, end):
    """What the figures of [start, end) depend on: the cache keys of its months' tickets."""
    return _month_keys(start, end)


def day_keys(first_day, last_day):
    """period_keys() of the days first_day to last_day (community time), worked out once per pair."""
    return _day_keys_in(first_day, last_day, community_tz())


@functools.lru_cache(maxsize=1024)
def _day_keys_in(first_day, last_day, _zone):
    return period_keys(*period(first_day, last_day))


def _bucket(column, cuts):
    """Which of the intervals [cuts[i], cuts[i+1]) `column` falls in (its index), else NULL."""
    whens = [(column < cuts[0], None)] + [(column < cut, i) for i, cut in enumerate(cuts[1:])]
    return case(*whens, else_=None)


def _build_pieces(pieces):
    """{(a, b): piece} for the `pieces` (month pieces, which may overlap: a period's first days
    and the whole month), all in two statements: the tickets grouped by the interval of each of
    their three times (between all the pieces' cut points) and by category, department and
    building; then each piece is the sum of its intervals. A piece is {"counts": [(category,
    department, building, the ten counts of _ticket_columns)], "urgent": [(category, department,
    building, minutes to acknowledgement, minutes to on site)]}."""
    cuts = sorted({t for piece in pieces for t in piece})
    groups = (Ticket.category, Ticket.lead_department_id, Ticket.building_id)
    inner = select(
        _bucket(Ticket.created_at, cuts).label("cb"), _bucket(Ticket.feedback_at, cuts).label("fb"),
        _bucket(Ticket.rated_at, cuts).label("rb"), *groups,
        case((Ticket.resolved_at.is_not(None), 1), else_=0).label("resolved"),
        case((Ticket.feedback_at <= Ticket.due_at, 1), else_=0).label("on_time"),
        func.coalesce(Ticket.rating, 0).label("rating"),
        case((Ticket.rating >= 4, 1), else_=0).label("satisfied"),
        case((Ticket.is_urgent, 1), else_=0).label("urgent"),
        case((and_(Ticket.is_urgent, Ticket.acknowledged_at <= Ticket.response_due_at), 1), else_=0).label("urgent_ok"),
        case(((Ticket.reopened_count > 0) | (Ticket.reclassified_count > 0), 1), else_=0).label("inaccurate"),
    ).where(_touching(cuts[0], cuts[-1])).subquery()
    keys = (inner.c.cb, inner.c.fb, inner.c.rb, inner.c.category, inner.c.lead_department_id, inner.c.building_id)
    rows = db.session.execute(select(*keys, func.count(), *(func.sum(inner.c[n]) for n in (
        "resolved", "on_time", "rating", "satisfied", "urgent", "urgent_ok", "inaccurate"))).group_by(*keys)).all()
    urgent = db.session.execute(
        select(*groups, Ticket.created_at, Ticket.acknowledged_at, Ticket.on_site_at).where(Ticket.is_urgent, _in(Ticket.created_at, cuts[0], cuts[-1]))
    ).all()
    intervals = [{} for _ in cuts[1:]]  # per interval: {(category, department, building): [ten counts]}
    for cb, fb, rb, c, d, g, n, resolved, on_time, rating, satisfied, urgent_n, urgent_ok, inaccurate in rows:
        for index, positions, values in ((cb, (0, 1, 7, 8, 9), (n, resolved, urgent_n, urgent_ok, inaccurate)),
                                         (fb, (2, 3), (n, on_time)), (rb, (4, 5, 6), (n, rating, satisfied))):
            if index is not None:
                counts = intervals[index].setdefault((c, d, g), [0] * 10)
                for position, value in zip(positions, values):
                    counts[position] += int(value or 0)
    urgent_at = [[] for _ in cuts[1:]]
    for c, d, g, created, ack, site in urgent:
        urgent_at[bisect_right(cuts, created) - 1].append((c, d, g, _minutes(created, ack), _minutes(created, site)))
    built = {}
    for a, b in pieces:
        summed = {}
        for interval in range(cuts.index(a), cuts.index(b)):
            for group, counts in intervals[interval].items():
                summed[group] = [x + y for x, y in zip(summed.get(group, [0] * 10), counts)]
        built[(a, b)] = {
            "counts": [(*group, tuple(counts)) for group, counts in summed.items()],
            "urgent": [row for interval in range(cuts.index(a), cuts.index(b)) for row in urgent_at[interval]],
        }
    return built


def _load(pieces):
    """The pieces' data, each kept until a ticket of one of its months changes; those not kept
    are counted together (_build_pieces): two statements however many months are missing."""
    return cache.cached_many("figures-piece", [(piece, _month_keys(*piece)) for piece in pieces], _build_pieces)


def prefetch(*ranges):
    """Counts the pieces of several ranges ([start, end) pairs) in one go, so that compute() and
    monthly() over them afterwards find every piece kept."""
    pieces = list(dict.fromkeys(piece for start, end in ranges for piece in _pieces(start, end)))
    _load(pieces)


def _minutes(since, until):
    return None if until is None else (until - since).total_seconds() / 60


def _sum(rows):
    return tuple(map(sum, zip(*rows))) if rows else (0,) * 10


def _keeper(category, department, building):
    """Whether a row (category, department, building) is in the figures asked for."""
    category = TicketCategory(category) if category else None

    def kept(c, d, g):
        return (category is None or c == category) and (not department or d == department) and (not building or g == building)

    return kept


def compute(start, end, category=None, department=None, building=None):
    """All figures for [start, end), with breakdowns by category, department and building."""
    kept = _keeper(category, department, building)
    counts, urgent = [], []
    for piece in _load(_pieces(start, end)):
        counts += [row for row in piece["counts"] if kept(*row[:3])]
        urgent += [row for row in piece["urgent"] if kept(*row[:3])]
    result = _ticket_figures(_sum([row[3] for row in counts]))
    result[FigureKey.EMERGENCY].extra.update(_emergency_times(urgent))
    result[FigureKey.PARTICIPATION] = participation(start, end, building)
    result[FigureKey.SATISFACTION].extra["survey"] = survey_satisfaction(start, end, building)
    breakdowns = {}
    for position, name in enumerate(("category", "department", "building")):
        groups = {}
        for row in counts:
            if row[position] is not None:
                groups.setdefault(row[position], []).append(row[3])
        breakdowns[name] = {key: _ticket_figures(_sum(groups[key])) for key in sorted(groups)}
    for department_id, figures in breakdowns["department"].items():
        figures[FigureKey.EMERGENCY].extra.update(_emergency_times([row for row in urgent if row[1] == department_id]))
    return result, breakdowns


@dataclass
class Month:
    """One month of a trend: the days of it counted, its ticket figures, tickets registered per category."""

    first: date  # the first day counted (the month's first, or the period's)
    last: date  # the last day counted, inclusive
    figures: dict
    volume: dict  # TicketCategory -> tickets registered

    @property
    def total(self):
        return sum(self.volume.values())


def monthly(start, end, category=None, department=None, building=None):
    """The ticket figures of each community month of [start, end), oldest first: the same month
    pieces as compute(), so a trend and its period's figures share what they count."""
    kept = _keeper(category, department, building)
    pieces = _pieces(start, end)
    months = []
    for (a, b), piece in zip(pieces, _load(pieces)):
        counts = [row for row in piece["counts"] if kept(*row[:3])]
        figures = _ticket_figures(_sum([row[3] for row in counts]))
        figures[FigureKey.EMERGENCY].extra.update(_emergency_times([row for row in piece["urgent"] if kept(*row[:3])]))
        volume = {}
        for c, _d, _g, numbers in counts:
            if numbers[0]:
                volume[c] = volume.get(c, 0) + numbers[0]
        months.append(Month(to_local(a).date(), to_local(b - timedelta(microseconds=1)).date(), figures, volume))
    return months


def half_year_to_date(today):
    """The half year `today` is in, from its first day to today."""
    return date(today.year, 1 if today.month <= 6 else 7, 1), today


def trend_start(start_day, end_day):
    """Where the monthly trend of a period begins: the period's first month, or twelve months
    before its last month if the period is shorter than that."""
    twelve = date(end_day.year - (1 if end_day.month < 12 else 0), end_day.month % 12 + 1, 1)
    return min(start_day, twelve).replace(day=1)


def _median(values):
    values = sorted(values)
    if not values:
        return None
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2


def _emergency_times(urgent):
    """Minutes from registration to the acknowledgement and to someone on site, for the period's
    emergencies: the median of each, and how many were never acknowledged."""
    median_ack = _median([row[3] for row in urgent if row[3] is not None])
    median_site = _median([row[4] for row in urgent if row[4] is not None])
    return {
        "ack_minutes": round(median_ack, 1) if median_ack is not None else None,
        "on_site_minutes": round(median_site, 1) if median_site is not None else None,
        "unacknowledged": sum(1 for row in urgent if row[3] is None),
    }


def participation(start, end, building=None):
    """Event sign-ups and attendance per household, and consultation turnout, in the period."""
    households_q = select(func.count(func.distinct(Residency.unit_id))).join(Unit, Unit.id == Residency.unit_id)
    signups_q = select(
        func.count(EventSignup.id), func.sum(case((EventSignup.attended.is_(True), 1), else_=0))
    ).join(Event, Event.id == EventSignup.event_id).where(EventSignup.status == SignupStatus.CONFIRMED, _in(Event.starts_at, start, end))
    if building:
        households_q = households_q.where(Unit.building_id == building)
        signups_q = signups_q.join(Unit, Unit.id == EventSignup.unit_id).where(Unit.building_id == building)
    households = db.session.scalar(households_q) or 0
    signups, attended = db.session.execute(signups_q).one()
    signups, attended = int(signups or 0), int(attended or 0)
    # consultation turnout: answers of the period's consultations against the owner households
    # each asked (a household asked twice counts twice), in two statements however many there are
    closing = _in(Consultation.deadline, start, end)
    answers = db.session.scalar(
        select(func.count(ConsultationAnswer.id)).join(Consultation, Consultation.id == ConsultationAnswer.consultation_id).where(closing)
    ) or 0
    pairs = (select(consultation_building.c.consultation_id, Residency.unit_id).select_from(consultation_building)
             .join(Consultation, Consultation.id == consultation_building.c.consultation_id)
             .join(Unit, Unit.building_id == consultation_building.c.building_id).join(Residency, Residency.unit_id == Unit.id)
             .where(closing, Residency.is_owner).distinct())
    asked = db.session.scalar(select(func.count()).select_from(pairs.subquery())) or 0
    return Figure(FigureKey.PARTICIPATION, _ratio(signups, households), signups, households, {
        "attended": attended, "attendance": _ratio(attended, households), "answers": answers, "asked": asked,
        "turnout": _ratio(answers, asked),
    })


def survey_satisfaction(start, end, building=None):
    """The satisfaction surveys closing in [start, end) (S3.5.2): their overall 1-to-5 question
    counted as a ticket's rating is (satisfied: 4 or 5), beside the ticket ratings, never mixed
    with them. One statement."""
    query = (
        select(func.count(SurveyAnswer.id), func.sum(case((SurveyAnswer.scale >= 4, 1), else_=0)), func.sum(SurveyAnswer.scale),
               func.count(func.distinct(Survey.id)))
        .join(SurveyQuestion, SurveyQuestion.id == SurveyAnswer.question_id).join(Survey, Survey.id == SurveyQuestion.survey_id)
        .where(Survey.is_satisfaction, Survey.published_at.is_not(None), _in(Survey.closes_at, start, end),
               SurveyQuestion.is_overall, SurveyQuestion.kind == QuestionKind.SCALE, SurveyAnswer.scale.is_not(None))
    )
    if building:
        query = (query.join(SurveyResponse, SurveyResponse.id == SurveyAnswer.response_id).join(Unit, Unit.id == SurveyResponse.unit_id)
                 .where(Unit.building_id == building))
    answers, satisfied, total, surveys = (int(v or 0) for v in db.session.execute(query).one())
    return Figure(FigureKey.SATISFACTION, _ratio(satisfied, answers), satisfied, answers,
                  {"average": round(total / answers, 2) if answers else None, "surveys": surveys})


def target(key):
    """The target as a value comparable to Figure.value."""
    value = settings.get(TARGETS[key])
    return value / 100


def met(figure):
    return None if figure.value is None else figure.value >= target(figure.key)


def single(key, start, end, department=None):
    """One figure, for a measure's before/after."""
    figures, _ = compute(start, end, department=department)
    return figures[FigureKey(key)].value


def publish(start_day, end_day, actor):
    """The headline figures of [start_day, end_day] (on time, resolved, satisfied; per department),
    published to residents and the lobby screens; returns the PublishedFigures row."""
    start, end = period(start_day, end_day)
    result, breakdowns = compute(start, end)
    names = cache.names()

    def pct(figure):
        return None if figure.value is None else round(figure.value * 100, 1)

    data = {
        "on_time": pct(result[FigureKey.TIMELINESS]), "resolution": pct(result[FigureKey.RESOLUTION]),
        "satisfaction": pct(result[FigureKey.SATISFACTION]), "average": result[FigureKey.SATISFACTION].extra["average"],
        "departments": [
            {"name": names["departments"].get(d, ""), "on_time": pct(f[FigureKey.TIMELINESS]), "resolution": pct(f[FigureKey.RESOLUTION]),
             "satisfaction": pct(f[FigureKey.SATISFACTION])}
            for d, f in sorted(breakdowns["department"].items())
        ],
    }
    row = PublishedFigures(period_start=start_day, period_end=end_day, data=data, published_by_id=actor.id)
    db.session.add(row)
    db.session.flush()
    return row
