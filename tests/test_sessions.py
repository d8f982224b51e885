"""The session cookie (portal/sessions.py): written faster than Flask's own interface writes it,
read the same way by both, whatever the session holds."""
import time

import pytest
from flask.sessions import SecureCookieSessionInterface
from markupsafe import Markup

from portal.sessions import Sessions

SESSIONS = [
    {"_user_id": "t" * 43, "_fresh": True, "csrf_token": "c" * 40, "seen": 1764934000},  # what a signed-in browser holds
    {"_user_id": "令牌", "lang": "zh", "flags": ["a", 1, None, True]},
    {"_flashes": [("info", "已保存")], "csrf_token": "c" * 40},  # tuples: Flask's tagged form
    {"m": Markup("<b>x</b>"), "n": None},
    {" t": ["a"]},  # a key that looks like one of Flask's tags
    {"long": "重复的内容" * 200},  # compressed
]


@pytest.mark.parametrize("data", SESSIONS)
def test_a_cookie_written_here_reads_back_here_and_in_flask_and_the_other_way(app, data):
    ours, flasks = Sessions().get_signing_serializer(app), SecureCookieSessionInterface().get_signing_serializer(app)
    with app.app_context():
        written = ours.dumps(data)
        assert ours.loads(written) == data and flasks.loads(written) == data
        assert ours.loads(flasks.dumps(data)) == data


def test_a_plain_session_is_the_same_json_flask_writes_and_a_long_one_is_compressed(app):
    ours, flasks = Sessions().get_signing_serializer(app), SecureCookieSessionInterface().get_signing_serializer(app)
    with app.app_context():
        for data in SESSIONS:
            assert ours.serializer.dumps(data) == flasks.serializer.dumps(data)
        assert ours.dumps(SESSIONS[-1]).startswith(".") and len(ours.dumps(SESSIONS[-1])) < 1000
        assert not ours.dumps(SESSIONS[0]).startswith(".")  # a few hundred bytes: not worth zlib


def test_the_signing_serializer_is_made_once_per_secret_and_a_forged_cookie_is_refused(app):
    sessions = Sessions()
    first = sessions.get_signing_serializer(app)
    assert sessions.get_signing_serializer(app) is first
    with app.app_context():
        good = first.dumps({"seen": int(time.time())})
        assert sessions.verified(app, good) == {"seen": pytest.approx(time.time(), abs=5)}
        assert sessions.verified(app, good[:-2] + ("AA" if not good.endswith("AA") else "BB")) is None
        secret, app.secret_key = app.secret_key, "another secret"
        try:
            assert sessions.get_signing_serializer(app) is not first
        finally:
            app.secret_key = secret


def test_a_page_read_with_the_session_varies_with_the_cookie_and_sets_none_unless_it_changed(client, make_client, make_user):
    """The unchanged session's fast way out (Sessions.save_session) says what Flask's says."""
    client.login(make_user())
    client.get("/notices/")  # (the first page after signing in makes the CSRF secret: a changed session)
    kept = client.get("/notices/")
    assert kept.status_code == 200 and "Set-Cookie" not in kept.headers
    assert [v.strip() for v in kept.headers["Vary"].split(",")].count("Cookie") == 1 and "HX-Request" in kept.headers["Vary"]
    plain = client.get("/notifications/")  # a page made per request, with no Vary of its own
    assert plain.status_code == 200 and "Set-Cookie" not in plain.headers and "Cookie" in plain.headers["Vary"]
    anonymous = make_client().get("/auth/login")
    assert anonymous.status_code == 200 and "Set-Cookie" in anonymous.headers  # the CSRF secret: a changed session is written
    assert "Cookie" in anonymous.headers["Vary"]


@pytest.mark.parametrize("permanent", [True, False])
def test_a_changed_session_sets_the_cookie_flask_would_set(app, permanent):
    """Sessions.save_session writes a changed session with the same Set-Cookie attributes and
    Vary as Flask's own interface, from the same config."""
    from flask import Response

    def written(interface):
        with app.test_request_context("/"):
            session = interface.session_class({"_user_id": "t", "seen": 1})
            session.permanent = permanent
            session.modified = session.accessed = True
            response = Response("x")
            response.headers["Vary"] = "HX-Request"
            interface.save_session(app, session, response)
            cookie = response.headers["Set-Cookie"]
            return cookie.split(";", 1)[1], response.headers["Vary"], interface.get_signing_serializer(app).loads(cookie.split(";")[0].split("=", 1)[1])

    ours, flasks = written(Sessions()), written(SecureCookieSessionInterface())
    assert ours[1] == flasks[1] == "HX-Request, Cookie"
    assert ours[2] == flasks[2] == {"_user_id": "t", "seen": 1, "_permanent": permanent}
    strip = lambda attrs: [a.strip() for a in attrs.split(";") if not a.strip().startswith("Expires=")]  # noqa: E731
    assert strip(ours[0]) == strip(flasks[0]) and ("Expires=" in ours[0]) == ("Expires=" in flasks[0]) == permanent


@pytest.mark.parametrize("key", [b"", b"k", b"k" * 20, b"k" * 64, b"k" * 65, bytes(range(200))])
def test_the_signature_is_hmac_sha1_for_every_key_length(key):
    """_HMACSHA1 (one C call) signs as itsdangerous's HMACAlgorithm does, whatever the key's length."""
    import hashlib

    from itsdangerous.signer import HMACAlgorithm

    from portal.sessions import _HMACSHA1

    for value in (b"", b"eyJzZWVuIjoxfQ.ZzA", "重复".encode() * 100):
        assert _HMACSHA1().get_signature(key, value) == HMACAlgorithm(hashlib.sha1).get_signature(key, value)


def test_the_expiry_of_a_permanent_session_is_flasks_to_the_second(app):
    """The Expires text, formatted once a second, is the one Flask's interface writes for the same moment."""
    from flask import Response

    from portal.sessions import _http_date

    with app.test_request_context("/"):
        interface = Sessions()
        session = interface.session_class({"_user_id": "t"})
        session.permanent = session.modified = True
        response = Response("x")
        before = interface.get_expiration_time(app, session)
        interface.save_session(app, session, response)
        after = interface.get_expiration_time(app, session)
    written = [a.strip() for a in response.headers["Set-Cookie"].split(";") if a.strip().startswith("Expires=")][0]
    from werkzeug.http import http_date
    assert written[len("Expires="):] in {http_date(before), http_date(after)}
    assert _http_date(int(before.timestamp())) == http_date(before)
