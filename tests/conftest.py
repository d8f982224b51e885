"""A fresh app per test: in-memory SQLite by default, or a per-run PostgreSQL database when
TEST_DATABASE_URL is set (created at the start, dropped at the end)."""
import os
import re
import uuid
from datetime import timedelta

import pytest
from flask import g
from sqlalchemy import text
from sqlalchemy.pool import StaticPool

RUN_ID = uuid.uuid4().hex[:10]
# Every app a test makes, including those made outside make_app (the browser tests' live server,
# the migration tests), keeps its Redis keys under this run's prefix: test runs never read each
# other's kept pages, and never a company's that shares the Redis. Set before portal.config is read.
os.environ["PORTAL_KEY_PREFIX"] = f"portal-test-{RUN_ID}"
os.environ.pop("PORTAL_RATELIMIT_PREFIX", None)

from portal import create_app  # noqa: E402
from portal.extensions import db  # noqa: E402
from portal.models import Building, Notice, NoticeCategory, NotificationPref, Residency, Role, Unit, User, utcnow
from portal.notify import kinds
from portal.notify.admin import aliyun_template, tencent_template
from portal.services import settings
from tests.standins.providers import Providers

PASSWORD = "secret-pass-1"


def _pg_url(base):
    return base.rsplit("/", 1)[0] + f"/portal_test_{RUN_ID}"


@pytest.fixture(scope="session")
def database_url():
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        yield None
        return
    import psycopg

    admin_url = base.replace("postgresql+psycopg://", "postgresql://")
    name = f"portal_test_{RUN_ID}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _pg_url(base)
    finally:
        from sqlalchemy import create_engine

        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()")
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        del create_engine


@pytest.fixture(scope="session")
def redis_prefix():
    prefix = f"portal-test-{RUN_ID}"
    yield prefix
    url = os.environ.get("PORTAL_REDIS_URL")
    if url:
        import redis

        client = redis.Redis.from_url(url)
        for key in client.scan_iter(f"*{prefix}*"):
            client.delete(key)


_pg_schema_ready = False


