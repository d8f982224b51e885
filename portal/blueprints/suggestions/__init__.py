from flask import Blueprint

bp = Blueprint("suggestions", __name__)

from portal.blueprints.suggestions import views  # noqa: E402,F401
