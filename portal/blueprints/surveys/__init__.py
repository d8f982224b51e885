from flask import Blueprint

bp = Blueprint("surveys", __name__)

from portal.blueprints.surveys import views  # noqa: E402,F401
