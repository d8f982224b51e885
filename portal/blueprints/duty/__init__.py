from flask import Blueprint

bp = Blueprint("duty", __name__)

from portal.blueprints.duty import views  # noqa: E402,F401
