"""People and places: residents' units, and the CSV import of residents (all rows or none)."""
import csv
import io
import re
import secrets
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from email_validator import EmailNotValidError, validate_email
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload

from flask import current_app

from portal.extensions import db
from portal.models import Building, Channel, Residency, Role, Unit, User, utcnow
from portal.notify import phones, prefs
from portal.services import auth

HEADERS = {
    "name": ("name", "姓名"),
    "phone": ("phone", "手机", "电话", "手机号"),
    "building": ("building", "楼栋", "楼号"),
    "unit": ("unit", "房号", "单元"),
    "email": ("email", "邮箱", "电子邮件"),
    "language": ("language", "语言"),
    "sms_consent": ("sms_consent", "短信同意", "同意短信"),
    "area": ("area", "floor_area", "面积", "建筑面积", "专有部分面积"),
}
YES = {"1", "y", "yes", "true", "是", "同意", "√", "✓"}
LANGUAGE_ALIASES = {"": "zh_Hans", "zh": "zh_Hans", "zh_hans": "zh_Hans", "zh-cn": "zh_Hans", "中文": "zh_Hans", "简体中文": "zh_Hans", "en": "en", "english": "en", "英文": "en"}


def temporary_password():
    return secrets.token_urlsafe(6)


def normalise_phone(raw):
    return re.sub(r"[\s\-]", "", raw or "")


AREA_MAX = Decimal("99999.99")
AREA_UNITS = ("平方米", "平米", "㎡", "m²", "m2", "M2")


def parse_area(text):
    """A unit's floor area as typed ('89.5', '89.56 ㎡', '89.5平方米'): (Decimal with two places, None),
    (None, None) when blank, or (None, why it is not an area)."""
    raw = (text or "").strip()
    for unit in AREA_UNITS:
        raw = raw.removesuffix(unit).strip()
    if not raw:
        return None, None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        return None, _l("the floor area must be a number of square metres, like 89.56")
    if not value.is_finite() or value <= 0 or value > AREA_MAX:
        return None, _l("the floor area must be more than 0 and at most 99999.99 m²")
    if value != value.quantize(Decimal("0.01")):
        return None, _l("the floor area has at most two decimal places")
    return value.quantize(Decimal("0.01")), None


