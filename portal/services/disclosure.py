"""The disclosure board (信息公示, S2.3.1): the fee standard, the service commitments, the service
hours and contacts, and the department heads.

Each section is a series of versions, never edited in place: an edit writes the next version with
who, when, a note of what changed and the version it changed (so the history can show the
difference). The current version of a section is its newest; the fee standard's is the newest of
those whose effective day has come, so a new standard can be published ahead of the day it takes
effect (调价公示) and the board switches over by itself on that day. The department heads are read
from the people and the departments, and the contacts from the policy settings: never typed twice.

A fee-standard or service-commitment change can be announced on the notice board (a notice of
that category, told to the residents like any other); the standing text stays here, and the board
page shows the latest such notice beside its section."""
import difflib
import re
import unicodedata
from datetime import datetime, time

from flask import current_app
from flask_babel import force_locale, format_date
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, func, select
from sqlalchemy.orm import joinedload

from portal.extensions import db
from portal.i18n import from_local, to_local
from portal.links import external_url
from portal.models import Department, DisclosureSection, DisclosureVersion, Notice, NoticeCategory, Role, User
from portal.services import notices, settings

FEES, COMMITMENTS, HOURS, HEADS = DisclosureSection.FEES, DisclosureSection.COMMITMENTS, DisclosureSection.HOURS, DisclosureSection.HEADS
SECTIONS = (FEES, COMMITMENTS, HOURS, HEADS)
SECTION_LABELS = {
    FEES: _l("Fee standard"),
    COMMITMENTS: _l("Service commitments"),
    HOURS: _l("Service hours and contacts"),
    HEADS: _l("Department heads"),
}
PUBLIC_INFORMATION = _l("Public information")
NEW_STANDARD = _l("New fee standard")
# The notice-board categories whose notices announce a change of a section.
NOTICE_CATEGORY = {FEES: NoticeCategory.FEE_STANDARD, COMMITMENTS: NoticeCategory.SERVICE_COMMITMENT}
FEE_FIELDS = ("item", "scope", "price", "unit", "note")
FEE_UNITS = ("元/㎡·月", "元/个·月", "元/月", "元/小时", "元/次", "元/户", "元/吨", "元/度")
PRICE = re.compile(r"[0-9]{1,7}(\.[0-9]{1,4})?")
HISTORY_PAGE = 20


class Conflict(Exception):
    """Someone saved the section after the editor opened it; `latest` is what they saved."""

    def __init__(self, latest):
        super().__init__(latest)
        self.latest = latest


class TooEarly(ValueError):
    """A fee standard cannot take effect before the one in force: `in_force` is that one."""

    def __init__(self, in_force):
        super().__init__(in_force)
        self.in_force = in_force


def local_day(now):
    return to_local(now).date()


def day_starts(day):
    """The community's midnight at the start of `day`, as aware UTC."""
    return from_local(datetime.combine(day, time()))


# Reading


def _versions():
    return select(DisclosureVersion).options(joinedload(DisclosureVersion.created_by))


def latest(section):
    """The section's newest version (by number), or None."""
    return db.session.scalar(
        _versions().where(DisclosureVersion.section == DisclosureSection(section)).order_by(DisclosureVersion.number.desc()).limit(1))


def in_force(section, now):
    """The version residents see now: the newest, or for the fee standard the newest of those in
    effect on the community's day (the latest effective day, then the latest saved)."""
    section = DisclosureSection(section)
    if section != FEES:
        return latest(section)
    return _fees_on(local_day(now))


def _fees_on(day):
    """The fee standard that applies on `day`: the latest effective day, then the latest saved."""
    query = _versions().where(DisclosureVersion.section == FEES, DisclosureVersion.effective_on <= day)
    return db.session.scalar(query.order_by(DisclosureVersion.effective_on.desc(), DisclosureVersion.number.desc()).limit(1))


def current(now):
    """{section: version in force or None} in two queries."""
    newest = (select(DisclosureVersion.section, func.max(DisclosureVersion.number).label("number"))
              .where(DisclosureVersion.section != FEES).group_by(DisclosureVersion.section).subquery())
    rows = db.session.scalars(_versions().join(newest, and_(
        DisclosureVersion.section == newest.c.section, DisclosureVersion.number == newest.c.number))).all()
    found = dict.fromkeys(SECTIONS)
    found.update({v.section: v for v in rows})
    found[FEES] = in_force(FEES, now)
    return found


