"""Live pages' polls, answered before Flask when nothing changed: the bell, the notifications
list, a chat conversation, the chat queue and the hotline's caller screen.

Every open page asks every few seconds whether there is anything new; almost always there is
not. This WSGI middleware reads the signed session cookie, asks the database one small question
(the session's person and the state the page's ETag is made of) and answers 304 when the
browser's ETag still matches, without a request context, user loading or template. Anything
else (no cookie, a bad signature, a change, someone who may not see it, the database away) goes
to Flask, which answers in full and checks everything again.
"""
import re
from http.cookies import SimpleCookie

from itsdangerous import BadSignature
from sqlalchemy import bindparam, func, select

from portal.models import Call, Conversation, ConversationStatus, Notification, Role, User, UserSession
from portal.notify.inbox import etag as bell_etag

DESK = (Role.STAFF.value, Role.ADMIN.value)
_person = select(UserSession.user_id, User.role).join(User, User.id == UserSession.user_id).where(
    UserSession.token == bindparam("token"), User.is_active)
_unread = select(func.count(Notification.id)).where(Notification.user_id == UserSession.user_id, Notification.read_at.is_(None))
_last = select(func.max(Notification.id)).where(Notification.user_id == UserSession.user_id)
BELL = _person.add_columns(_unread.scalar_subquery(), _last.scalar_subquery())
_conversation = select(Conversation.resident_id, Conversation.last_message_id, Conversation.status, Conversation.assignee_id).where(
    Conversation.id == bindparam("conversation")).subquery()
CHAT = _person.add_columns(_conversation.c.resident_id, _conversation.c.last_message_id, _conversation.c.status, _conversation.c.assignee_id)
_open = select(func.coalesce(func.max(Conversation.last_message_id), 0).label("last"), func.count(Conversation.id).label("n"),
               func.coalesce(func.sum(Conversation.assignee_id), 0).label("who")).where(Conversation.status != ConversationStatus.CLOSED).subquery()
QUEUE = _person.add_columns(_open.c.last, _open.c.n, _open.c.who)
_calls = select(func.max(Call.updated_at).label("at")).subquery()
CALLS = _person.add_columns(_calls.c.at)
CHAT_PATH = re.compile(r"^/chat/([0-9]{1,9})/messages$")


def _bell(row, suffix):
    return bell_etag(row[0], int(row[2] or 0), int(row[3] or 0)) + suffix


def _chat(row, conversation_id):
    user_id, role, resident_id, last, status, assignee = row
    if status is None:
        return None
    viewer = "desk" if role in DESK else "resident"
    if viewer == "resident" and resident_id != user_id:
        return None
    status = status.value if hasattr(status, "value") else status
    return f"chat-{conversation_id}-{last}-{status}-{assignee or 0}-{viewer}"


def _queue(row):
    return f"queue-{row[2]}-{row[3]}-{row[4]}" if row[1] in DESK else None


def _calls_tag(row):
    if row[1] not in DESK:
        return None
    return f"calls-{row[2].timestamp() if row[2] else 0}"


class BellFastPath:
    def __init__(self, wsgi_app, app):
        self.wsgi_app = wsgi_app
        self.app = app
        self.engine = None
        self.serializer = None

    def __call__(self, environ, start_response):
        if environ.get("REQUEST_METHOD") == "GET" and "HTTP_IF_NONE_MATCH" in environ:
            tag = self._etag(environ)
            if tag is not None and f'"{tag}"' in environ["HTTP_IF_NONE_MATCH"]:
                start_response("304 NOT MODIFIED", [
                    ("ETag", f'"{tag}"'),
                    ("Cache-Control", "private, no-cache"),
                    ("X-Content-Type-Options", "nosniff"),
                    ("Vary", "Cookie, HX-Request"),
                ])
                return [b""]
        return self.wsgi_app(environ, start_response)

    def _route(self, environ):
        """(statement, parameters, how to make the ETag of the row) for a poll this knows, else None."""
        path, query, htmx = environ.get("PATH_INFO", ""), environ.get("QUERY_STRING", ""), environ.get("HTTP_HX_REQUEST") == "true"
        if query:
            return None
        if path == "/notifications/bell":
            return BELL, {}, lambda row: _bell(row, "")
        if not htmx:
            return None
        if path == "/notifications/":
            return BELL, {}, lambda row: _bell(row, "-list-0")
        match = CHAT_PATH.match(path)
        if match:
            conversation_id = int(match.group(1))
            return CHAT, {"conversation": conversation_id}, lambda row: _chat(row, conversation_id)
        if path == "/chat/":
            return QUEUE, {}, _queue
        if path == "/telephony/":
            return CALLS, {}, _calls_tag
        return None

    def _etag(self, environ):
        route = self._route(environ)
        if route is None:
            return None
        statement, params, make = route
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
                row = connection.execute(statement, {"token": token, **params}).first()
        except Exception:  # the database is away: let Flask answer (and fail) properly
            return None
        if row is None:
            return None
        row = tuple(row)
        role = row[1].value if hasattr(row[1], "value") else row[1]
        return make((row[0], role, *row[2:]))

