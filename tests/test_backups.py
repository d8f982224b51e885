"""`flask backup`, then `flask restore`: the demo community round-trips on SQLite and on PostgreSQL
with every row and stored file checked; truncated, damaged, foreign and mismatched files are
refused with the database as it was."""
import os
import shutil
import sqlite3
import uuid

import pytest
from sqlalchemy import create_engine, inspect, select, text

from portal import backups, create_app
from portal.extensions import db
from portal.models import Blob, Notice

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def _admin_url():
    return os.environ["TEST_DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")


class Databases:
    """New, empty databases of either kind, each with an app on it; PostgreSQL ones are dropped at the end."""

    def __init__(self, folder, prefix):
        self.folder, self.prefix, self.made = folder, prefix, []

    def app(self, name, backend="sqlite"):
        if backend == "sqlite":
            url = f"sqlite:///{self.folder / (name + '.db')}"
        else:
            import psycopg

            database = f"portal_chaos_restore_{uuid.uuid4().hex[:8]}_{name}"
            with psycopg.connect(_admin_url(), autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{database}"')
            self.made.append(database)
            url = os.environ["TEST_DATABASE_URL"].rsplit("/", 1)[0] + "/" + database
        return create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "x", "TESTING": True, "MAIL_URL": None,
                           "KEY_PREFIX": f"{self.prefix}-restore-{name}", "RATELIMIT_STORAGE_URI": "memory://"})

    def drop(self):
        if self.made:
            import psycopg

            with psycopg.connect(_admin_url(), autocommit=True) as conn:
                for database in self.made:
                    conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


@pytest.fixture
def scratch(tmp_path, redis_prefix):
    databases = Databases(tmp_path, redis_prefix)
    yield databases.app
    databases.drop()


def cli(app, *args):
    """`flask --app portal ARGS...` against this app's database, as from a terminal."""
    with app.app_context():
        result = app.test_cli_runner().invoke(args=list(args), catch_exceptions=False)
        db.session.remove()
        db.engine.dispose()
    return result


def contents(app):
    """{table: rows} of every table, and the stored files, as the database holds them."""
    with app.app_context():
        with db.engine.connect() as conn:
            tables = inspect(conn).get_table_names()
            counts = {t: conn.execute(text(f"SELECT count(*) FROM {db.engine.dialect.identifier_preparer.quote(t)}")).scalar() for t in tables}
            files = dict(conn.execute(select(Blob.sha256, Blob.data)).all())
        db.engine.dispose()
    return counts, files


@pytest.fixture(scope="module")
def demo(tmp_path_factory, redis_prefix):
    """demo(backend) -> (path, counts, files): the demo community with a PDF attached to a
    notice, backed up once per kind of database for the whole module."""
    from portal.services import notices

    databases, made = Databases(tmp_path_factory.mktemp("demo"), redis_prefix), {}

    def build(backend):
        if backend == "postgresql" and not (os.environ.get("TEST_DATABASE_URL") and shutil.which("pg_restore") and shutil.which("psql")):
            pytest.skip("PostgreSQL run with pg_dump, pg_restore and psql only (TEST_DATABASE_URL)")
        if backend not in made:
            app = databases.app("source", backend)
            assert cli(app, "db", "upgrade").exit_code == 0
            assert cli(app, "seed-demo").exit_code == 0
            with app.app_context():
                notices.attach(db.session.scalars(select(Notice).order_by(Notice.id)).first(), "停水通知.pdf", PDF)
                db.session.commit()
                db.engine.dispose()
            path = databases.folder / ("portal.db" if backend == "sqlite" else "portal.pgdump")
            result = cli(app, "backup", "--to", str(path))
            assert result.exit_code == 0, result.output
            made[backend] = (path, *contents(app))
        return made[backend]

    yield build
    databases.drop()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_demo_community_round_trips_through_backup_and_restore(demo, scratch, backend):
    path, counts, files = demo(backend)
    target = scratch("target", backend)
    assert counts["ticket"] > 50 and counts["user"] > 10 and len(files) >= 2  # the demo's formal reply PDF, and ours

    result = cli(target, "restore", str(path))
    assert result.exit_code == 0, result.output
    assert contents(target) == (counts, files)
    assert f"the row counts of all {len(counts)} tables match the backup ({sum(counts.values())} rows)" in result.output
    assert f"{len(files)} stored file(s)" in result.output and "each matching its SHA-256 and size" in result.output

    # A database with data in it is replaced only when asked to
    with target.app_context():
        db.session.execute(text("DELETE FROM notification WHERE id = (SELECT min(id) FROM notification)"))
        db.session.commit()
        db.engine.dispose()
    refused = cli(target, "restore", str(path))
    assert refused.exit_code == 1 and "The database is not empty" in refused.output and "--force" in refused.output
    assert contents(target)[0]["notification"] == counts["notification"] - 1
    forced = cli(target, "restore", "--force", str(path))
    assert forced.exit_code == 0, forced.output
    assert contents(target) == (counts, files)


