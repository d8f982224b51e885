"""Each person's addresses, consent and channel choices: which channels a kind may use for them,
in their order (WeChat, then SMS), plus email beside them."""
from sqlalchemy import select

from portal.extensions import db
from portal.models import Channel, ConsentRecord, NotificationPref, Role
from portal.notify import kinds, phones

MESSAGE_ORDER = (Channel.WECHAT, Channel.SMS)  # one of these reaches the person; the next only if the first fails for good
CHOOSABLE = (Channel.WECHAT, Channel.SMS, Channel.EMAIL)
DEFAULTS = {
    kinds.TICKETS: (Channel.WECHAT, Channel.SMS, Channel.EMAIL),
    kinds.NOTICES: (Channel.WECHAT, Channel.EMAIL),  # SMS costs money: ordinary notices only if asked for
    kinds.EVENTS: (Channel.WECHAT, Channel.SMS, Channel.EMAIL),
    kinds.CONSULTATIONS: (Channel.WECHAT, Channel.SMS, Channel.EMAIL),
    kinds.EMERGENCIES: (Channel.SMS, Channel.WECHAT, Channel.EMAIL),
}
CONSENTED = {Channel.SMS: "sms_consent_at", Channel.WECHAT: "wechat_consent_at"}


def load(user_ids):
    """{user_id: {category: (channels...)}} for the people who changed the defaults."""
    found = {}
    if not user_ids:
        return found
    for row in db.session.scalars(select(NotificationPref).where(NotificationPref.user_id.in_(list(user_ids)))):
        found.setdefault(row.user_id, {})[row.category] = tuple(Channel(c) for c in row.channels.split(",") if c in Channel._value2member_map_)
    return found


def chosen(user_prefs, category):
    """The channels chosen for a category (emergencies always keep at least one)."""
    picked = (user_prefs or {}).get(category)
    if picked is None:
        return DEFAULTS.get(category, ())
    if category == kinds.EMERGENCIES and not any(c in MESSAGE_ORDER or c == Channel.EMAIL for c in picked):
        return DEFAULTS[kinds.EMERGENCIES]
    return picked


def address(user, channel):
    """Where `channel` reaches this person, or None (no address, or no consent where PIPL asks for it)."""
    if channel == Channel.EMAIL:
        return user.email or None
    if channel == Channel.WECOM:
        return getattr(user, "wecom_userid", None) or None
    if channel in (Channel.SMS, Channel.VOICE):
        number = phones.normalize(user.phone)
        if number is None:
            return None
        if user.role in (Role.RESIDENT, Role.COMMITTEE) and not user.sms_consent_at:
            return None
        return number
    if channel == Channel.WECHAT:
        if not user.wechat_openid or not user.wechat_consent_at:
            return None
        return user.wechat_openid
    return None


def plan(user, kind, user_prefs):
    """The channel orders for one person: a list of chains, each tried first to last until one
    delivers. In-app is not among them: it is always written."""
    if kind.parallel:  # a page: every way of reaching the person at once
        from flask import current_app

        chains = [[c] for c in (Channel.WECOM, Channel.SMS) if address(user, c)]
        if current_app.config.get("VOICE_URL") and address(user, Channel.VOICE):
            chains.append([Channel.VOICE])
        return chains
    if kind.for_staff:
        chains = []
        staff_chain = [c for c in (Channel.WECOM,) if address(user, c)]
        if kind.urgent and address(user, Channel.SMS):
            staff_chain.append(Channel.SMS)
        if staff_chain:
            chains.append(staff_chain)
        if kind.staff_email and address(user, Channel.EMAIL):
            chains.append([Channel.EMAIL])
        return chains
    picked = chosen(user_prefs, kind.category)
    chains = []
    message_chain = [c for c in MESSAGE_ORDER if c in picked and address(user, c)]
    if kind.category == kinds.EMERGENCIES:
        # An emergency goes on every message channel the person has chosen at once (SMS by
        # default), not one after the other: it must arrive even if one of them is slow.
        if not message_chain and address(user, Channel.SMS):
            message_chain = [Channel.SMS]
        chains += [[c] for c in message_chain]
    elif message_chain:
        chains.append(message_chain)
    if Channel.EMAIL in picked and address(user, Channel.EMAIL):
        chains.append([Channel.EMAIL])
    return chains


def reachable(user):
    """The channels beyond in-app that can reach this resident at all."""
    return [c for c in CHOOSABLE if address(user, c)]


def save(user, choices):
    """{category: [channels]} from the account page; a category missing keeps its defaults."""
    existing = {row.category: row for row in db.session.scalars(select(NotificationPref).where(NotificationPref.user_id == user.id))}
    for category in kinds.RESIDENT_CATEGORIES:
        if category not in choices:
            continue
        value = ",".join(c.value for c in CHOOSABLE if c in choices[category])
        row = existing.get(category)
        if row is None:
            db.session.add(NotificationPref(user_id=user.id, category=category, channels=value))
        else:
            row.channels = value


def set_consent(user, channel, granted, source, now, recorded_by=None):
    """Records consent given or withdrawn (PIPL): the user row carries what is in force, the
    consent_record table the history. Returns True when anything changed."""
    attribute = CONSENTED[channel]
    if bool(getattr(user, attribute)) == bool(granted):
        return False
    setattr(user, attribute, now if granted else None)
    db.session.add(ConsentRecord(user_id=user.id, channel=channel, granted=bool(granted), source=source[:64], at=now,
                                 recorded_by_id=recorded_by.id if recorded_by else None))
    return True
