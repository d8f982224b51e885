from flask import Blueprint

bp = Blueprint("go", __name__)

from portal.blueprints.go import views  # noqa: E402,F401
