"""Policy settings: each [X] of the policy with its default (SEED-MAP), validated, with history."""
import re
from dataclasses import dataclass

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from portal import cache
from portal.extensions import db
from portal.inputs import CONTROL_ERROR, has_controls, whole_number
from portal.models import Department, Setting, SettingChange

TICKET_CATEGORIES = ("inquiry", "complaint", "suggestion", "praise", "repair")
CATEGORY_LABELS = {
    "inquiry": _l("Inquiry"),
    "complaint": _l("Complaint"),
    "suggestion": _l("Suggestion"),
    "praise": _l("Praise"),
    "repair": _l("Repair"),
}
URGENCY_LABELS = {"normal": _l("normal"), "urgent": _l("urgent")}
DEFAULT_DUE_HOURS = {
    "inquiry": (24, 2),
    "complaint": (48, 2),
    "suggestion": (72, 24),
    "praise": (72, 24),
    "repair": (24, 2),
}


@dataclass(frozen=True)
class Definition:
    key: str
    kind: str  # "int" or "text"
    default: object
    label: object
    clause: str
    minimum: int = 0
    maximum: int = 100000
    group: str = "policy"


def _definitions():
    defs = [
        Definition("records_retention_years", "int", 3, _l("Records retention (years)"), "S3.6", 1, 50),
        Definition("outreach_daily_target", "int", 5, _l("Daily outreach target per staff member"), "S4.1.1", 0, 200),
        Definition("emergency_response_minutes", "int", 30, _l("Emergency response time (minutes)"), "S4.2.1", 1, 1440),
        Definition("forum_notice_days", "int", 7, _l("Owners' forum notice period (days)"), "S4.3.1", 0, 90),
        Definition("forum_min_hours", "int", 2, _l("Owners' forum minimum duration (hours)"), "S4.3.1", 0, 24),
        Definition("activity_min_hours", "int", 2, _l("Community activity minimum duration (hours)"), "S4.3.2", 0, 24),
        Definition("unrated_close_days", "int", 7, _l("Days before an unrated ticket closes by itself"), "S3.5.2", 1, 90),
        Definition("target_satisfaction", "int", 90, _l("Target: satisfied residents (%)"), "S5.1.1", 0, 100, group="targets"),
        Definition("target_resolution", "int", 95, _l("Target: resolution rate (%)"), "S5.1.1", 0, 100, group="targets"),
        Definition("target_timeliness", "int", 90, _l("Target: results given on time (%)"), "S5.1.1", 0, 100, group="targets"),
        Definition("target_emergency", "int", 100, _l("Target: emergencies answered in time (%)"), "S5.1.1", 0, 100, group="targets"),
        Definition("target_accuracy", "int", 95, _l("Target: accuracy, neither reopened nor reclassified (%)"), "S5.1.1", 0, 100, group="targets"),
        Definition("target_participation", "int", 30, _l("Target: event sign-ups per 100 households"), "S5.1.1", 0, 1000, group="targets"),
        Definition("hotline", "text", "400-800-1234", _l("Service hotline"), "S2.1.1", group="contact"),
        Definition("contact_person", "text", "客服中心 王敏", _l("Contact person"), "S2.4", group="contact"),
    ]
    defs += [
        Definition("quiet_hours_start", "time", "21:00", _l("Residents' quiet hours begin"), "S3.5.1", group="channels"),
        Definition("quiet_hours_end", "time", "08:00", _l("Residents' quiet hours end"), "S3.5.1", group="channels"),
        Definition("sms_daily_cap", "int", 10, _l("SMS per resident per day (emergencies excepted)"), "S3.5.1", 0, 100, group="channels"),
        Definition("sms_coalesce_minutes", "int", 10, _l("Minutes within which updates to one ticket become one SMS"), "S3.5.1", 0, 120,
                   group="channels"),
    ]
    defs += _channel_definitions()
    defs += [
        Definition("work_day_start", "time", "08:30", _l("Working hours begin"), "S3.3.1", group="calendar"),
        Definition("work_day_end", "time", "17:30", _l("Working hours end"), "S3.3.1", group="calendar"),
        Definition("page_repeat_minutes", "int", 5, _l("An emergency is paged again every (minutes)"), "S3.3.2", 1, 60, group="paging"),
        Definition("page_escalate_minutes", "int", 10, _l("Without acknowledgement, the next in the chain after (minutes)"), "S3.3.2", 1, 120,
                   group="paging"),
        Definition("page_give_up_minutes", "int", 120, _l("Paging stops after (minutes)"), "S3.3.2", 10, 1440, group="paging"),
        Definition("desk_department", "department", 0, _l("Customer-service desk (its rota answers new emergencies)"), "S3.3.2",
                   group="paging"),
        Definition("gov_reply_hours", "int", 24, _l("12345 work orders: reply due within (working hours)"), "S2.1.1", 1, 24 * 30,
                   group="due"),
    ]
    defs += [
        Definition("chat_hours_start", "time", "08:00", _l("Online customer service answers from"), "S2.1.2", group="chat"),
        Definition("chat_hours_end", "time", "20:00", _l("Online customer service answers until"), "S2.1.2", group="chat"),
        Definition("chat_emergency_words", "text", "漏水, 跑水, 燃气, 煤气, 着火, 冒烟, 电梯困人, 停电",
                   _l("Emergency words (a message with one prompts staff at once)"), "S3.3.2", group="chat"),
        Definition("chat_reply_minutes", "int", 2, _l("A reply the resident has not seen goes to their channels after (minutes)"), "S2.1.2",
                   0, 60, group="chat"),
    ]
    defs += [Definition(f"route.{cat}", "department", 0, _l("Emergencies without a department, %(category)s: page", category=CATEGORY_LABELS[cat]),
                        "S3.3.2", group="paging") for cat in TICKET_CATEGORIES]
    for cat in TICKET_CATEGORIES:
        for i, urgency in enumerate(("normal", "urgent")):
            defs.append(
                Definition(
                    f"due_hours.{cat}.{urgency}",
                    "int",
                    DEFAULT_DUE_HOURS[cat][i],
                    _l("Due time (working hours): %(category)s, %(urgency)s", category=CATEGORY_LABELS[cat], urgency=URGENCY_LABELS[urgency])
                    if urgency == "normal" else
                    _l("Due time (hours): %(category)s, %(urgency)s", category=CATEGORY_LABELS[cat], urgency=URGENCY_LABELS[urgency]),
                    "S3.3.1",
                    1,
                    24 * 90,
                    group="due",
                )
            )
    return defs


