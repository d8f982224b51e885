"""What the administrator sees of the channels: connections, templates per kind with their SMS
length, the deliveries with their outcomes, and today's counts against the caps."""
from datetime import timedelta

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload

from portal.extensions import db
from portal.forms import choices
from portal.models import Channel, Delivery, DeliveryStatus, User
from portal.notify import kinds, local_day_bounds, texts
from portal.notify.channels import CONFIG_KEYS, VARIABLES, channels_for, parse

PAGE = 50
SEGMENT = 70
CHANNEL_NAMES = {
    Channel.EMAIL: _l("Email"), Channel.SMS: _l("SMS"), Channel.WECHAT: _l("WeChat"), Channel.WECOM: _l("企业微信"),
    Channel.WECOM_ROBOT: _l("企业微信 group robot"), Channel.VOICE: _l("Voice call"),
}


def sms_sign(config):
    url = config.get("SMS_URL")
    return parse("sms", url).param("sign") if url else "签名"


def connected(app):
    """Per channel: its variable, whether it is set, and what it is connected to."""
    found = []
    registry = channels_for(app)
    for channel in (Channel.EMAIL, Channel.SMS, Channel.WECHAT, Channel.WECOM, Channel.WECOM_ROBOT, Channel.VOICE):
        found.append({
            "channel": channel, "name": CHANNEL_NAMES[channel], "variable": VARIABLES[channel.value],
            "configured": bool(app.config.get(CONFIG_KEYS[channel.value])), "describe": registry.get(channel).describe(),
        })
    return found


def kinds_table():
    """Per kind: its category, texts and the SMS template text to apply for, with its longest length."""
    from flask import current_app

    sign = sms_sign(current_app.config)
    rows = []
    for kind in kinds.KINDS.values():
        zh_len, zh_text = texts.sms_length(kind, "zh_Hans", sign)
        en_len, en_text = texts.sms_length(kind, "en", sign)
        rows.append({
            "kind": kind, "category": kinds.CATEGORY_LABELS[kind.category], "sms_zh": zh_text, "sms_zh_len": zh_len,
            "sms_en": en_text, "sms_en_len": en_len, "too_long": max(zh_len, en_len) > SEGMENT,
            "aliyun": aliyun_template(kind, "zh_Hans"), "tencent": tencent_template(kind, "zh_Hans"),
        })
    return rows


def _template(kind, language, placeholder):
    from flask_babel import force_locale

    values = texts.Values({name: placeholder(i, name) for i, name in enumerate(kind.sms_params, 1)})
    if "link" in values:
        values["link"] = texts.sms_link(texts.short_url("/go/")) + values["link"]  # the link's address is fixed in the template
    with force_locale(language):
        return str(kind.sms) % values


def aliyun_template(kind, language):
    return _template(kind, language, lambda i, name: "${" + name + "}")


def tencent_template(kind, language):
    return _template(kind, language, lambda i, name: "{" + str(i) + "}")


def status_labels():
    return {
        DeliveryStatus.PENDING: _("Waiting"), DeliveryStatus.STANDBY: _("Standby"), DeliveryStatus.SENT: _("Sent"),
        DeliveryStatus.FAILED: _("Refused"), DeliveryStatus.DEAD: _("Gave up"), DeliveryStatus.SKIPPED: _("Not sent"),
    }


def filter_choices(form):
    form.channel.choices = choices([("", _("All channels"))] + [(c.value, CHANNEL_NAMES[c]) for c in Channel])
    form.status.choices = choices([("", _("All statuses"))] + [(s.value, label) for s, label in status_labels().items()])
    form.kind.choices = choices([("", _("Everything"))] + [(k.name, str(k.label)) for k in kinds.KINDS.values()])


def deliveries(channel=None, status=None, kind=None, person="", before=None):
    query = select(Delivery).options(selectinload(Delivery.user))
    if channel in Channel._value2member_map_:
        query = query.where(Delivery.channel == Channel(channel))
    if status in DeliveryStatus._value2member_map_:
        query = query.where(Delivery.status == DeliveryStatus(status))
    if kind in kinds.KINDS:
        query = query.where(Delivery.kind == kind)
    if person:
        like = f"%{person.replace('%', '').replace('_', '')}%"
        people = select(User.id).where(or_(User.name.like(like), User.phone.like(like), User.username.like(like)))
        query = query.where(or_(Delivery.user_id.in_(people), Delivery.address == person))
    if before:
        query = query.where(Delivery.id < before)
    rows = db.session.scalars(query.order_by(Delivery.id.desc()).limit(PAGE + 1)).all()
    return rows[:PAGE], (rows[PAGE - 1].id if len(rows) > PAGE else None)


