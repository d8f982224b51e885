"""The words of a notification in one language: the values its texts use, the title and body, the
SMS form (one segment with the signature), the WeChat template fields and the email."""
from dataclasses import dataclass

from flask import current_app
from flask_babel import force_locale

from portal.i18n import to_local

# SMS values are kept short by us, before any provider's own limit, so that the whole message
# stays one segment (70 characters with the signature).
SMS_CAPS = {"title": 8, "department": 8, "category": 4, "place": 8, "status": 6, "where": 8, "contact": 6}
EXCERPT = 60


class Values(dict):
    def __missing__(self, key):
        return ""


@dataclass(frozen=True)
class Target:
    """The object a notification is about, and how to link to it."""

    object_type: str
    object_id: int | None
    path: str  # short link on this site
    ticket_id: int | None = None


SHORT = {"ticket": "t", "notice": "n", "event": "e", "consultation": "c", "suggestion": "s", "conversation": "h", "survey": "q"}


def target(obj):
    from portal.models import Consultation, Conversation, Event, Notice, Suggestion, Survey, Ticket

    kind = {Ticket: "ticket", Notice: "notice", Event: "event", Consultation: "consultation", Suggestion: "suggestion",
            Conversation: "conversation", Survey: "survey"}.get(type(obj))
    if kind is None:
        return Target("", None, "/")
    return Target(kind, obj.id, f"/go/{SHORT[kind]}{obj.id}", obj.id if kind == "ticket" else None)


def short_url(path):
    return current_app.config["BASE_URL"].rstrip("/") + path


def sms_caps(values):
    """The values as an SMS uses them: cut so that the whole message stays one segment."""
    capped = Values({k: _cut(x, SMS_CAPS[k]) if k in SMS_CAPS else x for k, x in values.items()})
    capped["link"] = sms_link(values.get("link", ""))
    return capped


def sms_link(url):
    """In an SMS the link goes without its scheme: phones link it all the same, and one segment has little room."""
    return url.split("://", 1)[-1]


def _time(value, fmt="%m-%d %H:%M"):
    return to_local(value).strftime(fmt) if value else ""


def values_for(obj, extra, now):
    """Every value a kind's texts may use, in the current language."""
    from portal.models import Consultation, Conversation, Event, Notice, Suggestion, Survey, Ticket

    v = Values(extra or {})
    t = target(obj)
    v["link"] = short_url(v.pop("path", None) or t.path)  # a page carries its own acknowledging link
    v["time"] = _time(now, "%Y-%m-%d %H:%M")
    if isinstance(obj, Ticket):
        from portal.services.tickets import CATEGORY_LABELS, STATUS_LABELS

        v.update(number=obj.number, category=str(CATEGORY_LABELS[obj.category]), status=str(STATUS_LABELS[obj.status]),
                 due=_time(obj.due_at), contact=obj.contact_name or "",
                 where=(obj.unit.label if obj.unit else obj.caller_unit) or str(CATEGORY_LABELS[obj.category]),
                 department=obj.lead_department.name if obj.lead_department else "",
                 excerpt=_cut(obj.description, EXCERPT))
        if obj.expected_completion:
            v["expected"] = obj.expected_completion.strftime("%m-%d")
        v["what"] = v.get("what") or v.get("text") or v["status"]
    elif isinstance(obj, Notice):
        v.update(title=obj.title, time=_time(obj.publish_at or now, "%Y-%m-%d %H:%M"))
    elif isinstance(obj, Event):
        v.update(title=obj.title, time=_time(obj.starts_at), place=obj.location or "")
    elif isinstance(obj, Consultation):
        v.update(title=obj.title, deadline=_time(obj.deadline))
    elif isinstance(obj, Survey):
        v.update(title=obj.title, deadline=_time(obj.closes_at))
    elif isinstance(obj, Suggestion):
        from portal.services.suggestions import STATUS_LABELS

        v.update(title=obj.title, status=str(STATUS_LABELS[obj.status]))
    elif isinstance(obj, Conversation):
        from flask_babel import gettext

        v.update(contact=obj.resident.name if obj.resident else gettext("WeChat follower"), where=obj.unit.label if obj.unit else "",
                 title=gettext("Online customer service"), excerpt=_cut(v.get("text", ""), EXCERPT))
        v["what"] = v.get("text", "")
    for key in ("text", "reason"):
        if key in v:
            v[key] = _cut(v[key], 500)
    return v


def _cut(text, n):
    text = " ".join(str(text or "").split())
    return text if len(text) <= n else text[: n - 1] + "…"


@dataclass
class Words:
    title: str
    body: str
    sms: str
    values: dict
    subject: str
    email: str


def render(kind, obj, language, extra, now, context=None):
    """The words for `kind` about `obj` in `language`."""
    from portal import mail
    from portal.services import settings

    with force_locale(language):
        v = values_for(obj, extra, now)
        title = str(kind.title) % v
        body = str(kind.body) % v
        if not v.get("title"):
            v["title"] = title  # template fields that show a title have one
        sms_values = sms_caps(v)
        sms = str(kind.sms) % sms_values
        url = v["link"]
    email_context = {
        "title": title, "body": body, "url": url, "v": v, "hotline": settings.get("hotline"),
        "contact_person": settings.get("contact_person"), **_email_objects(obj, context, language),
    }
    subject, email = mail.render_email(kind.email_template, language, **email_context)
    return Words(title[:200], body, sms, dict(v), subject, email)


def _email_objects(obj, context, language):
    """What the older email templates use by name."""
    from portal.models import Event, Notice, Suggestion, Ticket

    found = dict(context or {})
    if isinstance(obj, Ticket):
        from portal.services.tickets import CATEGORY_LABELS, EVENT_LABELS, STATUS_LABELS

        found.setdefault("ticket", obj)
        with force_locale(language):
            found.setdefault("category", str(CATEGORY_LABELS[obj.category]))
            found.setdefault("status", str(STATUS_LABELS[obj.status]))
            step = found.get("event")
            found.setdefault("what", str(EVENT_LABELS[step.kind]) if step is not None else found["status"])
    elif isinstance(obj, Notice):
        from portal.services.notices import CATEGORY_LABELS

        found.setdefault("notice", obj)
        with force_locale(language):
            found.setdefault("category_label", str(CATEGORY_LABELS[obj.category]))
    elif isinstance(obj, Event):
        found.setdefault("event", obj)
    elif isinstance(obj, Suggestion):
        from portal.services.suggestions import STATUS_LABELS

        found.setdefault("suggestion", obj)
        with force_locale(language):
            found.setdefault("status", str(STATUS_LABELS[obj.status]))
    return found


def sample_values():
    """The longest values each SMS placeholder takes (after SMS_CAPS): the worst case for one segment."""
    return Values({
        "number": "BX-2026-0001", "title": "一二三四五六七…", "due": "12-31 23:59", "expected": "12-31",
        "time": "12-31 23:59", "deadline": "12-31 23:59", "category": "报修", "department": "工程维修部一二…",
        "status": "处理中", "where": "10号楼 2-1…", "contact": "欧阳一二三…", "link": sms_link(short_url("/go/t123456")),
    })


def sms_length(kind, language, sign):
    """Characters of the kind's SMS with the signature, at its longest (one segment holds 70)."""
    with force_locale(language):
        text = str(kind.sms) % sample_values()
    return len(f"【{sign}】") + len(text), text
