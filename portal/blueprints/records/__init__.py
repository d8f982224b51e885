from flask import Blueprint

bp = Blueprint("records", __name__)

from portal.blueprints.records import views  # noqa: E402,F401
