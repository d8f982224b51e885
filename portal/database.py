"""Declarative base (with its naming convention), the UTC datetime column type, utcnow(), text
columns that keep no control characters; the database being away (UNAVAILABLE) and commits whose
answer was lost (commit())."""
import enum
import logging
import sqlite3
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from decimal import Decimal

import psycopg
from sqlalchemy import DateTime, Enum, Integer, MetaData, String, TypeDecorator, event, exc, inspect, literal_column, select
from sqlalchemy.orm import DeclarativeBase, Mapper, Session, registry

from portal.inputs import clean

log = logging.getLogger(__name__)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator):
    """Stores naive UTC, returns aware UTC; refuses naive input so no local time sneaks in."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc)


class SquareMetres(TypeDecorator):
    """A floor area in square metres as an exact Decimal with two places, stored as a whole number
    of hundredths (square decimetres): exact on every database, where SQLite would keep a NUMERIC
    as a float."""

    impl = Integer
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        hundredths = Decimal(value) * 100
        if hundredths != hundredths.to_integral_value():
            raise ValueError("an area has at most two decimal places")
        return int(hundredths)

    def process_result_value(self, value, dialect):
        return None if value is None else Decimal(value).scaleb(-2)


def utcnow():
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    """Flask-SQLAlchemy builds db.Model on this; models subclass db.Model."""

    registry = registry(metadata=MetaData(naming_convention=NAMING_CONVENTION), type_annotation_map={
            datetime: UTCDateTime,
            # Enums are stored as their plain string values: readable in SQL, no ALTER TYPE to grow them.
            enum.Enum: Enum(enum.Enum, native_enum=False, length=32, values_callable=lambda e: [m.value for m in e]),
        },
    )


@event.listens_for(Mapper, "mapper_configured")
def _clean_text_columns(mapper, cls):
    """Whatever a model's text column is given loses its control characters (portal/inputs.py),
    on SQLite as on PostgreSQL (which refuses NUL outright). Forms refuse such text with a field
    error before it gets here; this keeps out what no form checks: file names, imports, inbound
    messages, anything added later."""
    if mapper.registry is not Base.registry:
        return
    for prop in mapper.column_attrs:
        kind = prop.columns[0].type
        if isinstance(kind, String) and not isinstance(kind, Enum):
            event.listen(prop.class_attribute, "set", _cleaned, retval=True)


def _cleaned(target, value, oldvalue, initiator):
    return clean(value) if isinstance(value, str) else value


def tune_sqlite(engine):
    """The embedded default: WAL (readers never block the writer), foreign keys on, and waiting
    for a lock instead of failing at once when several threads write."""
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection, record):
        # SQLAlchemy's recipe for pysqlite: the driver leaves transactions alone and we emit
        # BEGIN ourselves (below), which makes SAVEPOINT work and lets writers BEGIN IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        if engine.url.database and engine.url.database != ":memory:":
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection):
        if connection.get_execution_options().get("portal_reader"):
            return  # cache.read's connection: every statement on its own, always the latest commit
        if connection.connection.dbapi_connection.in_transaction:
            return  # one shared in-memory connection (tests): join the open transaction
        connection.exec_driver_sql("BEGIN IMMEDIATE" if connection.get_execution_options().get("sqlite_write") else "BEGIN")


def begin_write(session):
    """Start the write transaction now. On SQLite a transaction that read first and writes later
    fails with "database is locked" when another writer got in between; taking the write lock
    up front (BEGIN IMMEDIATE) makes concurrent writers queue instead. Elsewhere: nothing to do."""
    if session.get_bind().dialect.name != "sqlite":
        return
    session.commit()
    session.connection(execution_options={"sqlite_write": True})


@contextmanager
def unit_of_work(session=None):
    """One transaction outside a request (a part of a worker round, a CLI command, a step of the
    outbox): takes the write lock up front on SQLite, commits when the block ends, rolls back if
    it raises. Requests have theirs in hooks.unit_of_work."""
    if session is None:
        from portal.extensions import db

        session = db.session
    begin_write(session)
    try:
        yield session
    except BaseException:
        rollback(session)
        raise
    commit(session)


# The database away

# What a request gets when the database cannot be reached: refused or dropped connections, a
# server restarting, a pool with no connection free in time (SQLAlchemy's TimeoutError), and the
# drivers' own errors where something reaches them unwrapped.
UNAVAILABLE = (
    exc.OperationalError, exc.InterfaceError, exc.TimeoutError, exc.DisconnectionError,
    psycopg.OperationalError, psycopg.InterfaceError, sqlite3.OperationalError, sqlite3.InterfaceError,
)


def is_unavailable(error):
    """Is `error` (or what caused it) the database being away?"""
    seen = 0
    while error is not None and seen < 5:
        if isinstance(error, UNAVAILABLE):
            return True
        error = getattr(error, "original_exception", None) or error.__cause__
        seen += 1
    return False


def rollback(session):
    """Roll back; a connection that died meanwhile is thrown away instead (nothing to roll back)."""
    try:
        session.rollback()
    except UNAVAILABLE:
        (session() if callable(session) else session).invalidate()  # a scoped session: its current one


# Commits whose answer was lost. Rows made from a form carry the form's idempotency key (a fresh
# random value per rendered form, unique in its table): if such a row exists, its transaction
# committed. Every flush notes the keys it wrote; when the COMMIT's answer never comes (the
# connection died after the COMMIT was sent), a fresh connection looks them up.

_KEYS = "idempotency_keys"
LOOKUP_ATTEMPTS = 3  # a restarting server takes a moment: ask again after LOOKUP_PAUSE seconds
LOOKUP_PAUSE = 0.5


class CommitFailed(Exception):
    """The commit did not happen (`saved` False) or nobody can tell (`saved` None): the database
    was away. The original error is the __cause__."""

    def __init__(self, saved):
        super().__init__("committed" if saved else "not committed" if saved is False else "commit outcome unknown")
        self.saved = saved


@event.listens_for(Session, "after_flush")
def _note_keys(session, flush_context):
    """The keys this flush wrote: of new rows, and of rows given a key now (a sign-up taken up
    again). Not those of rows merely changed: a ticket made from a form long ago proves nothing."""
    for obj in (*session.new, *session.dirty):
        key = getattr(obj, "idempotency_key", None)
        if not key or not hasattr(type(obj), "__table__"):
            continue
        if obj in session.new or inspect(obj).attrs.idempotency_key.history.added:
            session.info.setdefault(_KEYS, set()).add((type(obj).__table__, key))


@event.listens_for(Session, "after_transaction_end")
def _forget_keys(session, transaction):
    if transaction.parent is None:  # the whole transaction, not a savepoint
        session.info.pop(_KEYS, None)


def with_key(session, model, key):
    """The row of `model` a form with this idempotency key made, if any (the form sent again)."""
    return session.scalar(select(model).where(model.idempotency_key == key)) if key else None


def flush_once(session, model, key):
    """Flushes what is pending, in a savepoint. Returns None; or, when the flush broke the
    uniqueness of `key` because the same form was sent twice at the same moment and the other
    request committed first, undoes the savepoint and returns the row that request made."""
    try:
        with session.begin_nested():
            session.flush()
    except exc.IntegrityError:
        found = with_key(session, model, key)
        if found is None:
            raise
        return found
    return None


def written_keys(session):
    """The idempotency keys this transaction has written so far."""
    return {key for _table, key in session.info.get(_KEYS, ())}


def commit(session):
    """session.commit(). When the database goes away during it, raises CommitFailed: saved=False
    if the commit surely did not happen (it failed before the COMMIT, or the keys it wrote are
    not there), saved=None if nobody can tell; and returns normally when the keys this
    transaction wrote turn out to be there: the commit happened, only its answer was lost."""
    try:
        session.flush()
    except UNAVAILABLE as error:
        rollback(session)
        raise CommitFailed(False) from error
    witnesses = set(session.info.get(_KEYS, ()))
    try:
        session.commit()
    except UNAVAILABLE as error:
        rollback(session)
        saved = _committed(session.get_bind(), witnesses) if witnesses else None
        if saved:
            log.warning("commit: the answer to COMMIT was lost, but its rows are there (%s)", error)
            return
        raise CommitFailed(saved) from error


def _committed(engine, witnesses):
    """True if a row with any of the `witnesses` ((table, key) pairs) exists, False if none
    does, None if the database cannot be asked."""
    for attempt in range(LOOKUP_ATTEMPTS):
        if attempt:
            time.sleep(LOOKUP_PAUSE)
        try:
            with engine.connect() as connection:
                return any(
                    connection.execute(select(literal_column("1")).select_from(table).where(table.c.idempotency_key == key)).first()
                    for table, key in witnesses
                )
        except UNAVAILABLE as error:
            log.warning("commit: cannot tell whether it happened (%s)", error)
    return None


def insert_ignore(session, table, rows):
    """Bulk insert that skips rows whose unique key is there already (a retry, a second worker)."""
    if not rows:
        return
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    session.execute(insert(table).on_conflict_do_nothing(), rows)
