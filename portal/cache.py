"""The portal's one cache: rendered pages and fragments, and the few snapshots every request needs
(the signed-in person, the settings, the names of places), each filed under a key that says what
it was built from.

Every entry's key ends with the versions of what it depends on: counters in the `cache_version`
table for an area (notices, settings, places, community, lobby screens, all tickets, the
disclosure board), for one
person (their row, homes and sessions), for one resident's tickets, for one month of tickets (the
figures), and each ticket's own `version` column. A write bumps the counters of what it touched
in its own transaction (ORM writes to watched models do so by themselves, at commit). A request
reads the counters it needs once, in one small query on the reader connection. An entry whose
counters moved is simply never asked for again: nothing is invalidated in place, so any number
of workers and hosts share entries without telling each other anything.

The store is a bounded LRU in each process; with PORTAL_REDIS_URL set, Redis stands behind it
(shared by every worker and host; an entry a process has not seen yet is fetched from there
before it is built).
"""
import hashlib
import logging
import pickle
import threading
from collections import OrderedDict

from flask import current_app, g, has_request_context
from flask.globals import _cv_app, _cv_request  # (the context variables behind the proxies)
from sqlalchemy import Integer, String, bindparam, cast, event, func, insert, literal, select, union_all, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool

from portal.extensions import db
from portal.i18n import to_local
from portal.models import (
    BoxOpening,
    Building,
    CacheVersion,
    CalendarDay,
    Consultation,
    ConsultationAnswer,
    Department,
    DisclosureVersion,
    Event,
    EventSignup,
    KioskScreen,
    Notice,
    Notification,
    PublishedFigures,
    Residency,
    Role,
    Setting,
    Study,
    Suggestion,
    SuggestionSupport,
    Survey,
    SurveyAnswer,
    SurveyChoice,
    SurveyQuestion,
    SurveyResponse,
    Ticket,
    TicketAlias,
    TicketDepartment,
    TicketEvent,
    TicketPhoto,
    Unit,
    User,
    UserSession,
)

log = logging.getLogger(__name__)

NOTICES = "notices"
SETTINGS = "settings"
PLACES = "places"  # buildings, units, departments
TICKETS = "tickets"  # any ticket: the counts
COMMUNITY = "community"  # suggestions, events, consultations, questionnaires
KIOSK = "kiosk"  # lobby screens (not their last_seen_at, which is written with Core)
DISCLOSURE = "disclosure"  # the disclosure board's sections, and who heads which department
AREAS = (NOTICES, SETTINGS, PLACES, TICKETS, COMMUNITY, KIOSK, DISCLOSURE)


def person_key(user_id):
    """One person's row, homes and sessions."""
    return f"person:{user_id}"


def resident_tickets_key(user_id):
    """The tickets one resident sees in their list."""
    return f"tickets:r{user_id}"


def month_key(when):
    """The tickets registered, answered or rated in one of the community's months: the figures' pieces."""
    return f"tickets:{to_local(when):%Y-%m}"


# What ORM writes bump by themselves. A ticket's children bump their ticket's keys too.
_AREA_OF = {
    Notice: NOTICES, PublishedFigures: NOTICES,  # the published figures show on the lobby screens
    Setting: SETTINGS, CalendarDay: SETTINGS,
    Building: PLACES, Unit: PLACES, Department: PLACES,
    Suggestion: COMMUNITY, SuggestionSupport: COMMUNITY, Study: COMMUNITY, BoxOpening: COMMUNITY, Event: COMMUNITY,
    EventSignup: COMMUNITY, Consultation: COMMUNITY, ConsultationAnswer: COMMUNITY,
    # questionnaires: the satisfaction survey's answers are on the figures page
    Survey: COMMUNITY, SurveyQuestion: COMMUNITY, SurveyChoice: COMMUNITY, SurveyResponse: COMMUNITY, SurveyAnswer: COMMUNITY,
    KioskScreen: KIOSK,
    DisclosureVersion: DISCLOSURE,
}
_TICKET_CHILDREN = (TicketEvent, TicketDepartment, TicketPhoto, TicketAlias)

