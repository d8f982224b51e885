"""What templates share: Jinja globals and filters, the emergency banner and the bell on every page."""
from flask import g, render_template
from flask_babel import format_date, format_datetime, get_locale, get_translations
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy.exc import SQLAlchemyError

from portal import cache, database, htmx, permissions
from portal.extensions import db
from portal.i18n import LANGUAGE_NAMES, isotime, locale_name, localtime, machine_time, micros
from portal.models import utcnow
from portal.services import notices, settings


def register(app):
    env = app.jinja_env
    env.globals.update(
        emergencies=emergencies,
        banner_html=banner_html,
        bell_state=bell_state,
        policy=policy,
        languages=LANGUAGE_NAMES,
        get_locale=get_locale,
        format_datetime=format_datetime,
        format_date=format_date,
        csrf_token=htmx.csrf_token,
        mark=htmx.mark,
        micros=micros,
        **permissions.JINJA_GLOBALS,
    )
    # Flask-Babel's template gettext looks the catalogue up on every call; pages make dozens of
    # calls, so take it once per request.
    env.install_gettext_callables(
        gettext=lambda s: _catalogue().ugettext(s),
        ngettext=lambda s, p, n: _catalogue().ungettext(s, p, n),
        newstyle=True,
    )
    env.filters["sanitized"] = notices.sanitized
    env.filters["localtime"] = localtime
    env.filters["isotime"] = isotime
    env.filters["machine_time"] = machine_time


def _catalogue():
    catalogue = g.get("catalogue")
    if catalogue is None:
        catalogue = g.catalogue = get_translations()
    return catalogue


def emergencies():
    """Current emergencies for the banner on every page (one query, once per request)."""
    if "emergencies" not in g:
        g.emergencies = []
        if not g.get("database_down"):
            try:
                g.emergencies = notices.active_emergencies(current_user, utcnow(), permissions.resident_building_ids())
            except SQLAlchemyError:  # the error page must render even with the database gone
                _went_away()
    return g.emergencies


def banner():
    """(what it depends on, HTML) of the emergency banner for this viewer's audience: kept per
    audience and language until the notices change or the next one is due to start or end."""
    now = utcnow()
    audience = notices.audience(permissions.me(), permissions.resident_building_ids())

    def build():
        return render_template("_banner.html"), notices.next_change(now)

    until, html = cache.cached_entry("banner", (audience, locale_name()), cache.NOTICES, build, now)
    return (audience, cache.versions().get(cache.NOTICES, 0), until), html


def banner_html():
    """The banner for a page rendered per request (a kept page fills its hole with the same)."""
    if g.get("database_down"):
        return ""
    try:
        return Markup(banner()[1])  # noqa: S704 - rendered by _banner.html with autoescape
    except SQLAlchemyError:  # the error page must render even with the database gone
        _went_away()
        return ""


def bell_state():
    """(unread, newest id) of the signed-in person's notifications (read with the versions), or
    None when nobody is signed in."""
    if not permissions.me().is_authenticated:
        return None
    if g.get("database_down"):
        return 0, 0
    try:
        return cache.bell()
    except SQLAlchemyError:  # the error page must render even with the database gone
        _went_away()
        return 0, 0


def policy(key):
    if not g.get("database_down"):
        try:
            return settings.get(key)
        except SQLAlchemyError:
            _went_away()
    return settings.last_known_hotline() if key == "hotline" else settings.DEFINITIONS[key].default


def _went_away():
    """The database failed a piece of the page: nothing else on it asks again."""
    g.database_down = True
    database.rollback(db.session)
