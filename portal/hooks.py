"""What every request goes through: a query string without control characters, signing in, the
SQLite write lock, the staff idle timeout, the security headers (SecurityHeaders, a WSGI wrapper
around the app), and the request's one unit of work: a write request that succeeds commits
everything its services flushed, anything else rolls back. Views and services never commit."""
import re
import time

from flask import current_app, flash, g, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_login import logout_user

from portal import database, errors
from portal.application import Args
from portal.extensions import csrf, db, login_manager
from portal.forms import KEY
from portal.inputs import clean, has_controls
from portal.permissions import me
from portal.services import auth

CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
WRITES = ("POST", "PUT", "PATCH", "DELETE")
# What a query string must hold for its decoded text to hold a control character (inputs.CONTROL):
# an escaped C0 control or DEL, an escaped byte that could start an (invalid) UTF-8 surrogate, or
# such a character itself. UTF-8 cannot otherwise encode them; anything else decodes without any.
MAY_HOLD_CONTROLS = re.compile(r"%(?:[01][0-9A-Fa-f]|7[Ff]|[Ee][Dd])|[\x00-\x1f\x7f]")


def register(app):
    login_manager.user_loader(auth.load)
    login_manager.unauthorized_handler(unauthorized)
    login_manager.login_view = "auth.login"
    login_manager.session_protection = None  # sessions are server-side rows: see services/auth.py
    app.before_request(csrf_on_writes)
    app.before_request(query_without_controls)
    app.before_request(sqlite_write_lock)
    app.before_request(staff_idle_timeout)
    app.after_request(private_pages)  # (the security headers: SecurityHeaders, around the whole app)
    app.after_request(unit_of_work)  # after_request functions run last-registered first: this one first


def unauthorized():
    if request.method == "GET":
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    return redirect(url_for("auth.login"))


def csrf_on_writes():
    """Flask-WTF's CSRF check (its exemptions applied) for the methods it checks. Its own hook
    works out every request's exemption before it looks at the method; a page view has none."""
    config = current_app.config
    if request.method in config["WTF_CSRF_METHODS"] and config["WTF_CSRF_ENABLED"]:
        csrf.protect(apply_exemptions=True)


def query_without_controls():
    """A query string's text (a search, a filter) loses its control characters before any view
    reads it (portal/inputs.py); the page says so (layout.html), and is not a kept one."""
    raw = request.environ.get("QUERY_STRING")
    if not raw or not MAY_HOLD_CONTROLS.search(raw):  # (nearly always: no value is looked at)
        return
    args = request.args
    if any(has_controls(key) or any(has_controls(v) for v in values) for key, values in args.lists()):
        request.args = Args([(clean(key), clean(v)) for key, values in args.lists() for v in values])
        g.query_cleaned = True


def sqlite_write_lock():
    """On SQLite, a request that writes takes the write lock before it reads anything, so that
    concurrent writers queue instead of failing (see database.begin_write)."""
    if request.method in WRITES:
        database.begin_write(db.session)


def staff_idle_timeout():
    """Back-office sessions end after PORTAL_STAFF_IDLE_MINUTES without a request."""
    if request.endpoint in ("static", "main.healthz") or request.routing_exception is not None:
        return None
    user = me()
    if not user.is_authenticated or not user.is_staff_side:
        return None
    now = int(time.time())
    seen = session.get("seen", now)
    if now - seen > current_app.config["STAFF_IDLE_MINUTES"] * 60:
        # Session bookkeeping, the one write a GET may make: the expired session row goes now,
        # so that its cookie can never be replayed.
        auth.end_session(user.session_token)
        g.session_bookkeeping = True
        logout_user()
        session.clear()
        flash(_("You were signed out after a period of inactivity."), "info")
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?") if request.method == "GET" else None))
    if now - seen >= 60 or "seen" not in session:
        session["seen"] = now
    return None


SECURITY_HEADERS = (
    ("Content-Security-Policy", CSP),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "same-origin"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
)
_SECURITY_NAMES = tuple(name.lower() for name, _value in SECURITY_HEADERS)


class SecurityHeaders:
    """Every response's security headers, added as it leaves (the polls answered before Flask
    included); a response that set its own (a download's stricter CSP) keeps it. Constant
    tuples appended to the header list: cheaper than setting them on each response object."""

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        def start(status, headers, exc_info=None):
            present = {name.lower() for name, _value in headers}
            headers.extend(header for header, name in zip(SECURITY_HEADERS, _SECURITY_NAMES) if name not in present)
            return start_response(status, headers, exc_info)

        return self.wsgi_app(environ, start)


def private_pages(response):
    """A signed-in browser's pages are its own: no shared cache keeps them."""
    if "_user_id" in session and "Cache-Control" not in response.headers:  # signed in (without loading the user)
        response.headers["Cache-Control"] = "private, no-cache"
    return response


def unit_of_work(response):
    """The request's one commit. A write request (POST ...) that answered below 400 commits what
    its services flushed; a GET, a refusal or an error rolls everything back. When the database
    goes away during the commit, the answer is the portal's 503 page, saying whether what was sent
    was saved, unless the rows the request made from its form (by their idempotency key) turn out
    to be there: then the commit happened and only its answer was lost, and the response stands.
    (Any other exception raised by the commit becomes the 500 page, which rolls back here in turn.)"""
    if response.status_code < 400 and (request.method in WRITES or g.pop("session_bookkeeping", False)):
        try:
            database.commit(db.session)
        except database.CommitFailed as failure:
            return errors.unavailable(failure.__cause__, saved=failure.saved)
        _confirm_saved(response)
    elif db.session.registry.has():  # (a request that never used the session has nothing to roll back)
        database.rollback(db.session)
    return response


SAVED_COOKIE = "portal_saved"


def _confirm_saved(response):
    """Tells the browser's drafts (static/js/drafts.js) that the form it sent is saved: the form's
    idempotency key in a short-lived cookie scripts can read (a random value, nothing else)."""
    key = request.form.get("idempotency_key", "") if request.method in WRITES else ""
    if key and KEY.fullmatch(key):
        response.set_cookie(SAVED_COOKIE, key, max_age=300, secure=current_app.config["SECURE_COOKIES"], httponly=False, samesite="Lax")