_version = CacheVersion.__table__.c
_SESSION_USER = select(UserSession.user_id).where(UserSession.token == bindparam("token")).scalar_subquery()
_AREAS = select(_version.key, _version.version).where(_version.key.in_([literal(area) for area in AREAS]))  # not "expanding": plain SQL
# For a signed-in browser the same statement brings its person's counters, who they are, and what
# its bell shows: the unread count and the newest notification (keys starting with "~").
_AREAS_AND_PERSON = union_all(
    _AREAS,
    select(_version.key, _version.version).where(_version.key.in_([
        literal("person:") + cast(_SESSION_USER, String), literal("tickets:r") + cast(_SESSION_USER, String)])),
    select(literal("~uid"), _SESSION_USER),
    select(literal("~unread"), select(func.count(Notification.id)).where(
        Notification.user_id == _SESSION_USER, Notification.read_at.is_(None)).scalar_subquery()),
    select(literal("~last"), select(func.coalesce(func.max(Notification.id), 0)).where(Notification.user_id == _SESSION_USER).scalar_subquery()),
)
# Once this process knows a session token's person (a token never changes hands), the same rows
# come from a statement that names the person instead of looking the token up five times.
_PERSON = bindparam("person", type_=Integer)
_AREAS_AND_KNOWN_PERSON = union_all(
    select(_version.key, _version.version).where(_version.key.in_(
        [literal(area) for area in AREAS] + [bindparam("person_key", type_=String), bindparam("tickets_key", type_=String)])),
    select(literal("~uid"), UserSession.user_id).where(UserSession.token == bindparam("token")),
    select(literal("~unread"), func.count(Notification.id)).where(Notification.user_id == _PERSON, Notification.read_at.is_(None)),
    select(literal("~last"), func.coalesce(func.max(Notification.id), 0)).where(Notification.user_id == _PERSON),
)
_PENDING = "cache_bumps"


# The reader connection


class _Reader(threading.local):
    """This thread's own connection for the small reads every request makes (the version
    counters, a poll's state): in autocommit, outside the ORM session, so such a read costs no
    transaction and no session bookkeeping. Each statement sees everything committed before it."""

    engine = None
    connection = None
    memo = None  # on a SQLite file: _Unchanged


class _Unchanged:
    """On a SQLite file, the rows of the plain reads this thread's reader made, kept while the
    database has not changed since: SQLite's `PRAGMA data_version` moves whenever any other
    connection, in any process, commits a change, and the reader itself never writes. So a request
    asks that (one cheap statement) instead of its versions query when nothing was written since
    the last request read them; after any commit anywhere the query runs again. Not on a database
    in memory (tests share one connection with the session, whose own commits do not move it) nor
    on other databases, which have no such number."""

    LIMIT = 1_000  # (statement, parameters) pairs kept per thread; all are let go when one more comes

    def __init__(self):
        self.version = None
        self.generation = _memo_generation[0]
        self.rows = {}

    @staticmethod
    def wanted(engine):
        database = engine.url.database or ""
        return (engine.dialect.name == "sqlite" and not isinstance(engine.pool, StaticPool)
                and database not in ("", ":memory:") and "mode=memory" not in database)


_memo_generation = [0]  # moved by clear(): every thread's kept rows are let go at its next read


_reader = _Reader()
# Every thread's reader, so that the connection of a thread that has ended goes back to the pool
# when the next one is made: a server with a thread per request (the development server) would
# otherwise hold them until the garbage collector found them, and run the pool dry first.
_readers = {}
_readers_lock = threading.Lock()


def _register_reader(connection):
    with _readers_lock:
        ended = [thread for thread in _readers if not thread.is_alive()]
        stale = [_readers.pop(thread) for thread in ended]
        _readers[threading.current_thread()] = connection
    for old in stale:
        try:
            old.close()
        except Exception:  # noqa: BLE001 - it is being thrown away
            pass


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
        _reader.memo = _Unchanged() if _Unchanged.wanted(engine) else None
        _register_reader(_reader.connection)
    return _reader.connection


def _on_dispose(engine):
    """The engine's readers go with it: this thread's, and those of threads that have ended (a
    development server's, whose last reader no next one would close)."""
    if _reader.engine is engine:
        _forget_reader()
    with _readers_lock:
        ended = [thread for thread, connection in _readers.items() if not thread.is_alive() and connection.engine is engine]
        stale = [_readers.pop(thread) for thread in ended]
    for old in stale:
        if isinstance(engine.pool, StaticPool):
            continue  # the one connection the session shares: only let go
        try:
            old.invalidate()
        except Exception:  # noqa: BLE001 - it is being thrown away
            pass


