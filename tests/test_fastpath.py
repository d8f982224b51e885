"""Polls that find nothing new are answered by portal/fastpath.py, before Flask is reached."""
import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import Conversation, Role, utcnow
from portal.services import kiosk, settings


@pytest.fixture
def flask_calls(app):
    """Counts the requests that got past the fast path into Flask."""
    from portal.fastpath import FastPath

    calls = []
    fast = app.wsgi_app
    while not isinstance(fast, FastPath):  # inside the wrappers around it (hooks.SecurityHeaders)
        fast = fast.wsgi_app
    inner = fast.wsgi_app

    def spy(environ, start_response):
        calls.append(environ["PATH_INFO"])
        return inner(environ, start_response)

    fast.wsgi_app = spy
    yield calls
    fast.wsgi_app = inner


def _unchanged_poll_skips_flask(client, flask_calls, url, htmx=False):
    headers = {"HX-Request": "true"} if htmx else {}
    first = client.get(url, headers=headers)
    assert first.status_code == 200 and first.headers.get("ETag"), url
    flask_calls.clear()
    again = client.get(url, headers={**headers, "If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.get_data() == b"", url
    assert flask_calls == [], f"{url} reached Flask"
    assert again.headers["X-Content-Type-Options"] == "nosniff" and again.headers["X-Frame-Options"] == "DENY", url


def test_a_lobby_screens_unchanged_poll_never_reaches_flask(client, flask_calls, make_building, make_notice):
    screen = kiosk.create(make_building("1号楼"), "大堂", "landscape", 12, 30, None, None, utcnow())
    db.session.commit()
    make_notice(title="公告")
    _unchanged_poll_skips_flask(client, flask_calls, f"/kiosk/{screen.secret}/slides")


def test_a_residents_bell_list_and_chat_polls_never_reach_flask(client, flask_calls, make_user):
    settings.update({"chat_hours_start": "00:00", "chat_hours_end": "23:59"}, None)
    db.session.commit()
    client.login(make_user())
    client.post("/chat/", {"body": "有人吗"})
    conversation = db.session.scalar(select(Conversation))
    _unchanged_poll_skips_flask(client, flask_calls, "/notifications/bell")
    _unchanged_poll_skips_flask(client, flask_calls, "/notifications/", htmx=True)
    _unchanged_poll_skips_flask(client, flask_calls, f"/chat/{conversation.id}/messages", htmx=True)


def test_the_desks_queue_and_caller_screen_polls_never_reach_flask(client, flask_calls, make_user):
    client.login(make_user(role=Role.STAFF))
    _unchanged_poll_skips_flask(client, flask_calls, "/chat/", htmx=True)
    _unchanged_poll_skips_flask(client, flask_calls, "/telephony/", htmx=True)


def test_a_poll_with_a_stale_etag_or_another_persons_conversation_goes_to_flask(client, make_client, flask_calls, make_user):
    settings.update({"chat_hours_start": "00:00", "chat_hours_end": "23:59"}, None)
    db.session.commit()
    owner = make_client()
    owner.login(make_user())
    owner.post("/chat/", {"body": "有人吗"})
    conversation = db.session.scalar(select(Conversation))
    url = f"/chat/{conversation.id}/messages"
    tag = owner.get(url, headers={"HX-Request": "true"}).headers["ETag"]
    client.login(make_user())
    flask_calls.clear()
    assert client.get(url, headers={"HX-Request": "true", "If-None-Match": tag}).status_code == 404
    assert flask_calls == [url]
    flask_calls.clear()
    assert owner.get("/notifications/bell", headers={"If-None-Match": '"stale"'}).status_code == 200
    assert flask_calls == ["/notifications/bell"]
