"""In-process caches kept coherent across workers and hosts by version counters in the database.

Writers bump(key) in their own transaction (ORM writes to watched models do so by themselves);
readers call versions() once per request (one
tiny query) and reuse what they built while the version they built it at is still current.
"""
import threading

from flask import g, has_request_context, session
from sqlalchemy import bindparam, event, func, insert, literal, select, union_all, update
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool

from portal.extensions import db
from portal.models import (
    BoxOpening,
    Building,
    CalendarDay,
    Consultation,
    ConsultationAnswer,
    Event,
    EventSignup,
    KioskScreen,
    PublishedFigures,
    Study,
    Suggestion,
    SuggestionSupport,
    CacheVersion,
    Department,
    Notice,
    Notification,
    Residency,
    Setting,
    Ticket,
    TicketDepartment,
    TicketEvent,
    TicketPhoto,
    Unit,
    User,
    UserSession,
)

NOTICES = "notices"
SETTINGS = "settings"
PEOPLE = "people"  # who holds which unit
PLACES = "places"  # buildings, units, departments
TICKETS = "tickets"  # the register
COMMUNITY = "community"  # suggestions, events, consultations
KIOSK = "kiosk"  # lobby screens (not their last_seen_at, which is written with Core)

_WATCHED = {
    User: PEOPLE,
    UserSession: PEOPLE,
    Residency: PEOPLE,
    Notice: NOTICES,
    Setting: SETTINGS,
    CalendarDay: SETTINGS,  # the working calendar's days
    Building: PLACES,
    Unit: PLACES,
    Department: PLACES,
    Ticket: TICKETS,
    TicketEvent: TICKETS,
    TicketDepartment: TICKETS,
    TicketPhoto: TICKETS,
    Suggestion: COMMUNITY,
    SuggestionSupport: COMMUNITY,
    Study: COMMUNITY,
    BoxOpening: COMMUNITY,
    Event: COMMUNITY,
    EventSignup: COMMUNITY,
    Consultation: COMMUNITY,
    ConsultationAnswer: COMMUNITY,
    KioskScreen: KIOSK,
    PublishedFigures: NOTICES,  # shown on the lobby screens with the notices
}
_VERSIONS = select(CacheVersion.__table__.c.key, CacheVersion.__table__.c.version)  # Core: no ORM overhead
# For a signed-in browser the same statement also brings what its bell shows: its person's
# unread count and newest notification (keys starting with "~" are not cache versions).
_SESSION_USER = select(UserSession.user_id).where(UserSession.token == bindparam("token")).scalar_subquery()
_VERSIONS_AND_BELL = union_all(
    _VERSIONS,
    select(literal("~unread"), select(func.count(Notification.id)).where(
        Notification.user_id == _SESSION_USER, Notification.read_at.is_(None)).scalar_subquery()),
    select(literal("~last"), select(func.coalesce(func.max(Notification.id), 0)).where(Notification.user_id == _SESSION_USER).scalar_subquery()),
)
_PENDING = "cache_bumps"
_lock = threading.Lock()
_store = {}  # (name, key) -> (version, valid_until or None, value)


class _Reader(threading.local):
    """This thread's own connection for the small reads every request makes (the version
    counters, a poll's state): in autocommit, outside the ORM session, so such a read costs no
    transaction and no session bookkeeping. Each statement sees everything committed before it."""

    engine = None
    connection = None


_reader = _Reader()


def _reader_connection():
    return reader_for(db.engine)


def reader_for(engine):
    if _reader.engine is not engine or _reader.connection is None or _reader.connection.closed:
        _forget_reader()
        if not event.contains(engine, "engine_disposed", _on_dispose):
            event.listen(engine, "engine_disposed", _on_dispose)
        _reader.engine = engine
        connection = engine.connect()
        # SQLite connections are in the driver's autocommit already (database.tune_sqlite) and the
        # "begin" listener leaves this one alone; elsewhere the driver's own autocommit.
        options = {"portal_reader": True} if engine.dialect.name == "sqlite" else {"isolation_level": "AUTOCOMMIT"}
        _reader.connection = connection.execution_options(**options)
    return _reader.connection


def _on_dispose(engine):
    if _reader.engine is engine:
        _forget_reader()


def _forget_reader():
    """Closes the reader's connection for good (a new one is made when next needed); one shared
    with the session (a single-connection pool: in-memory SQLite) is only let go."""
    connection, _reader.connection = _reader.connection, None
    if connection is not None and not isinstance(connection.engine.pool, StaticPool):
        try:
            connection.invalidate()
        except Exception:  # noqa: BLE001 - it is being thrown away
            pass


