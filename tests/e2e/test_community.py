"""On a phone: a resident supports a suggestion, signs up for a full forum, waits on the list,
and is promoted when another household cancels."""
from datetime import datetime, timedelta, timezone

import pytest

from portal.extensions import db
from portal.i18n import from_local
from portal.models import EventSignup, EventType, SignupStatus, User, utcnow
from portal.services import events, suggestions
from tests.e2e.conftest import PHONE, no_sideways_scroll, sign_in

pytestmark = pytest.mark.e2e


def _setup(app):
    with app.app_context():
        neighbour = db.session.query(User).filter_by(phone="13800000002").one()
        staff = db.session.query(User).filter_by(username="kefu").one()
        item = suggestions.post(neighbour, neighbour.residencies[0].unit, "facilities", "增设充电桩", "车棚里加几个充电桩", False, False, utcnow())
        today = datetime.now(timezone.utc).date()
        day = today + timedelta(days=(5 - today.weekday()) % 7 + 14)
        start = from_local(datetime(day.year, day.month, day.day, 9))
        forum = events.create(kind=EventType.FORUM, title="第四季度业主座谈会", description="听取业主意见", location="会议室", starts_at=start,
                              ends_at=start + timedelta(hours=2), capacity=1, seats_per_household=1, signup_deadline=None, buildings=[],
                              actor=staff, now=utcnow())
        first = events.sign_up(forum, neighbour, neighbour.residencies[0].unit, 1, utcnow())
        db.session.commit()
        return item.id, forum.id, first.id


def test_support_sign_up_waitlist_and_promotion(browser, live):
    suggestion_id, forum_id, neighbour_signup = _setup(live.app)
    base = live.url
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, locale="zh-CN")
    page = context.new_page()
    sign_in(page, base, "13800000001")

    page.goto(f"{base}/suggestions/{suggestion_id}")
    page.evaluate("window.__noReload = true")
    page.locator(f'form[action$="/suggestions/{suggestion_id}/support"] button').click()
    page.locator(f"#support-{suggestion_id} .tag-status").wait_for()
    assert page.evaluate("window.__noReload") is True  # supported in place
    assert page.locator(f"#support-{suggestion_id} strong").inner_text().strip() == "1 户支持"
    assert no_sideways_scroll(page)

    page.goto(f"{base}/events/{forum_id}")
    assert no_sideways_scroll(page)
    page.locator('form[action$="/signup"] button').click()
    page.wait_for_load_state()
    status = page.locator("#my-signup .flash strong").inner_text()
    assert status == "候补中"

    with live.app.app_context():
        events.cancel(db.session.get(EventSignup, neighbour_signup), utcnow())
        db.session.commit()
    page.goto(f"{base}/events/{forum_id}")
    status = page.locator("#my-signup .flash strong").inner_text()
    assert status == "已报名"
    with live.app.app_context():
        statuses = {s.user.phone: s.status for s in db.session.query(EventSignup).all()}
    assert statuses == {"13800000002": SignupStatus.CANCELLED, "13800000001": SignupStatus.CONFIRMED}
    page.goto(f"{base}/events/")
    assert page.locator("#event-list li.ticket .title").all_inner_texts() == ["第四季度业主座谈会"]
    assert no_sideways_scroll(page)
    context.close()
