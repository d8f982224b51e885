"""Pages that validate, on the demo community as a resident and as customer service see it: the Nu
HTML Checker finds no error (htmx's hx-* attributes aside), axe nothing serious or critical, and
Lighthouse's mobile audit of the notice board scores 100 in all four categories.

The checkers are the ones the project pins in tests/e2e/tools (installed by `make test`)."""
import json
import os
import re
import shutil
import subprocess
import uuid
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest

from portal import create_app
from portal.extensions import db
from portal.services import demo
from tests.e2e.conftest import CHROMIUM, PHONE, LiveServer

TOOLS = Path(__file__).parent / "tools" / "node_modules"
VNU = TOOLS / "vnu-jar" / "build" / "dist" / "vnu.jar"
AXE = TOOLS / "axe-core" / "axe.min.js"
LIGHTHOUSE = TOOLS / ".bin" / "lighthouse"
CRAWLERS = ("13800000001", "kefu")  # a resident of 1号楼 with two homes, and customer service
# Not pages: files, exits, and links that change what they lead to
SKIP = re.compile(r"/auth/logout|\.(pdf|csv|ics|png|jpg|svg|ico)\b|/download|/attachments/|/static/|/export|/go/|/kiosk/|/photos/|lang=")


@pytest.fixture(scope="module")
def demo_site(tmp_path_factory):
    path = tmp_path_factory.mktemp("validity") / "demo.db"
    app = create_app({
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}", "SECRET_KEY": "validity", "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
        "RATELIMIT_STORAGE_URI": "memory://", "MAIL_URL": None,
        "KEY_PREFIX": f"{os.environ.get('PORTAL_KEY_PREFIX', 'portal-test')}-{uuid.uuid4().hex[:6]}",
    })
    with app.app_context():
        db.create_all()
        demo.seed()
        db.session.commit()
    server = LiveServer(app)
    server.start()
    yield server
    server.stop()
    with app.app_context():
        db.engine.dispose()


