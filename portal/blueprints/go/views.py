"""Short links for SMS and WeChat messages (/go/t123 is ticket 123): one segment has little room.
Each only redirects; the page it leads to checks who may see it."""
from flask import abort, redirect, url_for

from portal.blueprints.go import bp

TARGETS = {
    "t": ("tickets.show", "ticket_id"),
    "n": ("notices.show", "notice_id"),
    "e": ("events.show", "event_id"),
    "c": ("consultations.show", "consultation_id"),
    "s": ("suggestions.show", "suggestion_id"),
    "h": ("chat.show", "conversation_id"),
    "q": ("surveys.show", "survey_id"),
}


@bp.route("/a<int:page_id>-<string(length=12):sig>")
def acknowledge(page_id, sig):
    """A page's one-tap link: to the ticket's acknowledge button (sign-in first if needed)."""
    return redirect(url_for("tickets.ack_link", page_id=page_id, sig=sig))


@bp.route("/<string(length=1):kind><int:object_id>")
def short(kind, object_id):
    if kind not in TARGETS:
        abort(404)
    endpoint, name = TARGETS[kind]
    return redirect(url_for(endpoint, **{name: object_id}))
