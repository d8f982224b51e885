"""`flask restore`: what `flask backup` wrote goes back into the database, and is checked.

An SQLite copy is restored onto SQLite (the online backup API, page by page), a pg_dump archive
(custom format) onto PostgreSQL (pg_restore's script run by psql in one transaction, after
dropping what is there). The file is read through to its end before anything is touched, so a
truncated, damaged or foreign file is refused with the database as it was; a database that has
rows in it is replaced only when asked (--force). Afterwards every table's row count is compared
with the file's, and every stored file (attachments, photos, PDFs: the blob table, kept by content
hash) is hashed again.
"""
import hashlib
import os
import re
import shutil
import sqlite3
import struct
import subprocess
import tempfile
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import inspect, select, text
from sqlalchemy.exc import OperationalError

from portal.extensions import db

SQLITE_MAGIC = b"SQLite format 3\x00"
PGDUMP_MAGIC = b"PGDMP"
PORTAL_TABLES = ("alembic_version", "user", "blob")  # what makes a database the portal's
KIND_NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
_A = {"sqlite": "an", "postgresql": "a"}
_COPY = re.compile(rb'^COPY ("(?:[^"]|"")+"|[^ ."]+)\.("(?:[^"]|"")+"|[^ ."]+) .*FROM stdin;$')


class RestoreError(Exception):
    """A refusal or a failed check, worded for the person at the terminal."""


@dataclass
class Backup:
    path: str
    kind: str  # "sqlite" or "postgresql"
    counts: dict  # table -> rows
    revision: str | None

    @property
    def rows(self):
        return sum(self.counts.values())


@dataclass
class Checked:
    tables: int
    rows: int
    files: int
    bytes: int


# Reading the file


def read(path):
    """The backup at `path`, read through to its end: its kind, revision and row counts."""
    try:
        with open(path, "rb") as f:
            head = f.read(100)
    except OSError as exc:
        raise RestoreError(f"Cannot read {path}: {exc.strerror}.") from exc
    if head.startswith(SQLITE_MAGIC):
        return _read_sqlite(path, head)
    if head.startswith(PGDUMP_MAGIC):
        return _read_pgdump(path)
    raise RestoreError(f"{path} is not a backup of the portal: neither an SQLite database nor a pg_dump archive "
                       "in custom format (what `flask backup` writes).")


def _ro_uri(path):
    # immutable: nothing is written beside the backup (no -wal or -shm files), it is only read
    return Path(path).absolute().as_uri() + "?mode=ro&immutable=1"


def _sqlite_size(head):
    """The file size an SQLite header promises, when the header's page count is valid."""
    page_size = struct.unpack(">H", head[16:18])[0]
    pages = struct.unpack(">I", head[28:32])[0]
    if not pages or head[24:28] != head[92:96]:
        return None
    return (65536 if page_size == 1 else page_size) * pages


def _read_sqlite(path, head):
    size = os.path.getsize(path)
    promised = _sqlite_size(head) if len(head) == 100 else None
    if len(head) < 100 or (promised and size < promised):
        raise RestoreError(f"{path} is truncated: its header promises {promised or 'more than 100'} bytes, the file has {size}.")
    try:
        with closing(sqlite3.connect(_ro_uri(path), uri=True)) as conn:
            problems = [row[0] for row in conn.execute("PRAGMA quick_check")]
            if problems != ["ok"]:
                raise RestoreError(f"{path} is damaged: {'; '.join(problems[:3])}.")
            tables = [row[0] for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
            _is_the_portals(path, "an SQLite database", tables)
            counts = {table: conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0] for table in tables}
            revision = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.DatabaseError as exc:
        raise RestoreError(f"{path} is damaged or truncated: {exc}.") from exc
    return Backup(path, "sqlite", counts, revision[0] if revision else None)


