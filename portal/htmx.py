"""One URL serves the page or its fragment."""
from flask import make_response, render_template, request


def wants_fragment():
    hx = getattr(request, "htmx", None)
    return bool(hx) and not hx.boosted and not hx.history_restore_request


def render(page_template, fragment_template, **context):
    template = fragment_template if wants_fragment() else page_template
    response = make_response(render_template(template, **context))
    response.vary.add("HX-Request")
    return response