def _forget_reader():
    """Closes the reader's connection for good (a new one is made when next needed); one shared
    with the session (a single-connection pool: in-memory SQLite) is only let go."""
    connection, _reader.connection, _reader.memo = _reader.connection, None, None
    with _readers_lock:
        _readers.pop(threading.current_thread(), None)
    if connection is not None and not isinstance(connection.engine.pool, StaticPool):
        try:
            connection.invalidate()
        except Exception:  # noqa: BLE001 - it is being thrown away
            pass


def read(statement, params=None, engine=None, plain=False):
    """All rows of a small read-only `statement`: inside the session's transaction if one is open
    (a write request, a worker part: it holds a connection already, and sees its own writes),
    else through this thread's reader connection.

    `plain`: the statement's columns are numbers and text as the driver returns them (no enum,
    date or JSON to convert), so on the reader connection it runs on the driver's own cursor, as
    SQL compiled once per dialect: the statements every request and every poll runs cost a
    third of what going through SQLAlchemy's execution does. Anything unusual (a connection that
    died, an error) goes the ordinary way below, which handles and reports it."""
    if engine is None and db.session.registry.has() and db.session().in_transaction():
        return db.session.connection().execute(statement, params or {}).all()
    engine = engine if engine is not None else db.engine
    if plain:
        try:
            return _driver_rows(reader_for(engine), statement, params or {})
        except Exception:  # noqa: BLE001 - told again, properly, by the ordinary way
            _forget_reader()
    try:
        return reader_for(engine).execute(statement, params or {}).all()
    except DBAPIError as error:
        _forget_reader()  # a broken connection: a fresh one next time
        if not error.connection_invalidated:
            raise
    except Exception:
        _forget_reader()
        raise
    # The connection had died (the database restarted since this thread last read): once more on
    # a fresh one, so that the first request after a restart does not fail for nothing.
    try:
        return reader_for(engine).execute(statement, params or {}).all()
    except Exception:
        _forget_reader()
        raise


_compiled = {}  # (id of a module-level statement, dialect name) -> (sql, parameter order or None, parameters)


def _driver_rows(connection, statement, params):
    dialect = connection.dialect
    found = _compiled.get((id(statement), dialect.name))
    if found is None:
        compiled = statement.compile(dialect=dialect)
        required = {name: None for name, bind in compiled.binds.items() if bind.required}  # given at each call
        found = (str(compiled), compiled.positiontup, compiled.construct_params(required))
        _compiled[(id(statement), dialect.name)] = found
    sql, order, defaults = found
    values = {**defaults, **params}
    args = tuple(values[name] for name in order) if order is not None else values
    memo = _reader.memo if connection is _reader.connection and order is not None else None
    cursor = connection.connection.dbapi_connection.cursor()
    try:
        if memo is not None:
            version = _execute(connection, cursor, "PRAGMA data_version", ()).fetchone()[0]
            if version != memo.version or memo.generation != _memo_generation[0] or len(memo.rows) >= memo.LIMIT:
                memo.version, memo.generation, memo.rows = version, _memo_generation[0], {}
            rows = memo.rows.get((sql, args))
            if rows is None:
                rows = memo.rows[(sql, args)] = tuple(_execute(connection, cursor, sql, args).fetchall())
            return rows
        return _execute(connection, cursor, sql, args).fetchall()
    finally:
        cursor.close()


def _execute(connection, cursor, sql, args):
    if connection.dispatch.before_cursor_execute:  # whoever listens (tracing, the tests' counts) hears it as usual
        connection.dispatch.before_cursor_execute(connection, cursor, sql, args, None, False)
    cursor.execute(sql, args)
    return cursor


# Versions


def _request_g():
    """The request's `g`, or None outside a request: read without going through the proxies
    (versions() is asked on every cache lookup, several times a request)."""
    return _cv_app.get().g if _cv_request.get(None) is not None else None