def parse_units(text, buildings_by_name):
    """'1号楼 1-101' per line. Returns (units, errors); unknown units in known buildings are created."""
    units, errors = [], []
    for n, line in enumerate((text or "").splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        parts = line.split(None, 1)
        if len(parts) != 2:
            errors.append(_l("Line %(n)d: write the building, a space, then the unit number.", n=n))
            continue
        building = buildings_by_name.get(parts[0])
        if building is None:
            errors.append(_("Line %(n)d: there is no building called %(name)s.", n=n, name=parts[0]))
            continue
        units.append(unit_in(building, parts[1].strip()))
    return units, errors


def unit_in(building, number):
    unit = db.session.scalar(select(Unit).where(Unit.building_id == building.id, Unit.number == number))
    if unit is None:
        unit = Unit(building=building, number=number)
        db.session.add(unit)
    return unit


def set_units(user, units):
    wanted = {u.id if u.id else id(u): u for u in units}
    for residency in list(user.residencies):
        if residency.unit_id not in wanted:
            user.residencies.remove(residency)
    have = {r.unit_id for r in user.residencies}
    db.session.flush()
    for unit in units:
        if unit.id not in have:
            user.residencies.append(Residency(unit=unit))


@dataclass
class ImportResult:
    errors: list = field(default_factory=list)  # (line number, message)
    created: list = field(default_factory=list)  # (user, temporary password)
    updated: list = field(default_factory=list)


def read_csv(data):
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return None


def import_residents(data):
    """Validates every row first; adds nothing unless every row is good. The caller commits."""
    result = ImportResult()
    reader, columns, problem = _open_csv(data)
    if problem is not None:
        result.errors.append(problem)
        return result
    buildings = {b.name: b for b in db.session.scalars(select(Building).where(Building.is_active))}
    existing = {u.phone: u for u in db.session.scalars(select(User).where(User.phone.is_not(None)))}
    rows = _checked_rows(reader, columns, buildings, existing, result)
    if result.errors:
        return result
    if not rows:
        result.errors.append((0, _l("The file has no residents in it.")))
        return result
    _add_rows(rows, existing, result)
    return result


def _open_csv(data):
    """(reader positioned after the header, {column key: index}, None) or (None, None, (line, error))."""
    text = read_csv(data)
    if text is None:
        return None, None, (0, _l("The file is not UTF-8 or GB18030 text."))
    reader = csv.reader(io.StringIO(text))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        return None, None, (0, _l("The file is empty."))
    columns = _columns(header)
    missing = [k for k in ("name", "phone", "building", "unit") if k not in columns]
    if missing:
        return None, None, (1, _l("Missing columns: %(cols)s. The first line must name: name, phone, building, unit, email, language.",
                                  cols=", ".join(missing)))
    return reader, columns, None


def _columns(header):
    """{column key: index} for the header's known names (the last of two alike wins)."""
    columns = {}
    for key, names in HEADERS.items():
        for i, h in enumerate(header):
            if h in names:
                columns[key] = i
    return columns


@dataclass
class _Row:
    name: str
    phone: str
    building: Building
    unit_no: str
    email: str
    language: str
    consent: bool
    area: Decimal | None = None


def _checked_rows(reader, columns, buildings, existing, result):
    """The good rows as _Row; each bad row's problems go into result.errors with its line number."""
    seen_names, seen_areas = {}, {}
    rows = []
    for line_no, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            continue
        values = {key: row[i].strip() if i < len(row) else "" for key, i in columns.items()}
        checked, problems = _check_row(values, buildings, existing, seen_names)
        if checked is not None and checked.area is not None:
            place = (checked.building.id, checked.unit_no)
            if seen_areas.setdefault(place, checked.area) != checked.area:
                problems.append(_l("this unit appears above with another floor area"))
        if problems:
            result.errors.append((line_no, "; ".join(str(p) for p in problems)))
            continue
        seen_names[checked.phone] = checked.name
        rows.append(checked)
    return rows


def _check_row(values, buildings, existing, seen_names):
    """(_Row or None, [problems]) for one line's cells {column key: text}."""
    name, building_name, unit_no = values.get("name", ""), values.get("building", ""), values.get("unit", "")
    problems = []
    if not name or len(name) > 64:
        problems.append(_l("a name of 1 to 64 characters is needed"))
    phone, phone_problem = phones.check(values.get("phone", ""), current_app.config)
    if phone_problem:
        problems.append(phone_problem)
        phone = normalise_phone(values.get("phone", ""))
    if building_name not in buildings:
        problems.append(_("there is no building called %(name)s", name=building_name or "-"))
    if not unit_no or len(unit_no) > 32:
        problems.append(_l("a unit number is needed"))
    email, email_problem = _check_email(values.get("email", ""))
    if email_problem:
        problems.append(email_problem)
    lang = LANGUAGE_ALIASES.get(values.get("language", "").lower())
    if lang is None:
        problems.append(_l("the language must be zh_Hans or en"))
    problems += _phone_conflicts(phone, name, existing, seen_names)
    area, area_problem = parse_area(values.get("area", ""))
    if area_problem:
        problems.append(area_problem)
    if problems:
        return None, problems
    consent = values.get("sms_consent", "").lower() in YES
    return _Row(name, phone, buildings[building_name], unit_no, email, lang, consent, area), []


def _check_email(email):
    """(normalised address or "", None) or (the address as typed, why)."""
    if not email:
        return email, None
    try:
        return validate_email(email, check_deliverability=False).normalized, None
    except EmailNotValidError:
        return email, _l("the email address is not valid")


def _phone_conflicts(phone, name, existing, seen_names):
    problems = []
    if phone in seen_names and seen_names[phone] != name:
        problems.append(_l("this phone number appears above with another name"))
    other = existing.get(phone)
    if other is not None and other.role != Role.RESIDENT:
        problems.append(_l("this phone number belongs to a staff account"))
    return problems


def _add_rows(rows, existing, result):
    """Creates the new residents (with temporary passwords), adds units and records SMS consent."""
    created = {}
    for row in rows:
        user = existing.get(row.phone) or created.get(row.phone)
        if user is None:
            user = User(name=row.name, phone=row.phone, role=Role.RESIDENT, email=row.email or None, language=row.language)
            password = temporary_password()
            user.set_password(password)
            db.session.add(user)
            created[row.phone] = user
            result.created.append((user, password))
        elif user not in result.updated and row.phone not in created:
            result.updated.append(user)
        unit = unit_in(row.building, row.unit_no)
        if row.area is not None:
            unit.area = row.area
        db.session.flush()
        if row.consent:
            prefs.set_consent(user, Channel.SMS, True, "residents import (registration form)", utcnow())
        if not any(r.unit_id == unit.id for r in user.residencies):
            user.residencies.append(Residency(unit=unit))
    db.session.flush()


def reset_password(user):
    password = temporary_password()
    user.set_password(password)
    auth.end_all_sessions(user)
    return password


def back_office_staff():
    """Everyone active who works for the company, by name (owners of studies, measures, trainees)."""
    from portal.permissions import BACK_OFFICE

    return db.session.scalars(select(User).where(User.role.in_(BACK_OFFICE), User.is_active).order_by(User.name)).all()


def desk_colleagues(user):
    """The other active people of customer service (to hand a conversation over)."""
    from portal.permissions import DESK

    return db.session.scalars(select(User).where(User.role.in_(DESK), User.is_active, User.id != user.id).order_by(User.name)).all()


def resident_by_phone(phone):
    return db.session.scalar(select(User).where(User.phone == phone, User.role == Role.RESIDENT)) if phone else None


def department_staff(department_id):
    """The active staff of a department, by name (whom a head may assign)."""
    return db.session.scalars(
        select(User).where(User.department_id == department_id, User.is_active, User.role != Role.RESIDENT).order_by(User.name)
    ).all()


def find_residents(q, limit=20):
    """Active residents whose phone, name or unit number contains `q` (to take their call)."""
    like = f"%{q}%"
    in_units = select(Residency.user_id).join(Unit, Unit.id == Residency.unit_id).where(Unit.number.like(like))
    return db.session.scalars(
        select(User)
        .options(selectinload(User.residencies).selectinload(Residency.unit).selectinload(Unit.building))
        .where(User.role == Role.RESIDENT, User.is_active, or_(User.phone.like(like), User.name.like(like), User.id.in_(in_units)))
        .order_by(User.name)
        .limit(limit)
    ).all()
