"""The bell: a resident writes on their ticket from a phone, and the assignee's open page shows it
within ten seconds, without a reload; the list opens it."""
import re

import pytest

from portal.extensions import db
from portal.models import Department, User
from portal.services import tickets
from tests.e2e.conftest import PHONE, no_sideways_scroll, sign_in

pytestmark = pytest.mark.e2e


def test_a_residents_message_reaches_the_assignees_bell_without_a_reload(browser, live):
    from portal.models import utcnow

    with live.app.app_context():
        resident = db.session.query(User).filter_by(phone="13800000001").one()
        head = db.session.query(User).filter_by(username="gongcheng").one()
        staff = db.session.query(User).filter_by(username="kefu").one()
        ticket, _ = tickets.create(category="repair", channel="online", description="厨房下水道堵了", actor=resident, now=utcnow(),
                                   resident=resident, unit=resident.residencies[0].unit)
        tickets.transfer(ticket, db.session.query(Department).one(), [], staff, utcnow())
        tickets.assign_person(ticket, head, head, utcnow())
        db.session.commit()
        ticket_id, number = ticket.id, ticket.number

    desk = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="zh-CN")
    assignee = desk.new_page()
    sign_in(assignee, live.url, "gongcheng")
    assignee.goto(f"{live.url}/tickets/")
    before = assignee.locator("#bell").inner_text()
    unread_before = int(re.sub(r"\D", "", before) or 0)

    phone = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, locale="zh-CN")
    page = phone.new_page()
    sign_in(page, live.url, "13800000001")
    page.goto(f"{live.url}/tickets/{ticket_id}")
    assert page.locator("#bell").is_visible() and no_sideways_scroll(page)
    page.fill('form[action$="/message"] textarea[name=body]', "师傅明天上午能来吗？")
    page.locator('form[action$="/message"] button[type=submit]').click()
    page.wait_for_load_state()

    assignee.wait_for_function(
        "n => parseInt((document.querySelector('#bell .count') || {textContent: '0'}).textContent) > n", arg=unread_before, timeout=10_000
    )
    assert int(assignee.locator("#bell .count").inner_text()) == unread_before + 1  # this one message, once
    assignee.locator("#bell").click()
    assignee.wait_for_url("**/notifications/")
    first = assignee.locator(".notification").first
    assert number in first.inner_text()
    first.locator("button.title").click()
    assignee.wait_for_url(f"**/tickets/{ticket_id}")
    assert assignee.locator(".timeline li.kind-resident_reply p.text").last.inner_text() == "师傅明天上午能来吗？"
    desk.close()
    phone.close()
