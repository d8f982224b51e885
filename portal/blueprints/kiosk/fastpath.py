"""The lobby screens' polls, answered before Flask when nothing changed.

Hundreds of screens ask every half minute whether anything is new; almost always nothing is.
This WSGI middleware answers such a poll 304 from what the kiosk views already keep in memory,
after one small query (the cache version counters), without a request context, session or
template. Whenever it cannot prove that nothing changed (unknown or revoked screen, nothing
kept yet, a version moved, the kept slides expired, time to report in) it hands the request to
Flask, which does the full work.
"""
import re

from portal import cache
from portal.models import utcnow
from portal.services import kiosk

POLL = re.compile(r"^/kiosk/([A-Za-z0-9_-]{16,64})/slides$")


class KioskFastPath:
    def __init__(self, wsgi_app, app):
        self.wsgi_app = wsgi_app
        self.app = app
        self.engine = None

    def __call__(self, environ, start_response):
        if environ.get("REQUEST_METHOD") == "GET" and "HTTP_IF_NONE_MATCH" in environ:
            match = POLL.match(environ.get("PATH_INFO", ""))
            if match:
                etag = self._unchanged(match.group(1))
                if etag is not None and f'"{etag}"' in environ["HTTP_IF_NONE_MATCH"]:
                    start_response("304 NOT MODIFIED", [
                        ("ETag", f'"{etag}"'),
                        ("Cache-Control", "no-cache"),
                        ("X-Content-Type-Options", "nosniff"),
                        ("Vary", "Cookie"),
                    ])
                    return [b""]
        return self.wsgi_app(environ, start_response)

    def _unchanged(self, secret):
        if self.engine is None:
            from portal.extensions import db

            with self.app.app_context():
                self.engine = db.engine
        try:
            with self.engine.connect() as connection:
                versions = cache.read_versions(connection)
        except Exception:  # the database is away: let Flask answer (and fail) properly
            return None
        return kiosk.unchanged_etag(secret, versions, utcnow())
