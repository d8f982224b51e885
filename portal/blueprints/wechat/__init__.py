from flask import Blueprint

bp = Blueprint("wechat", __name__)

from portal.blueprints.wechat import views  # noqa: E402,F401
