"""在线客服 in two browsers: a resident chats from a phone-sized page, customer service answers from a
desk-sized one, each sees the other's messages within seconds without reloading, and the
conversation becomes a ticket whose number the resident is told."""
import pytest

from portal.extensions import db
from portal.services import settings
from tests.e2e.conftest import PHONE, no_sideways_scroll, sign_in

pytestmark = pytest.mark.e2e


def test_a_resident_chats_from_a_phone_and_the_desk_turns_it_into_a_ticket(browser, live):
    with live.app.app_context():
        settings.update({"chat_hours_start": "00:00", "chat_hours_end": "23:59"}, None)
        db.session.commit()
    phone = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, locale="zh-CN")
    resident = phone.new_page()
    sign_in(resident, live.url, "13800000001")
    resident.goto(f"{live.url}/chat/")
    resident.fill("textarea[name=body]", "客厅的灯不亮了，开关也没反应")
    resident.locator("#chat button[type=submit]").click()
    resident.locator(".bubble.from-resident").first.wait_for()
    assert no_sideways_scroll(resident)

    desk = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="zh-CN")
    staff = desk.new_page()
    sign_in(staff, live.url, "kefu")
    staff.goto(f"{live.url}/chat/")
    staff.get_by_text("周杰").click()
    staff.wait_for_url("**/chat/*")
    assert "客厅的灯不亮了" in staff.locator("#chat-messages").inner_text()
    staff.fill("#chat textarea[name=body]", "您好，已收到，请问是哪个房间？")
    staff.locator("#chat button[type=submit]").click()

    resident.locator(".bubble.from-staff").first.wait_for(timeout=5000)  # polled in, no reload
    assert "请问是哪个房间" in resident.locator("#chat-messages").inner_text()
    resident.fill("textarea[name=body]", "主卧")
    resident.locator("#chat button[type=submit]").click()
    staff.locator("#chat-messages").get_by_text("主卧").wait_for(timeout=5000)

    staff.select_option('form[action$="/ticket"] select[name=category]', value="repair")
    staff.locator('form[action$="/ticket"] button[type=submit]').click()
    staff.wait_for_load_state()
    number = staff.locator(".chat-who a[href*='/tickets/']").last.inner_text()
    assert number.startswith("BX-")
    resident.locator("#chat-messages").get_by_text(number, exact=False).wait_for(timeout=5000)
    phone.close()
    desk.close()
