"""在线客服: a resident's chat with the service centre (phone first), and customer service's queue
and conversation pages. New messages appear through htmx polling with conditional GET: 304 while
nothing changed (answered before Flask, portal/fastpath.py)."""
from flask import abort, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from portal.blueprints.chat import bp
from portal.blueprints.chat.forms import CannedForm, HandOverForm, LinkForm, MessageForm, SeenForm, TicketForm
from portal.downloads import download
from portal.extensions import db
from portal.forms import ConfirmForm, choices
from portal.htmx import wants_fragment
from portal.inputs import whole_number
from portal.models import Blob, CannedReply, ChatMessage, Conversation, Sender, Ticket, User, utcnow
from portal.notify import phones
from portal.permissions import DESK, can_see_conversation, get_or_404, is_desk, is_resident, login_required, role_required
from portal.services import chat, people, tickets
from portal.services.notices import UploadRejected, store_blob

PHOTO_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp", "image/heic"}


def _visible(conversation_id):
    """The conversation, if this person may read it; otherwise 404 like a missing one."""
    return get_or_404(Conversation, conversation_id, can_see_conversation)


def etag(conversation, viewer):
    return f"chat-{conversation.id}-{conversation.last_message_id}-{conversation.status.value}-{conversation.assignee_id or 0}-{viewer}"


def _messages(conversation):
    """What this viewer sees: residents not the desk's internal lines."""
    rows = conversation.messages[-200:]
    if not is_desk(current_user):
        rows = [m for m in rows if not (m.data or {}).get("internal")]
    return rows


def _list(conversation):
    """The messages fragment: the poll's answer, 304 while nothing changed."""
    viewer = "desk" if is_desk(current_user) else "resident"
    tag = etag(conversation, viewer)
    if request.if_none_match.contains(tag):
        response = make_response("", 304)
    else:
        response = make_response(render_template("chat/_messages.html", conversation=conversation, messages=_messages(conversation),
                                                 desk=viewer == "desk", seen=SeenForm(formdata=None)))
    response.set_etag(tag)
    response.headers["Cache-Control"] = "private, no-cache"
    response.vary.add("HX-Request")
    return response


def _page(conversation, form=None, status=200, **bound):
    """`bound`: a desk form that was sent, with its errors and what was typed (link_form=...)."""
    if wants_fragment():  # the chat form sent by htmx: the messages and a fresh form (or this one with its errors)
        return render_template("chat/_chat.html", **_chat_context(conversation, form)), status
    return render_template("chat/conversation.html", **{**_context(conversation, form), **bound}), status


def _chat_context(conversation, form=None):
    return {"conversation": conversation, "messages": _messages(conversation) if conversation else [], "desk": is_desk(current_user),
            "form": form or _message_form(fresh=True), "seen": SeenForm(formdata=None), "confirm": ConfirmForm(formdata=None), "now": utcnow()}


def _context(conversation, form=None):
    desk = is_desk(current_user)
    context = _chat_context(conversation, form)
    if desk and conversation is not None:
        colleagues = people.desk_colleagues(current_user)
        handover = HandOverForm(formdata=None)
        handover.colleague.choices = choices((u.id, u.name) for u in colleagues)
        open_tickets = db.session.scalars(select(Ticket).where(Ticket.resident_id == conversation.resident_id).order_by(Ticket.id.desc()).limit(5)
                                          ).all() if conversation.resident_id else []
        context.update(handover=handover, ticket_form=TicketForm(formdata=None), link_form=LinkForm(formdata=None), open_tickets=open_tickets,
                       ticket=db.session.get(Ticket, conversation.ticket_id) if conversation.ticket_id else None)
    return context


def _message_form(fresh=False):
    form = MessageForm(formdata=None) if fresh else MessageForm()
    form.canned.choices = choices([(0, "—")] + [(c.id, c.title) for c in _canned()]) if is_desk(current_user) else []
    return form


def _canned():
    return db.session.scalars(select(CannedReply).where(CannedReply.is_active).order_by(CannedReply.title)).all()


