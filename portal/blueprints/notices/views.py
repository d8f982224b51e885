"""Notice board (S2.3.1), building bulletins (S2.3.2), posters, attachments and questions (S3.1.3)."""
from datetime import datetime

from flask import abort, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from portal import cache
from portal.permissions import resident_building_ids
from portal.blueprints.notices import bp
from portal.blueprints.notices.forms import AnswerForm, AttachmentForm, NoticeForm, QuestionForm, WithdrawForm
from portal.extensions import db
from portal.downloads import download
from portal.forms import choices
from portal.htmx import render, render_kept
from portal.i18n import from_micros, locale_name, micros
from portal.inputs import int_arg
from portal.links import external_url
from portal.models import OPEN_STATUSES, Attachment, Blob, Building, Consultation, Notice, Ticket, TicketChannel, User, utcnow
from portal.pdf import qr_svg, render_pdf
from portal.permissions import (
    OFFICE,
    can_edit_notices,
    can_read_notice,
    can_see_consultation,
    can_see_question,
    get_or_404,
    is_resident,
    login_required,
    me,
    role_required,
    viewer_kind,
)
from portal.services import notices, tickets
from portal.services.notices import CATEGORY_LABELS, STATE_LABELS, UploadRejected

MANAGE_PAGE = 30


def _readable_notice(notice_id):
    return get_or_404(Notice, notice_id, lambda user, notice: can_read_notice(user, notice, utcnow()))


def _own_or_staff_question(ticket_id):
    """A question asked under a notice is a ticket: its asker and the notice editors see it."""
    return get_or_404(Ticket, ticket_id, lambda user, question: can_see_question(user, question, utcnow()))


def _questions(notice, mine_only):
    query = select(Ticket).options(selectinload(Ticket.resident)).where(Ticket.notice_id == notice.id).order_by(Ticket.id)
    if mine_only:
        query = query.where(Ticket.resident_id == current_user.id)
    return db.session.scalars(query).all()


# The board's first page is the most requested page of all. It is kept rendered per audience,
# language and role (htmx.render_kept); this person's "new since your last visit" marks are
# filled in per request from the times the page marks (`new-<microseconds>`).


@bp.route("/")
@login_required
def index():
    now = utcnow()
    cursor = notices.decode_cursor(request.args.get("before")) if request.args.get("before") else None
    q = (request.args.get("q") or "").strip()[:100]
    if q:
        return _search(q, cursor, now)
    user = me()
    seen = user.notices_seen_at
    if cursor is not None:
        pinned, page, next_cursor = notices.board(user, now, cursor, resident_building_ids())
        return render("notices/index.html", "notices/_list.html", pinned=pinned, page=page, seen=seen, q="",
                      next_cursor=notices.encode_cursor(next_cursor) if next_cursor else None, **_labels())

    def context():
        pinned, page, next_cursor = notices.board(user, now, None, resident_building_ids())
        newest = max((n.publish_at for n in [*pinned, *page]), default=None)
        return {"pinned": pinned, "page": page, "next_cursor": notices.encode_cursor(next_cursor) if next_cursor else None,
                "newest": newest, "seen": seen, "q": "", **_labels()}, notices.next_change(now)

    key = (notices.audience(user, resident_building_ids()), viewer_kind(user))
    seen_us = micros(seen) if seen else -1
    return render_kept("board", key, cache.NOTICES, "notices/index.html", "notices/_list.html", context, now,
                       marks=lambda name: _new_mark(name, seen_us), mark_state=seen_us)


def _new_mark(name, seen_us):
    """A kept board's per-person pieces: the "new" tag of an item, and the note that it was seen."""
    kind, _, value = name.partition("-")
    at = int(value)
    if kind == "new":
        return _new_tag() if 0 <= seen_us < at else ""
    if seen_us >= at:
        return ""

    def build():
        return render_template("notices/_seen.html", upto=from_micros(at).isoformat()), None

    return cache.cached("seen-mark", at, (), build)  # the same for everyone until a newer notice


def _new_tag():
    def build():
        return render_template("notices/_new.html"), None

    return cache.cached("new-tag", locale_name(), (), build)


def _labels():
    return {"labels": {k: str(v) for k, v in CATEGORY_LABELS.items()}}


@bp.route("/seen", methods=["POST"])
@login_required
def seen():
    """The board was shown up to the notice published at `upto`: its "new" marks go on the next view."""
    try:
        upto = datetime.fromisoformat(request.form.get("upto", ""))
    except ValueError:
        return "", 204
    if upto.tzinfo is None:
        return "", 204
    user = db.session.get(User, current_user.id)
    upto = min(upto, utcnow())
    if user.notices_seen_at is None or upto > user.notices_seen_at:
        user.notices_seen_at = upto
    return "", 204


def _search(q, cursor, now):
    """The board narrowed to what `q` finds, pinned notices in their place by date, paged the
    same way; searching leaves the "new since your last visit" marks as they were."""
    page, next_cursor = notices.find(current_user, now, q, cursor, resident_building_ids())
    return render(
        "notices/index.html", "notices/_list.html", pinned=(), page=page,
        next_cursor=notices.encode_cursor(next_cursor) if next_cursor else None, seen=current_user.notices_seen_at, q=q, **_labels(),
    )


