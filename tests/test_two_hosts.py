"""Two hosts, one database: two gunicorn instances, each its own process on its own port with the
same PORTAL_SECRET_KEY, PORTAL_REDIS_URL and PORTAL_KEY_PREFIX, against one PostgreSQL database
and one Redis, behind a proxy that names the client's address; and a `flask worker` on each.

Runs only where PostgreSQL and Redis are configured (TEST_DATABASE_URL and PORTAL_REDIS_URL, the
second half of .ci/run)."""
import os
import re
import uuid
from collections import Counter
from email import message_from_bytes
from email.header import decode_header, make_header

import pytest
from sqlalchemy import create_engine, text

from chaos.common import PASSWORD, Browser, Portal, Worker, approve_templates, flask, free_port, portal_app, portal_env, residents, staff
from chaos.common import wait_for

pytestmark = pytest.mark.skipif(not (os.environ.get("TEST_DATABASE_URL") and os.environ.get("PORTAL_REDIS_URL")),
                                reason="PostgreSQL and Redis only (TEST_DATABASE_URL and PORTAL_REDIS_URL)")

NEIGHBOURS = 150  # residents told of the emergency: 300 messages, more than one worker claims in a round (200)


class Hosts:
    def __init__(self, a, b, env, url):
        self.a, self.b, self.env, self.url = a, b, env, url


def _admin_url():
    return os.environ["TEST_DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")