def versions():
    """The area counters and the signed-in person's, read once per request (with the bell)."""
    here = _request_g()
    if here is not None:
        found = here.get("cache_versions")
        if found is not None:
            return found
        token = _cv_request.get().session.get("_user_id")
    else:
        token = None
    if token:
        person = _persons.get(token)
        if person is None:
            found = dict(read(_AREAS_AND_PERSON, {"token": token}, plain=True))
        else:
            found = dict(read(_AREAS_AND_KNOWN_PERSON, {"token": token, "person": person, "person_key": person_key(person),
                                                        "tickets_key": resident_tickets_key(person)}, plain=True))
        here.person = found.pop("~uid", None)  # None: the session has ended
        if here.person is not None and person is None:
            _persons.set(token, here.person)
        here.bell = (int(found.pop("~unread", 0) or 0), int(found.pop("~last", 0) or 0))
        if here.person is not None:  # counters never bumped yet are 0
            found.setdefault(person_key(here.person), 0)
            found.setdefault(resident_tickets_key(here.person), 0)
    else:
        found = dict(read(_AREAS, plain=True))
    for area in AREAS:
        found.setdefault(area, 0)
    if here is not None:
        here.cache_versions = found
    return found


def versions_of(keys):
    """The counters of `keys` beyond what versions() read (months of tickets): one more query,
    unless this process read them since the last ticket write anywhere. (Every write that bumps
    a "tickets:..." counter bumps TICKETS in the same transaction, so those cannot have moved.)"""
    known = versions()
    missing = tuple(k for k in keys if k not in known)
    if missing:
        derived = all(k.startswith("tickets:") for k in missing)
        memo = _derived.get(missing) if derived else None
        if memo is not None and memo[0] == known[TICKETS]:
            found = memo[1]
        else:
            found = dict(read(select(_version.key, _version.version).where(_version.key.in_(missing))))
            found.update({k: 0 for k in missing if k not in found})
            if derived:
                _derived.set(missing, (known[TICKETS], found))
        known.update(found)
    return tuple(known[k] for k in keys)


def signed_in_person():
    """The signed-in browser's person id, as the versions query found it (no query of its own)."""
    versions()
    here = _request_g()
    return here.get("person") if here is not None else None


def read_versions(engine):
    """The area counters, for paths that run outside Flask (the fast path's polls)."""
    found = dict(read(_AREAS, engine=engine, plain=True))
    return {area: found.get(area, 0) for area in AREAS}


def bell():
    """(unread, newest id) for the signed-in browser, as read with the versions this request."""
    if not has_request_context():
        return 0, 0
    if "bell" not in g:
        g.pop("cache_versions", None)
        versions()
    return g.get("bell", (0, 0))


def bump(key, session=None):
    """Marks everything built from `key` stale, on every worker and host, when the caller commits.

    The counters are incremented once per transaction, at commit, in a fixed order: concurrent
    writers queue on the counter rows only for the instant before they commit, never deadlock."""
    (session or db.session).info.setdefault(_PENDING, set()).add(key)
    if has_request_context():
        g.pop("cache_versions", None)


def _ticket_keys(ticket, keys):
    keys.add(TICKETS)
    for resident in {ticket.resident_id, *_old(ticket, "resident_id")}:
        if resident:
            keys.add(resident_tickets_key(resident))
    for column in ("created_at", "feedback_at", "rated_at"):
        for when in {getattr(ticket, column), *_old(ticket, column)}:
            if when is not None:
                keys.add(month_key(when))


def _old(obj, attribute):
    from sqlalchemy import inspect

    history = inspect(obj).attrs[attribute].history
    return [v for v in history.deleted if v is not None]


_HEAD_FIELDS = ("name", "role", "department_id", "is_active")


def _shown_as_head(user, session):
    """Is this write to a person one the disclosure board shows: a department head's name,
    department or standing, or a change of role (someone becoming or ceasing to be a head)?"""
    if user in session.new or user in session.deleted:
        return user.role == Role.HEAD
    from sqlalchemy import inspect

    attrs = inspect(user).attrs
    if attrs["role"].history.has_changes():
        return True  # (the old role may not have been loaded: any change of role, a rare thing)
    return user.role == Role.HEAD and any(attrs[name].history.has_changes() for name in _HEAD_FIELDS)


