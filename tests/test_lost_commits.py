"""Forms that create something carry an idempotency key: the same form sent twice (a double
click, a retry after a timeout or a 503) creates one row and answers with it; and a commit whose
answer was lost (the connection died after the COMMIT was sent) is resolved by looking the key up
on a fresh connection: answered as the success it was, never reported as a failure."""
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.i18n import from_local
from portal.models import ChatMessage, CommRecord, EventSignup, Role, Suggestion, Ticket, TicketChannel, TicketEvent, utcnow
from portal.services import events, settings, tickets
from tests.outage import Outage, lose_commit_answers

KEY = "5f0e8c1d2a9b47c3be6d1f2a3b4c5d6e"


def _count(model, key=KEY):
    db.session.expire_all()
    return db.session.scalar(select(func.count(model.id)).where(model.idempotency_key == key))


# What each form needs, what it creates, and what its success looks like


def _ticket_form(resident, **kw):
    return "/tickets/new", {"category": "repair", "unit_id": resident.residencies[0].unit_id, "description": "厨房水管漏水"}, {}, 302


def _suggestion_form(resident, **kw):
    return "/suggestions/new", {"topic": "facilities", "title": "增设充电桩", "body": "车棚里加几个充电桩"}, {}, 302


def _chat_form(resident, **kw):
    settings.update({"chat_hours_start": "00:00", "chat_hours_end": "23:59"}, None)
    db.session.commit()
    return "/chat/", {"body": "电梯又停了"}, {"HX-Request": "true"}, 200


def _question_form(resident, make_notice, **kw):
    notice = make_notice(title="周六停水")
    return f"/notices/{notice.id}/questions", {"body": "地下车库也停水吗？"}, {}, 302


def _signup_form(resident, make_user, **kw):
    today = utcnow().date()
    saturday = today + timedelta(days=(5 - today.weekday()) % 7 + 14)
    start = from_local(datetime(saturday.year, saturday.month, saturday.day, 9))  # an activity at the weekend, as the policy asks
    event = events.create(kind="activity", title="亲子手工", description="", location="中心广场", starts_at=start,
                          ends_at=start + timedelta(hours=2), capacity=10, seats_per_household=2, signup_deadline=None, buildings=[],
                          actor=make_user(role=Role.STAFF), now=utcnow())
    db.session.commit()
    return f"/events/{event.id}/signup", {"seats": "1"}, {}, 302


def _ticket_message_form(resident, **kw):
    ticket, _created = tickets.create(category="repair", channel=TicketChannel.ONLINE, description="卫生间漏水", actor=resident,
                                      now=utcnow(), resident=resident, unit=resident.residencies[0].unit)
    db.session.commit()
    return f"/tickets/{ticket.id}/message", {"body": "我周末在家"}, {}, 302


FORMS = {
    "ticket": (_ticket_form, Ticket),
    "suggestion": (_suggestion_form, Suggestion),
    "chat message": (_chat_form, ChatMessage),
    "notice question": (_question_form, Ticket),
    "event sign-up": (_signup_form, EventSignup),
    "ticket message": (_ticket_message_form, TicketEvent),
}


@pytest.fixture
def resident(client, make_user):
    user = make_user()
    client.login(user)
    return user


@pytest.fixture
def form(request, resident, make_notice, make_user):
    make, model = FORMS[request.param]
    path, data, headers, success = make(resident, make_notice=make_notice, make_user=make_user)
    return path, {**data, "idempotency_key": KEY}, headers, success, model


@pytest.mark.parametrize("form", FORMS, indirect=True)
def test_a_commit_whose_answer_was_lost_is_answered_as_the_success_it_was(client, form):
    path, data, headers, success, model = form
    with lose_commit_answers(db.engine) as lost:
        response = client.post(path, data, headers=headers)
    assert lost == [True]  # the COMMIT happened, and its answer never came
    assert response.status_code == success
    assert f"portal_saved={KEY}" in response.headers.get("Set-Cookie", "")  # the browser may forget its draft
    assert _count(model) == 1