@pytest.fixture(scope="module")
def hosts(tmp_path_factory):
    import psycopg
    import redis

    folder = tmp_path_factory.mktemp("hosts")
    name = f"portal_hosts_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(_admin_url(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = os.environ["TEST_DATABASE_URL"].rsplit("/", 1)[0] + "/" + name
    env = portal_env(url, PORTAL_REDIS_URL=os.environ["PORTAL_REDIS_URL"], PORTAL_PROXY_COUNT=1)
    a = b = None
    try:
        flask(env, "db", "upgrade")
        with portal_app(url):
            residents(5, "1号楼", phone_prefix="1380000")
            residents(NEIGHBOURS, "2号楼", phone_prefix="1370000", email_domain="example.com", sms_consent_at=_now())
            staff("kefu")
        a = Portal(env, folder / "a.log", workers=2).start()
        b = Portal(env, folder / "b.log", workers=2).start()
        yield Hosts(a, b, env, url)
    finally:
        for host in (a, b):
            if host is not None:
                host.stop()
        with psycopg.connect(_admin_url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        client = redis.Redis.from_url(os.environ["PORTAL_REDIS_URL"])
        for key in client.scan_iter(f"*{env['PORTAL_KEY_PREFIX']}*"):
            client.delete(key)


def _now():
    from portal.models import utcnow

    return utcnow()


def _notice(browser, title, category="news"):
    """Customer service posts a community-wide notice, published now; returns its id."""
    answer = browser.post("/notices/new", {"title": title, "body": "请各位业主留意。", "category": category, "community_wide": "y"})
    assert answer.status == 302, answer.body[:2000]
    return int(re.search(r"/notices/(\d+)$", answer.location).group(1))


def test_a_sign_in_limit_reached_on_one_host_holds_on_the_other(hosts):
    on_a = Browser(hosts.a.url, forwarded_for="203.0.113.7")
    for attempt in range(5):  # PORTAL_LOGIN_LIMIT: 5 failures per 15 minutes, per account and per address
        answer = on_a.post("/auth/login", {"identifier": "13800000001", "password": "wrong-password"})
        assert answer.status == 200, f"attempt {attempt + 1} answered {answer.status}"  # a wrong password, not yet a lock
    account_elsewhere = Browser(hosts.b.url, forwarded_for="198.51.100.20")
    assert account_elsewhere.post("/auth/login", {"identifier": "13800000001", "password": PASSWORD}).status == 429
    address_elsewhere = Browser(hosts.b.url, forwarded_for="203.0.113.7")
    assert address_elsewhere.post("/auth/login", {"identifier": "13800000002", "password": PASSWORD}).status == 429
    neither = Browser(hosts.b.url, forwarded_for="198.51.100.21")
    assert neither.post("/auth/login", {"identifier": "13800000002", "password": PASSWORD}).status == 302


def test_a_session_started_on_one_host_is_valid_on_the_other_and_ends_on_both(hosts):
    browser = Browser(hosts.a.url, forwarded_for="198.51.100.30")
    browser.login("13800000003")
    before = dict(browser.state["cookies"])
    page = browser.at(hosts.b.url).get("/tickets/new")
    assert page.status == 200 and ">1号楼 1-104</option>" in page.body  # B knows who signed in on A: their home
    assert browser.at(hosts.b.url).post("/auth/logout", {}).status == 302
    replayed = Browser(hosts.a.url, state={"cookies": before, "csrf": None}).get("/tickets/")
    assert replayed.status == 302 and "/auth/login" in replayed.location  # the old cookie is dead on A too


def test_a_write_through_one_host_shows_on_the_others_next_page(hosts):
    resident = Browser(hosts.b.url, forwarded_for="198.51.100.40")
    resident.login("13800000004")
    office = Browser(hosts.a.url, forwarded_for="198.51.100.41")
    office.login("kefu")
    for host in (hosts.b.url, hosts.a.url, hosts.b.url):  # the board kept on both hosts and in Redis
        assert resident.at(host).get("/notices/").status == 200
    notice = _notice(office, f"电梯年检通知 {uuid.uuid4().hex[:6]}")
    assert f'href="/notices/{notice}"' in resident.get("/notices/").body  # B's next page

    on_a = resident.at(hosts.a.url)
    assert on_a.get("/tickets/").status == 200  # the resident's list, kept on A
    form = resident.get("/tickets/new").body
    unit = re.search(r'name="unit_id"[^>]*>\s*<option[^>]*value="(\d+)"', form).group(1)
    posted = resident.post("/tickets/new", {"category": "repair", "unit_id": unit, "description": "楼道灯不亮",
                                            "idempotency_key": uuid.uuid4().hex})
    assert posted.status == 302, posted.body[:2000]
    ticket = int(re.search(r"/tickets/(\d+)$", posted.location).group(1))
    assert f'href="/tickets/{ticket}"' in on_a.get("/tickets/").body  # A's next page


def test_two_workers_on_two_hosts_deliver_each_message_once(hosts, tmp_path):
    from aiosmtpd.controller import Controller

    from tests.standins.providers import Providers

    class Mailbox:
        def __init__(self):
            self.messages = []

        async def handle_DATA(self, server, session, envelope):
            self.messages.append(message_from_bytes(envelope.content))
            return "250 OK"

    mailbox = Mailbox()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    workers = []
    try:
        with Providers() as standin:
            with portal_app(hosts.url) as app:
                approve_templates(app, standin, ["notice_emergency", "notice_published", "ticket_registered"])
            channels = {"PORTAL_SMS_URL": standin.urls()["aliyun"], "PORTAL_MAIL_URL": f"smtp://127.0.0.1:{smtp.port}",
                        "PORTAL_CHANNEL_TIMEOUT": "5"}
            workers = [Worker({**hosts.env, **channels}, tmp_path / f"worker-{host}.log").start() for host in "ab"]
            office = Browser(hosts.a.url, forwarded_for="198.51.100.50")
            office.login("kefu")
            title = f"2号楼停水抢修 {uuid.uuid4().hex[:6]}"
            notice = _notice(office, title, category="emergency")
            engine = create_engine(hosts.url)
            query = text("SELECT channel, status, attempts FROM delivery WHERE kind = 'notice_emergency' AND object_id = :id")

            def delivered():
                with engine.connect() as conn:
                    rows = conn.execute(query, {"id": notice}).all()
                return len(rows) >= 2 * NEIGHBOURS and all(status == "sent" for _c, status, _a in rows)

            wait_for(delivered, 90, "every emergency message sent")
            for worker in workers:
                worker.stop()
            with engine.connect() as conn:
                rows = conn.execute(query, {"id": notice}).all()
            engine.dispose()
            sms = Counter(m["to"] for m in standin.messages("aliyun_sms") if m["template"] == "SMS_470000")
    finally:
        for worker in workers:
            worker.stop()
        smtp.stop()
    neighbours = [f"1370000{i:04d}" for i in range(NEIGHBOURS)]
    assert Counter(channel for channel, _s, _a in rows) == {"sms": NEIGHBOURS, "email": NEIGHBOURS}
    assert all(attempts == 1 for _c, _s, attempts in rows)
    assert sms == Counter({phone: 1 for phone in neighbours})  # each received exactly once
    emails = Counter(m["To"] for m in mailbox.messages if title in str(make_header(decode_header(m["Subject"]))))
    assert emails == Counter({f"{phone}@example.com": 1 for phone in neighbours})
    shares = [worker.sent() for worker in workers]
    assert all(share > 0 for share in shares), f"each worker's share of the sending: {shares}"
