import time

from portal.extensions import db
from portal.models import Role, UserSession
from tests.conftest import PASSWORD, PortalClient
from tests.markup import element, text_of


def _cookie(client):
    cookie = client.http.get_cookie("session")
    return cookie.value if cookie else None


def test_login_with_phone_number_or_username(client, make_user, make_client):
    resident = make_user()
    staff = make_user(role=Role.STAFF)
    signed_in = client.post("/auth/login", {"identifier": resident.phone, "password": PASSWORD})
    assert signed_in.status_code == 302 and signed_in.headers["Location"] == "/"
    assert client.get("/account/").status_code == 200
    other = make_client()
    assert other.post("/auth/login", {"identifier": staff.username, "password": PASSWORD}).status_code == 302
    assert text_of(other.get("/"), "h1") == f"{staff.name}，您好"


def test_wrong_password_is_explained_in_chinese_and_keeps_the_identifier(client, make_user):
    resident = make_user()
    response = client.post("/auth/login", {"identifier": resident.phone, "password": "nope"})
    assert response.status_code == 200 and text_of(response, "#password-error") == "手机号码、用户名或密码错误。"
    assert element(response, "input#identifier").get("value") == resident.phone
    assert element(response, "input#password").get("value") in (None, "")  # the password is not sent back


def test_failed_logins_are_limited_per_account(client, make_user, make_client):
    resident = make_user()
    for _ in range(5):
        client.post("/auth/login", {"identifier": resident.phone, "password": "wrong"})
    # even the right password is refused now, from another address too
    other = make_client()
    response = other.http.post(
        "/auth/login",
        data={"identifier": resident.phone, "password": PASSWORD, "csrf_token": other.csrf_token()},
        environ_base={"REMOTE_ADDR": "10.9.9.9"},
    )
    assert response.status_code == 429 and text_of(response, "#password-error") == "失败次数过多，请 15 分钟后再试。"


def test_failed_logins_are_limited_per_address(client, make_user):
    users = [make_user() for _ in range(6)]
    for user in users[:5]:
        client.post("/auth/login", {"identifier": user.phone, "password": "wrong"})
    response = client.post("/auth/login", {"identifier": users[5].phone, "password": PASSWORD})
    assert response.status_code == 429 and text_of(response, "#password-error") == "失败次数过多，请 15 分钟后再试。"


def test_session_rotates_at_login_and_dies_at_logout(client, make_user, app):
    resident = make_user()
    client.get("/auth/login")
    before = _cookie(client)
    client.login(resident)
    after = _cookie(client)
    assert before != after
    assert client.get("/notices/").status_code == 200
    client.logout()
    # replaying the signed-in cookie no longer works
    thief = PortalClient(app)
    thief.http.set_cookie("session", after)
    response = thief.get("/notices/")
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]


def test_password_change_signs_out_other_devices(client, make_user, make_client):
    resident = make_user()
    phone = make_client()
    phone.login(resident)
    client.login(resident)
    response = client.post("/account/password", {"current": PASSWORD, "new": "new-password-9", "confirm": "new-password-9"})
    assert response.status_code == 302
    assert client.get("/notices/").status_code == 200  # this browser stays signed in
    assert phone.get("/notices/").status_code == 302  # the other one is out
    assert db.session.query(UserSession).count() == 1


def test_password_change_rejects_wrong_current_password(client, make_user):
    client.login(make_user())
    response = client.post("/account/password", {"current": "bad", "new": "new-password-9", "confirm": "new-password-9"})
    assert response.status_code == 200 and text_of(response, "#current-error") == "当前密码不正确。"


def test_staff_session_times_out_when_idle(client, make_user, app):
    client.login(make_user(role=Role.STAFF))
    assert client.get("/").status_code == 200
    with client.http.session_transaction() as session:
        session["seen"] = int(time.time()) - app.config["STAFF_IDLE_MINUTES"] * 60 - 5
    response = client.get("/")
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]
    assert client.get("/").headers["Location"].endswith("/auth/login")


def test_resident_session_does_not_time_out_when_idle(client, make_user, app):
    client.login(make_user())
    with client.http.session_transaction() as session:
        session["seen"] = int(time.time()) - 10 * 3600
    assert client.get("/notices/").status_code == 200


def test_next_is_followed_only_to_same_site_paths(client, make_user, make_client):
    resident = make_user()
    response = client.post("/auth/login", {"identifier": resident.phone, "password": PASSWORD, "next": "/account/"})
    assert response.headers["Location"] == "/account/"
    for evil in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        other = make_client()
        response = other.post("/auth/login", {"identifier": resident.phone, "password": PASSWORD, "next": evil})
        assert response.headers["Location"] == "/", evil


def test_deactivated_person_cannot_sign_in_and_is_signed_out(client, make_user, make_client):
    resident = make_user()
    client.login(resident)
    resident.is_active = False
    db.session.commit()
    assert client.get("/notices/").status_code == 302
    response = make_client().post("/auth/login", {"identifier": resident.phone, "password": PASSWORD})
    assert response.status_code == 200 and text_of(response, "#password-error") == "手机号码、用户名或密码错误。"


def test_preferences_keep_a_bad_email_and_say_why(client, make_user):
    resident = make_user()
    client.login(resident)
    response = client.post("/account/", {"language": "zh_Hans", "email": "not-an-address"})
    assert response.status_code == 422 and element(response, "input#email").get("value") == "not-an-address"
    assert text_of(response, "#email-error") == "请输入有效的电子邮箱。"
    db.session.refresh(resident)
    assert resident.email is None
    assert client.post("/account/", {"language": "en", "email": "me@example.com"}).status_code == 302
    db.session.refresh(resident)
    assert resident.email == "me@example.com" and resident.language == "en"