def today(now):
    """Today's counts per channel and status, the SMS cap, and the residents who reached it."""
    from portal.services import settings

    since, until = local_day_bounds(now)
    counts = {}
    for channel, status, n in db.session.execute(
        select(Delivery.channel, Delivery.status, func.count(Delivery.id))
        .where(Delivery.created_at >= since, Delivery.created_at < until).group_by(Delivery.channel, Delivery.status)
    ):
        counts.setdefault(channel, {})[status] = n
    cap = settings.get("sms_daily_cap")
    at_cap = db.session.execute(
        select(Delivery.user_id, func.count(Delivery.id)).where(
            Delivery.channel == Channel.SMS, Delivery.is_urgent.is_(False), Delivery.user_id.is_not(None),
            Delivery.status.in_([DeliveryStatus.PENDING, DeliveryStatus.SENT]), Delivery.next_attempt_at >= since,
            Delivery.next_attempt_at < until,
        ).group_by(Delivery.user_id).having(func.count(Delivery.id) >= cap)
    ).all()
    capped = db.session.scalar(select(func.count(Delivery.id)).where(
        Delivery.error_code == "cap", Delivery.created_at >= since, Delivery.created_at < until))
    return {"counts": counts, "cap": cap, "at_cap": len(at_cap), "capped": capped, "since": since, "until": until - timedelta(seconds=1)}


def failed_since(since):
    """Messages refused or given up on since `since`: the administrator's home says how many."""
    return db.session.scalar(select(func.count(Delivery.id)).where(
        Delivery.status.in_([DeliveryStatus.FAILED, DeliveryStatus.DEAD]), Delivery.created_at >= since))


def check_all(app):
    """Each channel, what it is connected to, and what its provider answered to a token request."""
    from portal.notify.channels import ChannelError

    results = []
    registry = channels_for(app)
    for channel in (Channel.EMAIL, Channel.SMS, Channel.WECHAT, Channel.WECOM, Channel.WECOM_ROBOT, Channel.VOICE):
        adapter = registry.get(channel)
        try:
            answer, ok = adapter.check(), True
        except ChannelError as exc:
            answer, ok = f"{type(exc).__name__} {exc.code}: {exc.message}", False
        results.append((channel, adapter.describe(), ok, answer))
    return results


def test_message(app, person, phone, now):
    """One test message on every channel this person can be reached on (or to a bare phone
    number by SMS), sent at once whatever the hour, each outcome kept as a delivery.
    Returns [(channel, address, outcome, answer)]."""
    from portal.notify import prefs, row_values
    from portal.notify.delivery import _send, message_for, record

    spec = kinds.KINDS["channel_test"]
    target = texts.target(None)
    rows = []
    if person is not None:
        words = texts.render(spec, None, person.language, None, now)
        key = f"channel_test::{now.isoformat()}:{person.id}"
        for channel in (Channel.WECHAT, Channel.SMS, Channel.EMAIL, Channel.WECOM):
            if prefs.address(person, channel):
                rows.append(Delivery(**row_values(spec, target, key, person, channel, words, now, 0, "")))
    else:
        words = texts.render(spec, None, "zh_Hans", None, now)
        rows.append(Delivery(dedupe_key=f"channel_test:{phone}:{now.isoformat()}", channel=Channel.SMS, kind=spec.name, address=phone,
                             body=words.sms, payload={"values": words.values, "lang": "zh_Hans"}, is_urgent=True, created_at=now,
                             next_attempt_at=now))
    db.session.add_all(rows)
    db.session.flush()
    results = []
    registry = channels_for(app)
    for row in rows:
        outcome, value, seconds = _send(registry, message_for(row))
        record(row, outcome, value, seconds, now)
        answer = value.provider_id if outcome == "sent" else f"{value.code}: {value.message}"
        results.append((row.channel, row.address, outcome, answer))
    return results


def kind_labels():
    return {name: str(kind.label) for name, kind in kinds.KINDS.items()}