def test_a_restore_onto_an_upgraded_empty_database_needs_no_force(demo, scratch):
    path, counts, _files = demo("sqlite")
    target = scratch("target")
    assert cli(target, "db", "upgrade").exit_code == 0  # only its revision in it
    result = cli(target, "restore", str(path))
    assert result.exit_code == 0, result.output
    assert contents(target)[0] == counts


def test_a_truncated_backup_is_refused_and_the_database_left_as_it_was(demo, scratch, tmp_path):
    path, counts, _files = demo("sqlite")
    target = scratch("target")
    assert cli(target, "restore", str(path)).exit_code == 0
    cut = tmp_path / "cut.db"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size * 2 // 3])
    result = cli(target, "restore", "--force", str(cut))
    assert result.exit_code == 1
    assert f"{cut} is truncated: its header promises {path.stat().st_size} bytes, the file has {cut.stat().st_size}." in result.output
    assert contents(target)[0] == counts


def test_files_that_are_not_portal_backups_are_refused(scratch, tmp_path):
    target = scratch("target")
    notes = tmp_path / "notes.txt"
    notes.write_text("not a backup")
    result = cli(target, "restore", str(notes))
    assert result.exit_code == 1 and "is not a backup of the portal: neither an SQLite database nor a pg_dump archive" in result.output
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE recipe (id INTEGER PRIMARY KEY)")
    conn.close()
    result = cli(target, "restore", str(other))
    assert result.exit_code == 1 and "is an SQLite database, but not the portal's: it has no alembic_version, user, blob table." in result.output
    garbled = tmp_path / "garbled.pgdump"
    garbled.write_bytes(b"PGDMP" + os.urandom(2000))
    result = cli(target, "restore", str(garbled))
    assert result.exit_code == 1 and "is damaged or truncated: pg_restore: error:" in result.output


def test_a_backup_of_the_other_kind_or_a_truncated_dump_is_refused(demo, scratch, tmp_path):
    path, counts, _files = demo("postgresql")
    refused = cli(scratch("embedded"), "restore", str(path))
    assert refused.exit_code == 1 and "is a PostgreSQL backup, and the portal's database (PORTAL_DATABASE_URL) is SQLite" in refused.output
    target = scratch("target", "postgresql")
    assert cli(target, "restore", str(path)).exit_code == 0
    cut = tmp_path / "cut.pgdump"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    result = cli(target, "restore", "--force", str(cut))
    assert result.exit_code == 1 and "is damaged or truncated: pg_restore: error: could not read from input file: end of file" in result.output
    sqlite_copy = tmp_path / "portal.db"
    with sqlite3.connect(sqlite_copy) as conn:
        for table in ("alembic_version (version_num TEXT)", "user (id INTEGER)", "blob (sha256 TEXT)"):
            conn.execute(f'CREATE TABLE {table}')
    conn.close()
    result = cli(target, "restore", "--force", str(sqlite_copy))
    assert result.exit_code == 1 and "is an SQLite backup, and the portal's database (PORTAL_DATABASE_URL) is PostgreSQL" in result.output
    assert contents(target)[0] == counts


def test_the_check_names_a_stored_file_that_no_longer_matches_its_hash_and_a_missing_row(demo, scratch):
    path, _counts, _files = demo("sqlite")
    target = scratch("target")
    assert cli(target, "restore", str(path)).exit_code == 0
    backup = backups.read(str(path))
    with target.app_context():
        engine = create_engine(target.config["SQLALCHEMY_DATABASE_URI"])
        with engine.begin() as conn:
            sha = conn.execute(select(Blob.sha256).order_by(Blob.sha256)).scalars().first()
            conn.execute(Blob.__table__.update().where(Blob.sha256 == sha).values(data=b"%PDF-1.4 tampered"))
            conn.execute(text("DELETE FROM notification WHERE id = (SELECT min(id) FROM notification)"))
        engine.dispose()
        with pytest.raises(backups.RestoreError) as found:
            backups.check(backup)
        db.engine.dispose()
    message = str(found.value)
    assert f"notification: {backup.counts['notification']} rows in the backup, {backup.counts['notification'] - 1} restored" in message
    assert f"stored file {sha[:12]}... does not match its SHA-256 or size" in message


def test_the_backup_is_read_for_its_row_counts_and_revision_without_writing_beside_it(demo):
    path, counts, _files = demo("sqlite")
    backup = backups.read(str(path))
    assert backup.kind == "sqlite" and backup.revision in backups.head_revisions()
    assert backup.counts == counts and backup.counts["ticket"] > 50
    assert not path.with_name("portal.db-wal").exists() and not path.with_name("portal.db-shm").exists()