def make_app(database_url, redis_prefix, **overrides):
    global _pg_schema_ready
    config = {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
        "RATELIMIT_KEY_PREFIX": f"{redis_prefix}-{uuid.uuid4().hex[:6]}",
        "KEY_PREFIX": f"{redis_prefix}-{uuid.uuid4().hex[:6]}",
        "BASE_URL": "http://portal.test",
        "MAIL_URL": None,
    }
    if database_url:
        config["SQLALCHEMY_DATABASE_URI"] = database_url
        config["SQLALCHEMY_ENGINE_OPTIONS"] = {"pool_pre_ping": True}
    else:
        config["SQLALCHEMY_DATABASE_URI"] = "sqlite://"
        config["SQLALCHEMY_ENGINE_OPTIONS"] = {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
    if os.environ.get("PORTAL_REDIS_URL"):
        config["RATELIMIT_STORAGE_URI"] = os.environ["PORTAL_REDIS_URL"]
    else:
        config["RATELIMIT_STORAGE_URI"] = "memory://"
    config.update(overrides)
    app = create_app(config)
    with app.app_context():
        if database_url:
            if not _pg_schema_ready:
                db.drop_all()
                db.create_all()
                _pg_schema_ready = True
        else:
            db.create_all()
    return app


def _truncate_all():
    tables = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
    db.session.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    db.session.commit()


@pytest.fixture
def app(database_url, redis_prefix):
    app = make_app(database_url, redis_prefix)
    ctx = app.app_context()
    ctx.push()
    yield app
    db.session.rollback()
    db.session.remove()
    if database_url:
        _truncate_all()
    else:
        db.drop_all()
    db.engine.dispose()
    ctx.pop()


class PortalClient:
    """The Flask test client, plus helpers that behave like a browser: CSRF tokens and sign-in."""

    def __init__(self, app):
        self.app = app
        self.http = app.test_client()

    @staticmethod
    def _fresh_request_globals():
        # The test keeps an app context pushed (for db.session), and Flask reuses it for each
        # request, so `g` would leak from one request to the next (CSRF token, current user,
        # per-request caches). In production every request gets a fresh `g`; so do we.
        g.__dict__.clear()

    def get(self, url, **kw):
        self._fresh_request_globals()
        return self.http.get(url, **kw)

    def csrf_token(self):
        page = self.get("/auth/login", follow_redirects=True)
        match = re.search(r'"X-CSRFToken": "([^"]+)"', page.get_data(as_text=True))
        assert match, "no CSRF token on the page"
        return match.group(1)

    def post(self, url, data=None, headers=None, csrf=True, **kw):
        data = dict(data or {})
        if csrf and "csrf_token" not in data:
            data["csrf_token"] = self.csrf_token()
        self._fresh_request_globals()
        return self.http.post(url, data=data, headers=headers, **kw)

    def login(self, user, password=PASSWORD):
        response = self.post("/auth/login", {"identifier": user.phone or user.username, "password": password})
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        return response

    def logout(self):
        return self.post("/auth/logout")


@pytest.fixture
def client(app):
    return PortalClient(app)


@pytest.fixture
def make_client(app):
    return lambda: PortalClient(app)


@pytest.fixture
def make_building(app):
    counter = iter(range(1, 10000))

    def make(name=None, units=2):
        building = Building(name=name or f"{next(counter)}号楼")
        for i in range(units):
            building.units.append(Unit(number=f"1-{101 + i}"))
        db.session.add(building)
        db.session.commit()
        return building

    return make


@pytest.fixture
def make_user(make_building):
    counter = iter(range(1, 100000))

    def make(role=Role.RESIDENT, units=None, building=None, password=PASSWORD, channels=None, **kw):
        """`channels`: {category: "wechat,sms"} as chosen on the account page."""
        n = next(counter)
        kw.setdefault("name", f"用户{n}")
        if role == Role.RESIDENT:
            kw.setdefault("phone", f"1380000{n:04d}")
        else:
            kw.setdefault("username", f"{role.value}{n}")
        user = User(role=role, **kw)
        user.set_password(password)
        if role == Role.RESIDENT and units is None:
            building = building or make_building()
            units = [building.units[0]]
        for unit in units or []:
            user.residencies.append(Residency(unit=unit))
        db.session.add(user)
        db.session.flush()
        for category, chosen in (channels or {}).items():
            db.session.add(NotificationPref(user_id=user.id, category=category, channels=chosen))
        db.session.commit()
        return user

    return make


@pytest.fixture
def fan_out(app):
    """What the worker does with audiences (every resident of some buildings), now."""
    from portal.notify import fanout

    def run():
        told = fanout.run_jobs(utcnow())
        db.session.commit()
        return told

    return run


@pytest.fixture
def make_notice(make_user):
    def make(title="停水通知", body="周六停水。", buildings=None, author=None, **kw):
        author = author or make_user(role=Role.STAFF)
        kw.setdefault("publish_at", utcnow() - timedelta(minutes=5))
        kw.setdefault("category", NoticeCategory.NEWS)
        notice = Notice(
            title=title,
            body=body,
            body_html=f"<p>{body}</p>",
            is_community_wide=not buildings,
            buildings=list(buildings or []),
            author_id=author.id,
            **kw,
        )
        db.session.add(notice)
        db.session.commit()
        return notice

    return make


@pytest.fixture
def concurrent_app(database_url, redis_prefix, tmp_path):
    """A database several threads can write at once: a SQLite file, or the run's PostgreSQL."""
    if database_url:
        app = make_app(database_url, redis_prefix)
    else:
        app = make_app(None, redis_prefix, SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'concurrent.db'}", SQLALCHEMY_ENGINE_OPTIONS={})
        with app.app_context():
            db.create_all()
    yield app
    with app.app_context():
        if database_url:
            _truncate_all()
        db.engine.dispose()


# The providers' stand-in (tests/standins/providers.py), and the portal configured against it
# through the same URLs a company would set, with every kind's templates approved there.




@pytest.fixture(scope="session")
def standin_server():
    with Providers() as server:
        yield server


def approve_everything(server, app):
    """Every kind's SMS template approved at both providers and its WeChat template in the
    account's library, and their codes entered on the admin page."""
    changes = {}
    with app.test_request_context("/"):
        for i, kind in enumerate(kinds.KINDS.values()):
            aliyun_code, tencent_id, wechat_id = f"SMS_{470000 + i}", str(1900000 + i), f"tpl-{kind.name}"
            server.approve_template("aliyun_sms", aliyun_code, list(kind.sms_params), content=aliyun_template(kind, "zh_Hans"))
            server.approve_template("tencent_sms", tencent_id, {str(n): 32 for n in range(1, len(kind.sms_params) + 1)},
                                    content=tencent_template(kind, "zh_Hans"))
            server.approve_template("tencent_sms", f"9{tencent_id}", {str(n): 32 for n in range(1, len(kind.sms_params) + 1)},
                                    content=tencent_template(kind, "zh_Hans"), international=True)
            server.approve_template("wechat", wechat_id, [key for key, _param in kind.wechat])
            if kind.urgent:
                server.approve_template("aliyun_voice", f"TTS_{480000 + i}", list(kind.voice_params))
                server.approve_template("tencent_voice", str(2900000 + i), len(kind.voice_params))
                changes[f"voice_template.{kind.name}"] = f"TTS_{480000 + i}" if "aliyun" in (app.config.get("VOICE_URL") or "aliyun") else str(2900000 + i)
            changes[f"wechat_template.{kind.name}"] = wechat_id
            changes[f"sms_template.{kind.name}"] = aliyun_code if "aliyun" in app.config["SMS_URL"] else tencent_id
            changes[f"sms_template_intl.{kind.name}"] = f"9{tencent_id}"
    settings.update(changes, None)
    db.session.commit()


@pytest.fixture
def standin(app, standin_server):
    """The stand-in, fresh for this test, with the app's SMS (Aliyun), WeChat and 企业微信 pointed at it."""
    server = standin_server
    server.reset()
    server.heal()
    urls = server.urls()
    app.config.update(SMS_URL=urls["aliyun"], WECHAT_URL=urls["wechat"], WECOM_URL=urls["wecom"], CHANNEL_TIMEOUT=2)
    app.extensions.pop("portal_channels", None)
    approve_everything(server, app)
    yield server
    server.heal()
    app.extensions.pop("portal_channels", None)


@pytest.fixture
def use_tencent(app, standin):
    """The same, with Tencent Cloud as the SMS provider."""
    app.config["SMS_URL"] = standin.urls()["tencent"] + "&param_max=32"
    app.extensions.pop("portal_channels", None)
    approve_everything(standin, app)
    return standin
