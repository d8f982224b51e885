"""The in-app side: the bell's count, the list, marking read."""
from sqlalchemy import bindparam, func, select, update

from portal.extensions import db
from portal.models import Notification

PAGE = 30
_UNREAD = select(func.count(Notification.id)).where(Notification.user_id == bindparam("user_id"), Notification.read_at.is_(None))
_LAST = select(func.max(Notification.id)).where(Notification.user_id == bindparam("user_id"))
STATE = select(_UNREAD.scalar_subquery().label("unread"), _LAST.scalar_subquery().label("last"))


def state(user_id, connection=None):
    """(unread count, newest id): one statement; what the bell shows and its ETag is made of."""
    row = (connection or db.session).execute(STATE, {"user_id": user_id}).one()
    return int(row.unread or 0), int(row.last or 0)


def etag(user_id, unread, last):
    return f"bell-{user_id}-{unread}-{last}"


def page(user_id, before=None, limit=PAGE):
    query = select(Notification).where(Notification.user_id == user_id)
    if before:
        query = query.where(Notification.id < before)
    rows = db.session.scalars(query.order_by(Notification.id.desc()).limit(limit + 1)).all()
    return rows[:limit], (rows[limit - 1].id if len(rows) > limit else None)


def mark_read(user_id, now, notification_id=None):
    """Marks one (or, without an id, every) unread notification of this person read."""
    query = update(Notification).where(Notification.user_id == user_id, Notification.read_at.is_(None))
    if notification_id is not None:
        query = query.where(Notification.id == notification_id)
    return db.session.execute(query.values(read_at=now)).rowcount
