"""The lobby screen: /kiosk/<secret>, no login. The page polls /kiosk/<secret>/slides with
If-None-Match (when nothing changed the answer is 304 after one small query, portal/fastpath.py)
and posts a heartbeat to /kiosk/<secret>/alive once a minute."""
from flask import abort, make_response, render_template, request
from flask_babel import force_locale
from markupsafe import Markup

from portal import cache
from portal.blueprints.kiosk import bp
from portal.extensions import csrf
from portal.models import utcnow
from portal.services import kiosk, settings


def _content(info, now):
    with force_locale("zh_Hans"):  # the lobby speaks the community's language
        return kiosk.content(info, now, lambda found: render_template("kiosk/_slides.html", screen=info, **found))


def _screen(secret):
    screen = kiosk.screen_for(secret)
    if screen is None:
        abort(404)
    return screen


# The screen's whole page, by everything it shows: its settings, its slides' ETag (which moves
# with them), the poll interval asked for, the hotline and the contact person.
_pages = cache.derived_store(500)


@bp.route("/<secret>")
def screen(secret):
    info = _screen(secret)
    now = utcnow()
    slides, etag = _content(info, now)
    hotline, contact_person = settings.get("hotline"), settings.get("contact_person")
    key = (tuple(info.items()), etag, request.args.get("poll"), hotline, contact_person)
    page = _pages.get(key)
    if page is None:
        with force_locale("zh_Hans"):
            page = render_template(
                "kiosk/screen.html", screen=info, slides=Markup(slides), etag=etag,  # noqa: S704 - rendered by kiosk/_slides.html with autoescape
                hotline=hotline, contact_person=contact_person,
            )
        _pages.set(key, page)
    response = make_response(page)
    response.headers["Cache-Control"] = "no-cache"
    response.headers["Referrer-Policy"] = "no-referrer"  # the secret stays in the lobby
    return response


@bp.route("/<secret>/slides")
def slides(secret):
    info = _screen(secret)
    now = utcnow()
    body, etag = _content(info, now)
    if request.if_none_match.contains(etag):
        response = make_response("", 304)
    else:
        response = make_response(body)
        response.headers["Content-Type"] = "text/html; charset=utf-8"
    response.set_etag(etag)
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.route("/<secret>/alive", methods=["POST"])
@csrf.exempt  # a screen has no session; its secret is its credential
def alive(secret):
    kiosk.report_in(_screen(secret), utcnow())
    return "", 204
