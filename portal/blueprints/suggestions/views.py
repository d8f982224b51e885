"""The online suggestion box (意见箱, S2.5)."""
import re

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from portal.blueprints.suggestions import bp
from portal.blueprints.suggestions.forms import AgendaForm, AnswerForm, HideForm, StudyForm, SuggestionForm
from portal.extensions import db
from portal.forms import ConfirmForm, choices
from portal.htmx import render
from portal.inputs import int_arg
from portal.models import Event, EventType, Residency, Role, Suggestion, SuggestionStatus, SuggestionSupport, SuggestionTopic, Unit, User, utcnow
from portal.permissions import (
    OFFICE,
    can_edit_notices,
    can_see_community,
    can_see_suggestion,
    get_or_404,
    is_back_office,
    is_resident,
    login_required,
    resident_building_ids,
    role_required,
    suggestion_scope,
)
from portal.search import matches
from portal.services import people, suggestions
from portal.services.suggestions import STATUS_LABELS, TOPIC_LABELS, SuggestionError

SORTS = {"new": Suggestion.id.desc(), "support": Suggestion.support_count.desc(), "status": Suggestion.status}
PAGE = 30


def _labels():
    return {"topics": {k: str(v) for k, v in TOPIC_LABELS.items()}, "statuses": {k: str(v) for k, v in STATUS_LABELS.items()}}


def _visible(suggestion_id):
    return get_or_404(Suggestion, suggestion_id, lambda user, item: can_see_suggestion(user, item, resident_building_ids()))


def _home():
    """The household the signed-in resident acts for: their first home."""
    return db.session.scalar(select(Unit).join(Residency, Residency.unit_id == Unit.id).where(Residency.user_id == current_user.id).order_by(Unit.id))


@bp.route("/")
@login_required
def index():
    if not can_see_community(current_user):
        abort(404)
    topic = request.args.get("topic", "")
    sort = request.args.get("sort", "new")
    q = (request.args.get("q") or "").strip()[:100]
    query = select(Suggestion).where(*suggestion_scope(current_user, resident_building_ids()))
    if topic in {t.value for t in SuggestionTopic}:
        query = query.where(Suggestion.topic == SuggestionTopic(topic))
    if q:
        query = query.where(matches(Suggestion, q))
    next_before = None
    if q and sort not in ("support", "status"):  # what the search finds, newest first, a page at a time
        if before := int_arg("before"):
            query = query.where(Suggestion.id < before)
        rows = db.session.scalars(query.order_by(Suggestion.id.desc()).limit(PAGE + 1)).all()
        next_before = rows[PAGE - 1].id if len(rows) > PAGE else None
        rows = rows[:PAGE]
    else:
        rows = db.session.scalars(query.order_by(SORTS.get(sort, SORTS["new"]), Suggestion.id.desc()).limit(PAGE * 4)).all()
    supported = set()
    if is_resident(current_user) and rows:
        home = _home()
        if home:
            supported = set(db.session.scalars(select(SuggestionSupport.suggestion_id).where(
                SuggestionSupport.unit_id == home.id, SuggestionSupport.suggestion_id.in_([r.id for r in rows]))))
    return render(
        "suggestions/index.html", "suggestions/_list.html", rows=rows, topic=topic, sort=sort, q=q, next_before=next_before,
        supported=supported, hidden=suggestions.hidden_count(), support_form=ConfirmForm(), **_labels(),
    )


@bp.route("/new", methods=["GET", "POST"])
@role_required(Role.RESIDENT)
def new():
    form = SuggestionForm()
    if form.validate_on_submit():
        author = db.session.get(User, current_user.id)
        item = suggestions.post(author, _home(), form.topic.data, form.title.data, form.body.data, form.anonymous.data,
                                form.only_my_building.data, utcnow(), form.idempotency_key.data or None)
        flash(_("Thank you. Your suggestion is in the box; the service centre opens it regularly."), "success")
        return redirect(url_for("suggestions.show", suggestion_id=item.id))
    return render_template("suggestions/new.html", form=form), (422 if request.method == "POST" else 200)


def _page(item, forms=None, status=200):
    base = {
        "hide": HideForm(formdata=None),
        "answer": AnswerForm(formdata=None, status=item.status.value, reply=item.reply),
        "study": StudyForm(formdata=None),
        "agenda": AgendaForm(formdata=None),
        "confirm": ConfirmForm(),
    }
    base.update(forms or {})
    if is_back_office(current_user):
        base["study"].owner.choices = choices((u.id, u.name) for u in people.back_office_staff())
        forums = db.session.scalars(select(Event).where(Event.kind == EventType.FORUM, Event.starts_at > utcnow()).order_by(Event.starts_at)).all()
        base["agenda"].forum.choices = choices((f.id, f.title) for f in forums)
    home = _home() if is_resident(current_user) else None
    supported = bool(home and db.session.scalar(select(SuggestionSupport.id).where(
        SuggestionSupport.suggestion_id == item.id, SuggestionSupport.unit_id == home.id)))
    return render_template("suggestions/show.html", item=item, forms=base, supported=supported, support_form=base["confirm"], mine=item.author_id == current_user.id,
                           staff=is_back_office(current_user), editor=can_edit_notices(current_user), **_labels()), status


