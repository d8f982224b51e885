"""Who may do what. The same predicates guard views and templates; a refusal looks like a 404."""
from functools import wraps

from flask import abort, g
from flask_login import current_user
from sqlalchemy import select

from portal import cache
from portal.extensions import db
from portal.models import Residency, Role, Unit

BACK_OFFICE = (Role.STAFF, Role.HEAD, Role.WORKER, Role.ADMIN)
NOTICE_EDITORS = (Role.STAFF, Role.HEAD, Role.ADMIN)


def role_required(*roles):
    """Signed-in users of other roles get 404, exactly like a missing page."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                from portal.extensions import login_manager

                return login_manager.unauthorized()
            if current_user.role not in roles:
                abort(404)
            return view(*args, **kwargs)

        return wrapped

    return decorator


def is_back_office(user):
    return user.is_authenticated and user.role in BACK_OFFICE


def can_edit_notices(user):
    return user.is_authenticated and user.role in NOTICE_EDITORS


def can_answer_questions(user):
    return can_edit_notices(user)


def can_admin(user):
    return user.is_authenticated and user.role == Role.ADMIN


def building_ids_of(user):
    """The buildings where the user holds a unit (cached until anyone's units change)."""

    def build():
        ids = db.session.scalars(
            select(Unit.building_id).join(Residency, Residency.unit_id == Unit.id).where(Residency.user_id == user.id).distinct()
        ).all()
        return tuple(sorted(ids)), None

    return cache.cached("buildings", user.id, cache.PEOPLE, build)


def resident_building_ids():
    """The signed-in resident's buildings, once per request (None for everyone else)."""
    if "building_ids" not in g:
        user = current_user
        g.building_ids = building_ids_of(user) if user.is_authenticated and user.role in (Role.RESIDENT, Role.COMMITTEE) else None
    return g.building_ids


JINJA_GLOBALS = {
    "is_back_office": is_back_office,
    "can_edit_notices": can_edit_notices,
    "can_answer_questions": can_answer_questions,
    "can_admin": can_admin,
}
