"""Polls answered before Flask when nothing changed: the lobby screens' slides, the bell, the
notifications list, a chat conversation, the chat queue and the hotline's caller screen.

Hundreds of screens and every open page ask every few seconds whether anything is new; almost
always nothing is. This WSGI middleware computes the poll's ETag from one small query (the
lobby screens: the cache version counters; everything else: the signed session cookie's person
and the state the page's ETag is made of) and answers 304 when the browser's ETag still matches,
without a request context, user loading or template. The views make the same ETags. Anything
else (no cookie, a bad signature, a change, someone who may not see it, nothing kept yet, the
database away) goes to Flask, which answers in full and checks everything again.
"""
import re
from http.cookies import SimpleCookie

from sqlalchemy import bindparam, func, select, true

from portal import cache
from portal.models import Call, Conversation, ConversationStatus, Notification, Role, User, UserSession, utcnow
from portal.notify.inbox import etag as bell_etag
from portal.services import kiosk

DESK = (Role.STAFF.value, Role.ADMIN.value)
_person = select(UserSession.user_id, User.role).join(User, User.id == UserSession.user_id).where(
    UserSession.token == bindparam("token"), User.is_active)
_unread = select(func.count(Notification.id)).where(Notification.user_id == UserSession.user_id, Notification.read_at.is_(None))
_last = select(func.max(Notification.id)).where(Notification.user_id == UserSession.user_id)
BELL = _person.add_columns(_unread.scalar_subquery(), _last.scalar_subquery())
_conversation = select(Conversation.resident_id, Conversation.last_message_id, Conversation.status, Conversation.assignee_id).where(
    Conversation.id == bindparam("conversation")).subquery()
CHAT = _person.join(_conversation, true()).add_columns(
    _conversation.c.resident_id, _conversation.c.last_message_id, _conversation.c.status, _conversation.c.assignee_id)
_open = select(func.coalesce(func.max(Conversation.last_message_id), 0).label("last"), func.count(Conversation.id).label("n"),
               func.coalesce(func.sum(Conversation.assignee_id), 0).label("who")).where(Conversation.status != ConversationStatus.CLOSED).subquery()
QUEUE = _person.join(_open, true()).add_columns(_open.c.last, _open.c.n, _open.c.who)
_calls = select(func.max(Call.updated_at).label("at")).subquery()
CALLS = _person.join(_calls, true()).add_columns(_calls.c.at)
CHAT_PATH = re.compile(r"^/chat/([0-9]{1,9})/messages$")
KIOSK_PATH = re.compile(r"^/kiosk/([A-Za-z0-9_-]{16,64})/slides$")


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


def _person_route(environ):
    """(statement, parameters, how to make the ETag of the row) for a signed-in person's poll, else None."""
    path, htmx = environ.get("PATH_INFO", ""), environ.get("HTTP_HX_REQUEST") == "true"
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


class FastPath:
    def __init__(self, wsgi_app, app):
        self.wsgi_app = wsgi_app
        self.app = app
        self.engine = None

    def __call__(self, environ, start_response):
        if environ.get("REQUEST_METHOD") == "GET" and "HTTP_IF_NONE_MATCH" in environ and not environ.get("QUERY_STRING"):
            tag, headers = self._etag(environ)
            if tag is not None and f'"{tag}"' in environ["HTTP_IF_NONE_MATCH"]:
                start_response("304 NOT MODIFIED", [("ETag", f'"{tag}"'), *headers])  # (+ hooks.SecurityHeaders)
                return [b""]
        return self.wsgi_app(environ, start_response)

    def _etag(self, environ):
        if self.engine is None:
            from portal.extensions import db

            with self.app.app_context():
                self.engine = db.engine
        match = KIOSK_PATH.match(environ.get("PATH_INFO", ""))
        if match:
            return self._kiosk(match.group(1)), (("Cache-Control", "no-cache"), ("Vary", "Cookie"))
        route = _person_route(environ)
        if route is None:
            return None, ()
        return self._person(environ, *route), (("Cache-Control", "private, no-cache"), ("Vary", "Cookie, HX-Request"))

    def _kiosk(self, secret):
        try:
            versions = cache.read_versions(self.engine)
        except Exception:  # the database is away: let Flask answer (and fail) properly
            return None
        return kiosk.unchanged_etag(secret, versions, utcnow())

    def _person(self, environ, statement, params, make):
        token = self._session_token(environ)
        if not token:
            return None
        try:
            rows = cache.read(statement, {"token": token, **params}, engine=self.engine, plain=statement is not CALLS)  # CALLS: a time
        except Exception:  # the database is away: let Flask answer (and fail) properly
            return None
        if not rows:
            return None
        row = tuple(rows[0])
        role = row[1].value if hasattr(row[1], "value") else row[1]
        return make((row[0], role, *row[2:]))

    def _session_token(self, environ):
        cookie = SimpleCookie()
        try:
            cookie.load(environ.get("HTTP_COOKIE", ""))
            raw = cookie[self.app.config["SESSION_COOKIE_NAME"]].value
        except (KeyError, ValueError):
            return None
        data = self.app.session_interface.verified(self.app, raw)
        return data.get("_user_id") if data else None