def _channel_definitions():
    """Per kind: the SMS template codes the company had approved (Chinese, and English if it has
    one), the WeChat template id and how its fields are filled."""
    from portal.notify.kinds import KINDS

    defs = []
    for kind in KINDS.values():
        defs += [
            Definition(f"sms_template.{kind.name}", "code", "", _l("SMS template code"), "S3.5.1", group="templates"),
            Definition(f"sms_template_en.{kind.name}", "code", "", _l("SMS template code (English)"), "S3.5.1", group="templates"),
            Definition(f"sms_template_intl.{kind.name}", "code", "", _l("SMS template code (Hong Kong, Macau, Taiwan)"), "S3.5.1",
                       group="templates"),
            Definition(f"wechat_template.{kind.name}", "code", "", _l("WeChat template id"), "S2.1.2", group="templates"),
            Definition(f"wechat_fields.{kind.name}", "fields", ", ".join(f"{k}={v}" for k, v in kind.wechat),
                       _l("WeChat template fields"), "S2.1.2", group="templates"),
        ]
        if kind.urgent:
            defs.append(Definition(f"voice_template.{kind.name}", "code", "", _l("Voice (TTS) template code"), "S3.3.2", group="templates"))
    return defs


DEFINITIONS = {d.key: d for d in _definitions()}


def duty_phone_key(department_id):
    return f"duty_phone.{department_id}"