@event.listens_for(Session, "before_flush")
def _bump_on_orm_writes(session, flush_context, instances):
    """Any ORM write to a watched model bumps its keys: no caller can forget to. (Core-level
    UPDATE/DELETE statements bypass this and call bump() themselves.)"""
    keys = session.info.setdefault(_PENDING, set())
    tickets = set()
    for obj in (*session.new, *session.dirty, *session.deleted):
        kind = type(obj)
        if kind in _AREA_OF:
            keys.add(_AREA_OF[kind])
        elif kind is Ticket:
            tickets.add(obj)
        elif kind in _TICKET_CHILDREN:
            ticket = obj.ticket if obj.ticket is not None else session.get(Ticket, obj.ticket_id)
            if ticket is not None:
                tickets.add(ticket)
        elif kind is User:
            keys.add(person_key(obj.id))
            if _shown_as_head(obj, session):
                keys.add(DISCLOSURE)
        elif kind is Residency:
            keys.update((person_key(obj.user_id), PLACES))  # households: who lives where
        elif kind is UserSession and obj not in session.new:
            keys.add(person_key(obj.user_id))  # a new session changes nobody's entries; its end does
    for ticket in tickets:
        _ticket_keys(ticket, keys)
        if ticket not in session.deleted:
            ticket.version = (ticket.version or 0) + 1  # the pages that show this ticket
    if has_request_context() and keys:
        g.pop("cache_versions", None)


@event.listens_for(Session, "before_commit")
def _increment_at_commit(session):
    session.flush()  # so that before_flush has seen every pending write
    keys = session.info.pop(_PENDING, None)
    if not keys:
        return
    connection = session.connection()
    for key in sorted(keys):
        result = connection.execute(update(CacheVersion.__table__).where(_version.key == key).values(version=_version.version + 1))
        if result.rowcount == 0:
            connection.execute(insert(CacheVersion.__table__).values(key=key, version=1))


@event.listens_for(Session, "after_rollback")
def _forget_on_rollback(session):
    session.info.pop(_PENDING, None)


# The store


class LRU:
    """A bounded in-process store: the least recently used entry goes when it is full."""

    def __init__(self, size):
        self.size = size
        self._data = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def set(self, key, value):
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)

    def clear(self):
        with self._lock:
            self._data.clear()

    def __len__(self):
        return len(self._data)


class _Shared:
    """Redis behind the LRU, shared by every worker and host. Any failure is a miss: the page is
    built here instead, and the portal keeps working without Redis."""

    def __init__(self, url, prefix, seconds):
        import redis

        self.client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self.prefix = f"{prefix}:cache:"
        self.seconds = seconds

    def _name(self, key):
        return self.prefix + hashlib.sha1(repr(key).encode()).hexdigest()

    def get(self, key):
        try:
            raw = self.client.get(self._name(key))
        except Exception as exc:  # noqa: BLE001 - Redis away: a miss
            log.warning("cache: Redis unavailable (%s)", exc)
            return None
        return pickle.loads(raw) if raw is not None else None  # noqa: S301 - written by this portal only

    def set(self, key, value, forever=False):
        try:
            self.client.set(self._name(key), pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL), ex=None if forever else self.seconds)
        except Exception as exc:  # noqa: BLE001 - Redis away: kept here only
            log.warning("cache: Redis unavailable (%s)", exc)

    def clear(self):
        try:
            for name in self.client.scan_iter(self.prefix + "*", count=1000):
                self.client.delete(name)
        except Exception as exc:  # noqa: BLE001 - Redis away: nothing kept there to clear
            log.warning("cache: Redis unavailable (%s)", exc)


local = LRU(20_000)
_shared = {}  # app -> _Shared or None


def _shared_store():
    try:
        app = current_app._get_current_object()
    except RuntimeError:
        return None
    if app not in _shared:
        url = app.config.get("REDIS_URL")
        _shared[app] = _Shared(url, app.config.get("KEY_PREFIX", "portal"), app.config.get("CACHE_SECONDS", 86400)) if url else None
    return _shared[app]


def keep_last_known(name, value):
    """Keeps `value` where a process that cannot reach the database finds it (Redis, if any):
    for the few facts a page made without the database shows (the hotline)."""
    if (shared := _shared_store()) is not None:
        shared.set(("last-known", name), value, forever=True)


def last_known(name):
    """What keep_last_known kept, or None."""
    shared = _shared_store()
    return shared.get(("last-known", name)) if shared is not None else None


def _depends(depends):
    return (depends,) if isinstance(depends, str) else tuple(depends)


def _full_key(name, key, depends):
    names = _depends(depends)
    known = versions()
    if all(n in known for n in names):
        return (name, key, tuple(known[n] for n in names))
    return (name, key, versions_of(names))


def cached(name, key, depends, build, now=None):
    """The value built for (name, key) from the current versions of `depends` (a version key or
    several), building and keeping it if there is none.

    `build()` returns (value, valid_until): valid_until (or None) ends the entry even without a
    version change, for things that change with the clock (a scheduled notice going live)."""
    return cached_entry(name, key, depends, build, now)[1]