@bp.route("/<int:notice_id>")
@login_required
def show(notice_id):
    return _show(_readable_notice(notice_id))


def _show(notice, withdraw_form=None, status=200):
    questions = _questions(notice, mine_only=not can_edit_notices(current_user))
    consultation = db.session.scalar(select(Consultation).where(Consultation.notice_id == notice.id))
    if consultation is not None and not can_see_consultation(current_user, consultation, resident_building_ids()):
        consultation = None
    return render_template(
        "notices/show.html",
        notice=notice,
        consultation=consultation,
        questions=questions,
        question_form=QuestionForm(),
        answer_form=AnswerForm(formdata=None),
        withdraw_form=withdraw_form or WithdrawForm(formdata=None),
        attachment_form=AttachmentForm(),
        labels=CATEGORY_LABELS,
        state_labels=STATE_LABELS,
        now=utcnow(),
    ), status


def _building_choices(form):
    buildings = db.session.scalars(select(Building).where(Building.is_active).order_by(Building.name)).all()
    form.buildings.choices = choices((b.id, b.name) for b in buildings)
    return {b.id: b for b in buildings}


def _save_files(notice, files):
    """Attaches the files; if any is refused, raises UploadRejected with every refusal (the
    caller's savepoint then keeps none of them)."""
    errors = []
    for f in files or []:
        if not f or not f.filename:
            continue
        try:
            notices.attach(notice, f.filename, f.read())
        except UploadRejected as exc:
            errors.append(f"{f.filename}: {exc}")
    if errors:
        raise UploadRejected(errors)


def _edit(notice):
    form = NoticeForm(obj=notice if request.method == "GET" else None)
    if request.method == "GET" and notice.id is not None:
        form.buildings.data = [b.id for b in notice.buildings]
        form.category.data = notice.category.value
    buildings = _building_choices(form)
    if form.validate_on_submit():
        now = utcnow()
        action = request.form.get("action", "publish")
        publish_at = form.publish_at.utc if action == "publish" else None
        if action == "publish" and publish_at is None:
            publish_at = notice.publish_at if notice.publish_at and notice.publish_at <= now else now
        with db.session.no_autoflush:
            chosen = [buildings[i] for i in form.buildings.data or [] if i in buildings]
        existing = notice.id is not None
        try:
            with db.session.begin_nested():
                notices.save(notice, title=form.title.data, body=form.body.data, category=form.category.data,
                             community_wide=form.community_wide.data, buildings=chosen, publish_at=publish_at,
                             expires_at=form.expires_at.utc, is_pinned=form.is_pinned.data, actor=current_user, now=now)
                _save_files(notice, form.files.data)
        except UploadRejected as exc:
            form.files.errors = list(exc.args[0])
            return render_template("notices/edit.html", form=form, notice=notice if existing else None), 422
        flash(_("The notice was saved."), "success")
        return redirect(url_for("notices.show", notice_id=notice.id))
    status = 422 if request.method == "POST" else 200
    return render_template("notices/edit.html", form=form, notice=notice if notice.id else None), status


@bp.route("/new", methods=["GET", "POST"])
@role_required(*OFFICE)
def new():
    return _edit(Notice())


@bp.route("/<int:notice_id>/edit", methods=["GET", "POST"])
@role_required(*OFFICE)
def edit(notice_id):
    notice = db.session.get(Notice, notice_id) or abort(404)
    if notice.withdrawn_at is not None:
        flash(_("A withdrawn notice cannot be edited."), "error")
        return redirect(url_for("notices.show", notice_id=notice.id))
    return _edit(notice)


@bp.route("/manage")
@role_required(*OFFICE)
def manage():
    query = select(Notice).options(selectinload(Notice.buildings)).order_by(Notice.id.desc())
    before = int_arg("before")
    if before:
        query = query.where(Notice.id < before)
    rows = db.session.scalars(query.limit(MANAGE_PAGE + 1)).all()
    more = len(rows) > MANAGE_PAGE
    rows = rows[:MANAGE_PAGE]
    return render_template(
        "notices/manage.html",
        rows=rows,
        next_before=rows[-1].id if more else None,
        labels=CATEGORY_LABELS,
        state_labels=STATE_LABELS,
        now=utcnow(),
    )


@bp.route("/<int:notice_id>/withdraw", methods=["POST"])
@role_required(*OFFICE)
def withdraw(notice_id):
    notice = db.session.get(Notice, notice_id) or abort(404)
    form = WithdrawForm()
    if not form.validate_on_submit():
        return _show(notice, withdraw_form=form, status=422)  # the reason's error under it, what was typed kept
    notices.withdraw(notice, form.reason.data, current_user, utcnow())
    flash(_("The notice was withdrawn."), "success")
    return redirect(url_for("notices.show", notice_id=notice.id))