def _signed_in(base, login):
    import requests

    session = requests.Session()
    page = session.get(f"{base}/auth/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    answer = session.post(f"{base}/auth/login", data={"csrf_token": token, "identifier": login, "password": demo.DEMO_PASSWORD})
    assert answer.ok and "/auth/login" not in answer.url, login
    return session


def _crawl(base, login, limit=120):
    """{path: html} of the pages one person reaches by following links from the home page, one of
    each shape (/tickets/12 and /tickets/13 are one shape)."""
    session = _signed_in(base, login)
    queue, shapes, pages = ["/"], set(), {}
    while queue and len(pages) < limit:
        path = queue.pop(0)
        shape = re.sub(r"\d+", "N", path)
        if shape in shapes:
            continue
        shapes.add(shape)
        response = session.get(base + path)
        assert response.status_code < 500, (login, path, response.status_code)
        if "text/html" not in response.headers.get("Content-Type", ""):
            continue
        pages[urlsplit(response.url).path + (f"?{urlsplit(response.url).query}" if urlsplit(response.url).query else "")] = response.text
        for href in re.findall(r'href="([^"#]+)"', response.text):
            url = urljoin(response.url, href.replace("&amp;", "&"))
            if url.startswith(base) and not SKIP.search(url[len(base):]):
                queue.append(url[len(base):])
    return session, pages


@pytest.fixture(scope="module")
def crawls(demo_site):
    return {login: _crawl(demo_site.url, login) for login in CRAWLERS}


def _need(path, what):
    if not path.exists():
        pytest.fail(f"{what} is missing: `make test` installs it (npm ci in tests/e2e/tools)")


def test_the_crawls_reach_the_pages_of_every_part(crawls):
    resident, staff = (set(crawls[login][1]) for login in CRAWLERS)
    for part in ("/notices/", "/tickets/", "/events/", "/suggestions/", "/notifications/", "/account/", "/disclosure/"):
        assert part in resident and part in staff, part
    for part in ("/records/", "/figures/", "/duty/", "/chat/", "/surveys/"):
        assert any(p.startswith(part) for p in staff), part
    assert len(resident) >= 15 and len(staff) >= 40


def test_the_nu_html_checker_finds_no_error_on_the_resident_and_staff_crawls(crawls, tmp_path):
    _need(VNU, "The Nu HTML Checker (vnu.jar)")
    java = shutil.which("java")
    assert java, "java is missing: `make test` installs default-jre-headless"
    files = {}
    for login, (_session, pages) in crawls.items():
        for path, html in pages.items():
            name = tmp_path / f"{login}{re.sub(r'[^A-Za-z0-9]+', '_', path)}.html"
            name.write_text(html, encoding="utf-8")
            files[str(name)] = f"{login} {path}"
    checked = subprocess.run([java, "-Xss1024k", "-jar", str(VNU), "--errors-only", "--format", "json", *files], capture_output=True, text=True,
                             timeout=600)
    messages = json.loads(checked.stderr or checked.stdout)["messages"]
    errors = [f"{files.get(urlsplit(m.get('url', '')).path, m.get('url'))}:{m.get('lastLine')}: {m['message']}" for m in messages
              if m.get("type") == "error" and not re.match(r"Attribute “hx-[a-z-]+” not allowed", m["message"])]
    assert errors == [], "\n".join(errors[:40])


def test_axe_finds_nothing_serious_on_the_resident_and_staff_crawls(browser, demo_site, crawls):
    _need(AXE, "axe-core")
    script = AXE.read_text(encoding="utf-8")
    found = []
    for login, (session, pages) in crawls.items():
        context = browser.new_context(viewport=PHONE if login == CRAWLERS[0] else {"width": 1920, "height": 1080}, locale="zh-CN",
                                      bypass_csp=True)  # to let axe's script in
        context.add_cookies([{"name": c.name, "value": c.value, "url": demo_site.url} for c in session.cookies])
        page = context.new_page()
        for path in pages:
            page.goto(demo_site.url + path)
            page.add_script_tag(content=script)
            violations = page.evaluate("""async () => (await axe.run(document, {resultTypes: ['violations']})).violations
                .filter(v => v.impact === 'serious' || v.impact === 'critical')
                .map(v => v.impact + ' ' + v.id + ': ' + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', '))""")
            found += [f"{login} {path} {v}" for v in violations]
        context.close()
    assert found == [], "\n".join(found[:40])


def _lighthouse(url, cookie, report):
    run = subprocess.run(
        [str(LIGHTHOUSE), url, "--quiet", "--output=json", f"--output-path={report}",
         "--only-categories=performance,accessibility,best-practices,seo", "--form-factor=mobile",
         "--chrome-flags=--headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage --disable-background-networking "
         "--disable-component-update --disable-sync --no-first-run",
         f"--extra-headers={json.dumps({'Cookie': cookie})}"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "CHROME_PATH": CHROMIUM},
    )
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(report.read_text(encoding="utf-8"))
    assert result["finalDisplayedUrl"].endswith("/notices/")  # the board itself, not the sign-in page
    scores = {key: category["score"] for key, category in result["categories"].items()}
    missed = [f"{key}: {ref['id']} {result['audits'][ref['id']].get('displayValue', '')}" for key, category in result["categories"].items()
              for ref in category["auditRefs"] if ref.get("weight") and (result["audits"][ref["id"]].get("score") or 0) < 1]
    return scores, missed


def test_lighthouse_scores_the_notice_board_100_on_a_phone(demo_site, crawls, tmp_path):
    _need(LIGHTHOUSE, "Lighthouse")
    session, _pages = crawls[CRAWLERS[0]]
    cookie = "; ".join(f"{c.name}={c.value}" for c in session.cookies)
    # Accessibility, best practices and SEO read the page and are the same every time; performance
    # simulates a slow phone from timings this shared machine measured, so a busy moment gets two
    # more tries.
    for attempt in range(3):
        scores, missed = _lighthouse(f"{demo_site.url}/notices/", cookie, tmp_path / f"board-{attempt}.json")
        assert {key: scores[key] for key in ("accessibility", "best-practices", "seo")} == {
            "accessibility": 1, "best-practices": 1, "seo": 1}, "\n".join(missed)
        if scores["performance"] == 1:
            break
    assert scores["performance"] == 1, "\n".join(missed)
