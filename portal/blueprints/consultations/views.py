"""Consultations before major decisions (征求意见, S4.2.2)."""
from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from portal.blueprints.consultations import bp
from portal.blueprints.consultations.forms import AnswerForm, ConsultationForm
from portal.extensions import db
from portal.forms import choices
from portal.models import Building, Consultation, ConsultationAnswer, Role, User, utcnow
from portal.permissions import (
    OFFICE,
    can_see_community,
    can_see_consultation,
    consultation_scope,
    get_or_404,
    is_back_office,
    is_resident,
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
    return render_template("consultations/index.html", rows=rows, now=utcnow())


@bp.route("/new", methods=["GET", "POST"])
@role_required(*OFFICE)
def new():
    form = ConsultationForm()
    form.buildings.choices = choices((b.id, b.name) for b in db.session.scalars(select(Building).where(Building.is_active).order_by(Building.name)))
    if form.validate_on_submit():
        buildings = [b for b in (db.session.get(Building, i) for i in form.buildings.data or []) if b]
        try:
            with db.session.begin_nested():
                item = consultations.create(form.title.data, form.explanation.data or "", form.options.data.splitlines(),
                                            form.deadline.utc, buildings, current_user, utcnow())
        except ConsultationError as exc:
            form.options.errors.append(str(exc))
        else:
            flash(_("The consultation is open."), "success")
            return redirect(url_for("consultations.show", consultation_id=item.id))
    return render_template("consultations/new.html", form=form), (422 if request.method == "POST" else 200)


def _page(item, form=None, status=200):
    now = utcnow()
    units = consultations.owner_units(current_user, item) if is_resident(current_user) else []
    answers = {}
    if units:
        answers = dict(db.session.execute(select(ConsultationAnswer.unit_id, ConsultationAnswer.option_id).where(
            ConsultationAnswer.consultation_id == item.id, ConsultationAnswer.unit_id.in_([u.id for u in units]))).all())
    staff = is_back_office(current_user)
    results = consultations.results(item) if staff or now >= item.deadline else None
    form = form or AnswerForm(formdata=None, option=answers.get(units[0].id) if units else None)
    form.option.choices = choices((o.id, o.label) for o in item.options)
    return render_template("consultations/show.html", item=item, units=units, answers=answers, form=form, results=results,
                           staff=staff, open=now < item.deadline, labels={o.id: o.label for o in item.options},
                           building_names={b.id: b.name for b in item.buildings}), status


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
        return _page(item, form, 422)
    try:
        with db.session.begin_nested():
            consultations.answer(item, db.session.get(User, current_user.id), unit, form.option.data, utcnow())
    except ConsultationError as exc:
        form.option.errors.append(str(exc))
        return _page(item, form, 422)
    flash(_("Your household's answer was recorded. You can change it until the deadline."), "success")
    return redirect(url_for("consultations.show", consultation_id=item.id))
