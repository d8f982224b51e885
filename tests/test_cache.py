"""Per-worker caches stay coherent: a write committed anywhere is seen on the next request; a
write rebuilds only what shows what it wrote; the store is bounded and shared through Redis."""
import os
import uuid
from datetime import datetime, timedelta

import pytest
from sqlalchemy import delete, event, select
from sqlalchemy.orm import Session

from portal import cache
from portal.extensions import db
from tests.markup import rows_of, text_of, texts_of
from portal.models import (
    CacheVersion,
    Notice,
    Role,
    Setting,
    Ticket,
    TicketCategory,
    TicketChannel,
    TicketStatus,
    UserSession,
    utcnow,
)


def _elsewhere():
    """A session of its own, as another worker or host would have."""
    return Session(db.engine)


def test_a_notice_edited_by_another_worker_shows_on_the_next_request(client, make_user, make_notice):
    notice = make_notice(title="旧标题")
    client.login(make_user())
    assert texts_of(client.get("/notices/"), "#notice-list .title") == ["旧标题"]
    with _elsewhere() as other:
        other.get(Notice, notice.id).title = "新标题"
        other.commit()
    page = client.get("/notices/").get_data(as_text=True)
    assert texts_of(page, "#notice-list .title") == ["新标题"] and "旧标题" not in page


def test_a_session_ended_by_another_worker_is_refused_at_once(client, make_user):
    resident = make_user()
    client.login(resident)
    assert client.get("/notices/").status_code == 200
    with _elsewhere() as other:
        other.execute(delete(UserSession).where(UserSession.user_id == resident.id))
        cache.bump(cache.person_key(resident.id), other)
        other.commit()
    assert client.get("/notices/").status_code == 302


def test_a_setting_changed_elsewhere_reaches_every_page(client, make_user):
    client.login(make_user())
    assert text_of(client.get("/notices/"), "footer a[href^='tel:']") == "400-800-1234"
    with _elsewhere() as other:
        other.add(Setting(key="hotline", value="0571-88880000"))
        other.commit()
    assert text_of(client.get("/notices/"), "footer a[href^='tel:']") == "0571-88880000"


def test_versions_move_once_per_transaction_and_not_on_rollback(app, make_notice):
    make_notice()
    before = db.session.scalar(select(CacheVersion.version).where(CacheVersion.key == cache.NOTICES))
    with _elsewhere() as other:
        for i in range(3):
            other.add(Notice(title=f"n{i}", author_id=1, body="", body_html=""))
            other.flush()
        other.commit()
        other.add(Notice(title="rolled back", author_id=1, body="", body_html=""))
        other.flush()
        other.rollback()
    after = db.session.scalar(select(CacheVersion.version).where(CacheVersion.key == cache.NOTICES))
    assert after == before + 1


# Precise invalidation: a write rebuilds what shows the written object, and keeps the rest


def _statements(app, fn):
    found = []

    def before(conn, cursor, statement, *args):
        if not statement.startswith(("BEGIN", "SAVEPOINT", "RELEASE", "ROLLBACK", "COMMIT")):
            found.append(statement)

    event.listen(db.engine, "before_cursor_execute", before)
    try:
        response = fn()
    finally:
        event.remove(db.engine, "before_cursor_execute", before)
    return response, found


def _ticket(resident, number, **kw):
    now = utcnow()
    values = dict(number=number, category=TicketCategory.REPAIR, channel=TicketChannel.ONLINE, status=TicketStatus.NEW,
                  description=f"{number} 漏水", resident_id=resident.id, caller_name=resident.name,
                  building_id=resident.residencies[0].unit.building_id, created_at=now, due_at=now + timedelta(days=2))
    values.update(kw)
    ticket = Ticket(**values)
    db.session.add(ticket)
    db.session.commit()
    return ticket


