from unittest import mock

from sqlalchemy.exc import OperationalError

from portal.extensions import db
from portal.models import Role


def test_healthz_answers_200_with_the_database_reachable(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json["status"] == "ok"


def test_healthz_answers_503_when_the_database_is_unreachable(client):
    with mock.patch.object(db.session, "execute", side_effect=OperationalError("SELECT 1", {}, Exception("down"))):
        response = client.get("/healthz")
    assert response.status_code == 503


def test_pages_carry_security_headers(client):
    response = client.get("/auth/login")
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_session_cookie_is_httponly_and_samesite(client, make_user):
    user = make_user()
    response = client.login(user)
    cookie = response.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_interface_is_chinese_by_default_and_english_on_request(client):
    assert "登录" in client.get("/auth/login").get_data(as_text=True)
    client.post("/language", {"lang": "en", "next": "/auth/login"})
    assert "Sign in" in client.get("/auth/login").get_data(as_text=True)


def test_language_choice_is_remembered_per_user(client, make_user):
    user = make_user()
    client.login(user)
    client.post("/language", {"lang": "en", "next": "/"})
    db.session.refresh(user)
    assert user.language == "en"
    other = client.__class__(client.app)
    other.login(user)
    assert "Notice board" in other.get("/notices/").get_data(as_text=True)


def test_unknown_page_is_a_friendly_404_in_chinese(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert "不存在" in response.get_data(as_text=True)


def test_post_without_csrf_token_is_refused(client, make_user):
    user = make_user()
    client.login(user)
    response = client.post("/language", {"lang": "en"}, csrf=False)
    assert response.status_code == 400


def test_staff_home_shows_for_back_office(client, make_user):
    staff = make_user(role=Role.STAFF)
    client.login(staff)
    response = client.get("/")
    assert response.status_code == 200
    assert staff.name in response.get_data(as_text=True)


def test_resident_home_is_the_notice_board(client, make_user):
    client.login(make_user())
    response = client.get("/")
    assert response.status_code == 302 and response.headers["Location"].endswith("/notices/")


def test_first_load_of_a_resident_page_is_under_100_kb_gzipped(client, make_user, make_notice):
    import gzip
    import re as _re

    for i in range(30):
        make_notice(title=f"公告标题比较长的一条通知第{i}号")
    client.login(make_user())
    page = client.get("/notices/")
    total = len(gzip.compress(page.data))
    for asset in _re.findall(r'(?:href|src)="(/static/[^"]+)"', page.get_data(as_text=True)):
        response = client.get(asset)
        assert response.status_code == 200, asset
        total += len(gzip.compress(response.data))
        response.close()
    assert total < 100 * 1024


def test_htmx_post_needs_the_csrf_header(client, make_user, make_notice):
    notice = make_notice()
    client.login(make_user())
    refused = client.post(f"/notices/{notice.id}/questions", {"body": "问"}, headers={"HX-Request": "true"}, csrf=False)
    assert refused.status_code == 400
    accepted = client.post(
        f"/notices/{notice.id}/questions", {"body": "问"}, headers={"HX-Request": "true", "X-CSRFToken": client.csrf_token()}, csrf=False
    )
    assert accepted.status_code == 200
