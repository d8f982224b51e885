"""The database away: every request that cannot reach it gets the portal's own 503 page, made
without the database, the signed-in person or the cache; every other error page still answers;
the lobby screens, the polls, /healthz and the worker behave; and everything works again when the
database is back, without a new app."""
import re

import pytest
from flask import abort
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Role, Ticket, utcnow
from portal.services import kiosk, settings
from tests.outage import Outage

NAME = "欧阳明远"


@pytest.fixture
def outage(app):
    down = Outage(db.engine)
    yield down
    down.end()


@pytest.fixture
def resident(client, make_user):
    user = make_user(name=NAME)
    client.login(user)
    return user


def _page(response):
    return response.get_data(as_text=True)


def _is_plain(page):
    """The page made without the database: no menu (sign-out form), bell or banner, nobody's name."""
    return NAME not in page and "/auth/logout" not in page and 'id="bell"' not in page and "emergency-banner" not in page


def test_a_signed_in_page_answers_the_portals_own_503_page(client, resident, outage):
    assert client.get("/notices/").status_code == 200
    outage.begin()
    response = client.get("/notices/")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "30"
    assert response.headers["Cache-Control"] == "no-store"
    page = _page(response)
    assert '<html lang="zh-CN">' in page
    assert "<h1>服务暂时不可用</h1>" in page
    assert "服务暂时不可用，请一分钟后再试。" in page
    assert _is_plain(page)
    assert 'href="tel:400-800-1234"' in page


def test_the_503_page_shows_the_hotline_as_last_read_from_the_settings(client, resident, outage):
    settings.update({"hotline": "0571-8765 4321"}, None)
    db.session.commit()
    client.get("/notices/")  # this process reads the settings
    outage.begin()
    page = _page(client.get("/tickets/"))
    assert 'href="tel:0571-8765 4321"' in page


def test_before_any_settings_were_read_the_503_page_shows_portal_hotline(app, client, make_building, outage):
    screen = kiosk.create(make_building(), "大堂", "landscape", 12, 30, None, None, utcnow())
    db.session.commit()
    secret = screen.secret
    app.config["HOTLINE"] = "0571-1111 2222"
    outage.begin()
    response = client.get(f"/kiosk/{secret}/slides")
    assert response.status_code == 503
    assert 'href="tel:0571-1111 2222"' in _page(response)


def test_the_503_page_speaks_the_language_the_person_chose(client, make_user, outage):
    client.login(make_user(name=NAME, language="en"))
    outage.begin()
    page = _page(client.get("/notices/"))
    assert '<html lang="en">' in page
    assert "<h1>Service briefly unavailable</h1>" in page
    assert _is_plain(page)


@pytest.mark.parametrize("accept, lang", [("en-GB,en;q=0.9", "en"), ("zh-CN,zh;q=0.9,en;q=0.8", "zh-CN"), ("fr-FR", "zh-CN"), (None, "zh-CN")])
def test_a_browser_without_a_language_chosen_gets_the_503_page_in_its_own_or_chinese(client, make_building, outage, accept, lang):
    screen = kiosk.create(make_building(), "大堂", "landscape", 12, 30, None, None, utcnow())
    db.session.commit()
    secret = screen.secret
    outage.begin()
    response = client.get(f"/kiosk/{secret}/slides", headers={"Accept-Language": accept} if accept else {})
    assert response.status_code == 503
    assert f'<html lang="{lang}">' in _page(response)


def test_a_form_sent_while_the_database_is_away_is_not_saved_and_says_so(client, resident, outage):
    form = {"category": "repair", "unit_id": resident.residencies[0].unit_id, "description": "厨房水管漏水", "idempotency_key": "a" * 32}
    token = client.csrf_token()
    outage.begin()
    response = client.post("/tickets/new", {**form, "csrf_token": token})
    assert response.status_code == 503
    page = _page(response)
    assert "您提交的内容没有保存。" in page and "请返回表单：您填写的内容还在" in page
    assert "portal_saved" not in response.headers.get("Set-Cookie", "")
    outage.end()
    again = client.post("/tickets/new", form)
    assert again.status_code == 302
    assert db.session.scalar(select(func.count(Ticket.id))) == 1