def test_a_write_to_one_ticket_rebuilds_the_pages_that_show_it_and_keeps_the_others(app, make_client, make_user, make_building):
    a, b = make_building(), make_building()
    alice, bob = make_user(building=a), make_user(building=b)
    ticket_a = _ticket(alice, "BX-2099-00001")
    _ticket(bob, "BX-2099-00002")
    staff, alice_client, bob_client = make_client(), make_client(), make_client()
    staff.login(make_user(role=Role.STAFF))
    alice_client.login(alice)
    bob_client.login(bob)
    pages = {
        "register a": (staff, f"/tickets/?building={a.id}"),
        "register b": (staff, f"/tickets/?building={b.id}"),
        "alice's list": (alice_client, "/tickets/"),
        "bob's list": (bob_client, "/tickets/"),
    }

    def costs():
        return {name: len(_statements(app, lambda c=c, u=u: c.get(u))[1]) for name, (c, u) in pages.items()}

    costs()  # every page built and kept
    kept = costs()
    assert kept == {"register a": 1, "register b": 1, "alice's list": 1, "bob's list": 1}  # only the versions
    ticket_a.description = "BX-2099-00001 厨房漏水，已约周六上门"
    db.session.commit()
    after = costs()
    # kept: Bob's list untouched; building B's register reads which rows it shows, finds them unchanged
    assert after["bob's list"] == 1 and after["register b"] == 2
    assert after["register a"] > 2 and after["alice's list"] > 1  # rebuilt
    assert costs() == kept  # and kept again
    assert [row[2] for row in rows_of(staff.get(f"/tickets/?building={a.id}"), "#register-rows tbody tr")] == ["BX-2099-00001 厨房漏水，已约周六上门"]
    assert texts_of(alice_client.get("/tickets/"), "#ticket-list .title") == ["BX-2099-00001 厨房漏水，已约周六上门"]


def test_a_new_ticket_comes_onto_the_register_pages_it_belongs_to(app, make_client, make_user, make_building):
    a, b = make_building(), make_building()
    alice, bob = make_user(building=a), make_user(building=b)
    _ticket(alice, "BX-2099-00001")
    staff = make_client()
    staff.login(make_user(role=Role.STAFF))
    numbers = "#register-rows tbody td:first-child a"
    assert texts_of(staff.get(f"/tickets/?building={b.id}"), numbers) == []
    assert texts_of(staff.get("/tickets/"), numbers) == ["BX-2099-00001"]
    _ticket(bob, "BX-2099-00007")
    assert texts_of(staff.get(f"/tickets/?building={b.id}"), numbers) == ["BX-2099-00007"]
    assert texts_of(staff.get("/tickets/"), numbers) == ["BX-2099-00007", "BX-2099-00001"]
    assert texts_of(staff.get(f"/tickets/?building={a.id}"), numbers) == ["BX-2099-00001"]


def test_the_dashboard_counts_again_only_the_month_a_ticket_write_touched(app, make_client, make_user):
    from portal.i18n import from_local

    resident = make_user()
    months = [from_local(datetime(2026, m, 10, 9, 0)) for m in (3, 4, 5)]
    tickets = [_ticket(resident, f"BX-2026-{i:05d}", created_at=at, due_at=at + timedelta(days=2)) for i, at in enumerate(months)]
    office = make_client()
    office.login(make_user(role=Role.STAFF))
    url = "/figures/?start=2026-03-01&end=2026-05-31"
    office.get(url)
    _response, kept = _statements(app, lambda: office.get(url))
    assert len(kept) == 1  # the kept page: only the versions
    tickets[1].feedback_at = months[1] + timedelta(hours=5)
    db.session.commit()
    response, after = _statements(app, lambda: office.get(url))
    pieces = [s for s in after if "GROUP BY" in s]
    assert len(pieces) == 1  # April's piece only; March and May are kept
    assert response.status_code == 200


def test_a_kept_page_answers_304_to_a_browser_that_has_it_until_it_changes(client, make_user, make_notice):
    client.login(make_user())
    make_notice(title="停水通知")
    first = client.get("/notices/")
    tag = first.headers["ETag"]
    assert client.get("/notices/", headers={"If-None-Match": tag}).status_code == 304
    make_notice(title="停电通知")
    again = client.get("/notices/", headers={"If-None-Match": tag})
    assert again.status_code == 200 and texts_of(again, "#notice-list .title") == ["停电通知", "停水通知"]


# The store


def test_the_in_process_store_is_bounded_and_drops_the_least_recently_used():
    store = cache.LRU(3)
    for key in "abc":
        store.set(key, key.upper())
    assert store.get("a") == "A"  # a is now the most recently used
    store.set("d", "D")
    assert len(store) == 3 and store.get("b") is None
    assert [store.get(k) for k in "acd"] == ["A", "C", "D"]


