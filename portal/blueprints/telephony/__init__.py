from flask import Blueprint

bp = Blueprint("telephony", __name__)

from portal.blueprints.telephony import views  # noqa: E402,F401