@bp.route("/", methods=["GET", "POST"])
@login_required
def index():
    if is_desk(current_user):
        return _queue()
    if not is_resident(current_user):
        abort(404)
    resident = db.session.get(User, current_user.id)
    conversation = chat.open_conversation(resident) or chat.latest_for(resident)
    if request.method == "POST":
        return _send(conversation, resident, new=conversation is None or not conversation.is_open)
    return _page(conversation)


def _queue():
    now = utcnow()
    tag = chat.queue_state()
    if wants_fragment() and request.if_none_match.contains(tag):
        response = make_response("", 304)
    else:
        rows, open_tickets = chat.queue(now)
        template = "chat/_queue.html" if wants_fragment() else "chat/queue.html"
        response = make_response(render_template(template, rows=rows, open_tickets=open_tickets, now=now))
    response.set_etag(tag)
    response.headers["Cache-Control"] = "private, no-cache"
    response.vary.add("HX-Request")
    return response


def _send(conversation, author, new=False):
    form = _message_form()
    if not form.validate_on_submit():
        return _page(conversation, form, 422)
    now = utcnow()
    photo = None
    body = form.body.data or ""
    if is_desk(current_user) and not body.strip() and form.canned.data:
        canned = db.session.get(CannedReply, form.canned.data)
        body = canned.body if canned is not None else ""
    upload = form.photo.data
    shown = conversation
    try:
        with db.session.begin_nested():
            if upload and getattr(upload, "filename", ""):
                photo = store_blob(upload.read(), allowed=PHOTO_TYPES)
            if new:
                unit = author.residencies[0].unit if author.residencies else None
                conversation = chat.start(author, unit, now)
            chat.post(conversation, Sender.STAFF if is_desk(current_user) else Sender.RESIDENT, body, now, author=author, photo=photo,
                      kind="image" if photo is not None and not body.strip() else "text", idempotency_key=form.idempotency_key.data or None)
    except (chat.ChatError, UploadRejected) as exc:
        form.body.errors.append(str(exc))
        return _page(shown, form, 422)
    if wants_fragment():
        return _page(conversation)
    return redirect(url_for("chat.show", conversation_id=conversation.id) if is_desk(current_user) else url_for("chat.index"))


@bp.route("/<int:conversation_id>")
@login_required
def show(conversation_id):
    conversation = _visible(conversation_id)
    if not is_desk(current_user):
        return redirect(url_for("chat.index"))
    return _page(conversation)


@bp.route("/<int:conversation_id>/messages", methods=["GET", "POST"])
@login_required
def messages(conversation_id):
    conversation = _visible(conversation_id)
    if request.method == "POST":
        if not is_desk(current_user) and not conversation.is_open:
            return _send(conversation, db.session.get(User, current_user.id), new=True)
        return _send(conversation, db.session.get(User, current_user.id))
    return _list(conversation)


@bp.route("/<int:conversation_id>/seen", methods=["POST"])
@login_required
def seen(conversation_id):
    """The resident's page saw the messages up to `upto`: no SMS for those."""
    conversation = _visible(conversation_id)
    form = SeenForm()
    if is_desk(current_user) or not form.validate_on_submit():
        return "", 204
    chat.mark_seen(conversation, form.upto.data or 0)
    return "", 204


