"""A resident whose form could not be saved (the database away: the portal's 503 page) keeps what
they typed: the browser keeps a draft until the server confirms it, offers it on the next visit,
and forgets it once it is saved. The chat form (htmx) says why by the form and keeps its text."""
import pytest

from portal.extensions import db
from tests.e2e.conftest import PHONE, sign_in
from tests.outage import Outage

pytestmark = pytest.mark.e2e

TEXT = "3号楼2单元楼道灯坏了三天，晚上看不见台阶"


@pytest.fixture
def outage(live):
    with live.app.app_context():
        down = Outage(db.engine)
    yield down
    down.end()


def _drafts(page):
    return page.evaluate("Object.keys(localStorage).filter(function (k) { return k.indexOf('portal-draft:') === 0; })")


def test_the_ticket_forms_text_survives_a_503_is_offered_again_and_is_forgotten_once_saved(browser, live, outage):
    base = live.url
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, locale="zh-CN")
    page = context.new_page()
    sign_in(page, base, "13800000001")
    page.goto(f"{base}/tickets/new")
    assert not page.locator("[data-draft-offer]").is_visible()
    page.fill("textarea[name=description]", TEXT)
    key = page.input_value("input[name=idempotency_key]")

    outage.begin()
    page.locator("form[data-draft] button.primary").click()
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == "服务暂时不可用"
    assert page.get_by_text("您提交的内容没有保存。").is_visible()
    assert len(_drafts(page)) == 1

    page.go_back()  # without the draft, the browser keeps the form's values
    page.wait_for_load_state()
    assert page.input_value("textarea[name=description]") == TEXT

    outage.end()
    page.goto(f"{base}/notices/")  # elsewhere, then back to the form another time
    page.goto(f"{base}/tickets/new")
    assert page.input_value("textarea[name=description]") == ""
    offer = page.get_by_role("button", name="恢复上次未提交的内容")
    assert offer.is_visible()
    offer.click()
    assert page.input_value("textarea[name=description]") == TEXT
    assert page.input_value("input[name=idempotency_key]") == key  # sent again, it cannot be registered twice
    assert not offer.is_visible()

    page.locator("form[data-draft] button.primary").click()
    page.wait_for_url("**/tickets/*")
    assert page.get_by_text(TEXT).first.is_visible()
    assert _drafts(page) == []
    assert "portal_saved" not in page.evaluate("document.cookie")
    page.goto(f"{base}/tickets/new")
    assert not page.get_by_role("button", name="恢复上次未提交的内容").is_visible()
    context.close()


def test_a_chat_message_answered_503_stays_in_the_box_says_why_and_is_sent_later(browser, live, outage):
    base = live.url
    with live.app.app_context():
        from portal.services import settings

        settings.update({"chat_hours_start": "00:00", "chat_hours_end": "23:59"}, None)
        db.session.commit()
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, locale="zh-CN")
    page = context.new_page()
    sign_in(page, base, "13800000001")
    page.goto(f"{base}/chat/")
    page.fill("textarea[name=body]", "电梯停在8楼不动了")
    outage.begin()
    page.locator("form[data-draft] button[type=submit]").click()
    status = page.locator("[data-draft-status] [role=alert]")
    status.wait_for()
    assert "您提交的内容没有保存。" in status.inner_text()
    assert page.input_value("textarea[name=body]") == "电梯停在8楼不动了"
    assert len(_drafts(page)) == 1

    outage.end()
    page.locator("form[data-draft] button[type=submit]").click()
    page.locator(".bubble", has_text="电梯停在8楼不动了").wait_for()
    assert page.input_value("textarea[name=body]") == ""
    assert _drafts(page) == []
    context.close()


def test_signing_out_forgets_the_drafts(browser, live):
    base = live.url
    context = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="zh-CN")
    page = context.new_page()
    sign_in(page, base, "13800000001")
    page.goto(f"{base}/suggestions/new")
    page.fill("input[name=title]", "增设充电桩")
    assert len(_drafts(page)) == 1
    page.get_by_role("button", name="退出").click()
    page.wait_for_url("**/auth/login")
    assert _drafts(page) == []
    context.close()
