"""Home, health, language, and what every request shares: headers, idle timeout, banner, errors."""
import time

from flask import current_app, flash, g, jsonify, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, logout_user
from flask_wtf.csrf import CSRFError
from flask_babel import format_date, format_datetime, get_locale, get_translations
from sqlalchemy import func, select, text
from sqlalchemy.exc import DataError, SQLAlchemyError

from portal import cache, database, permissions
from portal.blueprints.main import bp
from portal.i18n import safe_next
from portal.extensions import db, login_manager
from portal.i18n import LANGUAGE_NAMES, isotime, localtime, to_local
from portal.models import OPEN_STATUSES, Notice, Role, Ticket, TicketChannel, TicketStatus, User, utcnow
from portal.services import auth, kiosk, notices, records, settings, suggestions, tickets

CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)


@login_manager.user_loader
def load_user(token):
    return auth.load(token)


login_manager.login_view = "auth.login"
login_manager.session_protection = None  # sessions are server-side rows: see services/auth.py


@login_manager.unauthorized_handler
def unauthorized():
    if request.method == "GET":
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    return redirect(url_for("auth.login"))


@bp.before_app_request
def sqlite_write_lock():
    """On SQLite, a request that writes takes the write lock before it reads anything, so that
    concurrent writers queue instead of failing (see database.begin_write)."""
    if request.method in ("POST", "PUT", "PATCH", "DELETE"):
        database.begin_write(db.session)


@bp.before_app_request
def staff_idle_timeout():
    """Back-office sessions end after PORTAL_STAFF_IDLE_MINUTES without a request."""
    if request.endpoint in ("static", "main.healthz") or not current_user.is_authenticated:
        return None
    if not current_user.is_staff_side:
        return None
    now = int(time.time())
    seen = session.get("seen", now)
    if now - seen > current_app.config["STAFF_IDLE_MINUTES"] * 60:
        auth.end_session(current_user.session_token)
        db.session.commit()
        logout_user()
        session.clear()
        flash(_("You were signed out after a period of inactivity."), "info")
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?") if request.method == "GET" else None))
    if now - seen >= 60 or "seen" not in session:
        session["seen"] = now
    return None


@bp.after_app_request
def security_headers(response):
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CSP)
    headers["X-Content-Type-Options"] = "nosniff"
    headers["X-Frame-Options"] = "DENY"
    headers["Referrer-Policy"] = "same-origin"
    headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
    if "_user_id" in session and "Cache-Control" not in headers:  # signed in (without loading the user)
        headers["Cache-Control"] = "private, no-cache"
    return response


def resident_building_ids():
    """The signed-in resident's buildings, once per request."""
    if "building_ids" not in g:
        user = current_user
        g.building_ids = notices.building_ids_of(user) if user.is_authenticated and user.role in (Role.RESIDENT, Role.COMMITTEE) else None
    return g.building_ids


def emergencies():
    """Current emergencies for the banner on every page (one query, once per request)."""
    if "emergencies" not in g:
        try:
            g.emergencies = notices.active_emergencies(current_user, utcnow(), resident_building_ids())
        except SQLAlchemyError:  # the error page must render even with the database gone
            db.session.rollback()
            g.emergencies = []
    return g.emergencies


def banner_html():
    """The emergency banner as HTML, kept per audience and language until notices change."""
    now = utcnow()
    snap = notices.snapshot(current_user, now, resident_building_ids())

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


def _catalogue():
    catalogue = g.get("catalogue")
    if catalogue is None:
        catalogue = g.catalogue = get_translations()
    return catalogue


@bp.record_once
def jinja_globals(state):
    env = state.app.jinja_env
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


