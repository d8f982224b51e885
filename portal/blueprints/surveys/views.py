"""Questionnaires (问卷) and the half-yearly satisfaction survey (S3.1, S3.5.2): the back office
writes, publishes and reads them; residents answer those meant for their homes."""
import csv
import io

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from portal.blueprints.surveys import bp
from portal.blueprints.surveys.forms import QuestionForm, SurveyForm, TextForm
from portal.downloads import download
from portal.extensions import db
from portal.forms import IdempotentForm, choices
from portal.inputs import clean
from portal.models import Building, Role, Survey, SurveyResponse, Unit, User, utcnow
from portal.permissions import (
    DESK,
    OFFICE,
    can_build_surveys,
    can_see_survey,
    can_use_surveys,
    get_or_404,
    is_resident,
    login_required,
    resident_homes,
    role_required,
    survey_scope,
)
from portal.services import surveys
from portal.services.surveys import KIND_LABELS, SCALE_LABELS, STATE_LABELS, SurveyError, SurveyInvalid


def _visible(survey_id):
    now = utcnow()
    return get_or_404(Survey, survey_id, lambda user, item: can_see_survey(user, item, resident_homes(), now))


def _question(survey, question_id):
    return next((q for q in survey.questions if q.id == question_id), None) or abort(404)


@bp.route("/")
@login_required
def index():
    if not can_use_surveys(current_user):
        abort(404)
    now = utcnow()
    homes = resident_homes()
    rows = db.session.scalars(
        select(Survey).options(selectinload(Survey.buildings)).where(*survey_scope(current_user, homes, now))
        .order_by(Survey.closes_at.desc(), Survey.id.desc()).limit(100)
    ).all()
    ids = [s.id for s in rows] or [-1]
    if is_resident(current_user):
        keys = {f"u{unit}" for unit, _b, _o in homes} | {f"p{current_user.id}"}
        done = set(db.session.execute(
            select(SurveyResponse.survey_id, SurveyResponse.respondent).where(SurveyResponse.survey_id.in_(ids), SurveyResponse.respondent.in_(keys))
        ).all())

        def waiting(survey):
            """Does a home of mine (or do I) still owe this open questionnaire an answer?"""
            units = surveys.eligible_units(survey, homes)
            wanted = {surveys.respondent(survey, current_user, u) for u in units}
            return survey.is_open(now) and any((survey.id, key) not in done for key in wanted)

        pending = {s.id for s in rows if waiting(s)}
        # open ones first, closing soonest first; then the closed ones, the latest first
        rows = sorted(rows, key=lambda s: (not s.is_open(now), s.closes_at.timestamp() * (1 if s.is_open(now) else -1), s.id))
        return render_template("surveys/mine.html", rows=rows, pending=pending, now=now)
    counts = dict(db.session.execute(
        select(SurveyResponse.survey_id, func.count(SurveyResponse.id)).where(SurveyResponse.survey_id.in_(ids)).group_by(SurveyResponse.survey_id)
    ).all())
    return render_template("surveys/index.html", rows=rows, counts=counts, now=now, states=STATE_LABELS)


def _building_choices(form):
    form.buildings.choices = choices((b.id, b.name) for b in db.session.scalars(select(Building).where(Building.is_active).order_by(Building.name)))
    return form


def _settings(form):
    buildings = db.session.scalars(select(Building).where(Building.id.in_(form.buildings.data or [-1])).order_by(Building.name)).all()
    return dict(owners_only=form.audience.data == "owners", per_household=form.per.data != "person", opens_at=form.opens_at.utc,
                closes_at=form.closes_at.utc, is_satisfaction=form.is_satisfaction.data), buildings


def _attach(form, exc, default):
    getattr(form, exc.field or default, getattr(form, default)).errors.append(str(exc))


@bp.route("/new", methods=["GET", "POST"])
@role_required(*DESK)
def new():
    form = _building_choices(SurveyForm())
    if request.method == "GET":
        now = utcnow()
        form.opens_at.process_data(now.replace(second=0, microsecond=0))
    if form.validate_on_submit():
        values, buildings = _settings(form)
        try:
            with db.session.begin_nested():
                survey = surveys.create(form.title.data, form.introduction.data, buildings, actor=db.session.get(User, current_user.id),
                                        now=utcnow(), **values)
        except SurveyError as exc:
            _attach(form, exc, "title")
        else:
            flash(_("The questionnaire was saved as a draft. Add its questions, then publish it."), "success")
            return redirect(url_for("surveys.show", survey_id=survey.id))
    return render_template("surveys/form.html", form=form, survey=None), (422 if request.method == "POST" else 200)