def test_an_htmx_form_gets_the_message_alone(client, resident, outage):
    token = client.csrf_token()
    outage.begin()
    response = client.post("/chat/", {"body": "有人吗", "csrf_token": token, "idempotency_key": "b" * 32}, headers={"HX-Request": "true"})
    assert response.status_code == 503
    page = _page(response)
    assert page.lstrip().startswith('<div class="unavailable" role="alert">') and "<html" not in page
    assert "您提交的内容没有保存。" in page


# Every error page, with the database away


@pytest.fixture
def error_routes(app, outage):
    """/test-errors/<code> fails with that code (500: a bug), after the database went away if
    ?away=1 (added before the app's first request)."""

    def fail(code):
        from flask import request

        if request.args.get("away"):
            outage.begin()
        if code == 500:
            raise RuntimeError("a bug")
        abort(code)

    app.add_url_rule("/test-errors/<int:code>", "test_fail", fail)
    app.config["PROPAGATE_EXCEPTIONS"] = False  # the 500 page, as in production
    app.config["MAX_CONTENT_LENGTH"] = 1000
    return app


MESSAGES = {
    400: "表单已过期。请返回并刷新页面后重新提交。",
    403: "此处无法执行该操作。",
    404: "该页面不存在，或您无权查看。",
    405: "此处无法执行该操作。",
    413: "上传的文件过大：每个文件不得超过 5.0 MB。",
    422: "无法识别该请求，请检查您填写的内容。",
    429: "尝试次数过多，请稍后再试。",
    500: "系统出现问题，请重试；如仍无法解决，请拨打服务热线。",
}
# Those a request meets before any page is looked for: no route, a wrong method, a form too large or expired.
EARLY = {404: ("GET", "/no-such-page", {}), 405: ("GET", "/auth/logout", {}), 413: ("POST", "/tickets/new", {"data": {"body": "x" * 2000}}),
         400: ("POST", "/tickets/new", {"data": {"description": "漏水"}})}


def _message(page):
    return re.search(r"<h1>[0-9]{3}</h1>\s*<p>(.*?)</p>", page, re.S).group(1).strip()


@pytest.mark.parametrize("code", sorted(MESSAGES))
def test_every_error_page_answers_an_anonymous_browser_with_the_database_away(error_routes, client, outage, code):
    method, path, kw = EARLY.get(code, ("GET", f"/test-errors/{code}", {}))
    outage.begin()
    response = client.http.open(path, method=method, **kw)
    assert response.status_code == code
    assert _message(_page(response)) == MESSAGES[code]


@pytest.mark.parametrize("code", sorted(EARLY))
def test_a_signed_in_browser_gets_the_plain_error_page_when_the_database_is_away(error_routes, client, resident, outage, code):
    method, path, kw = EARLY[code]
    outage.begin()
    client._fresh_request_globals()
    response = client.http.open(path, method=method, **kw)
    assert response.status_code == code
    page = _page(response)
    assert _is_plain(page) and _message(page) == MESSAGES[code]


@pytest.mark.parametrize("code", [403, 404, 422, 429, 500])
def test_every_error_page_answers_when_the_database_goes_away_during_the_request(error_routes, client, resident, outage, code):
    response = client.get(f"/test-errors/{code}?away=1")
    assert response.status_code == code
    assert _message(_page(response)) == MESSAGES[code]


def test_with_the_database_back_error_pages_have_the_whole_layout_again(error_routes, client, resident, outage):
    outage.begin()
    assert _is_plain(_page(client.get("/no-such-page")))
    outage.end()
    page = _page(client.get("/no-such-page"))
    assert "/auth/logout" in page and _message(page) == MESSAGES[404]


def test_a_signed_in_request_for_a_page_gets_503_when_the_person_cannot_be_loaded(error_routes, client, resident, outage):
    outage.begin()
    assert client.get("/test-errors/404").status_code == 503