def _load():
    def build():
        values = {key: d.default for key, d in DEFINITIONS.items()}
        values.update({row.key: row.value for row in db.session.scalars(select(Setting))})
        cache.keep_last_known(HOTLINE_KEY, values["hotline"])
        return values, None

    values = cache.cached("settings", "all", cache.SETTINGS, build)
    current_app.extensions[HOTLINE_KEY] = values["hotline"]
    return values


HOTLINE_KEY = "portal_last_hotline"


def last_known_hotline():
    """The hotline for pages made without the database: as this process last read it from the
    settings, else as any process last built them (kept in Redis when PORTAL_REDIS_URL is set),
    else PORTAL_HOTLINE, else the policy's default."""
    return (current_app.extensions.get(HOTLINE_KEY) or cache.last_known(HOTLINE_KEY)
            or current_app.config.get("HOTLINE") or DEFINITIONS["hotline"].default)


def get(key):
    values = _load()
    if key in values:
        return values[key]
    if key.startswith("duty_phone."):
        return ""
    raise KeyError(key)


def all_values():
    return dict(_load())


def validate(key, raw):
    """Returns (value, None) or (None, error message)."""
    if isinstance(raw, str) and has_controls(raw):
        return None, CONTROL_ERROR
    d = DEFINITIONS.get(key)
    if d is None:
        if key.startswith("duty_phone."):
            return _clean_text(raw, 32)
        return None, _l("Unknown setting.")
    if d.kind == "int":
        try:
            value = int(str(raw).strip())
        except (TypeError, ValueError):
            return None, _l("Enter a whole number.")
        if not d.minimum <= value <= d.maximum:
            return None, _l("Enter a number from %(min)d to %(max)d.", min=d.minimum, max=d.maximum)
        return value, None
    if d.kind == "department":
        value = whole_number(str(raw or "0").strip() or "0")
        if value is None or (value and db.session.get(Department, value) is None):
            return None, _l("Choose a department.")
        return value, None
    if d.kind == "time":
        value = str(raw or "").strip()
        if not re.fullmatch(r"([01]?\d|2[0-3]):[0-5]\d", value):
            return None, _l("Enter a time as HH:MM, for example 21:00.")
        return value.zfill(5), None
    if d.kind == "code":
        value = str(raw or "").strip()
        if not re.fullmatch(r"[A-Za-z0-9_\-]{0,64}", value):
            return None, _l("A template code has letters, digits, - and _ only (at most 64).")
        return value, None
    if d.kind == "fields":
        value = " ".join(str(raw or "").split())
        pairs = [p.strip() for p in value.split(",") if p.strip()]
        if any(not re.fullmatch(r"[a-z_]+\d*=[a-z_]+", p) for p in pairs):
            return None, _l("Write the fields as key=value pairs separated by commas, for example thing1=title, time2=time.")
        return ", ".join(pairs), None
    return _clean_text(raw, 300 if key == "chat_emergency_words" else 100)


def _clean_text(raw, max_len):
    value = str(raw or "").strip()
    if len(value) > max_len:
        return None, _l("At most %(n)d characters.", n=max_len)
    return value, None


def update(changes, actor):
    """Apply validated {key: value}; records one history row per changed key. Returns changed keys."""
    current = _load()
    stored = {row.key: row for row in db.session.scalars(select(Setting).where(Setting.key.in_(changes)))}
    changed = []
    for key, value in changes.items():
        old = current.get(key, "" if key.startswith("duty_phone.") else None)
        if old == value:
            continue
        row = stored.get(key)
        if row is None:
            db.session.add(Setting(key=key, value=value))
        else:
            row.value = value
        db.session.add(SettingChange(key=key, old_value=old, new_value=value, changed_by_id=actor.id if actor else None))
        changed.append(key)
    db.session.flush()
    return changed


def duty_phone_departments():
    return db.session.scalars(select(Department).where(Department.is_active).order_by(Department.id)).all()


def label_for(key):
    if key in DEFINITIONS:
        return DEFINITIONS[key].label
    if key.startswith("duty_phone."):
        dept = db.session.get(Department, int(key.split(".", 1)[1]))
        # gettext (a plain str, escaped when rendered): the department name is user text
        return _("On-duty phone: %(department)s", department=dept.name if dept else key)
    return key
