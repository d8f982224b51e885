"""The database going away, for tests: new connections are refused and every statement on an open
one fails with the driver's own OperationalError, as when the server stops. On PostgreSQL the
open connections are really cut too (pg_terminate_backend), so that coming back exercises what
production needs: dead pooled connections and a dead reader connection replaced by new ones.

A lost COMMIT answer: lose_commit_answers() lets the COMMIT happen, then raises as if the
connection had died before its answer came (on PostgreSQL: it really kills the connection and
raises the error the driver then gives)."""
import sqlite3
from contextlib import contextmanager
from unittest import mock

import psycopg
from sqlalchemy import event


def _admin_url(engine):
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


def terminate_others(engine):
    """Cuts every connection to the engine's PostgreSQL database but the one asking."""
    with psycopg.connect(_admin_url(engine), autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")


class Outage:
    def __init__(self, engine):
        self.engine = engine
        self.on = False

    @property
    def postgresql(self):
        return self.engine.dialect.name == "postgresql"

    def _error(self):
        if self.postgresql:
            return psycopg.OperationalError('connection failed: connection to server at "127.0.0.1", port 5432 failed: Connection refused')
        return sqlite3.OperationalError("unable to open database file")

    def _refuse(self, *args, **kwargs):
        raise self._error()

    def begin(self):
        if self.on:
            return
        if self.postgresql:
            terminate_others(self.engine)
        event.listen(self.engine, "do_connect", self._refuse)
        event.listen(self.engine, "before_cursor_execute", self._refuse)
        self.on = True

    def end(self):
        if not self.on:
            return
        event.remove(self.engine, "do_connect", self._refuse)
        event.remove(self.engine, "before_cursor_execute", self._refuse)
        self.on = False

    def __enter__(self):
        self.begin()
        return self

    def __exit__(self, *exc):
        self.end()


@contextmanager
def lose_commit_answers(engine, applied=True, then=None):
    """The next COMMIT on `engine` is carried out (or not, with applied=False) and then fails as
    if the connection had died before the answer came. `then()` runs at that moment (say, to start
    an outage, so that nobody can ask whether it happened)."""
    dialect = engine.dialect
    real = dialect.do_commit
    seen = []

    def commit(dbapi_connection):
        if seen:  # once: what follows (a retry) commits as usual
            return real(dbapi_connection)
        if applied:
            real(dbapi_connection)
        seen.append(applied)
        if then is not None:
            then()
        if dialect.name == "postgresql":
            # The server ends the connection, and the driver reports what it reports for a lost answer.
            raw = getattr(dbapi_connection, "dbapi_connection", dbapi_connection)  # the driver's, behind the pool's proxy
            with psycopg.connect(_admin_url(engine), autocommit=True) as conn:
                conn.execute("SELECT pg_terminate_backend(%s)", (raw.info.backend_pid,))
            raw.execute("SELECT 1")  # raises psycopg.OperationalError: the connection is gone
            raise AssertionError("the terminated connection still answered")
        raise sqlite3.OperationalError("disk I/O error")

    with mock.patch.object(dialect, "do_commit", commit):
        yield seen
