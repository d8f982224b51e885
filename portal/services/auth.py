"""Sign-in: password check, failed-login limits per account and per address, server-side sessions."""
import secrets

from flask import current_app
from limits import parse
from sqlalchemy import delete, or_, select

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
    db.session.execute(delete(UserSession).where(UserSession.token == token))


def end_all_sessions(user, keep=None):
    """After a password change or reset: every other browser is signed out."""
    query = delete(UserSession).where(UserSession.user_id == user.id)
    if keep:
        query = query.where(UserSession.token != keep)
    db.session.execute(query)


def load(token):
    row = db.session.execute(
        select(User, UserSession.token).join(UserSession, UserSession.user_id == User.id).where(UserSession.token == token)
    ).first()
    if row is None or not row[0].is_active:
        return None
    user = row[0]
    user.session_token = row[1]
    return user


def change_password(user, new_password, keep_token=None):
    user.set_password(new_password)
    end_all_sessions(user, keep=keep_token)