def _redis_url():
    import redis

    url = os.environ.get("PORTAL_REDIS_URL", "redis://127.0.0.1:6379/0")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=0.5).ping()
    except redis.RedisError:
        return None
    return url


def test_with_redis_an_entry_built_on_one_host_is_used_on_another(tmp_path, redis_prefix):
    import redis

    from tests.conftest import make_app

    url = _redis_url()
    if url is None:
        pytest.skip("no Redis on this machine")
    prefix = f"{redis_prefix}-shared-{uuid.uuid4().hex[:6]}"
    shared = {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/portal.db", "SQLALCHEMY_ENGINE_OPTIONS": {},
              "REDIS_URL": url, "KEY_PREFIX": prefix}
    one, two = make_app(None, redis_prefix, **shared), make_app(None, redis_prefix, **shared)
    built = []

    def build(host):
        built.append(host)
        return f"built on {host}", None

    try:
        with one.app_context():
            assert cache.cached("test", "k", cache.SETTINGS, lambda: build("one")) == "built on one"
        cache.local.clear()  # another host's process has nothing of its own
        with two.app_context():
            assert cache.cached("test", "k", cache.SETTINGS, lambda: build("two")) == "built on one"
            db.session.add(Setting(key="hotline", value="0571-88880000"))
            db.session.commit()
            assert cache.cached("test", "k", cache.SETTINGS, lambda: build("two")) == "built on two"  # the version moved
        assert built == ["one", "two"]
    finally:
        client = redis.Redis.from_url(url)
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)
        for app in (one, two):
            with app.app_context():
                db.engine.dispose()


def test_a_server_with_a_thread_per_request_does_not_run_the_pool_dry(tmp_path):
    """The development server starts a thread for each request; each thread's reader connection
    must go back to the pool once its thread has ended, without waiting for the garbage collector."""
    import gc
    import threading

    from sqlalchemy import create_engine, text

    engine = create_engine(f"sqlite:///{tmp_path / 'readers.db'}", pool_size=2, max_overflow=0, pool_timeout=1)
    failures = []

    def request():
        try:
            assert cache.read(text("SELECT 1"), engine=engine) == [(1,)]
        except Exception as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    gc.disable()
    try:
        for _ in range(20):
            thread = threading.Thread(target=request)
            thread.start()
            thread.join()
    finally:
        gc.enable()
    assert failures == []
    assert engine.pool.checkedout() <= 1  # the last thread's, until the next one comes
    engine.dispose()


def test_the_reads_every_request_makes_run_on_the_driver_and_find_what_sqlalchemy_finds(client, make_user):
    """cache.read(plain=True) runs its statement as SQL compiled once, on the reader's own cursor:
    the same rows as SQLAlchemy's execution, with no fallback taken (it would hide a broken path)."""
    from portal import fastpath

    resident = make_user()
    client.login(resident)
    assert client.get("/notices/").status_code == 200
    token = db.session.scalar(select(UserSession.token).where(UserSession.user_id == resident.id))
    reader = cache.reader_for(db.engine)
    for statement, params in ((cache._AREAS, {}), (cache._AREAS_AND_PERSON, {"token": token}),
                              (fastpath.BELL, {"token": token}), (fastpath.QUEUE, {"token": token}),
                              (fastpath.CHAT, {"token": token, "conversation": 1})):
        expected = [tuple(row) for row in db.session.connection().execute(statement, params).all()]
        assert [tuple(row) for row in cache._driver_rows(reader, statement, params)] == expected
    found = dict(cache._driver_rows(reader, cache._AREAS_AND_PERSON, {"token": token}))
    assert found["~uid"] == resident.id and found["~unread"] == 0 and found[cache.PLACES] >= 1


