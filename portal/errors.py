"""Error pages: every refusal and failure as a page in the user's language, never a traceback.

With the database away every page still answers: a request that cannot reach it gets the 503
page, and any other error page falls back to the same plain layout. Neither touches the
database, the signed-in person or the cache: no menu, banner or bell, the language from the
session cookie or the browser, the hotline as last read (services/settings.last_known_hotline).
"""
from flask import current_app, g, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from portal import database
from portal.extensions import db


def register(app):
    app.register_error_handler(404, not_found)
    # (Ids, numbers and text the database cannot hold are refused where they come in: portal/inputs.py.
    # A database's DataError is a fault to see, never "not found".)
    app.register_error_handler(403, forbidden)
    app.register_error_handler(405, method_not_allowed)
    app.register_error_handler(CSRFError, csrf_error)
    app.register_error_handler(400, bad_request)
    app.register_error_handler(413, too_large)
    app.register_error_handler(422, unprocessable)
    app.register_error_handler(429, too_many)
    app.register_error_handler(500, server_error)
    for error in database.UNAVAILABLE:
        app.register_error_handler(error, unavailable)


def database_down():
    """Has this request found the database away? Then nothing more asks it."""
    return g.get("database_down", False)


def _page(code, message):
    database.rollback(db.session)
    if not database_down():
        try:
            return render_template("errors/error.html", code=code, message=message), code
        except database.UNAVAILABLE:  # the page's menu, banner or bell needed the database
            g.database_down = True
            database.rollback(db.session)
    return _plain(code, message), code


def _plain(code, message, **context):
    from portal.services.settings import last_known_hotline

    return _bare("errors/plain.html", code=code, message=message, hotline=last_known_hotline(), **context)


def _bare(name, **context):
    """A template rendered without Flask's context processors: Flask-Login's would load the
    signed-in person (from the database) to offer `current_user`."""
    return current_app.jinja_env.get_template(name).render(**context)


def not_found(error):
    return _page(404, _("This page does not exist, or you may not see it."))


def forbidden(error):
    return _page(403, _("This action is not available here."))


def method_not_allowed(error):
    return _page(405, _("This action is not available here."))


def csrf_error(error):
    return _page(400, _("Your form had expired. Go back, reload the page and send it again."))


def bad_request(error):
    return _page(400, _("The request could not be understood. Please check what you entered."))


def too_large(error):
    limit = current_app.config["UPLOAD_MAX_BYTES"] / 1024 / 1024
    return _page(413, _("The upload is too large: each file may be at most %(mb).1f MB.", mb=limit))


def unprocessable(error):
    return _page(422, _("The request could not be understood. Please check what you entered."))


def too_many(error):
    return _page(429, _("Too many attempts. Please wait a while and try again."))


def server_error(error):
    original = getattr(error, "original_exception", None)
    if original is not None and database.is_unavailable(original):
        return unavailable(original)
    return _page(500, _("Something went wrong on our side. Please try again; if it persists, call the hotline."))


def unavailable(error, saved=False):
    """The 503 page: the database cannot be reached. `saved` says what became of a form that was
    sent: False (not saved) or None (nobody can tell); a GET sent nothing."""
    if error is not None:
        current_app.logger.warning("database unavailable: %s %s: %s", request.method, request.path, str(error).partition("\n")[0])
    g.database_down = True
    database.rollback(db.session)
    sent = request.method in ("POST", "PUT", "PATCH", "DELETE")
    message = _("The service is briefly unavailable. Please try again in a minute.")
    template = "errors/_unavailable.html" if request.headers.get("HX-Request") == "true" else "errors/plain.html"
    from portal.services.settings import last_known_hotline

    retry = current_app.config["RETRY_AFTER_SECONDS"]
    # A lobby screen (re)started while the database is away shows this page: it tries again by itself.
    refresh = retry if request.endpoint == "kiosk.screen" else None
    response = current_app.make_response((_bare(
        template, code=503, message=message, sent=sent, saved=saved, keyed=sent and _keyed(), hotline=last_known_hotline(), refresh=refresh), 503))
    response.headers["Retry-After"] = str(retry)
    response.headers["Cache-Control"] = "no-store"
    return response


def _keyed():
    """Did the form sent carry an idempotency key (sending it again cannot register it twice)?"""
    try:
        return bool(request.form.get("idempotency_key"))
    except HTTPException:  # a body too large to read
        return False
