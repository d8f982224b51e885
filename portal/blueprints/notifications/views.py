"""The bell and the list of in-app notifications (every signed-in user has them)."""
from flask import abort, make_response, redirect, render_template, request, url_for
from flask_login import current_user

from portal.blueprints.notifications import bp
from portal.extensions import db
from portal.forms import ConfirmForm
from portal.htmx import wants_fragment
from portal.i18n import safe_next
from portal.inputs import int_arg
from portal.models import Notification, utcnow
from portal.notify import inbox
from portal.permissions import login_required

STOP_POLLING = 286  # htmx stops polling on this status


def _conditional(render, tag):
    """A 304 when the browser already has this state; otherwise the rendered answer with its ETag."""
    if request.if_none_match.contains(tag):
        response = make_response("", 304)
    else:
        response = make_response(render())
    response.set_etag(tag)
    response.headers["Cache-Control"] = "private, no-cache"
    response.vary.add("HX-Request")
    return response


@bp.route("/bell")
def bell():
    """The bell with the unread count, polled by every page (304 when nothing changed)."""
    if not current_user.is_authenticated:
        return "", STOP_POLLING
    unread, last = inbox.state(current_user.id)
    return _conditional(lambda: render_template("notifications/_bell.html", unread=unread, last=last), inbox.etag(current_user.id, unread, last))


@bp.route("/")
@login_required
def index():
    before = int_arg("before")
    unread, last = inbox.state(current_user.id)

    def render(template):
        rows, next_before = inbox.page(current_user.id, before)
        return render_template(template, rows=rows, next_before=next_before, before=before, unread=unread, last=last,
                               confirm=ConfirmForm(formdata=None))

    if wants_fragment():  # the list's poll: 304 while nothing changed
        return _conditional(lambda: render("notifications/_list.html"), inbox.etag(current_user.id, unread, last) + f"-list-{before or 0}")
    return render("notifications/index.html")


def _mine(notification_id):
    item = db.session.get(Notification, notification_id)
    if item is None or item.user_id != current_user.id:
        abort(404)
    return item


@bp.route("/<int:notification_id>/open", methods=["POST"])
@login_required
def open_(notification_id):
    """Marks it read and goes to what it is about."""
    if not ConfirmForm().validate_on_submit():
        abort(400)
    item = _mine(notification_id)
    inbox.mark_read(current_user.id, utcnow(), item.id)
    return redirect(safe_next(item.link) or url_for("notifications.index"))


@bp.route("/<int:notification_id>/read", methods=["POST"])
@login_required
def read(notification_id):
    if not ConfirmForm().validate_on_submit():
        abort(400)
    item = _mine(notification_id)
    inbox.mark_read(current_user.id, utcnow(), item.id)
    if wants_fragment():
        return render_template("notifications/_item.html", n=item, confirm=ConfirmForm(formdata=None))
    return redirect(url_for("notifications.index"))


@bp.route("/read-all", methods=["POST"])
@login_required
def read_all():
    if not ConfirmForm().validate_on_submit():
        abort(400)
    inbox.mark_read(current_user.id, utcnow())
    return redirect(url_for("notifications.index"))