def test_a_known_session_token_reads_the_same_rows_by_its_person(client, make_user, make_notice):
    """Once a process knows a token's person, versions() names the person instead of looking the
    token up in each part of the statement: the same rows, and none for a session that has ended."""
    from portal.models import Notification

    resident = make_user()
    client.login(resident)
    assert client.get("/notices/").status_code == 200
    token = db.session.scalar(select(UserSession.token).where(UserSession.user_id == resident.id))
    for i in range(3):
        db.session.add(Notification(key=f"test-{i}", user_id=resident.id, title=f"通知{i}", body="", link="/", kind="notice",
                                    read_at=utcnow() if i == 0 else None))
    db.session.commit()
    cache.bump(cache.resident_tickets_key(resident.id))
    db.session.commit()
    reader = cache.reader_for(db.engine)
    known = {"token": token, "person": resident.id, "person_key": cache.person_key(resident.id),
             "tickets_key": cache.resident_tickets_key(resident.id)}

    def both():
        return (dict(cache._driver_rows(reader, cache._AREAS_AND_PERSON, {"token": token})),
                dict(cache._driver_rows(reader, cache._AREAS_AND_KNOWN_PERSON, known)))

    by_token, by_person = both()
    assert by_token == by_person
    assert by_person["~uid"] == resident.id and by_person["~unread"] == 2 and cache.resident_tickets_key(resident.id) in by_person
    assert cache._persons.get(token) == resident.id  # learnt from the requests above
    assert client.get("/notices/").status_code == 200  # and used: the page is the same
    db.session.execute(delete(UserSession).where(UserSession.token == token))
    db.session.commit()
    by_token, by_person = both()
    assert "~uid" not in by_person and by_token.get("~uid") is None
    assert client.get("/notices/").status_code == 302  # signed out at once


def test_on_a_sqlite_file_a_request_after_no_write_only_asks_whether_anything_was_written(concurrent_app, database_url, tmp_path):
    """cache._Unchanged: on a SQLite file the versions query's rows are kept while the database's
    data_version stays; any commit (this process's session, another process) or cache.clear()
    makes the next request read them again. Other databases have no such number: no memo."""
    import subprocess
    import sys

    from portal.models import Building, NoticeCategory, Residency, Unit, User
    from tests.conftest import PASSWORD, PortalClient

    app = concurrent_app
    with app.app_context():
        reader = cache.reader_for(db.engine)
        if database_url:
            assert cache._reader.memo is None
            return
        assert cache._reader.memo is not None and reader is cache._reader.connection
        building = Building(name="1号楼", units=[Unit(number="1-101")])
        resident = User(role=Role.RESIDENT, name="住户", phone="13800009999")
        resident.set_password(PASSWORD)
        resident.residencies.append(Residency(unit=building.units[0]))
        db.session.add_all([building, resident])
        db.session.commit()
        client = PortalClient(app)
        client.login(resident)
        assert client.get("/notices/").status_code == 200
        statements = []
        listener = lambda *a: a[2].startswith(("BEGIN", "SAVEPOINT", "RELEASE")) or statements.append(a[2])  # noqa: E731
        event.listen(db.engine, "before_cursor_execute", listener)
        try:
            def page():
                statements.clear()
                response = client.get("/notices/")
                assert response.status_code == 200
                return response.get_data(as_text=True), list(statements)

            page()  # (the first request after signing in learnt the token's person: its statement names them)
            _html, asked = page()
            assert asked == ["PRAGMA data_version"]  # nothing written since: the kept rows stand

            db.session.add(Notice(title="停水通知", body="明天停水", body_html="<p>明天停水</p>", is_community_wide=True, author_id=resident.id,
                                  publish_at=utcnow() - timedelta(minutes=5), category=NoticeCategory.NEWS))
            db.session.commit()  # another connection of this process (the session's, as a write request's)
            html, asked = page()
            assert "停水通知" in html and asked[0] == "PRAGMA data_version" and len(asked) > 1
            assert page()[1] == ["PRAGMA data_version"]

            # Another process (a second worker) moves a counter behind this one's back.
            database = db.engine.url.database
            subprocess.run([sys.executable, "-c", "import sqlite3, sys; c = sqlite3.connect(sys.argv[1], isolation_level=None); "
                            "c.execute(\"INSERT INTO cache_version (key, version) VALUES ('settings', 1) "
                            "ON CONFLICT (key) DO UPDATE SET version = version + 1\")", database], check=True)
            assert len(page()[1]) > 1
            assert page()[1] == ["PRAGMA data_version"]

            cache.clear()  # (tests and restores: every kept thing goes, these rows too)
            assert len(page()[1]) > 1
        finally:
            event.remove(db.engine, "before_cursor_execute", listener)
            cache._forget_reader()
