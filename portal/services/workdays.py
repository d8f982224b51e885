"""The working calendar: ordinary due times count working hours (setting, default 08:30–17:30) on
working days, in the community's time zone. Which days are working days comes, in this order,
from what the administrator entered for the year (the State Council publishes the holidays and
make-up working days, 调休, each autumn), from the chinesecalendar package (it knows the years it
was released with), and otherwise from Monday to Friday, which the admin page then points out.
Emergencies count wall-clock minutes and do not use this."""
from datetime import date, datetime, time, timedelta

import chinese_calendar
from sqlalchemy import extract, select

from portal import cache
from portal.extensions import db
from portal.i18n import community_tz, to_local
from portal.models import CalendarDay

ENTERED = "entered"
PACKAGE = "chinesecalendar"
WEEKDAYS = "weekdays"
MAX_DAYS = 3660  # how far a due time may be looked for


def _entered(year):
    """{date: (is_workday, name)} the administrator entered for `year`, kept until settings change."""

    def build():
        rows = db.session.scalars(select(CalendarDay).where(extract("year", CalendarDay.day) == year))
        return {r.day: (r.is_workday, r.name) for r in rows}, None

    return cache.cached("calendar", year, cache.SETTINGS, build)


def _package_knows(year):
    try:
        chinese_calendar.is_workday(date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


def source(year):
    """Where the year's working days come from: entered, chinesecalendar or weekdays."""
    if _entered(year):
        return ENTERED
    if _package_knows(year):
        return PACKAGE
    return WEEKDAYS


def is_workday(day):
    entered = _entered(day.year)
    if entered:
        found = entered.get(day)
        return found[0] if found else day.weekday() < 5
    try:
        return chinese_calendar.is_workday(day)
    except NotImplementedError:
        return day.weekday() < 5


def _clock(value):
    hours, _, minutes = str(value).partition(":")
    return time(int(hours), int(minutes or 0))


def working_hours():
    from portal.services import settings

    return _clock(settings.get("work_day_start")), _clock(settings.get("work_day_end"))


def _windows(start_local):
    """The working windows (local, naive) from the day of `start_local` on."""
    begin, end = working_hours()
    day = start_local.date()
    for _ in range(MAX_DAYS):
        if is_workday(day):
            yield datetime.combine(day, begin), datetime.combine(day, end)
        day += timedelta(days=1)


def add_working_time(start, seconds):
    """The moment `seconds` of working time after `start` (aware UTC in, aware UTC out)."""
    tz = community_tz()
    local = to_local(start).replace(tzinfo=None)
    left = max(int(seconds), 0)
    for window_start, window_end in _windows(local):
        begin = max(local, window_start)
        if begin >= window_end:
            continue
        available = (window_end - begin).total_seconds()
        if left <= available:
            return (begin + timedelta(seconds=left)).replace(tzinfo=tz).astimezone(start.tzinfo)
        left -= available
    return start + timedelta(seconds=seconds)  # pragma: no cover - ten years without a working day


def add_working_hours(start, hours):
    return add_working_time(start, hours * 3600)


def working_seconds_between(start, end):
    """Working time from `start` to `end` (0 when end is not later)."""
    if end <= start:
        return 0
    local_start, local_end = to_local(start).replace(tzinfo=None), to_local(end).replace(tzinfo=None)
    total = 0.0
    for window_start, window_end in _windows(local_start):
        if window_start >= local_end:
            break
        begin, finish = max(local_start, window_start), min(local_end, window_end)
        if finish > begin:
            total += (finish - begin).total_seconds()
    return int(total)


def parse_year(text, year):
    """Lines like '2027-01-01 元旦' (a holiday) or '2027-02-07 补班' / '2027-02-07 上班' (a make-up
    working day) for `year`. Returns ({date: (is_workday, name)}, [errors])."""
    days, errors = {}, []
    for n, line in enumerate((text or "").splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        raw, _, name = line.partition(" ")
        try:
            day = date.fromisoformat(raw.strip())
        except ValueError:
            errors.append((n, line))
            continue
        if day.year != year:
            errors.append((n, line))
            continue
        name = name.strip()
        working = any(word in name for word in ("补班", "上班", "调休上班", "workday", "work"))
        days[day] = (working, name[:64])
    return days, errors


def save_year(year, days):
    """Replaces what was entered for `year` (an empty dict: back to the package or weekdays)."""
    db.session.execute(CalendarDay.__table__.delete().where(extract("year", CalendarDay.day) == year))
    for day, (working, name) in sorted(days.items()):
        db.session.add(CalendarDay(day=day, is_workday=working, name=name))
    cache.bump(cache.SETTINGS)


def coverage(today, years_ahead=1):
    """[(year, source)] for this year and the next: the admin page warns of `weekdays`."""
    return [(y, source(y)) for y in range(today.year, today.year + years_ahead + 1)]
