"""The yearly training plan (S6.2.1) set against the training held (S6.2.4): what was planned for
a month and not held by its end, and who should have attended and did not."""
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload

from portal.extensions import db
from portal.i18n import to_local
from portal.models import Role, TrainingPlanItem, TrainingSession, User

TRAINED = (Role.STAFF, Role.HEAD, Role.WORKER, Role.ADMIN)  # the company's people
PLANNED, DUE, HELD, LATE, MISSED = "planned", "due", "held", "late", "missed"


@dataclass
class Review:
    """A plan item against the sessions that delivered it."""

    item: TrainingPlanItem
    state: str  # planned (month to come), due (this month, not yet held), held (by the month's end), late, missed
    expected: list = field(default_factory=list)  # the people it is for
    absent: list = field(default_factory=list)  # of those, who attended none of its sessions (once held)

    @property
    def is_gap(self):
        return self.state == MISSED or bool(self.absent)


def month_end(year, month):
    return date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)


def save_item(item, *, year, month, title, topic, method, goal, department_id, people, actor):
    """Adds (item None) or changes a plan item; returns it. Its audience: the department, the people, or both."""
    if item is None:
        item = TrainingPlanItem(created_by_id=actor.id)
        db.session.add(item)
    item.year, item.month, item.title, item.topic, item.method = year, month, title.strip(), topic, method
    item.goal, item.department_id, item.people = (goal or "").strip(), department_id or None, list(people)
    db.session.flush()
    return item


def items(first, last, departments=None):
    """The plan items of the months from `first` to `last` (dates; only year and month count), in
    month order, with their people, sessions and attendance loaded (four statements); only those
    of `departments` if given (a head's)."""
    query = select(TrainingPlanItem).where(
        TrainingPlanItem.year * 12 + TrainingPlanItem.month >= first.year * 12 + first.month,
        TrainingPlanItem.year * 12 + TrainingPlanItem.month <= last.year * 12 + last.month,
    ).options(selectinload(TrainingPlanItem.people), selectinload(TrainingPlanItem.sessions).selectinload(TrainingSession.attendees))
    if departments is not None:
        query = query.where(or_(TrainingPlanItem.department_id.in_(departments),
                                TrainingPlanItem.people.any(User.department_id.in_(departments))))
    return db.session.scalars(query.order_by(TrainingPlanItem.year, TrainingPlanItem.month, TrainingPlanItem.id)).all()


def review(plan, today):
    """[Review] of each item of `plan` on `today` (community date): one more statement, for the
    members of the departments the plan names."""
    departments = {item.department_id for item in plan if item.department_id}
    members = {}
    if departments:
        for person in db.session.scalars(select(User).where(
                User.department_id.in_(departments), User.is_active, User.role.in_(TRAINED)).order_by(User.name)):
            members.setdefault(person.department_id, []).append(person)
    return [_review(item, today, members.get(item.department_id, [])) for item in plan]


def _review(item, today, members):
    end = month_end(item.year, item.month)
    held = [s for s in item.sessions if s.held_on <= end]
    if held:
        state = HELD
    elif item.sessions:
        state = LATE
    elif today > end:
        state = MISSED
    elif today >= end.replace(day=1):
        state = DUE
    else:
        state = PLANNED
    cutoff = max((s.held_on for s in item.sessions), default=end)
    seen, expected = set(), []
    for person in (*members, *item.people):
        joined = to_local(person.created_at).date() if person.created_at else cutoff
        if person.id not in seen and person.is_active and joined <= cutoff:
            seen.add(person.id)
            expected.append(person)
    absent = []
    if item.sessions:
        attended = {a.user_id for s in item.sessions for a in s.attendees}
        absent = [p for p in expected if p.id not in attended]
    return Review(item, state, expected, absent)


def gaps(today, departments=None):
    """The plan's gaps over the twelve months to `today`: items not held by their month's end, and
    items held that someone they were for missed."""
    first = date(today.year - 1, today.month, 1)
    return [r for r in review(items(first, today, departments), today) if r.is_gap]


def session_choices(today):
    """Plan items a session can deliver: this year's and last year's, newest month first."""
    return db.session.execute(
        select(TrainingPlanItem.id, TrainingPlanItem.year, TrainingPlanItem.month, TrainingPlanItem.title)
        .where(TrainingPlanItem.year >= today.year - 1).order_by(TrainingPlanItem.year.desc(), TrainingPlanItem.month.desc())
    ).all()
