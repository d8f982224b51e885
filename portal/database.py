"""Declarative base (with its naming convention), the UTC datetime column type, utcnow(), and text
columns that keep no control characters."""
from contextlib import contextmanager
from datetime import datetime, timezone
from decimal import Decimal

import enum

from sqlalchemy import DateTime, Enum, Integer, MetaData, String, TypeDecorator, event
from sqlalchemy.orm import DeclarativeBase, Mapper, registry

from portal.inputs import clean

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
        session.rollback()
        raise
    session.commit()


def insert_ignore(session, table, rows):
    """Bulk insert that skips rows whose unique key is there already (a retry, a second worker)."""
    if not rows:
        return
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    session.execute(insert(table).on_conflict_do_nothing(), rows)
