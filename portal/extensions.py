"""Flask extensions, created unbound; create_app binds them."""
from flask_babel import Babel
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from htmx_flask import Htmx

from portal.database import Base



class Logins(LoginManager):
    """Flask-Login, without its session protection: sessions are server-side rows that a sign-out
    or a password change ends (services/auth.py), and with protection off (hooks.py) Flask-Login
    would still hash the browser's address and user agent on every request, for nothing."""

    def _session_protection_failed(self):
        return False


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = Logins()
csrf = CSRFProtect()
babel = Babel()


class LoginLimits:
    """Failed sign-ins, counted per account and per address in fixed windows by the `limits`
    library (Flask-Limiter's engine) in RATELIMIT_STORAGE_URI: memory, or Redis shared by every
    host. Only the sign-in asks it: no hook runs on other requests."""

    def init_app(self, app):
        from limits import storage, strategies

        app.extensions["login_limits"] = strategies.FixedWindowRateLimiter(storage.storage_from_string(app.config["RATELIMIT_STORAGE_URI"]))

    @property
    def limiter(self):
        from flask import current_app

        return current_app.extensions["login_limits"]


limiter = LoginLimits()
htmx = Htmx()