def _is_the_portals(path, what, tables):
    missing = [t for t in PORTAL_TABLES if t not in tables]
    if missing:
        raise RestoreError(f"{path} is {what}, but not the portal's: it has no {', '.join(missing)} table.")


def _tool(name):
    found = shutil.which(name)
    if found is None:
        raise RestoreError(f"{name} is not installed (apt-get install postgresql-client).")
    return found


def _first_error(stderr):
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    return next((line for line in lines if "error" in line.lower()), lines[0] if lines else "no message")


def _unquote(name):
    name = name.decode()
    return name[1:-1].replace('""', '"') if name.startswith('"') else name


def _read_pgdump(path):
    listing = subprocess.run([_tool("pg_restore"), "--list", path], capture_output=True, text=True)
    if listing.returncode:
        raise RestoreError(f"{path} is damaged or truncated: {_first_error(listing.stderr)}")
    tables = []
    for line in listing.stdout.splitlines():  # "214; 1259 735935 TABLE public ticket owner"
        fields = line.split(";", 1)[-1].split()
        if not line.startswith(";") and len(fields) >= 5 and fields[2] == "TABLE" and fields[3] != "DATA":
            tables.append(fields[4])
    _is_the_portals(path, "a pg_dump archive", tables)
    counts, revision = dict.fromkeys(sorted(tables), 0), None
    # Every row, to the end of the file: a truncated archive fails here, before anything is dropped.
    with tempfile.TemporaryFile() as errors:
        with subprocess.Popen([_tool("pg_restore"), "--data-only", "--file=-", path], stdout=subprocess.PIPE, stderr=errors) as proc:
            table = None
            for line in proc.stdout:
                if table is None:
                    match = _COPY.match(line.rstrip(b"\n"))
                    table = _unquote(match.group(2)) if match else None
                elif line == b"\\.\n":
                    table = None
                else:
                    counts[table] = counts.get(table, 0) + 1
                    if table == "alembic_version":
                        revision = line.decode().strip()
        errors.seek(0)
        if proc.returncode:
            raise RestoreError(f"{path} is damaged or truncated: {_first_error(errors.read().decode(errors='replace'))}")
    return Backup(path, "postgresql", counts, revision)


# The database


def _quote(name):
    return db.engine.dialect.identifier_preparer.quote(name)


def filled_tables():
    """The portal's tables that have rows in its database (a freshly migrated one has none; the
    tables SQLite's full-text index keeps for itself are not the portal's, and have some)."""
    engine = db.engine
    with engine.connect() as conn:
        tables = sorted(set(inspect(conn).get_table_names()) & set(db.metadata.tables))
        filled = [t for t in tables if conn.execute(text(f"SELECT 1 FROM {_quote(t)} LIMIT 1")).first() is not None]
    engine.dispose()
    return filled


def restore(backup, force=False):
    """Replace the portal's database with `backup` (a Backup from read())."""
    engine = db.engine
    kind = engine.dialect.name
    if kind not in KIND_NAMES:
        raise RestoreError(f"No restore method for {kind}.")
    if backup.kind != kind:
        theirs = f"{_A[backup.kind]} {KIND_NAMES[backup.kind]}"
        raise RestoreError(f"{backup.path} is {theirs} backup, and the portal's database (PORTAL_DATABASE_URL) is "
                           f"{KIND_NAMES[kind]}: restore it onto {theirs} database.")
    if kind == "sqlite" and (not engine.url.database or engine.url.database == ":memory:"):
        raise RestoreError("Nothing can be restored into an in-memory database.")
    try:
        filled = filled_tables()
    except OperationalError as exc:
        raise RestoreError(f"Cannot reach the database {engine.url.render_as_string(hide_password=True)}: {exc.orig}") from exc
    if filled and not force:
        shown = ", ".join(filled[:5]) + (", ..." if len(filled) > 5 else "")
        raise RestoreError(f"The database is not empty ({len(filled)} tables have rows: {shown}). "
                           "Restoring replaces everything in it: add --force to do so.")
    engine.dispose()
    if kind == "sqlite":
        _restore_sqlite(backup.path, engine.url.database)
    else:
        _restore_postgresql(backup.path, engine)
    engine.dispose()
    from portal import cache

    cache.clear()  # pages kept in Redis under version counters the restored database is about to reuse


