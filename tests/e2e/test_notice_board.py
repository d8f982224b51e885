"""On a phone: a resident reads their building's bulletin, not another building's, asks a
question; staff answer; the answer appears on the resident's page; an emergency puts up the banner."""
from datetime import timedelta

import pytest

from portal.extensions import db
from portal.models import Building, Notice, NoticeCategory, User, utcnow
from tests.e2e.conftest import PHONE, no_sideways_scroll, sign_in

pytestmark = pytest.mark.e2e


def _post_notices(app):
    with app.app_context():
        staff = db.session.query(User).filter_by(username="kefu").one()
        one = db.session.get(Building, app.config["E2E_IDS"]["building_one"])
        two = db.session.get(Building, app.config["E2E_IDS"]["building_two"])
        now = utcnow() - timedelta(minutes=1)
        rows = [
            Notice(title="1号楼消防通道清理通知", body="请清理楼道杂物。", body_html="<p>请清理楼道杂物。</p>", buildings=[one],
                   is_community_wide=False, publish_at=now, author_id=staff.id),
            Notice(title="2号楼外墙维修告知", body="施工五天。", body_html="<p>施工五天。</p>", buildings=[two],
                   is_community_wide=False, publish_at=now, author_id=staff.id),
            Notice(title="物业服务承诺", body="二十四小时热线。", body_html="<p>二十四小时热线。</p>", is_community_wide=True,
                   publish_at=now, author_id=staff.id, category=NoticeCategory.SERVICE_COMMITMENT),
        ]
        db.session.add_all(rows)
        db.session.commit()


def test_resident_reads_bulletin_asks_and_sees_the_answer_then_the_emergency_banner(browser, live):
    _post_notices(live.app)
    base = live.url
    phone = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, locale="zh-CN")
    resident = phone.new_page()
    sign_in(resident, base, "13800000001")
    resident.goto(f"{base}/notices/")
    assert resident.get_by_text("1号楼消防通道清理通知").is_visible()
    assert resident.get_by_text("物业服务承诺").is_visible()
    assert resident.get_by_text("2号楼外墙维修告知").count() == 0
    assert no_sideways_scroll(resident)

    resident.get_by_text("1号楼消防通道清理通知").click()
    resident.wait_for_url("**/notices/*")
    assert no_sideways_scroll(resident)
    resident.fill("textarea[name=body]", "电动车可以停在哪里？")
    resident.get_by_role("button", name="提问").click()
    resident.get_by_text("电动车可以停在哪里？").wait_for()
    notice_url = resident.url

    desk = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="zh-CN")
    staff = desk.new_page()
    sign_in(staff, base, "kefu")
    staff.goto(f"{base}/notices/questions")
    staff.evaluate("window.__noReload = true")
    staff.fill("textarea[name=answer]", "请停在地面非机动车棚。")
    staff.get_by_role("button", name="回复").click()
    staff.locator(".answer").get_by_text("请停在地面非机动车棚。").wait_for()
    assert staff.evaluate("window.__noReload") is True  # answered in place, no page load

    # the resident's page picks the answer up by itself (htmx polling), no reload
    resident.evaluate("window.__noReload = true")
    resident.locator(".answer").get_by_text("请停在地面非机动车棚。").wait_for(timeout=20000)
    assert resident.evaluate("window.__noReload") is True
    assert resident.url == notice_url

    # staff publish an emergency notice; the banner shows on the resident's every page
    staff.goto(f"{base}/notices/new")
    staff.fill("input[name=title]", "燃气泄漏紧急通知")
    staff.select_option("select[name=category]", "emergency")
    staff.fill("textarea[name=body]", "请勿使用明火，立即开窗通风。")
    staff.get_by_role("button", name="发布").click()
    staff.wait_for_url("**/notices/*")
    for path in ("/notices/", "/account/"):
        resident.goto(base + path)
        banner = resident.locator(".emergency-banner")
        assert banner.is_visible() and "燃气泄漏紧急通知" in banner.inner_text()
    assert no_sideways_scroll(resident)

    # another building's bulletin stays out of reach even by URL
    with live.app.app_context():
        other = db.session.query(Notice).filter_by(title="2号楼外墙维修告知").one()
    response = resident.goto(f"{base}/notices/{other.id}")
    assert response.status == 404
    phone.close()
    desk.close()


def test_pages_work_without_javascript(browser, live):
    _post_notices(live.app)
    context = browser.new_context(viewport=PHONE, java_script_enabled=False, locale="zh-CN")
    page = context.new_page()
    sign_in(page, live.url, "13800000001")
    page.goto(f"{live.url}/notices/")
    page.get_by_text("1号楼消防通道清理通知").click()
    page.fill("textarea[name=body]", "没有脚本也能提问吗？")
    page.get_by_role("button", name="提问").click()
    page.get_by_text("没有脚本也能提问吗？").wait_for()
    context.close()


def test_resident_pages_fit_a_360px_screen(browser, live):
    _post_notices(live.app)
    context = browser.new_context(viewport=PHONE, is_mobile=True, locale="zh-CN")
    page = context.new_page()
    page.goto(f"{live.url}/auth/login")
    assert no_sideways_scroll(page)
    sign_in(page, live.url, "13800000001")
    with live.app.app_context():
        notice_id = db.session.query(Notice.id).filter_by(title="物业服务承诺").scalar()
    for path in ("/notices/", f"/notices/{notice_id}", "/account/", "/no-such-page", "/tickets/", "/tickets/new", "/suggestions/",
                 "/suggestions/new", "/events/", "/consultations/"):
        page.goto(live.url + path)
        assert no_sideways_scroll(page), path
    context.close()