def _changed_here(depends):
    """Did this transaction change what `depends` names? (Then nothing built now may be kept.)"""
    if not db.session.registry.has():
        return False  # no session yet this request: it has changed nothing
    pending = db.session().info.get(_PENDING, ())
    return any(n in pending for n in _depends(depends))


def _lookup(full):
    entry = local.get(full)
    if entry is None and (shared := _shared_store()) is not None:
        entry = shared.get(full)
        if entry is not None:
            local.set(full, entry)
    return entry


def _keep(full, entry):
    local.set(full, entry)
    if (shared := _shared_store()) is not None:
        shared.set(full, entry)


def cached_entry(name, key, depends, build, now=None):
    """cached(), as (valid_until, value)."""
    if _changed_here(depends):
        value, valid_until = build()  # this transaction changed it: build from what it sees, keep nothing
        return valid_until, value
    full = _full_key(name, key, depends)
    entry = _lookup(full)
    if entry is not None and (entry[0] is None or now is None or now < entry[0]):
        return entry
    value, valid_until = build()
    entry = (valid_until, value)
    _keep(full, entry)
    return entry


def cached_many(name, items, build):
    """[value for each (key, depends) of `items`]: those kept are taken as they are, the others
    built together by one call `build([key, ...])` -> {key: value} and kept each under its own
    key (so one moved version rebuilds only its own entries). Entries never expire by time."""
    items = list(items)
    versions_of(tuple(dict.fromkeys(n for _key, depends in items for n in _depends(depends))))  # one read for all
    found, missing = {}, []
    for key, depends in items:
        entry = None if _changed_here(depends) else _lookup(_full_key(name, key, depends))
        if entry is None:
            missing.append((key, depends))
        else:
            found[key] = entry[1]
    if missing:
        built = build([key for key, _depends_ in missing])
        for key, depends in missing:
            found[key] = built[key]
            if not _changed_here(depends):
                _keep(_full_key(name, key, depends), (None, built[key]))
    return [found[key] for key, _depends_ in items]


def peek(name, key, depends, versions_now, now=None):
    """The kept value for these versions and this time if this process has it, else None: never builds."""
    names = _depends(depends)
    if not all(n in versions_now for n in names):
        return None
    entry = local.get((name, key, tuple(versions_now[n] for n in names)))
    if entry is None or (entry[0] is not None and now is not None and now >= entry[0]):
        return None
    return entry[1]


_fingerprints = LRU(5_000)
_derived = LRU(1_000)
_derived_stores = []  # stores of things made from kept entries (htmx: pages with their marks filled in)
_persons = LRU(10_000)  # session token -> its person's id


def derived_store(size):
    """An in-process LRU for what is made from kept entries and keyed by their versions: emptied
    with the rest by clear()."""
    store = LRU(size)
    _derived_stores.append(store)
    return store


def fingerprint(name, key, area, statement, always=False):
    """A fingerprint of the rows `statement` returns (say the (id, version) of a page's rows), read
    again only when `area`'s counter has moved since (or `always`, for rows that change with the
    clock): a page kept under it is rebuilt exactly when what it shows changed. `statement` may
    be a function that makes it, called only then."""
    version = versions()[area]
    known = None if always else _fingerprints.get((name, key))
    if known is not None and known[0] == version:
        return known[1]
    found = hash(tuple(read(statement() if callable(statement) else statement)))
    _fingerprints.set((name, key), (version, found))
    return found


def clear():
    """Forget every kept page: this process's and, for the current app and the apps this process
    has used, Redis's (after a restore, the version counters start again from older values)."""
    _shared_store()
    local.clear()
    _fingerprints.clear()
    _derived.clear()
    _persons.clear()
    _memo_generation[0] += 1
    for store in _derived_stores:
        store.clear()
    for store in _shared.values():
        if store is not None:
            store.clear()
    _shared.clear()


def names():
    """{"buildings": {id: name}, "departments": {id: name}}, for lists that show many rows."""

    def build():
        return {
            "buildings": dict(db.session.execute(select(Building.id, Building.name)).all()),
            "departments": dict(db.session.execute(select(Department.id, Department.name)).all()),
        }, None

    return cached("names", "all", PLACES, build)
