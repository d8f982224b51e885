"""Language and time zone: Simplified Chinese first, community time for people, UTC in the database."""
import functools
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from babel import Locale
from flask import current_app, g, has_request_context, session
from flask.globals import _cv_app  # (the context variable behind the proxies)
from flask_babel import get_locale
from flask_login import current_user

LANGUAGE_NAMES = {"zh_Hans": "简体中文", "en": "English"}


def select_locale():
    """The request's language, as a parsed babel Locale (parsed once per language: Flask-Babel
    takes a Locale as it is, and would parse a name on every request)."""
    return _parsed(_language())


@functools.lru_cache(maxsize=32)
def _parsed(name):
    locale = Locale.parse(name)
    locale.portal_name = str(locale)  # (babel builds the name again on every str())
    return locale


def locale_name():
    """The request's language as a name ("zh_Hans", "en"), for cache keys: str(get_locale()),
    without babel building the name again. (The Locale is read where Flask-Babel keeps it once
    chosen, force_locale() included; get_locale() chooses it the first time, or if that moves.)"""
    here = _cv_app.get(None)
    locale = getattr(here.g.get("_flask_babel"), "babel_locale", None) if here is not None else None
    if locale is None:
        locale = get_locale()
    return getattr(locale, "portal_name", None) or str(locale)


def _language():
    if not has_request_context():
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    if not g.get("database_down"):
        from portal.database import UNAVAILABLE

        try:
            user = current_user._get_current_object()
            if user and user.is_authenticated:
                return user.language
        except UNAVAILABLE:  # the person cannot be loaded: an error page is being made
            g.database_down = True
    lang = session.get("lang")
    if lang in current_app.config["LANGUAGES"]:
        return lang
    if g.get("database_down"):
        return browser_locale()
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def browser_locale():
    """The browser's language (Accept-Language) among ours, else the default: for pages that
    cannot ask the signed-in person's settings (the database away) and have no language in the
    session cookie."""
    from flask import request

    for tag, _quality in request.accept_languages:
        tag = tag.lower()
        if tag.startswith("zh"):
            return "zh_Hans"
        if tag.startswith("en") and "en" in current_app.config["LANGUAGES"]:
            return "en"
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def select_timezone():
    return current_app.config["TIMEZONE"]


def community_tz():
    return _zone(current_app.config["TIMEZONE"])


@functools.lru_cache(maxsize=8)
def _zone(name):
    return ZoneInfo(name)


def from_local(naive):
    """A naive date-time typed in a form, in the community's time zone, as aware UTC."""
    if naive is None:
        return None
    return naive.replace(tzinfo=community_tz()).astimezone(timezone.utc)


def to_local(aware):
    if aware is None:
        return None
    return aware.astimezone(community_tz())


def to_local_input(aware):
    """The value for an <input type=datetime-local>."""
    return to_local(aware).replace(tzinfo=None) if aware else None


# strftime is much cheaper than Babel's CLDR formatting, and list pages format dozens of times.
PATTERNS = {
    "zh": {"short": "%Y/%m/%d %H:%M", "date": "%Y年%-m月%-d日", "long": "%Y年%-m月%-d日 %H:%M"},
    "en": {"short": "%d %b %Y %H:%M", "date": "%d %B %Y", "long": "%d %B %Y, %H:%M"},
}


def localtime(value, fmt="short"):
    """Jinja filter: an aware UTC datetime in the community's time zone and the user's language."""
    if value is None:
        return ""
    language = "zh" if locale_name().startswith("zh") else "en"
    return to_local(value).strftime(PATTERNS[language][fmt])


def machine_time(value):
    """Jinja filter: the value of a <time datetime> attribute, a valid HTML date or global date and
    time (seconds, no fraction: HTML allows at most three digits of a second)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return value.strftime("%Y-%m-%dT%H:%M:%S")
        return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return value.isoformat()


def isotime(value, fmt="short"):
    """Jinja filter: an ISO timestamp kept in a timeline entry, shown like any other time."""

    try:
        return localtime(datetime.fromisoformat(value), fmt)
    except (TypeError, ValueError):
        return ""


EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def micros(when):
    """A time as whole microseconds since the epoch: exact, for comparing times kept in pages."""
    return (when - EPOCH) // timedelta(microseconds=1)


def from_micros(value):
    return EPOCH + timedelta(microseconds=value)


def safe_next(target):
    """A `next` may only name a path on this site: no scheme, no host, no control characters
    (browsers drop a tab, so "/<tab>/evil.example" would become "//evil.example")."""
    from urllib.parse import urlsplit

    if not target or not target.startswith("/") or any(ord(c) < 32 or c == "\\" for c in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or target.startswith("//"):
        return None
    return target
