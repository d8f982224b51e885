"""On a phone, a complaint goes the whole way: filed with a photo, transferred, progressed with an
expected date, resolved, answered in a formal written reply, downloaded, rated and closed."""
import shutil
import subprocess

import pytest

from tests.blueprints.test_notices import PNG
from tests.e2e.conftest import PHONE, no_sideways_scroll, sign_in

pytestmark = pytest.mark.e2e


def submit(page, action):
    page.locator(f'form[action$="/{action}"] button[type=submit]').click()
    page.wait_for_load_state()


@pytest.mark.skipif(not shutil.which("pdftotext"), reason="pdftotext not installed")
def test_a_complaint_from_phone_to_formal_reply_and_rating(browser, live, tmp_path):
    base = live.url
    phone = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, locale="zh-CN")
    resident = phone.new_page()
    sign_in(resident, base, "13800000001")
    resident.goto(f"{base}/tickets/new")
    assert no_sideways_scroll(resident)
    resident.check('input[name=category][value=complaint]')
    resident.fill("textarea[name=description]", "楼下商铺夜间施工，噪音很大")
    resident.set_input_files("input[name=photos]", files=[{"name": "噪音.png", "mimeType": "image/png", "buffer": PNG}])
    resident.locator("form button.primary").click()
    resident.wait_for_url("**/tickets/*")
    number = resident.locator("h1").inner_text().strip()
    assert number.startswith("TS-")
    ticket_url = resident.url
    assert resident.get_by_text("噪音.png").is_visible()
    assert no_sideways_scroll(resident)

    desk = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="zh-CN")
    staff = desk.new_page()
    sign_in(staff, base, "kefu")
    staff.goto(ticket_url)
    staff.select_option('form[action$="/transfer"] select[name=lead]', label="工程维修部")
    submit(staff, "transfer")
    assert staff.locator(".timeline li.kind-transferred p:not(.q)").first.inner_text().startswith("至 工程维修部 · 截止 ")

    head_ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    head = head_ctx.new_page()
    sign_in(head, base, "gongcheng")
    head.goto(f"{base}/tickets/")
    head.get_by_text(number).click()
    # assigned to the department: giving it to a colleague comes first, posting progress is one tap away
    assert head.locator("#steps > form.step-assign").is_visible()
    assert not head.locator('form[action$="/progress"]').is_visible()
    head.locator("details.more-steps > summary").click()
    head.fill('form[action$="/progress"] textarea[name=body]', "已约谈商铺负责人，明晚起停止夜间施工")
    head.fill('form[action$="/progress"] input[name=expected_completion]', "2026-12-05")
    submit(head, "progress")

    resident.goto(ticket_url)
    timeline = resident.locator(".timeline").inner_text()
    assert "已约谈商铺负责人" in timeline and "2026-12-05" in timeline

    head.fill('form[action$="/resolve"] textarea[name=result]', "商铺已书面承诺晚上十点后不施工")
    submit(head, "resolve")

    reply = "您反映的夜间施工噪音问题，我中心已责令商铺整改，商铺已书面承诺晚上十点后停止施工。"
    staff.goto(ticket_url)
    staff.fill('form[action$="/formal-reply"] textarea[name=text]', reply)
    submit(staff, "formal-reply")
    staff.check('form[action$="/feedback"] input[value=written]')
    submit(staff, "feedback")

    resident.goto(ticket_url)
    link = resident.locator('a[href$="/reply.pdf"]')
    assert link.is_visible()
    pdf = resident.request.get(base + link.get_attribute("href"))
    assert pdf.status == 200
    path = tmp_path / "reply.pdf"
    path.write_bytes(pdf.body())
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout.replace(" ", "").replace("\n", "")
    assert number in text and reply in text

    resident.check('form[action$="/rate"] input[name=rating][value="5"]')
    resident.check('form[action$="/rate"] input[name=resolved][value=yes]')
    resident.fill('form[action$="/rate"] textarea[name=comment]', "处理及时")
    submit(resident, "rate")
    assert resident.locator(".ticket-head .tag-status").inner_text() == "已关闭"
    assert no_sideways_scroll(resident)
    for context in (phone, desk, head_ctx):
        context.close()
