"""What the policy repeats, checked against what was done: a weekly inter-department coordination
meeting (S4.1.2, a communication record of kind `coordination`), a community activity every month
(S4.3.2) and an owners' forum every quarter (S4.3.1), each period in community time, from the
period the portal started in up to the current one."""
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select

from portal.extensions import db
from portal.i18n import from_local, to_local
from portal.models import CommRecord, Event, EventType, RecordKind, User

WEEK, MONTH, QUARTER = "week", "month", "quarter"
WHAT = {"coordination": WEEK, "activity": MONTH, "forum": QUARTER}


@dataclass(frozen=True)
class Gap:
    """A period (days inclusive, community time) in which something the policy repeats is missing."""

    what: str  # "coordination", "activity" or "forum"
    first: date
    last: date
    is_current: bool

    @property
    def quarter(self):
        return (self.first.month - 1) // 3 + 1


def portal_start():
    """The day (community time) the portal began: when its first account was made."""
    first = db.session.scalar(select(User.created_at).order_by(User.id).limit(1))
    return to_local(first).date() if first else None


def period_of(kind, day):
    """The period of `kind` containing `day`: (first, last) days, inclusive."""
    if kind == WEEK:
        first = day - timedelta(days=day.weekday())  # weeks start on Monday
        return first, first + timedelta(days=6)
    if kind == MONTH:
        first = day.replace(day=1)
        return first, _next_month(first) - timedelta(days=1)
    first = date(day.year, (day.month - 1) // 3 * 3 + 1, 1)
    return first, _next_month(_next_month(_next_month(first))) - timedelta(days=1)


def _next_month(first):
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)


def periods(kind, since, today):
    """Every period of `kind` from the one containing `since` to the one containing `today`."""
    found = []
    first, last = period_of(kind, since)
    while first <= today:
        found.append((first, last))
        first, last = period_of(kind, last + timedelta(days=1))
    return found


def _utc(day):
    return from_local(datetime.combine(day, datetime.min.time()))


def missing(now, since=None):
    """{"coordination": [Gap], "activity": [Gap], "forum": [Gap]}, newest first: the periods from
    the portal's start (or `since`) to the current one in which the thing was not done (or, for
    the current period, not yet done or planned). Cancelled events do not count. Two statements."""
    since = since or portal_start()
    gaps = {what: [] for what in WHAT}
    if since is None:
        return gaps
    today = to_local(now).date()
    if since > today:
        return gaps
    weeks, months, quarters = (periods(kind, since, today) for kind in (WEEK, MONTH, QUARTER))
    held = {"coordination": set(), "activity": set(), "forum": set()}
    meetings = db.session.scalars(select(CommRecord.occurred_at).where(
        CommRecord.kind == RecordKind.COORDINATION, CommRecord.occurred_at >= _utc(weeks[0][0]),
        CommRecord.occurred_at < _utc(weeks[-1][1] + timedelta(days=1)),
    ))
    held["coordination"] = {period_of(WEEK, to_local(at).date()) for at in meetings}
    events = db.session.execute(select(Event.kind, Event.starts_at).where(
        Event.kind.in_((EventType.ACTIVITY, EventType.FORUM)), Event.cancelled_at.is_(None),
        Event.starts_at >= _utc(min(months[0][0], quarters[0][0])), Event.starts_at < _utc(quarters[-1][1] + timedelta(days=1)),
    ))
    for kind, starts_at in events:
        what = "activity" if kind == EventType.ACTIVITY else "forum"
        held[what].add(period_of(WHAT[what], to_local(starts_at).date()))
    for what, all_periods in (("coordination", weeks), ("activity", months), ("forum", quarters)):
        gaps[what] = [Gap(what, first, last, first <= today <= last) for first, last in reversed(all_periods)
                      if (first, last) not in held[what]]
    return gaps
