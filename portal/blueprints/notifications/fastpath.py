"""The bell's polls, answered before Flask when nothing changed.

Every open page asks every few seconds whether there is anything new for its reader; almost
always there is not. This WSGI middleware reads the signed session cookie, asks the database one
small question (the session's person, their unread count and newest notification) and answers
304 when the browser's ETag still matches, without a request context, user loading or template.
Anything else (no cookie, a bad signature, a change, the database away) goes to Flask.
"""
from http.cookies import SimpleCookie

from itsdangerous import BadSignature
from sqlalchemy import bindparam, func, select

from portal.models import Notification, User, UserSession
from portal.notify.inbox import etag

_unread = select(func.count(Notification.id)).where(Notification.user_id == UserSession.user_id, Notification.read_at.is_(None))
_last = select(func.max(Notification.id)).where(Notification.user_id == UserSession.user_id)
STATE = (
    select(UserSession.user_id, _unread.scalar_subquery(), _last.scalar_subquery())
    .join(User, User.id == UserSession.user_id)
    .where(UserSession.token == bindparam("token"), User.is_active)
)
PATHS = {"/notifications/bell": "", "/notifications/": "-list-0"}


class BellFastPath:
    def __init__(self, wsgi_app, app):
        self.wsgi_app = wsgi_app
        self.app = app
        self.engine = None
        self.serializer = None

    def __call__(self, environ, start_response):
        if environ.get("REQUEST_METHOD") == "GET" and "HTTP_IF_NONE_MATCH" in environ and not environ.get("QUERY_STRING"):
            suffix = PATHS.get(environ.get("PATH_INFO", ""))
            if suffix is not None and (suffix == "" or environ.get("HTTP_HX_REQUEST") == "true"):
                tag = self._etag(environ)
                if tag is not None and f'"{tag}{suffix}"' in environ["HTTP_IF_NONE_MATCH"]:
                    start_response("304 NOT MODIFIED", [
                        ("ETag", f'"{tag}{suffix}"'),
                        ("Cache-Control", "private, no-cache"),
                        ("X-Content-Type-Options", "nosniff"),
                        ("Vary", "Cookie, HX-Request"),
                    ])
                    return [b""]
        return self.wsgi_app(environ, start_response)

    def _etag(self, environ):
        if self.engine is None:
            from portal.extensions import db

            with self.app.app_context():
                self.engine = db.engine
            self.serializer = self.app.session_interface.get_signing_serializer(self.app)
        cookie = SimpleCookie()
        try:
            cookie.load(environ.get("HTTP_COOKIE", ""))
            raw = cookie[self.app.config["SESSION_COOKIE_NAME"]].value
            data = self.serializer.loads(raw, max_age=int(self.app.permanent_session_lifetime.total_seconds()))
        except (KeyError, BadSignature, ValueError, TypeError):
            return None
        token = data.get("_user_id") if isinstance(data, dict) else None
        if not token:
            return None
        try:
            with self.engine.connect() as connection:
                row = connection.execute(STATE, {"token": token}).first()
        except Exception:  # the database is away: let Flask answer (and fail) properly
            return None
        if row is None:
            return None
        return etag(row[0], int(row[1] or 0), int(row[2] or 0))