@bp.route("/satisfaction", methods=["POST"])
@role_required(*DESK)
def satisfaction():
    """The half-yearly satisfaction survey (半年度满意度调查) in one click, as a draft to check."""
    survey = surveys.satisfaction_template(db.session.get(User, current_user.id), utcnow())
    flash(_("The half-yearly satisfaction survey was prepared as a draft: check its questions and dates, then publish it."), "success")
    return redirect(url_for("surveys.show", survey_id=survey.id))


@bp.route("/<int:survey_id>/settings", methods=["GET", "POST"])
@role_required(*DESK)
def settings(survey_id):
    survey = db.session.get(Survey, survey_id) or abort(404)
    if survey.published_at is not None:
        abort(404)
    if request.method == "GET":
        form = _building_choices(SurveyForm(obj=survey, audience="owners" if survey.is_owners_only else "all",
                                            per="household" if survey.is_per_household else "person"))
        form.buildings.data = [b.id for b in survey.buildings]
    else:
        form = _building_choices(SurveyForm())
    if form.validate_on_submit():
        values, buildings = _settings(form)
        try:
            with db.session.begin_nested():
                surveys.update_settings(survey, form.title.data, form.introduction.data, buildings, now=utcnow(), **values)
        except SurveyError as exc:
            _attach(form, exc, "title")
        else:
            flash(_("Saved."), "success")
            return redirect(url_for("surveys.show", survey_id=survey.id))
    return render_template("surveys/form.html", form=form, survey=survey), (422 if request.method == "POST" else 200)


@bp.route("/<int:survey_id>")
@login_required
def show(survey_id):
    survey = _visible(survey_id)
    if is_resident(current_user):
        return _answer_page(survey)
    return _manage_page(survey)


# The back office's page: the questionnaire, its questions and what can still change


def _question_form(question):
    return QuestionForm(formdata=None, prefix=f"q{question.id}", kind=question.kind.value, text=question.text,
                        choices="\n".join(c.label for c in question.choices), is_required=question.is_required,
                        is_overall=question.is_overall)


def _manage_page(survey, forms=None, status=200):
    now = utcnow()
    forms = forms or {}
    answers = db.session.scalar(select(func.count(SurveyResponse.id)).where(SurveyResponse.survey_id == survey.id))
    editable = can_build_surveys(current_user) and not answers and now < survey.closes_at
    if editable:
        forms.setdefault("new", QuestionForm(formdata=None, prefix="new"))
        forms.setdefault("text", TextForm(formdata=None, prefix="text", title=survey.title, introduction=survey.introduction))
        for question in survey.questions:
            forms.setdefault(question.id, _question_form(question))
    return render_template("surveys/show.html", survey=survey, state=survey.state(now), states=STATE_LABELS, answers=answers,
                           editable=editable, forms=forms, kinds=KIND_LABELS), status


@bp.route("/<int:survey_id>/text", methods=["POST"])
@role_required(*DESK)
def text(survey_id):
    survey = db.session.get(Survey, survey_id) or abort(404)
    form = TextForm(prefix="text")
    if form.validate_on_submit():
        try:
            with db.session.begin_nested():
                surveys.update_text(survey, form.title.data, form.introduction.data, utcnow())
        except SurveyError as exc:
            _attach(form, exc, "title")
        else:
            flash(_("Saved."), "success")
            return redirect(url_for("surveys.show", survey_id=survey.id))
    return _manage_page(survey, {"text": form}, 422)


@bp.route("/<int:survey_id>/questions", methods=["POST"])
@bp.route("/<int:survey_id>/questions/<int:question_id>", methods=["POST"])
@role_required(*DESK)
def question(survey_id, question_id=None):
    """Adds a question (no id) or changes one."""
    survey = db.session.get(Survey, survey_id) or abort(404)
    existing = _question(survey, question_id) if question_id is not None else None
    form = QuestionForm(prefix=f"q{question_id}" if existing else "new")
    if form.validate_on_submit():
        args = (form.kind.data, form.text.data, form.is_required.data, (form.choices.data or "").splitlines(), form.is_overall.data, utcnow())
        try:
            with db.session.begin_nested():
                saved = surveys.update_question(existing, *args) if existing else surveys.add_question(survey, *args)
        except SurveyError as exc:
            _attach(form, exc, "text")
        else:
            flash(_("Saved."), "success")
            return redirect(url_for("surveys.show", survey_id=survey.id, _anchor=f"question-{saved.id}"))
    return _manage_page(survey, {question_id if existing else "new": form}, 422)