def upcoming(now):
    """Fee standards published for a later day, soonest first: for each day the last one saved."""
    rows = db.session.scalars(_versions().where(DisclosureVersion.section == FEES, DisclosureVersion.effective_on > local_day(now))
                              .order_by(DisclosureVersion.effective_on, DisclosureVersion.number)).all()
    by_day = {}
    for version in rows:
        by_day[version.effective_on] = version
    return list(by_day.values())


def department_heads():
    """Each active department with its heads (the active people of role head in it) and its
    on-duty phone from the policy settings: [{"department", "heads", "phone"}]."""
    departments = db.session.scalars(select(Department).where(Department.is_active).order_by(Department.id)).all()
    heads = db.session.execute(select(User.department_id, User.name).where(
        User.role == Role.HEAD, User.is_active, User.department_id.is_not(None)).order_by(User.id)).all()
    by_department = {}
    for department_id, name in heads:
        by_department.setdefault(department_id, []).append(name)
    return [{"department": d.name, "heads": by_department.get(d.id, []), "phone": settings.get(settings.duty_phone_key(d.id))}
            for d in departments]


def contacts():
    """What the policy settings say about reaching the service centre."""
    return {"hotline": settings.get("hotline"), "contact_person": settings.get("contact_person"),
            "chat_from": settings.get("chat_hours_start"), "chat_until": settings.get("chat_hours_end")}


def related_notice(section, now):
    """The latest current community-wide notice of the section's category: (id, title, publish_at) or None."""
    category = NOTICE_CATEGORY.get(DisclosureSection(section))
    if category is None:
        return None
    return db.session.execute(
        select(Notice.id, Notice.title, Notice.publish_at).where(Notice.current_clause(now), Notice.is_community_wide, Notice.category == category)
        .order_by(Notice.publish_at.desc(), Notice.id.desc()).limit(1)).first()


def board(now):
    """Everything the board page shows, and until when it holds (the next fee standard's day, or
    the next notice to appear or expire): (context, valid_until)."""
    ahead = upcoming(now)
    versions = current(now)
    in_force_rows = versions[FEES].fees if versions[FEES] else []
    found = {
        "current": versions, "upcoming": [(v, fee_changes(in_force_rows, v.fees)) for v in ahead], "heads": department_heads(),
        "contacts": contacts(), "related": {section: related_notice(section, now) for section in NOTICE_CATEGORY},
    }
    ends = [t for t in (next_change(ahead), notices.next_change(now)) if t is not None]
    return found, min(ends)


def next_change(ahead):
    """When the next published fee standard takes effect, or None."""
    return day_starts(ahead[0].effective_on) if ahead else None


def history(section, before=None):
    """One page of the section's versions, newest first, each with the version it changed
    (`previous`) and its announcement (`notice`) loaded with it: (versions, number to page on or None)."""
    query = _versions().options(joinedload(DisclosureVersion.previous), joinedload(DisclosureVersion.notice)).where(
        DisclosureVersion.section == DisclosureSection(section))
    if before is not None:
        query = query.where(DisclosureVersion.number < before)
    rows = db.session.scalars(query.order_by(DisclosureVersion.number.desc()).limit(HISTORY_PAGE + 1)).unique().all()
    more = len(rows) > HISTORY_PAGE
    rows = rows[:HISTORY_PAGE]
    return rows, (rows[-1].number if more else None)


# What changed


def fee_changes(old_rows, new_rows):
    """The rows added, removed or changed (by item and scope): [(kind, old row, new row)]."""
    old = {(r["item"], r["scope"]): r for r in old_rows or []}
    new = {(r["item"], r["scope"]): r for r in new_rows or []}
    found = []
    for key, row in new.items():
        if key not in old:
            found.append(("added", None, row))
        elif any(old[key][f] != row[f] for f in ("price", "unit", "note")):
            found.append(("changed", old[key], row))
    found += [("removed", row, None) for key, row in old.items() if key not in new]
    return found


def text_changes(old_body, new_body):
    """The lines removed ("-") and added ("+"), in order: [(sign, line)]."""
    old = [line.strip() for line in (old_body or "").splitlines() if line.strip()]
    new = [line.strip() for line in (new_body or "").splitlines() if line.strip()]
    return [(line[0], line[2:]) for line in difflib.ndiff(old, new) if line[:2] in ("- ", "+ ")]