def _restore_sqlite(path, target):
    with closing(sqlite3.connect(_ro_uri(path), uri=True)) as source, closing(sqlite3.connect(target, timeout=30)) as copy:
        try:
            source.backup(copy)  # page by page, in one transaction on the target
        except sqlite3.Error as exc:
            raise RestoreError(f"Restoring into {target} failed, nothing was changed: {exc}.") from exc


def _restore_postgresql(path, engine):
    url = engine.url
    dsn = url.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    env = dict(os.environ, **({"PGPASSWORD": url.password} if url.password else {}))
    with engine.connect() as conn:
        tables = inspect(conn).get_table_names(schema="public")
        sequences = inspect(conn).get_sequence_names(schema="public")
    engine.dispose()
    with tempfile.TemporaryDirectory() as folder:
        drop = os.path.join(folder, "drop.sql")
        with open(drop, "w") as f:
            f.write("SET client_min_messages = warning;\n")
            f.writelines(f"DROP TABLE IF EXISTS public.{_quote(t)} CASCADE;\n" for t in tables)
            f.writelines(f"DROP SEQUENCE IF EXISTS public.{_quote(s)} CASCADE;\n" for s in sequences)
        script = os.path.join(folder, "restore.sql")
        made = subprocess.run([_tool("pg_restore"), "--no-owner", "--no-privileges", f"--file={script}", path], capture_output=True, text=True)
        if made.returncode:
            raise RestoreError(f"{path} could not be read: {_first_error(made.stderr)}")
        # One transaction: the old tables are dropped only if the whole backup goes in.
        ran = subprocess.run([_tool("psql"), "--no-psqlrc", "--quiet", "--single-transaction", "-v", "ON_ERROR_STOP=1",
                              "-f", drop, "-f", script, dsn], capture_output=True, text=True, env=env)
        if ran.returncode:
            raise RestoreError(f"Restoring into the database failed, nothing was changed: {_first_error(ran.stderr)}")


# The check


def check(backup):
    """Compares the restored database with the backup: each table's rows, each stored file's
    SHA-256 and size, and (SQLite, where nothing enforced them on the way in) references."""
    from portal.models import Blob

    problems, files, size = [], 0, 0
    engine = db.engine
    with engine.connect() as conn:
        present = set(inspect(conn).get_table_names())
        for table, expected in backup.counts.items():
            if table not in present:
                problems.append(f"table {table} is missing")
                continue
            found = conn.execute(text(f"SELECT count(*) FROM {_quote(table)}")).scalar()
            if found != expected:
                problems.append(f"{table}: {expected} rows in the backup, {found} restored")
        blobs = conn.execution_options(yield_per=20).execute(select(Blob.sha256, Blob.size, Blob.data))
        for sha, stored_size, data in blobs:
            files, size = files + 1, size + len(data)
            if hashlib.sha256(data).hexdigest() != sha or len(data) != stored_size:
                problems.append(f"stored file {sha[:12]}... does not match its SHA-256 or size")
        if engine.dialect.name == "sqlite":
            dangling = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
            problems += [f"{row[0]} row {row[1]} refers to a missing {row[2]}" for row in dangling[:5]]
    engine.dispose()
    if problems:
        raise RestoreError("Restored, but the check found differences: " + "; ".join(problems[:10]))
    return Checked(tables=len(backup.counts), rows=backup.rows, files=files, bytes=size)


def head_revisions():
    from alembic.script import ScriptDirectory

    return ScriptDirectory(os.path.join(os.path.dirname(__file__), "migrations")).get_heads()
