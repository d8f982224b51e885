"""3 a.m.: an urgent repair from a resident's phone pages the head on duty; the stand-in SMS carries
the one-tap link; the head opens it, signs in, acknowledges, and the resident's timeline shows 已受理."""
import re
from datetime import time

import pytest

from portal.extensions import db
from portal.models import Department, User
from portal.notify import delivery
from portal.services import duty, settings
from tests.conftest import approve_everything
from tests.e2e.conftest import PHONE, sign_in

pytestmark = pytest.mark.e2e


def test_an_urgent_repair_pages_the_head_who_acknowledges_from_the_sms_link(browser, live, standin_server):
    app = live.app
    standin_server.reset()
    standin_server.heal()
    with app.app_context():
        app.config.update(SMS_URL=standin_server.urls()["aliyun"], BASE_URL=live.url)
        app.extensions.pop("portal_channels", None)
        approve_everything(standin_server, app)
        engineering = db.session.query(Department).one()
        head = db.session.query(User).filter_by(username="gongcheng").one()
        head.phone = "13900000003"
        for name, starts, ends in (("白班", time(8), time(20)), ("夜班", time(20), time(8))):
            shift = duty.add_shift(engineering, name, starts, ends)
            for weekday in range(7):
                duty.set_pattern(shift, weekday, head, None)
        settings.update({"route.repair": engineering.id}, None)
        db.session.commit()

    phone = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, locale="zh-CN")
    resident = phone.new_page()
    sign_in(resident, live.url, "13800000001")
    resident.goto(f"{live.url}/tickets/new")
    resident.check("input[name=category][value=repair]")
    resident.fill("textarea[name=description]", "厨房水管爆裂，水漫到客厅")
    resident.check("input[name=is_urgent]")
    resident.locator("form button.primary").click()
    resident.wait_for_url("**/tickets/*")
    ticket_url = resident.url

    with app.app_context():  # the worker's round
        delivery.deliver_due()
        db.session.remove()
    sms = [m for m in standin_server.messages("aliyun_sms") if m["to"] == "13900000003"]
    assert len(sms) == 1
    code = sms[0]["params"]["link"]
    assert re.fullmatch(r"a\d+-[a-z2-7]{12}", code) and f"/go/{code}" in sms[0]["text"]

    head_phone = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, locale="zh-CN")
    page = head_phone.new_page()
    page.goto(f"{live.url}/go/{code}")  # the link from the SMS: sign in first, then the one button
    page.wait_for_url("**/auth/login**")
    page.fill("input[name=identifier]", "gongcheng")
    page.fill("input[name=password]", "secret-pass-1")
    page.click("button[type=submit].primary")
    page.wait_for_url("**/tickets/ack/**")
    page.locator("button.big").click()
    page.wait_for_url("**/tickets/*")
    assert page.locator("main .flash-success").inner_text() == "已受理，呼叫已停止。"

    resident.goto(ticket_url)
    assert resident.locator(".timeline li.kind-acknowledged p.q strong").inner_text() == "已受理"
    phone.close()
    head_phone.close()