def test_a_crash_that_is_the_database_going_away_is_the_503_page(error_routes, client, resident, outage):
    """Even past the handlers (an error in an after-request function): the 500 page sees the cause."""
    from portal import errors
    from sqlalchemy.exc import OperationalError

    with error_routes.test_request_context("/notices/"):
        from werkzeug.exceptions import InternalServerError

        failure = InternalServerError(original_exception=OperationalError("SELECT 1", {}, Exception("server closed the connection")))
        response = errors.server_error(failure)
    assert response.status_code == 503 and response.headers["Retry-After"] == "30"


# What keeps working, and coming back


def test_healthz_answers_503_while_the_database_is_away_and_200_when_it_is_back(client, outage):
    assert client.get("/healthz").status_code == 200
    outage.begin()
    response = client.get("/healthz")
    assert response.status_code == 503 and response.json == {"status": "unavailable"}
    outage.end()
    assert client.get("/healthz").json == {"status": "ok"}


def test_pages_work_again_when_the_database_is_back_without_a_new_app(client, resident, outage):
    assert client.get("/notices/").status_code == 200
    outage.begin()
    assert client.get("/notices/").status_code == 503
    assert client.get("/tickets/").status_code == 503
    outage.end()
    assert client.get("/notices/").status_code == 200
    page = _page(client.get("/tickets/new"))
    assert "/auth/logout" in page


def test_the_first_requests_after_a_database_restart_do_not_fail(client, resident, outage):
    """Every open connection died with the restart (the session's pool and this thread's reader):
    the pool checks each before use and the reader reconnects once, so nobody sees the 503."""
    if not outage.postgresql:
        pytest.skip("PostgreSQL only: an in-memory SQLite database has no server to restart")
    assert client.get("/notices/").status_code == 200
    from tests.outage import terminate_others

    terminate_others(db.engine)
    assert client.get("/notices/").status_code == 200
    assert client.get("/tickets/").status_code == 200


def test_a_lobby_screens_poll_fails_softly_and_its_page_retries_by_itself(client, make_building, make_notice, outage):
    """kiosk.js keeps showing its last slides (marked offline) on any answer but 200, 304 and 404."""
    screen = kiosk.create(make_building(), "大堂", "landscape", 12, 30, None, None, utcnow())
    db.session.commit()
    secret = screen.secret
    make_notice(title="停水通知")
    first = client.get(f"/kiosk/{secret}/slides")
    assert first.status_code == 200
    outage.begin()
    poll = client.get(f"/kiosk/{secret}/slides", headers={"If-None-Match": first.headers["ETag"]})
    assert poll.status_code == 503 and poll.headers["Retry-After"] == "30"
    assert client.post(f"/kiosk/{secret}/alive").status_code == 503
    restarted = client.get(f"/kiosk/{secret}")  # a screen switched on while the database is away
    assert restarted.status_code == 503
    assert '<meta http-equiv="refresh" content="30">' in _page(restarted)
    outage.end()
    again = client.get(f"/kiosk/{secret}/slides", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304


def test_the_bells_poll_answers_503_while_the_database_is_away_and_304_when_it_is_back(client, resident, outage):
    first = client.get("/notifications/bell")
    assert first.status_code == 200
    outage.begin()
    assert client.get("/notifications/bell", headers={"If-None-Match": first.headers["ETag"]}).status_code == 503
    outage.end()
    assert client.get("/notifications/bell", headers={"If-None-Match": first.headers["ETag"]}).status_code == 304


def test_the_worker_fails_its_round_while_the_database_is_away_and_runs_the_next(app, make_user, outage):
    from portal.worker import run_round

    make_user(role=Role.STAFF)
    outage.begin()
    with pytest.raises(Exception) as failed:
        run_round()
    from portal.database import is_unavailable

    assert is_unavailable(failed.value)
    db.session.remove()  # as `flask worker` does after every round
    outage.end()
    counts = run_round()
    assert counts["sent"] == 0 and counts["failed"] == 0