def _desk_action(conversation_id, perform, message):
    if not is_desk(current_user):
        abort(404)
    conversation = _visible(conversation_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        with db.session.begin_nested():
            result = perform(conversation, utcnow())
    except chat.ChatError as exc:
        flash(str(exc), "error")
        return redirect(url_for("chat.show", conversation_id=conversation_id))
    flash(message if not callable(message) else message(result), "success")
    return redirect(url_for("chat.show", conversation_id=conversation_id))


@bp.route("/<int:conversation_id>/take", methods=["POST"])
@login_required
def take(conversation_id):
    return _desk_action(conversation_id, lambda c, now: chat.take(c, db.session.get(User, current_user.id), now), _("The conversation is yours."))


@bp.route("/<int:conversation_id>/handover", methods=["POST"])
@login_required
def handover(conversation_id):
    def perform(conversation, now):
        colleague = db.session.get(User, whole_number(request.form.get("colleague"), lo=1) or 0)
        if colleague is None or not is_desk(colleague) or not colleague.is_active:
            raise chat.ChatError(_("Choose a colleague."))
        chat.hand_over(conversation, colleague, db.session.get(User, current_user.id), now)

    return _desk_action(conversation_id, perform, _("Handed over."))


@bp.route("/<int:conversation_id>/close", methods=["POST"])
@login_required
def close(conversation_id):
    return _desk_action(conversation_id, lambda c, now: chat.close(c, db.session.get(User, current_user.id), now), _("The conversation is closed."))


@bp.route("/<int:conversation_id>/ticket", methods=["POST"])
@login_required
def to_ticket(conversation_id):
    """One click: the conversation becomes a ticket."""
    def perform(conversation, now):
        category = request.form.get("category", "inquiry")
        if category not in {c.value for c in tickets.CATEGORY_LABELS}:
            raise chat.ChatError(_("Choose a category."))
        return chat.to_ticket(conversation, category, db.session.get(User, current_user.id), now)

    return _desk_action(conversation_id, perform, lambda ticket: _("Registered as %(number)s.", number=ticket.number))


@bp.route("/<int:conversation_id>/link", methods=["POST"])
@login_required
def link(conversation_id):
    """An unknown WeChat follower is a resident the desk recognises."""
    form = LinkForm()
    if is_desk(current_user) and not form.validate_on_submit():
        return _page(_visible(conversation_id), status=422, link_form=form)

    def perform(conversation, now):
        number = phones.normalize(form.phone.data)
        resident = people.resident_by_phone(number)
        if resident is None:
            raise chat.ChatError(_("No resident has this mobile number."))
        chat.link_follower(conversation, resident, db.session.get(User, current_user.id), now)

    return _desk_action(conversation_id, perform, _("The follower is linked to the resident."))


@bp.route("/<int:conversation_id>/urgent", methods=["POST"])
@login_required
def urgent(conversation_id):
    """The resident takes the offer: an urgent ticket from the conversation; the people on duty are paged."""
    conversation = _visible(conversation_id)
    if is_desk(current_user) or not ConfirmForm().validate_on_submit():
        abort(404)
    try:
        with db.session.begin_nested():
            ticket = chat.to_ticket(conversation, "repair", db.session.get(User, current_user.id), utcnow(), urgent=True)
    except chat.ChatError as exc:
        flash(str(exc), "error")
        return redirect(url_for("chat.index"))
    flash(_("Registered as %(number)s. The people on duty are being called now.", number=ticket.number), "success")
    return redirect(url_for("tickets.show", ticket_id=ticket.id))


@bp.route("/photo/<int:message_id>")
@login_required
def photo(message_id):
    message = db.session.get(ChatMessage, message_id)
    if message is None or message.photo_sha256 is None:
        abort(404)
    _visible(message.conversation_id)
    blob = db.session.get(Blob, message.photo_sha256)
    return download(blob.data, blob.mime, f"chat-{message.id}", inline=True)


@bp.route("/canned", methods=["GET", "POST"])
@role_required(*DESK)
def canned():
    form = CannedForm()
    if form.validate_on_submit():
        db.session.add(CannedReply(title=form.title.data.strip(), body=form.body.data.strip()))
        flash(_("Saved."), "success")
        return redirect(url_for("chat.canned"))
    if request.method == "POST" and (remove := whole_number(request.form.get("remove"), lo=1)) and ConfirmForm().validate_on_submit():
        item = db.session.get(CannedReply, remove) or abort(404)
        item.is_active = False
        return redirect(url_for("chat.canned"))
    return render_template("chat/canned.html", form=form, rows=_canned(), confirm=ConfirmForm(formdata=None)), (422 if form.errors else 200)
