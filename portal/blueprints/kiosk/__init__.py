from flask import Blueprint

bp = Blueprint("kiosk", __name__)

from portal.blueprints.kiosk import views  # noqa: E402,F401