@bp.route("/")
def index():
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    if not permissions.is_back_office(current_user):
        return redirect(url_for("notices.index"))
    now = utcnow()
    unanswered = db.session.scalar(
        select(func.count(Ticket.id)).where(Ticket.channel == TicketChannel.NOTICE_QUESTION, Ticket.status.in_(OPEN_STATUSES))
    )
    drafts = db.session.scalar(select(func.count(Notice.id)).where(Notice.publish_at.is_(None), Notice.withdrawn_at.is_(None)))
    queue = tickets.register_query(current_user, {}, now)
    counts = {
        "new": db.session.scalar(select(func.count()).select_from(queue.where(Ticket.status == TicketStatus.NEW).subquery())),
        "overdue": db.session.scalar(select(func.count()).select_from(tickets.register_query(current_user, {"overdue": True}, now).subquery())),
        "urgent": db.session.scalar(
            select(func.count()).select_from(
                queue.where(Ticket.is_urgent, Ticket.acknowledged_at.is_(None), Ticket.status.in_(OPEN_STATUSES)).subquery()
            )
        ),
    }
    unreplied = queue.where(Ticket.channel == TicketChannel.GOV_HOTLINE, Ticket.gov_replied_at.is_(None))
    counts["gov_open"] = db.session.scalar(select(func.count()).select_from(unreplied.subquery()))
    counts["gov_overdue"] = db.session.scalar(select(func.count()).select_from(unreplied.where(Ticket.gov_reply_due_at < now).subquery()))
    scheduled = db.session.scalar(select(func.count(Notice.id)).where(Notice.publish_at > now, Notice.withdrawn_at.is_(None)))
    studies = suggestions.overdue_studies(to_local(now).date())
    silent_screens = kiosk.silent(now) if permissions.is_back_office(current_user) else []
    outreach = records.outreach_today(current_user, now) if current_user.role in (Role.STAFF, Role.HEAD) else None
    return render_template(
        "main/index.html", unanswered=unanswered, drafts=drafts, scheduled=scheduled, counts=counts, studies=studies,
        unread=len(suggestions.unread()), silent_screens=silent_screens, outreach=outreach,
    )


@bp.route("/language", methods=["POST"])
def language():
    lang = request.form.get("lang", "")
    if lang in current_app.config["LANGUAGES"]:
        session["lang"] = lang
        if current_user.is_authenticated:
            db.session.get(User, current_user.id).language = lang
            db.session.commit()
    return redirect(safe_next(request.form.get("next", "")) or url_for("main.index"))


@bp.route("/healthz")
def healthz():
    try:
        db.session.execute(text("SELECT 1"))
    except Exception as exc:  # any failure to reach the database is "unhealthy"
        db.session.rollback()
        current_app.logger.warning("healthz: database unreachable: %s", exc)
        return jsonify(status="unavailable"), 503
    return jsonify(status="ok")


def _error_page(code, message):
    db.session.rollback()
    return render_template("errors/error.html", code=code, message=message), code


@bp.app_errorhandler(404)
def not_found(error):
    return _error_page(404, _("This page does not exist, or you may not see it."))


@bp.app_errorhandler(OverflowError)
@bp.app_errorhandler(DataError)
def out_of_range(error):
    """An id or number far beyond anything stored (a typo or a probe) is simply not there."""
    return _error_page(404, _("This page does not exist, or you may not see it."))


@bp.app_errorhandler(405)
def method_not_allowed(error):
    return _error_page(405, _("This action is not available here."))


@bp.app_errorhandler(CSRFError)
def csrf_error(error):
    return _error_page(400, _("Your form had expired. Go back, reload the page and send it again."))


@bp.app_errorhandler(400)
def bad_request(error):
    return _error_page(400, _("The request could not be understood. Please check what you entered."))


@bp.app_errorhandler(413)
def too_large(error):
    limit = current_app.config["UPLOAD_MAX_BYTES"] / 1024 / 1024
    return _error_page(413, _("The upload is too large: each file may be at most %(mb).1f MB.", mb=limit))


@bp.app_errorhandler(429)
def too_many(error):
    return _error_page(429, _("Too many attempts. Please wait a while and try again."))


@bp.app_errorhandler(500)
def server_error(error):
    return _error_page(500, _("Something went wrong on our side. Please try again; if it persists, call the hotline."))
