from flask import Blueprint

bp = Blueprint("tickets", __name__)

from portal.blueprints.tickets import views  # noqa: E402,F401
