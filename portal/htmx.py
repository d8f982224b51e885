"""One URL serves the page or its fragment; pages many people see alike are kept rendered, with
an ETag, and answered 304 when the browser has them already."""
import hashlib
import re
import secrets

from flask import current_app, g, make_response, render_template, request, session
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup

from portal import cache
from portal.i18n import locale_name

# Holes left in a kept page for what differs per browser: its CSRF token (layout.html:
# `csrf or csrf_token()`), the emergency banner for its audience, its bell, and any `marks`
# (a notice's "new" tag for this person).
CSRF_HOLE = f"csrf-{secrets.token_hex(12)}"
BANNER_HOLE = Markup(f"<!--banner-{secrets.token_hex(12)}-->")  # noqa: S704 - a constant marker, no user text
BELL_HOLE = Markup(f"<!--bell-{secrets.token_hex(12)}-->")  # noqa: S704 - a constant marker, no user text
MARK = f"mark-{secrets.token_hex(8)}"
_MARKS = re.compile(rf"<!--{MARK}:([a-z]+-[0-9]+)-->")
_tokens = cache.LRU(10_000)  # the session's CSRF secret -> a signed token for it
_tags = cache.derived_store(5_000)  # a kept page's state -> its ETag's shared part
_bodies = cache.derived_store(500)  # (a kept page's state, its marks' state) -> its UTF-8, marks filled in
_bells = cache.derived_store(2_000)  # (unread, newest, language) -> the bell's UTF-8
_KEPT_HEADERS = (("Cache-Control", "private, no-cache"), ("Vary", "HX-Request"))
_CSRF_HOLE, _BANNER_HOLE, _BELL_HOLE = CSRF_HOLE.encode(), str(BANNER_HOLE).encode(), str(BELL_HOLE).encode()
_HOLES = re.compile(b"(" + b"|".join(re.escape(hole) for hole in (_CSRF_HOLE, _BANNER_HOLE, _BELL_HOLE)) + b")")


def wants_fragment():
    hx = getattr(request, "htmx", None)
    return bool(hx) and not hx.boosted and not hx.history_restore_request


def render(page_template, fragment_template, **context):
    template = fragment_template if wants_fragment() else page_template
    response = make_response(render_template(template, **context))
    response.vary.add("HX-Request")
    return response


def csrf_token():
    """This browser's CSRF token. Tokens do not expire (WTF_CSRF_TIME_LIMIT = None), so one
    signed token per session secret serves every page instead of signing a new one each time."""
    secret = session.get("csrf_token")
    token = _tokens.get(secret) if secret else None
    if token is None:
        token = generate_csrf()
        _tokens.set(session["csrf_token"], token)
    g.csrf_token = token
    return token


def mark(key):
    """In a kept page: where the per-person piece `key` (a word, a dash and a number) goes;
    render_kept's `marks` fills it."""
    return Markup(f"<!--{MARK}:{key}-->")  # noqa: S704 - a constant marker, a word and a number


def render_kept(name, key, depends, page_template, fragment_template, context_fn, now=None, marks=None, mark_state=None):
    """Like render(), but the HTML is kept under `key`, the language and the versions of `depends`
    (and of the settings and places every page shows) until one moves or the `until` that
    context_fn returns passes; each request fills in its own CSRF token, banner, bell and marks
    (`marks(key)` returns the HTML for each mark() of the page; `mark_state` is all they depend
    on). Everything else personal must be in the key. The ETag names all of it: an unchanged page
    is answered 304 without filling anything in."""
    if "_flashes" in session or g.get("query_cleaned"):  # a message for this request only
        context, _until = context_fn()
        return render(page_template, fragment_template, **context)
    fragment = wants_fragment()
    depends = (*((depends,) if isinstance(depends, str) else depends), cache.SETTINGS, cache.PLACES)
    full_key = (key, fragment, locale_name())

    def build():
        context, until = context_fn()
        html = render_template(fragment_template if fragment else page_template,
                               **{**context, "csrf": CSRF_HOLE, "banner_hole": BANNER_HOLE, "bell_hole": BELL_HOLE, "kept": True})
        return html, until

    from portal.templating import banner, bell_state

    personal = None if fragment else (banner(), bell_state())  # the bell: None when nobody is signed in
    until, html = cache.cached_entry(name, full_key, depends, build, now)
    page_state = (name, full_key, cache.versions_of(depends), until)
    shared = _tags.get(page_state)  # the part of the ETag every viewer of this page state shares
    if shared is None:
        shared = _etag(page_state)
        _tags.set(page_state, shared)
    tag = _etag((shared, personal and (personal[0][0], personal[1]), mark_state))
    if "HTTP_IF_NONE_MATCH" in request.environ and request.if_none_match.contains(tag):  # (not parsed when absent)
        response = make_response("", 304)
    else:
        # The page as UTF-8, its marks filled in (they depend on `mark_state` alone), cut at its
        # holes, is kept too: each request joins the pieces around its own banner, bell and token
        # in one pass, without encoding or copying the whole page several times.
        pieces = _bodies.get((page_state, mark_state))
        if pieces is None:
            if marks is not None and MARK in html:
                html = _MARKS.sub(lambda m: marks(m.group(1)), html)
            pieces = _HOLES.split(html.encode())
            _bodies.set((page_state, mark_state), pieces)
        fill = {_CSRF_HOLE: csrf_token().encode(), _BANNER_HOLE: b"", _BELL_HOLE: b""}
        if personal:
            fill[_BANNER_HOLE], fill[_BELL_HOLE] = personal[0][1].encode(), _bell_html(personal[1])
        body = [pieces[0]]
        for at in range(1, len(pieces), 2):  # pieces: text, hole, text, hole, ..., text
            body += (fill[pieces[at]], pieces[at + 1])
        response = current_app.response_class(b"".join(body))  # (what make_response makes of bytes)
    response.headers.extend((*_KEPT_HEADERS, ("ETag", f'"{tag}"')))  # a fresh response: set at once, without parsing any
    return response


def _etag(parts):
    return hashlib.blake2b(repr(parts).encode(), digest_size=12).hexdigest()


def _bell_html(state):
    """The bell as UTF-8 (it shows the unread count and links the newest: nothing else)."""
    if state is None:
        return b""
    key = (*state, locale_name())
    found = _bells.get(key)
    if found is None:
        found = render_template("notifications/_bell.html", unread=state[0], last=state[1]).encode()
        _bells.set(key, found)
    return found