@pytest.mark.parametrize("form", FORMS, indirect=True)
def test_the_same_form_sent_again_creates_nothing_more_and_answers_with_the_first(client, form):
    path, data, headers, success, model = form
    first = client.post(path, data, headers=headers)
    again = client.post(path, data, headers=headers)
    assert first.status_code == again.status_code == success
    if success == 302:
        assert again.headers["Location"] == first.headers["Location"]
    assert _count(model) == 1


@pytest.mark.parametrize("form", ["ticket"], indirect=True)
def test_a_commit_that_did_not_happen_says_not_saved_and_the_form_sent_again_saves_once(client, form):
    path, data, headers, success, model = form
    with lose_commit_answers(db.engine, applied=False) as lost:
        response = client.post(path, data, headers=headers)
    assert lost == [False]
    assert response.status_code == 503
    page = response.get_data(as_text=True)
    assert "您提交的内容没有保存。" in page and "portal_saved" not in response.headers.get("Set-Cookie", "")
    assert _count(model) == 0
    assert client.post(path, data, headers=headers).status_code == success
    assert _count(model) == 1


@pytest.mark.parametrize("form", ["ticket"], indirect=True)
def test_when_nobody_can_tell_the_page_says_so_and_sending_again_cannot_register_twice(app, client, form):
    path, data, headers, success, model = form
    outage = Outage(db.engine)
    try:
        with lose_commit_answers(db.engine, then=outage.begin) as lost:
            response = client.post(path, data, headers=headers)
    finally:
        outage.end()
    assert lost == [True]
    assert response.status_code == 503
    page = response.get_data(as_text=True)
    assert "暂时无法确认您提交的内容是否已保存。" in page and "不会重复登记" in page
    again = client.post(path, data, headers=headers)
    assert again.status_code == success
    assert _count(model) == 1


def test_a_lost_answer_to_a_change_of_something_made_from_a_form_long_ago_is_not_taken_for_success(client, make_user):
    """The ticket carries the key of the form that made it; a note added to it later proves nothing by that key."""
    staff = make_user(role=Role.STAFF)
    resident = make_user()
    ticket, _created = tickets.create(category="repair", channel=TicketChannel.ONLINE, description="卫生间漏水", actor=resident,
                                      now=utcnow(), resident=resident, unit=resident.residencies[0].unit, idempotency_key=KEY)
    db.session.commit()
    ticket_id = ticket.id
    client.login(staff)
    with lose_commit_answers(db.engine, applied=False) as lost:
        response = client.post(f"/tickets/{ticket_id}/note", {"body": "已联系维修班组"})
    assert lost == [False]
    assert response.status_code == 503
    assert "暂时无法确认您提交的内容是否已保存。" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.scalar(select(func.count(TicketEvent.id)).where(TicketEvent.ticket_id == ticket_id, TicketEvent.body == "已联系维修班组")) == 0


def test_a_staff_record_sent_twice_is_filed_once(client, make_user):
    client.login(make_user(role=Role.STAFF))
    data = {"kind": "visit", "content": "走访3栋住户，了解电梯噪音", "event_id": "0", "idempotency_key": KEY}
    with lose_commit_answers(db.engine) as lost:
        first = client.post("/records/new", data)
    again = client.post("/records/new", data)
    assert lost == [True]
    assert first.status_code == again.status_code == 302
    assert _count(CommRecord) == 1


def test_a_key_that_is_not_one_is_replaced_by_a_fresh_one(client, resident):
    data = {"category": "repair", "unit_id": resident.residencies[0].unit_id, "description": "漏水", "idempotency_key": "<script>"}
    assert client.post("/tickets/new", data).status_code == 302
    assert client.post("/tickets/new", data).status_code == 302
    db.session.expire_all()
    keys = db.session.scalars(select(Ticket.idempotency_key)).all()
    assert len(keys) == 2 and len(set(keys)) == 2 and all(len(k) == 32 for k in keys)


def test_the_form_carries_its_key_and_a_form_refused_keeps_it(client, resident):
    page = client.get("/tickets/new").get_data(as_text=True)
    assert '<input name="idempotency_key" type="hidden" value="' in page
    refused = client.post("/tickets/new", {"category": "repair", "unit_id": resident.residencies[0].unit_id, "description": "",
                                           "idempotency_key": KEY})
    assert refused.status_code == 422
    assert f'<input name="idempotency_key" type="hidden" value="{KEY}">' in refused.get_data(as_text=True)