@bp.route("/<int:notice_id>/lift", methods=["POST"])
@role_required(*OFFICE)
def lift(notice_id):
    notice = db.session.get(Notice, notice_id) or abort(404)
    if notice.is_emergency and notice.lifted_at is None:
        notices.lift(notice, current_user, utcnow())
        flash(_("The emergency banner was lifted."), "success")
    return redirect(url_for("notices.show", notice_id=notice.id))


@bp.route("/<int:notice_id>/attachments", methods=["POST"])
@role_required(*OFFICE)
def upload(notice_id):
    notice = db.session.get(Notice, notice_id) or abort(404)
    form = AttachmentForm()
    if form.validate_on_submit():
        try:
            with db.session.begin_nested():
                _save_files(notice, form.files.data)
        except UploadRejected as exc:
            for e in exc.args[0]:
                flash(e, "error")
        else:
            flash(_("The attachments were added."), "success")
    return redirect(url_for("notices.show", notice_id=notice_id))


@bp.route("/attachments/<int:attachment_id>")
@login_required
def attachment(attachment_id):
    item = db.session.get(Attachment, attachment_id)
    if item is None:
        abort(404)
    _readable_notice(item.notice_id)
    blob = db.session.get(Blob, item.blob_sha256)
    return download(blob.data, blob.mime, item.filename)


@bp.route("/<int:notice_id>/poster.pdf")
@login_required
def poster(notice_id):
    notice = _readable_notice(notice_id)
    url = external_url("notices.show", notice_id=notice.id)
    pdf = render_pdf("pdf/poster.html", notice=notice, url=url, qr=qr_svg(url), label=CATEGORY_LABELS[notice.category])
    return download(pdf, "application/pdf", f"notice-{notice.id}.pdf")


@bp.route("/<int:notice_id>/questions", methods=["POST"])
@login_required
def ask(notice_id):
    notice = _readable_notice(notice_id)
    if notice.withdrawn_at is not None or not is_resident(current_user):
        abort(404)
    form = QuestionForm()
    hx = bool(request.headers.get("HX-Request"))
    if form.validate_on_submit():
        resident = db.session.get(User, current_user.id)
        question, _created = tickets.ask_on_notice(notice, resident, form.body.data, utcnow(), form.idempotency_key.data or None)
        if hx:
            response = make_response(
                render_template("notices/_ask.html", notice=notice, question_form=QuestionForm(formdata=None), asked=question)
            )
            response.vary.add("HX-Request")
            return response
        flash(_("Your question was sent. The answer will appear here."), "success")
        return redirect(url_for("notices.show", notice_id=notice.id, _anchor=f"question-{question.id}"))
    if hx:
        response = make_response(render_template("notices/_ask.html", notice=notice, question_form=form), 422)
        response.vary.add("HX-Request")
        return response
    return (
        render_template(
            "notices/show.html",
            notice=notice,
            questions=_questions(notice, mine_only=True),
            question_form=form,
            answer_form=AnswerForm(formdata=None),
            withdraw_form=WithdrawForm(),
            attachment_form=AttachmentForm(),
            labels=CATEGORY_LABELS,
            state_labels=STATE_LABELS,
            now=utcnow(),
        ),
        422,
    )


@bp.route("/questions/<int:question_id>")
@login_required
def question(question_id):
    q = _own_or_staff_question(question_id)
    return render("notices/question.html", "notices/_question.html", q=q, answer_form=AnswerForm())


@bp.route("/questions/<int:question_id>/answer", methods=["POST"])
@role_required(*OFFICE)
def answer(question_id):
    q = _own_or_staff_question(question_id)
    form = AnswerForm()
    status = 200
    hx = bool(request.headers.get("HX-Request"))
    if form.validate_on_submit():
        try:
            tickets.answer_question(q, form.answer.data, current_user, utcnow())
        except tickets.TicketError as exc:
            form.answer.errors.append(str(exc))
            status = 422
        else:
            form = AnswerForm(formdata=None)
            if not hx:
                flash(_("The answer was published."), "success")
                return redirect(url_for("notices.show", notice_id=q.notice_id, _anchor=f"question-{q.id}"))
    else:
        status = 422
    if not hx and status == 422:
        return render_template("notices/question.html", q=q, answer_form=form), 422
    response = make_response(render_template("notices/_question.html", q=q, answer_form=form), status)
    response.vary.add("HX-Request")
    return response


@bp.route("/questions")
@role_required(*OFFICE)
def questions():
    rows = db.session.scalars(
        select(Ticket)
        .options(selectinload(Ticket.resident))
        .where(Ticket.channel == TicketChannel.NOTICE_QUESTION, Ticket.status.in_(OPEN_STATUSES))
        .order_by(Ticket.id)
        .limit(200)
    ).all()
    notice_titles = dict(db.session.execute(select(Notice.id, Notice.title).where(Notice.id.in_({q.notice_id for q in rows}))).all())
    return render_template("notices/questions.html", rows=rows, notice_titles=notice_titles, answer_form=AnswerForm())
