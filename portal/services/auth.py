"""Sign-in: password check, failed-login limits per account and per address, server-side sessions."""
import secrets

from flask import current_app, has_request_context, session
from flask_login import UserMixin
from limits import parse
from sqlalchemy import bindparam, delete, or_, select

from portal import cache
from portal.extensions import db, limiter
from portal.models import User, UserSession


def _limit():
    return parse(current_app.config["LOGIN_LIMIT"])


def _keys(identifier, address):
    prefix = current_app.config["RATELIMIT_KEY_PREFIX"]
    return [(f"{prefix}-login-account", identifier.strip().lower()), (f"{prefix}-login-address", address or "-")]


def is_locked_out(identifier, address):
    item = _limit()
    return any(not limiter.limiter.test(item, *key) for key in _keys(identifier, address))


def record_failure(identifier, address):
    item = _limit()
    for key in _keys(identifier, address):
        limiter.limiter.hit(item, *key)


def find_user(identifier):
    """By phone number or username."""
    identifier = identifier.strip()
    if not identifier:
        return None
    return db.session.scalar(select(User).where(or_(User.phone == identifier, User.username == identifier)))


def authenticate(identifier, password):
    user = find_user(identifier)
    if user is None or not user.is_active or not user.check_password(password):
        return None
    return user


def start_session(user):
    """A new server-side session; its token is all the cookie carries."""
    token = secrets.token_urlsafe(32)
    db.session.add(UserSession(token=token, user_id=user.id))
    user.session_token = token
    return token


def end_session(token):
    user_id = db.session.scalar(select(UserSession.user_id).where(UserSession.token == token))
    db.session.execute(delete(UserSession).where(UserSession.token == token))
    if user_id is not None:
        cache.bump(cache.person_key(user_id))


def end_all_sessions(user, keep=None):
    """After a password change or reset: every other browser is signed out."""
    query = delete(UserSession).where(UserSession.user_id == user.id)
    if keep:
        query = query.where(UserSession.token != keep)
    db.session.execute(query)
    cache.bump(cache.person_key(user.id))


_USER_COLUMNS = [c.key for c in User.__table__.columns]
_LOAD = select(*User.__table__.columns).join(UserSession, UserSession.user_id == User.id).where(UserSession.token == bindparam("token"))


def _is_this_browsers(token):
    return has_request_context() and session.get("_user_id") == token


def _person_of(token):
    rows = cache.read(select(UserSession.user_id).where(UserSession.token == token))
    return rows[0][0] if rows else None


def load(token):
    """The signed-in user for a session token. Runs on every request, so the row is kept until
    that person's row, homes or sessions change (cache.person_key, whose counter the versions
    query reads for this very session); a logout, a password change or a deactivation therefore
    takes effect on the very next request, on every worker."""

    def build():
        row = db.session.execute(_LOAD, {"token": token}).first()
        return (dict(row._mapping) if row is not None else None), None

    person = cache.signed_in_person() if _is_this_browsers(token) else _person_of(token)
    if person is None:
        return None  # no such session (any more)
    values = cache.cached("session", token, cache.person_key(person), build)
    if values is None or not values["is_active"]:
        return None
    return Principal(values, token)


class Principal(UserMixin):
    """The signed-in person as a request sees them: a read-only snapshot of their user row.
    Views that change the person load the entity: db.session.get(User, current_user.id)."""

    is_resident = User.is_resident
    is_staff_side = User.is_staff_side
    check_password = User.check_password

    def __init__(self, values, token):
        self.__dict__.update(values)
        self.session_token = token

    def get_id(self):
        return self.session_token


def change_password(user, new_password, keep_token=None):
    user.set_password(new_password)
    end_all_sessions(user, keep=keep_token)
