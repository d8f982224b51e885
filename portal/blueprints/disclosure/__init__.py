from flask import Blueprint

bp = Blueprint("disclosure", __name__)

from portal.blueprints.disclosure import views  # noqa: E402,F401
