"""Flask's signed-cookie sessions, with each cookie's signature checked once per process.

The cookie only carries the server-side session's token (services/auth.py), the CSRF secret and
a few marks; every request of a signed-in browser sends the same bytes until something in it
changes. Verifying the signature and decoding it costs more than the rest of a cached page, so a
cookie this process has verified is remembered (bounded, by its exact value) and only its age is
checked again. A changed or forged cookie is a different value and is verified in full.

Writing one (at sign-in, and when a staff session's "seen" time moves, once a minute) signs it
with one serializer per secret, made once, and a session of plain values (text, numbers, lists of
them: what it almost always holds) as the same compact, key-sorted JSON Flask's tagged serializer
writes for it, without tagging each value first; anything else (a flash message's tuple, Markup)
goes through Flask's serializer; it is signed with HMAC-SHA1 in one C call, its key derived
once per secret; and it is compressed only above COMPRESS_ABOVE bytes (itsdangerous compresses
every payload: setting zlib up costs more than all the rest of the signing, to save a hundred
bytes of a few-hundred-byte cookie). The cookies read the same way, here and by Flask's own
interface.
"""
import functools
import hashlib
import hmac
import json
import threading
import time
import zlib
from collections import OrderedDict

from flask.sessions import SecureCookieSessionInterface, session_json_serializer
from itsdangerous import BadSignature, Serializer, TimestampSigner, URLSafeTimedSerializer
from itsdangerous.encoding import base64_encode, want_bytes
from itsdangerous.signer import HMACAlgorithm
from werkzeug.http import dump_cookie, http_date, parse_cookie

REMEMBERED = 10_000
COMPRESS_ABOVE = 1024
_SCALARS = (str, int, bool, type(None))


def _plain(value):
    return type(value) in _SCALARS or (type(value) is list and all(type(item) in _SCALARS for item in value))


def _plain_session(value):
    """A dict of plain values under ordinary keys (one loop: it is asked on every cookie written)."""
    if type(value) is not dict:
        return False
    for key, item in value.items():
        if type(key) is not str or key[:1] == " " or not _plain(item):
            return False
    return True


# What json.dumps(value, separators=(",", ":"), sort_keys=True) writes, without making an encoder per call.
_compact_json = json.JSONEncoder(separators=(",", ":"), sort_keys=True).encode


@functools.lru_cache(maxsize=2)
def _http_date(seconds):
    """A cookie's Expires text: the same second's is formatted once."""
    return http_date(seconds)


@functools.lru_cache(maxsize=4096)
def _cookie(header, name):
    """The value of cookie `name` in a Cookie header: a browser sends the same header each time."""
    return parse_cookie(header).get(name)


def _vary_cookie(response):
    """response.vary.add("Cookie"), without parsing the header into a set and back."""
    vary = response.headers.get("Vary")
    if not vary:
        response.headers["Vary"] = "Cookie"
    elif "cookie" not in (v.strip().lower() for v in vary.split(",")):
        response.headers["Vary"] = f"{vary}, Cookie"


class _PlainFirst:
    """Flask's session serializer, writing plain sessions directly (see the module's docstring)."""

    def dumps(self, value):
        if _plain_session(value):
            return _compact_json(value)
        return session_json_serializer.dumps(value)

    def loads(self, value):
        return session_json_serializer.loads(value)


class _HMACSHA1(HMACAlgorithm):
    """HMAC-SHA1, the session's signature, in one call to the C implementation (itsdangerous
    builds it from Python objects around hashlib.sha1): the same bytes."""

    def __init__(self):
        super().__init__(hashlib.sha1)

    def get_signature(self, key, value):
        return hmac.digest(key, value, "sha1")


class _Signer(TimestampSigner):
    """The timestamp signer with its derived key worked out once per secret, not per signature."""

    _derived = {}

    def derive_key(self, secret_key=None):
        secret = self.secret_keys[-1] if secret_key is None else want_bytes(secret_key)
        key = (secret, self.salt, self.key_derivation)
        found = self._derived.get(key)
        if found is None:
            found = self._derived[key] = super().derive_key(secret_key)
        return found


