"""One URL serves the page or its fragment; pages many people see alike can be kept rendered."""
import secrets

from flask import make_response, render_template, request, session
from flask_babel import get_locale
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup

from portal import cache

# Left in a kept page where this browser's CSRF token goes (layout.html: `csrf or csrf_token()`),
# and where the emergency banner for this viewer's buildings goes (layout.html: `banner_hole`).
CSRF_HOLE = f"csrf-{secrets.token_hex(12)}"
BANNER_HOLE = Markup(f"<!--banner-{secrets.token_hex(12)}-->")  # noqa: S704 - a constant marker, no user text
BELL_HOLE = Markup(f"<!--bell-{secrets.token_hex(12)}-->")  # noqa: S704 - a constant marker, no user text


def wants_fragment():
    hx = getattr(request, "htmx", None)
    return bool(hx) and not hx.boosted and not hx.history_restore_request


def render(page_template, fragment_template, **context):
    template = fragment_template if wants_fragment() else page_template
    response = make_response(render_template(template, **context))
    response.vary.add("HX-Request")
    return response


def render_kept(name, key, version_key, page_template, fragment_template, context_fn, now=None):
    """Like render(), but the HTML is kept per key and language until `version_key` moves (or the
    `until` that context_fn returns passes), with the CSRF token filled in per request. For pages
    whose content depends only on the key: everything personal must be in the key."""
    if "_flashes" in session:
        context, _until = context_fn()
        return render(page_template, fragment_template, **context)
    fragment = wants_fragment()
    versions = cache.versions()
    full_key = (key, fragment, str(get_locale()), versions.get(cache.SETTINGS, 0), versions.get(cache.PLACES, 0))

    def build():
        context, until = context_fn()
        html = render_template(fragment_template if fragment else page_template,
                               **{**context, "csrf": CSRF_HOLE, "banner_hole": BANNER_HOLE, "bell_hole": BELL_HOLE})
        return html, until

    html = cache.cached(name, full_key, version_key, build, now)
    if not fragment:
        from portal.templating import banner_html, bell_html

        html = html.replace(BANNER_HOLE, banner_html()).replace(BELL_HOLE, bell_html())
    response = make_response(html.replace(CSRF_HOLE, generate_csrf()))
    response.vary.add("HX-Request")
    return response
