from flask import Blueprint

bp = Blueprint("notices", __name__)

from portal.blueprints.notices import views  # noqa: E402,F401