@bp.route("/<int:suggestion_id>")
@login_required
def show(suggestion_id):
    return _page(_visible(suggestion_id))


@bp.route("/<int:suggestion_id>/support", methods=["POST"])
@role_required(Role.RESIDENT)
def support(suggestion_id):
    item = _visible(suggestion_id)
    home = _home()
    if not ConfirmForm().validate_on_submit() or home is None:
        abort(400)
    try:
        with db.session.begin_nested():
            counted = suggestions.support(item, current_user, home, utcnow())
    except SuggestionError as exc:
        flash(str(exc), "error")
        return redirect(url_for("suggestions.show", suggestion_id=item.id))
    if request.headers.get("HX-Request"):
        return render_template("suggestions/_support.html", item=item, supported=True, support_form=ConfirmForm())
    flash(_("Thank you for your support.") if counted else _("Your household already supports this."), "success")
    return redirect(request.referrer if (request.referrer or "").startswith(request.host_url) else url_for("suggestions.show", suggestion_id=item.id))


def _staff_act(suggestion_id, name, form_class, perform, message):
    item = db.session.get(Suggestion, suggestion_id) or abort(404)
    form = form_class()
    if name == "study":
        form.owner.choices = choices((u.id, u.name) for u in people.back_office_staff())
    if name == "agenda":
        form.forum.choices = choices((f.id, f.title) for f in db.session.scalars(select(Event).where(Event.kind == EventType.FORUM)))
    if not form.validate_on_submit():
        return _page(item, {name: form}, 422)
    try:
        with db.session.begin_nested():
            perform(item, form)
    except SuggestionError as exc:
        flash(str(exc), "error")
        return _page(db.session.get(Suggestion, suggestion_id), {name: form}, 422)
    flash(message, "success")
    return redirect(url_for("suggestions.show", suggestion_id=suggestion_id))


@bp.route("/<int:suggestion_id>/hide", methods=["POST"])
@role_required(*OFFICE)
def hide(suggestion_id):
    return _staff_act(suggestion_id, "hide", HideForm, lambda i, f: suggestions.hide(i, f.reason.data, current_user, utcnow()),
                      _("The suggestion was hidden; its author sees why."))


@bp.route("/<int:suggestion_id>/answer", methods=["POST"])
@role_required(*OFFICE)
def answer(suggestion_id):
    def perform(item, form):
        duplicate = None
        if form.status.data == SuggestionStatus.DUPLICATE.value:
            number = (form.duplicate_of.data or "").strip().lstrip("#")
            duplicate = db.session.get(Suggestion, int(number)) if re.fullmatch(r"[0-9]{1,9}", number) else None
        suggestions.answer(item, form.status.data, form.reply.data or "", current_user, utcnow(), duplicate)

    return _staff_act(suggestion_id, "answer", AnswerForm, perform, _("The status and reply were published."))


@bp.route("/<int:suggestion_id>/study", methods=["POST"])
@role_required(*OFFICE)
def study(suggestion_id):
    return _staff_act(suggestion_id, "study", StudyForm,
                      lambda i, f: suggestions.start_study(i, db.session.get(User, f.owner.data), f.deadline.data, f.notes.data or "", current_user, utcnow()),
                      _("The study was started."))


@bp.route("/<int:suggestion_id>/ticket", methods=["POST"])
@role_required(*OFFICE)
def to_ticket(suggestion_id):
    return _staff_act(suggestion_id, "confirm", ConfirmForm, lambda i, f: suggestions.to_ticket(i, current_user, utcnow()),
                      _("The suggestion joined the register."))


@bp.route("/<int:suggestion_id>/agenda", methods=["POST"])
@role_required(*OFFICE)
def to_agenda(suggestion_id):
    return _staff_act(suggestion_id, "agenda", AgendaForm,
                      lambda i, f: suggestions.to_agenda(i, db.session.get(Event, f.forum.data)), _("The suggestion is on the forum's agenda."))


@bp.route("/box", methods=["GET", "POST"])
@role_required(*OFFICE)
def box():
    """Opening the box: what arrived since the last opening, and the record of openings."""
    from portal.models import BoxOpening

    opened = None
    if request.method == "POST":
        if not ConfirmForm().validate_on_submit():
            abort(400)
        opening, items = suggestions.open_box(current_user, utcnow())
        opened = (opening, items)
    waiting = suggestions.unread()
    history = db.session.scalars(select(BoxOpening).order_by(BoxOpening.id.desc()).limit(20)).all()
    return render_template("suggestions/box.html", waiting=waiting, opened=opened, history=history, confirm=ConfirmForm(), **_labels())