def changes(version):
    """What `version` changed from the one it replaced: {"fees", "text", "effective"}."""
    before = version.previous
    found = {"text": text_changes(before.body if before else "", version.body), "fees": [], "effective": None}
    if version.section == FEES:
        found["fees"] = fee_changes(before.fees if before else [], version.fees)
        if before is not None and before.effective_on != version.effective_on:
            found["effective"] = (before.effective_on, version.effective_on)
    return found


# Writing


def clean_price(raw):
    """A typed amount as text ("2.20"), full-width digits allowed; None if it is not an amount."""
    value = unicodedata.normalize("NFKC", str(raw or "")).replace(" ", "").replace(",", "")
    return value if PRICE.fullmatch(value) else None


def clean_rows(rows):
    """The fee rows that have anything in them, each with every field, trimmed."""
    cleaned = []
    for row in rows or []:
        values = {f: " ".join(str(row.get(f) or "").split()) for f in FEE_FIELDS}
        if any(values.values()):
            values["price"] = clean_price(values["price"]) or values["price"]
            cleaned.append(values)
    return cleaned


def _replaces(section, effective_on):
    """The version a new one would take the place of: for the fee standard, the one that would
    apply on its effective day without it; else the newest."""
    if section == FEES:
        return _fees_on(effective_on)
    return latest(section)


def save(section, *, body="", fees=None, effective_on=None, note="", base, actor, now):
    """Writes the section's next version and returns it, or None when it would say exactly what
    the version it replaces says. `base` is the number of the newest version when the editor
    opened the form (0 for none): if another was saved since, Conflict, and nothing is written."""
    section = DisclosureSection(section)
    newest = latest(section)
    if (newest.number if newest else 0) != base:
        raise Conflict(newest)
    rows = None
    if section == FEES:
        effective_on = effective_on or local_day(now)
        governing = in_force(FEES, now)
        if governing is not None and effective_on < governing.effective_on:
            raise TooEarly(governing)
        rows = clean_rows(fees)
    else:
        effective_on = None
    body = (body or "").strip()
    previous = _replaces(section, effective_on)
    if previous is not None and previous.body == body and previous.fees == rows and previous.effective_on == effective_on:
        return None
    version = DisclosureVersion(
        section=section, number=(newest.number if newest else 0) + 1, body=body, body_html=notices.render_body(body), fees=rows,
        effective_on=effective_on, note=" ".join((note or "").split())[:300], previous_id=previous.id if previous else None,
        created_by_id=actor.id, created_at=now,
    )
    db.session.add(version)
    db.session.flush()
    return version


def announce(version, title, actor, now):
    """Posts the change on the notice board as a notice of the section's category, told to every
    resident like any notice (S2.3.1, S2.4); the version keeps a link to it."""
    notice = Notice()
    notices.save(notice, title=title, body=announcement_text(version), category=NOTICE_CATEGORY[version.section], community_wide=True,
                 buildings=[], publish_at=now, expires_at=None, is_pinned=False, actor=actor, now=now)
    version.notice_id = notice.id
    return notice


def announcement_text(version):
    """The notice's text (Markdown), in the community's language whoever writes it."""
    with force_locale(current_app.config["BABEL_DEFAULT_LOCALE"]):
        parts = [version.note] if version.note else []
        if version.section == FEES:
            parts.append(_("From %(day)s the fee standard is:", day=format_day(version.effective_on)))
            parts.append("\n".join(f"- {fee_line(row)}" for row in version.fees))
            if version.body:
                parts.append(version.body)
        else:
            parts.append(version.body)
        url = external_url("disclosure.index", _anchor=version.section.value)
        parts.append(_("The current version and every change to it: [%(title)s](%(url)s)", title=str(PUBLIC_INFORMATION), url=url))
        return "\n\n".join(parts)


def plain_lines(body):
    """A section's Markdown as the lines a lobby screen shows: no markup, list items kept with
    their numbers (or a dot), no empty lines."""
    lines = []
    for raw in (body or "").splitlines():
        line = re.sub(r"(\*\*|__|\*|`)", "", raw).strip()
        line = re.sub(r"^[-+] +", "· ", line)
        line = re.sub(r"^#+ *", "", line)
        if line:
            lines.append(line)
    return lines


def fee_line(row):
    scope = f"（{row['scope']}）" if row["scope"] else ""
    note = f"（{row['note']}）" if row["note"] else ""
    return f"{row['item']}{scope}：{row['price']} {row['unit']}{note}"


def format_day(day):
    return format_date(day, "long")
