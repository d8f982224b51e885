"""Error pages: every refusal and failure as a page in the user's language, never a traceback."""
from flask import current_app, render_template
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError

from portal.extensions import db


def register(app):
    app.register_error_handler(404, not_found)
    # (Ids, numbers and text the database cannot hold are refused where they come in: portal/inputs.py.
    # A database's DataError is a fault to see, never "not found".)
    app.register_error_handler(405, method_not_allowed)
    app.register_error_handler(CSRFError, csrf_error)
    app.register_error_handler(400, bad_request)
    app.register_error_handler(413, too_large)
    app.register_error_handler(429, too_many)
    app.register_error_handler(500, server_error)


def _page(code, message):
    db.session.rollback()
    return render_template("errors/error.html", code=code, message=message), code


def not_found(error):
    return _page(404, _("This page does not exist, or you may not see it."))


def method_not_allowed(error):
    return _page(405, _("This action is not available here."))


def csrf_error(error):
    return _page(400, _("Your form had expired. Go back, reload the page and send it again."))


def bad_request(error):
    return _page(400, _("The request could not be understood. Please check what you entered."))


def too_large(error):
    limit = current_app.config["UPLOAD_MAX_BYTES"] / 1024 / 1024
    return _page(413, _("The upload is too large: each file may be at most %(mb).1f MB.", mb=limit))


def too_many(error):
    return _page(429, _("Too many attempts. Please wait a while and try again."))


def server_error(error):
    return _page(500, _("Something went wrong on our side. Please try again; if it persists, call the hotline."))
