"""Consultations before major decisions (征求意见, S4.2.2), owners' decisions (民法典 art. 278) and
their published results."""
from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from portal.blueprints.consultations import bp
from portal.blueprints.consultations.forms import AnswerForm, ConsultationForm
from portal.downloads import csv_download, spreadsheet_safe
from portal.extensions import db
from portal.forms import choices
from portal.i18n import to_local
from portal.models import Building, Consultation, ConsultationAnswer, Notice, Role, Unit, User, utcnow
from portal.permissions import (
    OFFICE,
    can_run_consultations,
    can_see_community,
    can_see_consultation,
    can_see_consultation_result,
    consultation_scope,
    get_or_404,
    is_resident,
    login_required,
    resident_building_ids,
    role_required,
)
from portal.services import consultations
from portal.services.consultations import ConsultationError


def _visible(consultation_id):
    return get_or_404(Consultation, consultation_id, lambda user, item: can_see_consultation(user, item, resident_building_ids()))


@bp.route("/")
@login_required
def index():
    if not can_see_community(current_user):
        abort(404)
    rows = db.session.scalars(
        select(Consultation).where(*consultation_scope(current_user, resident_building_ids())).order_by(Consultation.deadline.desc()).limit(50)
    ).all()
    return render_template("consultations/index.html", rows=rows, now=utcnow(), kind_labels=consultations.KIND_LABELS)


@bp.route("/new", methods=["GET", "POST"])
@role_required(*OFFICE)
def new():
    form = ConsultationForm()
    form.buildings.choices = choices((b.id, b.name) for b in db.session.scalars(select(Building).where(Building.is_active).order_by(Building.name)))
    if form.validate_on_submit():
        buildings = [b for b in (db.session.get(Building, i) for i in form.buildings.data or []) if b]
        try:
            with db.session.begin_nested():
                item = consultations.create(form.title.data, form.explanation.data or "", (form.options.data or "").splitlines(),
                                            form.deadline.utc, buildings, current_user, utcnow(), kind=form.kind.data)
        except ConsultationError as exc:
            getattr(form, exc.field or "options").errors.append(str(exc))
        else:
            flash(_("The consultation is open."), "success")
            return redirect(url_for("consultations.show", consultation_id=item.id))
    return render_template("consultations/new.html", form=form), (422 if request.method == "POST" else 200)


def _page(item, form=None, status=200, posted_unit_id=None):
    now = utcnow()
    units = consultations.owner_units(current_user, item) if is_resident(current_user) else []
    answers = {}
    if units:
        answers = {a.unit_id: a for a in db.session.scalars(select(ConsultationAnswer).where(
            ConsultationAnswer.consultation_id == item.id, ConsultationAnswer.unit_id.in_([u.id for u in units])))}
    form = form or AnswerForm(formdata=None)
    form.option.choices = choices((o.id, consultations.option_label(o)) for o in item.options)
    context = {"results": None, "decision": None, "comments": [], "notice": None}
    if can_see_consultation_result(current_user, item):
        context["results"] = consultations.results(item)
        if consultations.is_decision(item):
            context["decision"] = consultations.decide(item)
    if can_run_consultations(current_user):
        context["comments"] = db.session.execute(
            select(ConsultationAnswer.comment, ConsultationAnswer.option_id, Unit.number, Building.name)
            .join(Unit, Unit.id == ConsultationAnswer.unit_id).join(Building, Building.id == Unit.building_id)
            .where(ConsultationAnswer.consultation_id == item.id, ConsultationAnswer.comment != "")
            .order_by(Building.name, Unit.number)
        ).all()
    if item.notice_id is not None:
        context["notice"] = db.session.get(Notice, item.notice_id)
    return render_template("consultations/show.html", item=item, units=units, answers=answers, form=form, open=now < item.deadline,
                           labels={o.id: consultations.option_label(o) for o in item.options}, posted_unit_id=posted_unit_id,
                           building_names={b.id: b.name for b in item.buildings}, kind_labels=consultations.KIND_LABELS,
                           outcome_labels=consultations.OUTCOME_LABELS, agreement_labels=consultations.AGREEMENT_LABELS,
                           percent=consultations.percent, square_metres=consultations.square_metres, share=consultations.share,
                           counting_rules=consultations.counting_rules, counting_notes=consultations.counting_notes, now=now, **context), status


@bp.route("/<int:consultation_id>")
@login_required
def show(consultation_id):
    return _page(_visible(consultation_id))


@bp.route("/<int:consultation_id>/answer", methods=["POST"])
@role_required(Role.RESIDENT)
def answer(consultation_id):
    item = _visible(consultation_id)
    form = AnswerForm()
    form.option.choices = choices((o.id, o.label) for o in item.options)
    units = consultations.owner_units(current_user, item)
    unit_id = request.form.get("unit_id", type=int)
    unit = next((u for u in units if u.id == unit_id), units[0] if units else None)
    if unit is None:
        abort(404)
    if not form.validate_on_submit():
        return _page(item, form, 422, unit.id)
    try:
        with db.session.begin_nested():
            consultations.answer(item, db.session.get(User, current_user.id), unit, form.option.data, utcnow(), form.comment.data or "")
    except ConsultationError as exc:
        form.option.errors.append(str(exc))
        return _page(item, form, 422, unit.id)
    flash(_("Your household's answer was recorded. You can change it until the deadline."), "success")
    return redirect(url_for("consultations.show", consultation_id=item.id))


@bp.route("/<int:consultation_id>/publish", methods=["POST"])
@role_required(*OFFICE)
def publish(consultation_id):
    item = _visible(consultation_id)
    try:
        with db.session.begin_nested():
            notice = consultations.publish_result(item, db.session.get(User, current_user.id), utcnow())
    except ConsultationError as exc:
        flash(str(exc), "error")
        return redirect(url_for("consultations.show", consultation_id=item.id))
    flash(_("The result is published on the notice board."), "success")
    return redirect(url_for("notices.show", notice_id=notice.id))


@bp.route("/<int:consultation_id>/answers.csv")
@role_required(*OFFICE)
def export(consultation_id):
    """Every household's answer with its comment (UTF-8 with BOM: Excel opens it)."""
    item = _visible(consultation_id)
    labels = {o.id: consultations.option_label(o) for o in item.options}
    query = (
        select(ConsultationAnswer).join(Unit, Unit.id == ConsultationAnswer.unit_id).join(Building, Building.id == Unit.building_id)
        .options(joinedload(ConsultationAnswer.unit).joinedload(Unit.building), joinedload(ConsultationAnswer.user))
        .where(ConsultationAnswer.consultation_id == item.id).order_by(Building.name, Unit.number)
    )
    header = [_("Building"), _("Unit"), _("Floor area (m²)"), _("Option"), _("Comment"), _("Answered by"), _("Answered at")]

    def row(a):
        area = "" if a.unit.area is None else f"{a.unit.area:.2f}"
        return [a.unit.building.name, a.unit.number, area, labels.get(a.option_id, ""), spreadsheet_safe(a.comment), spreadsheet_safe(a.user.name),
                to_local(a.updated_at).strftime("%Y-%m-%d %H:%M")]

    return csv_download(f"consultation-{item.id}-answers.csv", header, query, row)