class _Signing(URLSafeTimedSerializer):
    default_signer = _Signer

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._signers = {}

    def make_signer(self, salt=None):
        """One signer per salt (a signer keeps nothing of what it signed; itsdangerous makes one per cookie)."""
        found = self._signers.get(salt)
        if found is None:
            found = self._signers[salt] = super().make_signer(salt)
        return found

    def dump_payload(self, obj):
        json_bytes = Serializer.dump_payload(self, obj)  # (the JSON, without the URL-safe mixin's compression)
        if len(json_bytes) > COMPRESS_ABOVE:  # (read back by the mixin's load_payload either way)
            compressed = zlib.compress(json_bytes)
            if len(compressed) < len(json_bytes) - 1:
                return b"." + base64_encode(compressed)
        return base64_encode(json_bytes)


class Sessions(SecureCookieSessionInterface):
    serializer = _PlainFirst()

    def __init__(self):
        self._verified = OrderedDict()  # cookie value -> (data, signed at)
        self._lock = threading.Lock()
        self._serializers = {}  # (secret, fallbacks) -> the signing serializer

    def get_signing_serializer(self, app):
        if not app.secret_key:
            return None
        fallbacks = tuple(app.config["SECRET_KEY_FALLBACKS"] or ())
        found = self._serializers.get((app.secret_key, fallbacks))
        if found is None:
            found = _Signing(
                [*fallbacks, app.secret_key], salt=self.salt, serializer=self.serializer,  # the current key last, as Flask does
                signer_kwargs={"key_derivation": self.key_derivation, "digest_method": hashlib.sha1, "algorithm": _HMACSHA1()})
            self._serializers[(app.secret_key, fallbacks)] = found
        return found

    def verified(self, app, value):
        """The session data in a cookie value, or None if it is forged, malformed or too old."""
        max_age = app.permanent_session_lifetime.total_seconds()
        hit = self._verified.get(value)
        if hit is not None:
            data, signed_at = hit
            return data if time.time() - signed_at <= max_age else None
        serializer = self.get_signing_serializer(app)
        try:
            data, signed_at = serializer.loads(value, max_age=int(max_age), return_timestamp=True)
        except (BadSignature, ValueError, TypeError):
            return None
        if not isinstance(data, dict):
            return None
        with self._lock:
            self._verified[value] = (data, signed_at.timestamp())
            if len(self._verified) > REMEMBERED:
                self._verified.popitem(last=False)
        return data

    def save_session(self, app, session, response):
        """Flask's, without its header parsing: an unchanged session (nearly always) only says
        the page varies with the cookie, if it was read; a changed one is written as Flask
        writes it (the attributes from the same config); an emptied one goes Flask's way."""
        if not session.modified and not self.should_set_cookie(app, session):
            if session.accessed:
                _vary_cookie(response)
            return None
        if not session:
            return super().save_session(app, session, response)
        value = self.get_signing_serializer(app).dumps(dict(session))
        expires = self.get_expiration_time(app, session)  # (now + the lifetime, or None: formatted once a second)
        response.headers.add("Set-Cookie", dump_cookie(
            self.get_cookie_name(app), value, expires=expires and _http_date(int(expires.timestamp())), path=self.get_cookie_path(app),
            domain=self.get_cookie_domain(app), secure=self.get_cookie_secure(app), httponly=self.get_cookie_httponly(app),
            samesite=self.get_cookie_samesite(app), partitioned=self.get_cookie_partitioned(app), max_size=app.config["MAX_COOKIE_SIZE"]))
        _vary_cookie(response)
        return None

    def open_session(self, app, request):
        if not app.secret_key:
            return None
        header = request.environ.get("HTTP_COOKIE")  # (what request.cookies parses, without walking every header)
        value = _cookie(header, self.get_cookie_name(app)) if header else None
        data = self.verified(app, value) if value else None
        # A copy: the request may change its session (a flash, a sign-out) without touching what is remembered.
        return self.session_class({k: (list(v) if isinstance(v, list) else v) for k, v in data.items()} if data else {})
