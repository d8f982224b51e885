"""Browser tests: Playwright driving Debian's Chromium against a live portal on loopback."""
import os
import shutil
import threading
import uuid

import pytest
from werkzeug.serving import make_server

from portal import create_app
from portal.extensions import db
from portal.models import Building, Department, Residency, Role, Unit, User

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
PASSWORD = "secret-pass-1"
PHONE = {"width": 360, "height": 740}

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="session")
def browser():
    if not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM):
        pytest.skip("Chromium is not installed (make test installs it as root)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )
        yield browser
        browser.close()


class LiveServer:
    def __init__(self, app, port=0):
        self.app = app
        self.server = make_server("127.0.0.1", port, app, threaded=True)
        self.port = self.server.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.running = False

    def start(self):
        self.thread.start()
        self.running = True

    def stop(self):
        if self.running:
            self.server.shutdown()
            self.server.server_close()
            self.running = False

    def restart(self):
        """The server comes back on the same address (for the kiosk's recovery)."""
        self.server = make_server("127.0.0.1", self.port, self.app, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.start()


@pytest.fixture
def live(tmp_path):
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'e2e.db'}",
            "SECRET_KEY": "e2e",
            "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
            "RATELIMIT_STORAGE_URI": "memory://",
            "MAIL_URL": None,
            # its own kept pages in Redis (when PORTAL_REDIS_URL is set): a fresh database starts
            # its version counters where the last test's did, and must not find that test's pages
            "KEY_PREFIX": f"{os.environ.get('PORTAL_KEY_PREFIX', 'portal-test')}-{uuid.uuid4().hex[:6]}",
        }
    )
    with app.app_context():
        db.create_all()
        one, two = Building(name="1号楼"), Building(name="2号楼")
        one.units.append(Unit(number="1-101"))
        two.units.append(Unit(number="1-201"))
        db.session.add_all([one, two])
        engineering = Department(name="工程维修部")
        db.session.add(engineering)
        people = {
            "resident": User(phone="13800000001", name="周杰", role=Role.RESIDENT),
            "neighbour": User(phone="13800000002", name="吴婷", role=Role.RESIDENT),
            "staff": User(username="kefu", name="王敏", role=Role.STAFF),
            "head": User(username="gongcheng", name="张强", role=Role.HEAD, department=engineering),
        }
        people["resident"].residencies.append(Residency(unit=one.units[0]))
        people["neighbour"].residencies.append(Residency(unit=two.units[0]))
        for user in people.values():
            user.set_password(PASSWORD)
        db.session.add_all(people.values())
        db.session.commit()
        app.config["E2E_IDS"] = {"building_one": one.id, "building_two": two.id}
    server = LiveServer(app)
    server.start()
    yield server
    server.stop()
    with app.app_context():
        db.engine.dispose()


def sign_in(page, base, identifier):
    page.goto(f"{base}/auth/login")
    page.fill("input[name=identifier]", identifier)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit].primary")
    page.wait_for_url(lambda url: "/auth/login" not in url)


def no_sideways_scroll(page):
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
