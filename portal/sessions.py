"""Flask's signed-cookie sessions, with each cookie's signature checked once per process.

The cookie only carries the server-side session's token (services/auth.py), the CSRF secret and
a few marks; every request of a signed-in browser sends the same bytes until something in it
changes. Verifying the signature and decoding it costs more than the rest of a cached page, so a
cookie this process has verified is remembered (bounded, by its exact value) and only its age is
checked again. A changed or forged cookie is a different value and is verified in full.
"""
import threading
import time
from collections import OrderedDict

from flask.sessions import SecureCookieSessionInterface
from itsdangerous import BadSignature

REMEMBERED = 10_000


class Sessions(SecureCookieSessionInterface):
    def __init__(self):
        self._verified = OrderedDict()  # cookie value -> (data, signed at)
        self._lock = threading.Lock()

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

    def open_session(self, app, request):
        if not app.secret_key:
            return None
        value = request.cookies.get(self.get_cookie_name(app))
        data = self.verified(app, value) if value else None
        # A copy: the request may change its session (a flash, a sign-out) without touching what is remembered.
        return self.session_class({k: (list(v) if isinstance(v, list) else v) for k, v in data.items()} if data else {})