@bp.route("/<int:survey_id>/questions/<int:question_id>/<any(up, down, delete):action>", methods=["POST"])
@role_required(*DESK)
def arrange(survey_id, question_id, action):
    survey = db.session.get(Survey, survey_id) or abort(404)
    item = _question(survey, question_id)
    try:
        with db.session.begin_nested():
            if action == "delete":
                surveys.delete_question(item, utcnow())
            else:
                surveys.move_question(item, -1 if action == "up" else 1, utcnow())
    except SurveyError as exc:
        flash(str(exc), "error")
    return redirect(url_for("surveys.show", survey_id=survey.id, _anchor="questions"))


@bp.route("/<int:survey_id>/publish", methods=["POST"])
@role_required(*DESK)
def publish(survey_id):
    survey = db.session.get(Survey, survey_id) or abort(404)
    try:
        with db.session.begin_nested():
            surveys.publish(survey, utcnow())
    except SurveyError as exc:
        flash(str(exc), "error")
    else:
        if survey.invited_at is not None:
            flash(_("Published: the residents asked are being invited."), "success")
        else:
            flash(_("Published: the residents asked will be invited when it opens."), "success")
    return redirect(url_for("surveys.show", survey_id=survey.id))


@bp.route("/<int:survey_id>/results")
@role_required(*OFFICE)
def results(survey_id):
    survey = db.session.get(Survey, survey_id) or abort(404)
    return render_template("surveys/results.html", survey=survey, results=surveys.results(survey), state=survey.state(utcnow()),
                           states=STATE_LABELS, kinds=KIND_LABELS)


@bp.route("/<int:survey_id>/results.csv")
@role_required(*OFFICE)
def export(survey_id):
    """Every response as a row: the unit, never a name or a phone number (UTF-8 with BOM: Excel opens it)."""
    survey = db.session.get(Survey, survey_id) or abort(404)
    header, rows = surveys.export_rows(survey)
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return download(buffer.getvalue().encode("utf-8"), "text/csv; charset=utf-8", f"survey-{survey.id}-{utcnow():%Y%m%d}.csv")


# The resident's page: the questions, once per household or person


def _answer_page(survey, raw=None, errors=None, chosen_unit=None, status=200):
    now = utcnow()
    homes = resident_homes()
    units = surveys.eligible_units(survey, homes)
    done = surveys.answered(survey, current_user, homes)
    pending = [u for u in units if u not in done] if survey.is_per_household else ([] if done else units[:1])
    labels = dict(db.session.execute(
        select(Unit.id, Building.name + " " + Unit.number).join(Building, Building.id == Unit.building_id).where(Unit.id.in_(units or [-1]))
    ).all())
    return render_template("surveys/answer.html", survey=survey, open=survey.is_open(now), pending=pending, done=done, labels=labels,
                           raw=raw or {}, errors=errors or {}, chosen_unit=chosen_unit, scale=SCALE_LABELS,
                           once=IdempotentForm()), status


def _shown(raw):
    """What was sent, to show again: without control characters (refused with a field error)."""
    return {k: [clean(v) for v in values] for k, values in raw.items()}


@bp.route("/<int:survey_id>/answer", methods=["POST"])
@role_required(Role.RESIDENT)
def answer(survey_id):
    survey = _visible(survey_id)
    raw = {q.id: request.form.getlist(f"q{q.id}") for q in survey.questions}
    unit_id = request.form.get("unit", type=int)
    units = surveys.eligible_units(survey, resident_homes())
    if unit_id is None and len(units) == 1:
        unit_id = units[0]  # one home: nothing to choose
    try:
        surveys.submit(survey, db.session.get(User, current_user.id), unit_id, raw, resident_homes(), utcnow(), IdempotentForm().key)
    except SurveyInvalid as exc:
        return _answer_page(survey, _shown(raw), exc.errors, unit_id, 422)
    except SurveyError as exc:  # closed meanwhile, answered by the household meanwhile, no such home
        return _answer_page(survey, _shown(raw), {exc.field or "form": str(exc)}, unit_id, 422)
    flash(_("Thank you: your answers were recorded."), "success")
    return redirect(url_for("surveys.show", survey_id=survey.id))
