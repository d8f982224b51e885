"""What templates share: Jinja globals and filters, the emergency banner and the bell on every page."""
from flask import g, render_template
from flask_babel import format_date, format_datetime, get_locale, get_translations
from flask_login import current_user
from sqlalchemy.exc import SQLAlchemyError

from portal import cache, permissions
from portal.extensions import db
from portal.i18n import LANGUAGE_NAMES, isotime, localtime
from portal.models import utcnow
from portal.services import notices, settings


def register(app):
    env = app.jinja_env
    env.globals.update(
        emergencies=emergencies,
        bell_state=bell_state,
        policy=policy,
        languages=LANGUAGE_NAMES,
        get_locale=get_locale,
        format_datetime=format_datetime,
        format_date=format_date,
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


def _catalogue():
    catalogue = g.get("catalogue")
    if catalogue is None:
        catalogue = g.catalogue = get_translations()
    return catalogue


def emergencies():
    """Current emergencies for the banner on every page (one query, once per request)."""
    if "emergencies" not in g:
        try:
            g.emergencies = notices.active_emergencies(current_user, utcnow(), permissions.resident_building_ids())
        except SQLAlchemyError:  # the error page must render even with the database gone
            db.session.rollback()
            g.emergencies = []
    return g.emergencies


def banner_html():
    """The emergency banner as HTML, kept per audience and language until notices change."""
    now = utcnow()
    snap = notices.snapshot(current_user, now, permissions.resident_building_ids())

    def build():
        return render_template("_banner.html"), snap["until"]

    return cache.cached("banner", (snap["audience"], str(get_locale())), cache.NOTICES, build, now)


def bell_state():
    """(unread, newest id) of the signed-in person's notifications (one small query)."""
    if not current_user.is_authenticated:
        return 0, 0
    try:
        return cache.bell()
    except SQLAlchemyError:  # the error page must render even with the database gone
        db.session.rollback()
        return 0, 0


def bell_html():
    """The bell for a kept page's hole."""
    if not current_user.is_authenticated:
        return ""
    unread, last = bell_state()
    return render_template("notifications/_bell.html", unread=unread, last=last)


def policy(key):
    try:
        return settings.get(key)
    except SQLAlchemyError:
        db.session.rollback()
        return settings.DEFINITIONS[key].default
