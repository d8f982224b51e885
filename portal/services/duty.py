"""The duty rota (值班表): who is on duty in each department, and the company's duty manager, at any
moment; their deputies; the coming two weeks; the hours nobody covers."""
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from portal.extensions import db
from portal.i18n import community_tz, to_local
from portal.models import Department, RotaChange, RotaEntry, Shift, User

WEEKDAYS = range(7)


class RotaError(ValueError):
    pass


@dataclass
class Holder:
    shift: Shift
    day: date  # the day the shift started
    primary: User | None
    deputy: User | None
    changed: RotaChange | None = None

    @property
    def starts(self):
        return datetime.combine(self.day, self.shift.starts, tzinfo=community_tz())

    @property
    def ends(self):
        end_day = self.day if self.shift.ends > self.shift.starts else self.day + timedelta(days=1)
        return datetime.combine(end_day, self.shift.ends, tzinfo=community_tz())


class Rota:
    """Every active shift, its weekly pattern and the changes around now, loaded in three queries."""

    def __init__(self, around=None, days=15):
        self.shifts = db.session.scalars(
            select(Shift).options(selectinload(Shift.pattern).selectinload(RotaEntry.primary), selectinload(Shift.pattern).selectinload(RotaEntry.deputy))
            .where(Shift.is_active).order_by(Shift.department_id, Shift.starts)
        ).all()
        query = select(RotaChange).options(selectinload(RotaChange.primary), selectinload(RotaChange.deputy))
        if around is not None:
            first = to_local(around).date() - timedelta(days=1)
            query = query.where(RotaChange.day >= first, RotaChange.day <= first + timedelta(days=days + 1))
        self.changes = {(c.shift_id, c.day): c for c in db.session.scalars(query)}

    def of(self, department_id):
        return [s for s in self.shifts if s.department_id == department_id]

    def holder(self, shift, day):
        change = self.changes.get((shift.id, day))
        if change is not None:
            return Holder(shift, day, change.primary, change.deputy, change)
        entry = next((e for e in shift.pattern if e.weekday == day.weekday()), None)
        return Holder(shift, day, entry.primary if entry else None, entry.deputy if entry else None)

    def on_duty(self, department_id, at):
        """Who holds `department_id`'s shift at `at` (department None: the duty manager), or None."""
        local = to_local(at)
        for shift in self.of(department_id):
            for day in (local.date(), local.date() - timedelta(days=1)):
                held = self.holder(shift, day)
                if held.starts <= local < held.ends:
                    return held
        return None

    def schedule(self, department_id, start_day, days=14):
        """[(day, [Holder per shift])] for the coming days."""
        return [(start_day + timedelta(days=n), [self.holder(s, start_day + timedelta(days=n)) for s in self.of(department_id)])
                for n in range(days)]

    def gaps(self, departments, now, days=14):
        """[(department or None, from, until)]: stretches of the coming days nobody is on duty for."""
        found = []
        start = to_local(now).replace(minute=0, second=0, microsecond=0)
        for department in [None, *departments]:
            department_id = department.id if department is not None else None
            gap_from = None
            for hour in range(days * 24 + 1):
                at = start + timedelta(hours=hour)
                held = self.on_duty(department_id, at) if hour < days * 24 else "end"
                empty = held is None or (held != "end" and held.primary is None)
                if empty and gap_from is None:
                    gap_from = at
                elif not empty and gap_from is not None:
                    found.append((department, gap_from, at))
                    gap_from = None
        return found


def on_duty(department_id, at):
    return Rota(at, days=1).on_duty(department_id, at)


def on_duty_people(department_id, at):
    """(primary, deputy) on duty, either None."""
    held = on_duty(department_id, at)
    return (held.primary, held.deputy) if held else (None, None)


def add_shift(department, name, starts, ends):
    if starts == ends:
        raise RotaError(_("A shift must not start and end at the same time."))
    shift = Shift(department_id=department.id if department else None, name=name.strip(), starts=starts, ends=ends)
    db.session.add(shift)
    db.session.flush()
    return shift


def set_pattern(shift, weekday, primary, deputy):
    if weekday not in WEEKDAYS:
        raise RotaError(_("Choose a day of the week."))
    if primary is not None and deputy is not None and primary.id == deputy.id:
        raise RotaError(_("The deputy must be someone else."))
    entry = next((e for e in shift.pattern if e.weekday == weekday), None)
    if entry is None:
        entry = RotaEntry(weekday=weekday)
        shift.pattern.append(entry)
    entry.primary_id = primary.id if primary else None
    entry.deputy_id = deputy.id if deputy else None
    return entry


def change_day(shift, day, primary, deputy, reason, actor, now):
    """A swap or leave for one day; with neither person given the change is removed."""
    if not reason.strip() and (primary or deputy):
        raise RotaError(_("Say why the day differs (a swap, leave ...)."))
    if primary is not None and deputy is not None and primary.id == deputy.id:
        raise RotaError(_("The deputy must be someone else."))
    change = db.session.scalar(select(RotaChange).where(RotaChange.shift_id == shift.id, RotaChange.day == day))
    if primary is None and deputy is None:
        if change is not None:
            db.session.delete(change)
        return None
    if change is None:
        change = RotaChange(shift_id=shift.id, day=day)
        db.session.add(change)
    change.primary_id = primary.id if primary else None
    change.deputy_id = deputy.id if deputy else None
    change.reason = reason.strip()[:200]
    change.changed_by_id = actor.id
    change.changed_at = now
    return change


def staff_choices(department_id):
    """Who may hold a department's shift: its people (the duty manager: heads and administrators)."""
    from portal.models import Role

    query = select(User).where(User.is_active, User.role.in_([Role.STAFF, Role.HEAD, Role.WORKER, Role.ADMIN]))
    if department_id is not None:
        query = query.where(User.department_id == department_id)
    else:
        query = query.where(User.role.in_([Role.HEAD, Role.ADMIN]))
    return db.session.scalars(query.order_by(User.name)).all()


def departments():
    return db.session.scalars(select(Department).where(Department.is_active).order_by(Department.id)).all()