def read(statement, params=None, engine=None):
    """All rows of a small read-only `statement`: inside the session's transaction if one is open
    (a write request, a worker part: it holds a connection already, and sees its own writes),
    else through this thread's reader connection."""
    if engine is None and db.session().in_transaction():
        return db.session.connection().execute(statement, params or {}).all()
    connection = reader_for(engine) if engine is not None else _reader_connection()
    try:
        return connection.execute(statement, params or {}).all()
    except Exception:
        _forget_reader()  # a broken connection (the database restarted): a fresh one next time
        raise


def versions():
    """All version counters, read once per request (with the bell's numbers when signed in)."""
    if has_request_context() and "cache_versions" in g:
        return g.cache_versions
    token = session.get("_user_id") if has_request_context() else None
    if token:
        found = dict(read(_VERSIONS_AND_BELL, {"token": token}))
        g.bell = (int(found.pop("~unread", 0) or 0), int(found.pop("~last", 0) or 0))
    else:
        found = dict(read(_VERSIONS))
    if has_request_context():
        g.cache_versions = found
    return found


def bell():
    """(unread, newest id) for the signed-in browser, as read with the versions this request."""
    if has_request_context() and "bell" not in g:
        g.pop("cache_versions", None)
        versions()
    return g.get("bell", (0, 0)) if has_request_context() else (0, 0)


def bump(key, session=None):
    """Marks everything cached under `key` stale, on every worker, when the caller commits.

    The counters are incremented once per transaction, at commit, in a fixed order: concurrent
    writers queue on the counter rows only for the instant before they commit, never deadlock."""
    (session or db.session).info.setdefault(_PENDING, set()).add(key)
    if has_request_context():
        g.pop("cache_versions", None)


@event.listens_for(Session, "before_flush")
def _bump_on_orm_writes(session, flush_context, instances):
    """Any ORM write to a watched model bumps its key: no caller can forget to. (Core-level
    UPDATE/DELETE statements bypass this and call bump() themselves.)"""
    for obj in (*session.new, *session.dirty, *session.deleted):
        key = _WATCHED.get(type(obj))
        if key:
            bump(key, session)


@event.listens_for(Session, "before_commit")
def _increment_at_commit(session):
    session.flush()  # so that before_flush has seen every pending write
    keys = session.info.pop(_PENDING, None)
    if not keys:
        return
    connection = session.connection()
    table = CacheVersion.__table__
    for key in sorted(keys):
        result = connection.execute(update(table).where(table.c.key == key).values(version=table.c.version + 1))
        if result.rowcount == 0:
            connection.execute(insert(table).values(key=key, version=1))


@event.listens_for(Session, "after_rollback")
def _forget_on_rollback(session):
    session.info.pop(_PENDING, None)


def cached(name, key, version_key, build, now=None):
    """The value built for (name, key) at the current version of `version_key`, building it if needed.

    `build()` returns (value, valid_until): valid_until (or None) ends the entry even without a
    version change, for things that change with the clock (a scheduled notice going live)."""
    if version_key in db.session.info.get(_PENDING, ()):
        return build()[0]  # this transaction changed it: build from what it sees, keep nothing
    version = versions().get(version_key, 0)
    entry = _store.get((name, key))
    if entry is not None and entry[0] == version and (entry[1] is None or now is None or now < entry[1]):
        return entry[2]
    value, valid_until = build()
    with _lock:
        if len(_store) > 5000:
            _store.clear()
        _store[(name, key)] = (version, valid_until, value)
    return value


def peek(name, key, version_key, versions_now, now=None):
    """The kept value if it is still good for these versions and this time, else None: never builds."""
    entry = _store.get((name, key))
    if entry is None or entry[0] != versions_now.get(version_key, 0):
        return None
    if entry[1] is not None and now is not None and now >= entry[1]:
        return None
    return entry[2]


def read_versions(engine):
    """The version counters, for paths that run outside Flask (the fast path's polls)."""
    return dict(read(_VERSIONS, engine=engine))


def clear():
    with _lock:
        _store.clear()


def names():
    """{"buildings": {id: name}, "departments": {id: name}}, for lists that show many rows."""

    def build():
        return {
            "buildings": dict(db.session.execute(select(Building.id, Building.name)).all()),
            "departments": dict(db.session.execute(select(Department.id, Department.name)).all()),
        }, None

    return cached("names", "all", PLACES, build)
