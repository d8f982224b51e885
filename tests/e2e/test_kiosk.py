"""The lobby screen in Chromium: it rotates, an emergency takes it over, it survives the server
going away and recovers by itself, it does not leak, and a revoked link stops working."""
import pytest

from portal.extensions import db
from portal.models import Building, NoticeCategory, User, utcnow
from portal.services import kiosk, notices

pytestmark = pytest.mark.e2e

# Counts live timers, to show that the page does not pile them up.
TIMER_PROBE = """
(() => {
  const live = new Set();
  const st = window.setTimeout.bind(window), ct = window.clearTimeout.bind(window);
  window.setTimeout = (fn, ms, ...a) => { const id = st(() => { live.delete(id); fn(...a); }, ms); live.add(id); return id; };
  window.clearTimeout = (id) => { live.delete(id); ct(id); };
  window.__liveTimers = () => live.size;
})();
"""


def _screen(app, slide_seconds=1):
    with app.app_context():
        building = db.session.query(Building).filter_by(name="1号楼").one()
        staff = db.session.query(User).filter_by(username="kefu").one()
        for i in range(3):
            notice = notices.Notice()
            notices.save(notice, title=f"公告第{i + 1}条", body=f"这是第{i + 1}条公告的内容。", category=NoticeCategory.NEWS,
                         community_wide=True, buildings=[], publish_at=utcnow(), expires_at=None, is_pinned=False, actor=staff, now=utcnow())
        screen = kiosk.create(building, "大堂", "landscape", slide_seconds, 30, None, None, utcnow())
        db.session.commit()
        return screen.secret, staff.id


def _active_title(page):
    return page.locator(".slide.active h1").inner_text()


def test_rotates_takes_over_survives_recovers_and_stops_when_revoked(browser, live):
    secret, staff_id = _screen(live.app)
    context = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="zh-CN")
    context.add_init_script(TIMER_PROBE)
    page = context.new_page()
    page.goto(f"{live.url}/kiosk/{secret}?poll=1")

    # it rotates
    seen = set()
    for _ in range(8):
        seen.add(_active_title(page))
        page.wait_for_timeout(500)
    assert {"公告第1条", "公告第2条", "公告第3条"} <= seen

    # an emergency published by staff takes the screen over within a polling interval
    with live.app.app_context():
        staff = db.session.get(User, staff_id)
        emergency = notices.Notice()
        notices.save(emergency, title="燃气泄漏，请勿使用明火", body="请立即开窗通风。", category=NoticeCategory.EMERGENCY, community_wide=True,
                     buildings=[], publish_at=utcnow(), expires_at=None, is_pinned=False, actor=staff, now=utcnow())
        db.session.commit()
        emergency_id = emergency.id
    page.locator(".slide.emergency.active").wait_for(timeout=5000)
    assert _active_title(page) == "燃气泄漏，请勿使用明火"
    with live.app.app_context():
        from portal.models import Notice

        notices.lift(db.session.get(Notice, emergency_id), db.session.get(User, staff_id), utcnow())
        db.session.commit()
    page.locator(".slide.emergency").wait_for(state="detached", timeout=5000)

    # the server goes away: the last content stays, marked offline, with its time
    live.stop()
    page.wait_for_selector("body.offline", timeout=15000)
    # the three notices and the lifted emergency, now one notice among them
    assert sorted(page.locator(".slide h1").all_inner_texts()) == sorted(["公告第1条", "公告第2条", "公告第3条", "燃气泄漏，请勿使用明火"])
    assert page.locator(".offline-mark").is_visible()
    assert page.locator("#updated").inner_text().strip() != ""

    # ... and comes back: the screen recovers by itself
    live.restart()
    page.locator("body:not(.offline)").wait_for(timeout=15000)

    # many rotations and polls later the page has not grown
    page.wait_for_timeout(1500)
    nodes = page.evaluate("document.getElementsByTagName('*').length")
    timers = page.evaluate("window.__liveTimers()")
    page.wait_for_timeout(5000)
    assert page.evaluate("document.getElementsByTagName('*').length") == nodes
    assert page.evaluate("window.__liveTimers()") <= max(timers, 3)  # rotation, poll, its timeout

    # a revoked link stops working
    with live.app.app_context():
        from portal.models import KioskScreen

        kiosk.revoke(db.session.query(KioskScreen).filter_by(secret=secret).one(), utcnow())
        db.session.commit()
    page.wait_for_selector("body.revoked", timeout=5000)
    assert page.goto(f"{live.url}/kiosk/{secret}").status == 404
    context.close()


def test_portrait_reads_top_to_bottom(browser, live):
    secret, _ = _screen(live.app, slide_seconds=30)
    context = browser.new_context(viewport={"width": 1080, "height": 1920}, locale="zh-CN")
    page = context.new_page()
    page.goto(f"{live.url}/kiosk/{secret}")
    box_text = page.locator(".slide.active .slide-body").bounding_box()
    box_qr = page.locator(".slide.active .qr").bounding_box()
    assert box_qr["y"] > box_text["y"]  # the QR code under the text, not squeezed beside it
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    context.close()
