"""Questionnaires (问卷, S3.1) and the half-yearly satisfaction survey (S3.5.2): staff write one for
the residents (or owners) of some buildings, answered once per household or once per person
between its opening and closing; the residents are invited when it opens and reminded the day
before it closes; the results count households or persons against those asked."""
from datetime import datetime, time, timedelta

from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import distinct, exists, func, select
from sqlalchemy.exc import IntegrityError

from portal import database
from portal.extensions import db
from portal.i18n import from_local, to_local
from portal.inputs import CONTROL_ERROR, has_controls, newlines
from portal.models import (
    SCALE_MAX,
    Building,
    QuestionKind,
    Residency,
    Role,
    Survey,
    SurveyAnswer,
    SurveyChoice,
    SurveyQuestion,
    SurveyResponse,
    Unit,
    User,
)
from portal.notify import Audience, notify

KIND_LABELS = {
    QuestionKind.SINGLE: _l("Single choice"),
    QuestionKind.MULTIPLE: _l("Multiple choice"),
    QuestionKind.SCALE: _l("Scale of 1 to 5"),
    QuestionKind.TEXT: _l("Free text"),
}
STATE_LABELS = {
    "draft": _l("Draft"),
    "scheduled": _l("Not open yet"),
    "open": _l("Open"),
    "closed": _l("Closed"),
}
# The points of a scale question, as a ticket's satisfaction rating names them (S3.5.2)
SCALE_LABELS = {5: _l("5 · very satisfied"), 4: _l("4 · satisfied"), 3: _l("3 · fair"), 2: _l("2 · dissatisfied"), 1: _l("1 · very dissatisfied")}
MAX_CHOICES = 20
TEXT_MAX = 2000


class SurveyError(ValueError):
    def __init__(self, message, field=None):
        super().__init__(message)
        self.field = field


class SurveyInvalid(SurveyError):
    """Answers that cannot be taken: {question id: what is wrong}."""

    def __init__(self, errors):
        super().__init__(_("Please correct the marked questions."))
        self.errors = errors


# Writing a questionnaire


def _check_settings(title, buildings, opens_at, closes_at, now):
    if not title.strip():
        raise SurveyError(_("Write the title."), "title")
    if not buildings:
        raise SurveyError(_("Choose the buildings whose residents are asked."), "buildings")
    if closes_at <= opens_at:
        raise SurveyError(_("It must close after it opens."), "closes_at")
    if closes_at <= now:
        raise SurveyError(_("The closing time must be in the future."), "closes_at")


def create(title, introduction, buildings, *, owners_only, per_household, opens_at, closes_at, is_satisfaction, actor, now):
    """A draft: nobody but the back office sees it until it is published."""
    _check_settings(title, buildings, opens_at, closes_at, now)
    survey = Survey(title=title.strip(), introduction=(introduction or "").strip(), buildings=list(buildings), is_owners_only=owners_only,
                    is_per_household=per_household, opens_at=opens_at, closes_at=closes_at, is_satisfaction=is_satisfaction,
                    created_by_id=actor.id, created_at=now)
    db.session.add(survey)
    db.session.flush()
    return survey


def update_settings(survey, title, introduction, buildings, *, owners_only, per_household, opens_at, closes_at, is_satisfaction, now):
    """Whom it asks and when: while it is a draft. (Its title and introduction: see update_text.)"""
    if survey.published_at is not None:
        raise SurveyError(_("It is published: whom it asks and when can no longer change."))
    _check_settings(title, buildings, opens_at, closes_at, now)
    survey.title, survey.introduction = title.strip(), (introduction or "").strip()
    survey.buildings = list(buildings)
    survey.is_owners_only, survey.is_per_household, survey.is_satisfaction = owners_only, per_household, is_satisfaction
    survey.opens_at, survey.closes_at = opens_at, closes_at
    db.session.flush()
    return survey


def has_answers(survey):
    return bool(db.session.scalar(select(exists().where(SurveyResponse.survey_id == survey.id))))


def editable(survey, now):
    """Its questions can change until the first answer arrives (and never after it closed)."""
    return now < survey.closes_at and not has_answers(survey)


def _check_editable(survey, now):
    if not editable(survey, now):
        raise SurveyError(_("Answers have arrived: the questions can no longer change."))


def update_text(survey, title, introduction, now):
    _check_editable(survey, now)
    if not title.strip():
        raise SurveyError(_("Write the title."), "title")
    survey.title, survey.introduction = title.strip(), (introduction or "").strip()


def _labels(kind, choices):
    if not kind.has_choices:
        return []
    labels = []
    for line in choices:
        label = line.strip()
        if label and label not in labels:
            labels.append(label)
    if len(labels) < 2:
        raise SurveyError(_("Give at least two choices, one per line."), "choices")
    if len(labels) > MAX_CHOICES:
        raise SurveyError(_("Give at most %(n)d choices.", n=MAX_CHOICES), "choices")
    if any(len(label) > 200 for label in labels):
        raise SurveyError(_("A choice may have at most 200 characters."), "choices")
    return labels


def _fill(question, kind, text, is_required, choices, is_overall):
    kind = QuestionKind(kind)
    if not text.strip():
        raise SurveyError(_("Write the question."), "text")
    labels = _labels(kind, choices)
    question.kind, question.text, question.is_required = kind, text.strip(), is_required
    question.is_overall = bool(is_overall) and kind == QuestionKind.SCALE
    kept = {c.label: c for c in question.choices}
    question.choices = [kept.get(label) or SurveyChoice(label=label) for label in labels]
    for position, choice in enumerate(question.choices):
        choice.position = position
    return question


def add_question(survey, kind, text, is_required, choices, is_overall, now):
    _check_editable(survey, now)
    question = _fill(SurveyQuestion(position=len(survey.questions)), kind, text, is_required, choices, is_overall)
    survey.questions.append(question)
    db.session.flush()
    return question


def update_question(question, kind, text, is_required, choices, is_overall, now):
    _check_editable(question.survey, now)
    _fill(question, kind, text, is_required, choices, is_overall)
    db.session.flush()
    return question


def delete_question(question, now):
    survey = question.survey
    _check_editable(survey, now)
    survey.questions.remove(question)
    for position, q in enumerate(survey.questions):
        q.position = position
    db.session.flush()


def move_question(question, step, now):
    """One place up (step -1) or down (+1)."""
    survey = question.survey
    _check_editable(survey, now)
    questions = list(survey.questions)
    i = questions.index(question)
    j = i + (1 if step > 0 else -1)
    if 0 <= j < len(questions):
        questions[i], questions[j] = questions[j], questions[i]
        for position, q in enumerate(questions):
            q.position = position
    db.session.flush()


def publish(survey, now):
    """Residents see it from its opening time, and are told then (now, or by the worker)."""
    if survey.published_at is not None:
        raise SurveyError(_("It is published already."))
    if not survey.questions:
        raise SurveyError(_("Add at least one question first."))
    if survey.closes_at <= now:
        raise SurveyError(_("The closing time must be in the future."))
    if survey.is_satisfaction and not any(q.is_overall for q in survey.questions):
        raise SurveyError(_("A satisfaction survey needs a 1-to-5 question marked as the overall satisfaction."))
    survey.published_at = now
    if survey.opens_at <= now:
        invite(survey, now)
    db.session.flush()
    return survey


def _audience(survey, **kw):
    return Audience(buildings=[b.id for b in survey.buildings], owners_only=survey.is_owners_only, **kw)


def invite(survey, now):
    survey.invited_at = now
    notify("survey_opened", survey, _audience(survey), now=now)


def open_due(now):
    """Worker: published questionnaires whose opening time has come are told to those asked."""
    due = db.session.scalars(
        select(Survey).where(Survey.published_at.is_not(None), Survey.invited_at.is_(None), Survey.opens_at <= now, Survey.closes_at > now)
        .order_by(Survey.opens_at).limit(50).with_for_update(skip_locked=True)
    ).all()
    for survey in due:
        invite(survey, now)
    return len(due)


def remind_closing(now, ahead=timedelta(hours=24)):
    """Worker: in its last day, those asked who have not answered are reminded (once). A
    questionnaire that was open for less than a day before that gets no reminder: the invitation
    was the reminder."""
    due = db.session.scalars(
        select(Survey).where(Survey.invited_at.is_not(None), Survey.closing_told_at.is_(None), Survey.closes_at > now,
                             Survey.closes_at <= now + ahead)
        .limit(50).with_for_update(skip_locked=True)
    ).all()
    told = 0
    for survey in due:
        survey.closing_told_at = now
        if survey.invited_at <= survey.closes_at - ahead:
            notify("survey_closing", survey, _audience(survey, unanswered_survey=survey.id), now=now)
            told += 1
    return told


# Answering


def eligible_units(survey, homes):
    """The homes (unit ids) through which this person is asked: `homes` as permissions.homes_of gives them."""
    return [unit for unit, building, owner in homes if survey.is_for(building, owner)]


def respondent(survey, user, unit_id):
    return f"u{unit_id}" if survey.is_per_household else f"p{user.id}"


def answered(survey, user, homes):
    """{unit id: when} of this person's homes asked whose household has answered (asked per person:
    one entry, once this person has)."""
    units = eligible_units(survey, homes)
    keys = {respondent(survey, user, unit): unit for unit in units}
    if not keys:
        return {}
    rows = db.session.execute(
        select(SurveyResponse.respondent, SurveyResponse.created_at).where(SurveyResponse.survey_id == survey.id,
                                                                           SurveyResponse.respondent.in_(list(keys)))
    ).all()
    found = dict(rows)
    return {unit: found[key] for key, unit in keys.items() if key in found}


def _ints(values):
    try:
        return [int(v) for v in values]
    except ValueError:
        return None


def _parse(question, values):
    """The answer rows for one question from what was sent (a list of strings), or SurveyError."""
    values = [newlines(v).strip() for v in values if v is not None and v.strip()]
    if any(has_controls(v) for v in values):
        raise SurveyError(str(CONTROL_ERROR))
    if not values:
        if question.is_required:
            raise SurveyError(_("This question must be answered."))
        return []
    if question.kind == QuestionKind.TEXT:
        text = "\n".join(values)
        if len(text) > TEXT_MAX:
            raise SurveyError(_("At most %(n)d characters, please (now %(m)d).", n=TEXT_MAX, m=len(text)))
        return [SurveyAnswer(question_id=question.id, text=text)]
    numbers = _ints(values)
    if question.kind == QuestionKind.SCALE:
        if numbers is None or len(numbers) != 1 or not 1 <= numbers[0] <= SCALE_MAX:
            raise SurveyError(_("Choose a value from 1 to 5."))
        return [SurveyAnswer(question_id=question.id, scale=numbers[0])]
    known = {c.id for c in question.choices}
    if numbers is None or not set(numbers) <= known:
        raise SurveyError(_("Choose among the choices given."))
    if question.kind == QuestionKind.SINGLE and len(set(numbers)) != 1:
        raise SurveyError(_("Choose one of the choices."))
    return [SurveyAnswer(question_id=question.id, choice_id=choice) for choice in sorted(set(numbers))]


def submit(survey, user, unit_id, raw, homes, now, idempotency_key=None):
    """Records the answers of one household (`unit_id`, one of the person's homes asked) or one
    person. `raw` is {question id: [values sent]}. Raises SurveyInvalid with an error per
    question, or SurveyError when this person cannot answer (any more). The same form sent
    again (its idempotency key) records nothing more and returns the response it recorded."""
    earlier = database.with_key(db.session, SurveyResponse, idempotency_key)
    if earlier is not None:
        return earlier
    if now < survey.opens_at or survey.published_at is None:
        raise SurveyError(_("The questionnaire is not open yet."))
    if now >= survey.closes_at:
        raise SurveyError(_("The questionnaire has closed."))
    units = eligible_units(survey, homes)
    if not units:
        raise SurveyError(_("This questionnaire is not for your home."))
    if survey.is_per_household:
        if unit_id not in units:
            raise SurveyError(_("Choose the home you answer for."), "unit")
    else:
        unit_id = units[0]
    key = respondent(survey, user, unit_id)
    already = _("Your household has answered already.") if survey.is_per_household else _("You have answered already.")
    if db.session.scalar(select(exists().where(SurveyResponse.survey_id == survey.id, SurveyResponse.respondent == key))):
        raise SurveyError(already)
    errors, rows = {}, []
    for question in survey.questions:
        try:
            rows += _parse(question, raw.get(question.id, []))
        except SurveyError as exc:
            errors[question.id] = str(exc)
    if errors:
        raise SurveyInvalid(errors)
    response = SurveyResponse(survey_id=survey.id, respondent=key, unit_id=unit_id, user_id=user.id, created_at=now,
                              idempotency_key=idempotency_key)
    try:
        with db.session.begin_nested():  # another member of the household, at the same moment
            db.session.add(response)
            db.session.flush()
    except IntegrityError:
        earlier = database.with_key(db.session, SurveyResponse, idempotency_key)  # or this very form, sent twice at once
        if earlier is not None:
            return earlier
        raise SurveyError(already) from None
    for row in rows:
        row.response_id = response.id
    db.session.add_all(rows)
    db.session.flush()
    return response


# Results


def _asked(survey):
    """Households (or persons) asked, per building, and in all: those with a resident's account."""
    building_ids = [b.id for b in survey.buildings] or [-1]
    base = (select(Unit.building_id).join(Residency, Residency.unit_id == Unit.id).join(User, User.id == Residency.user_id)
            .where(Unit.building_id.in_(building_ids), User.role == Role.RESIDENT, User.is_active))
    if survey.is_owners_only:
        base = base.where(Residency.is_owner)
    counted = Residency.unit_id if survey.is_per_household else Residency.user_id
    per_building = dict(db.session.execute(
        base.with_only_columns(Unit.building_id, func.count(distinct(counted))).group_by(Unit.building_id)
    ).all())
    if survey.is_per_household:
        total = sum(per_building.values())  # a home is in one building
    else:  # a person with homes in two buildings is asked once
        total = db.session.scalar(base.with_only_columns(func.count(distinct(Residency.user_id)))) or 0
    return per_building, total


def _share(part, whole):
    return part / whole if whole else None


def results(survey):
    """Response rate per building and in all; per question its answers: counts and shares per
    choice or scale point (a share of those who answered the question), the average of a scale,
    the texts. A constant number of statements, whatever the number of answers."""
    answers = select(SurveyAnswer).join(SurveyResponse, SurveyResponse.id == SurveyAnswer.response_id).where(SurveyResponse.survey_id == survey.id)
    by_choice = {(q, c): n for q, c, n in db.session.execute(
        answers.with_only_columns(SurveyAnswer.question_id, SurveyAnswer.choice_id, func.count())
        .where(SurveyAnswer.choice_id.is_not(None)).group_by(SurveyAnswer.question_id, SurveyAnswer.choice_id))}
    by_scale = {(q, s): n for q, s, n in db.session.execute(
        answers.with_only_columns(SurveyAnswer.question_id, SurveyAnswer.scale, func.count())
        .where(SurveyAnswer.scale.is_not(None)).group_by(SurveyAnswer.question_id, SurveyAnswer.scale))}
    answered_q = dict(db.session.execute(
        answers.with_only_columns(SurveyAnswer.question_id, func.count(distinct(SurveyAnswer.response_id))).group_by(SurveyAnswer.question_id)
    ).all())
    texts = {}
    for question_id, text in db.session.execute(
        answers.with_only_columns(SurveyAnswer.question_id, SurveyAnswer.text).where(SurveyAnswer.text != "").order_by(SurveyAnswer.id)
    ):
        texts.setdefault(question_id, []).append(text)
    responded = dict(db.session.execute(
        select(Unit.building_id, func.count(SurveyResponse.id)).join(Unit, Unit.id == SurveyResponse.unit_id)
        .where(SurveyResponse.survey_id == survey.id).group_by(Unit.building_id)
    ).all())
    asked, asked_total = _asked(survey)
    buildings = [{"building": b, "answered": responded.get(b.id, 0), "asked": asked.get(b.id, 0),
                  "rate": _share(responded.get(b.id, 0), asked.get(b.id, 0))} for b in survey.buildings]
    total = sum(responded.values())
    questions = []
    for question in survey.questions:
        n = answered_q.get(question.id, 0)
        item = {"question": question, "answered": n, "rows": [], "average": None, "texts": texts.get(question.id, [])}
        if question.kind.has_choices:
            item["rows"] = [(c.label, by_choice.get((question.id, c.id), 0), _share(by_choice.get((question.id, c.id), 0), n))
                            for c in question.choices]
        elif question.kind == QuestionKind.SCALE:
            counts = {point: by_scale.get((question.id, point), 0) for point in range(SCALE_MAX, 0, -1)}
            item["rows"] = [(str(SCALE_LABELS[point]), count, _share(count, n)) for point, count in counts.items()]
            scored = sum(counts.values())
            item["average"] = round(sum(p * c for p, c in counts.items()) / scored, 2) if scored else None
            item["satisfied"] = _share(counts[5] + counts[4], scored)
        questions.append(item)
    return {"answered": total, "asked": asked_total, "rate": _share(total, asked_total), "buildings": buildings, "questions": questions}


def _cell(value):
    """A spreadsheet cell that stays text: what a resident wrote never runs as a formula."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def export_rows(survey):
    """The CSV: a header and one row per response, without names or phones (the unit only)."""
    questions = list(survey.questions)
    header = [_("Response"), _("Answered at"), _("Building"), _("Unit number")] + [_cell(f"{i}. {q.text}") for i, q in enumerate(questions, 1)]
    labels = {c.id: c.label for q in questions for c in q.choices}
    given = {}
    for response_id, question_id, choice_id, scale, text in db.session.execute(
        select(SurveyAnswer.response_id, SurveyAnswer.question_id, SurveyAnswer.choice_id, SurveyAnswer.scale, SurveyAnswer.text)
        .join(SurveyResponse, SurveyResponse.id == SurveyAnswer.response_id).where(SurveyResponse.survey_id == survey.id)
        .order_by(SurveyAnswer.id)
    ):
        value = labels.get(choice_id, "") if choice_id is not None else (str(scale) if scale is not None else text)
        given.setdefault(response_id, {}).setdefault(question_id, []).append(value)
    rows = []
    for response_id, created_at, building, number in db.session.execute(
        select(SurveyResponse.id, SurveyResponse.created_at, Building.name, Unit.number).join(Unit, Unit.id == SurveyResponse.unit_id)
        .join(Building, Building.id == Unit.building_id).where(SurveyResponse.survey_id == survey.id).order_by(SurveyResponse.id)
    ):
        mine = given.get(response_id, {})
        rows.append([response_id, to_local(created_at).strftime("%Y-%m-%d %H:%M"), building, number]
                    + [_cell("；".join(mine.get(q.id, []))) for q in questions])
    return header, rows


# The half-yearly satisfaction survey (半年度满意度调查)

SATISFACTION_QUESTIONS = [
    (QuestionKind.SCALE, _l("Overall, how satisfied are you with our property services?"), True, (), True),
    (QuestionKind.SCALE, _l("Customer service: reception, the service hotline and how your requests were handled"), True, (), False),
    (QuestionKind.SCALE, _l("Repairs: how quickly we came and how well the work was done"), True, (), False),
    (QuestionKind.SCALE, _l("Security and order: patrols, the gates and parking"), True, (), False),
    (QuestionKind.SCALE, _l("Cleaning: public areas, stairwells and rubbish collection"), True, (), False),
    (QuestionKind.SCALE, _l("Greening: lawns, trees and flower beds"), True, (), False),
    (QuestionKind.MULTIPLE, _l("Which should we improve first? (choose any)"), False,
     (_l("Customer service"), _l("Repairs"), _l("Security and order"), _l("Cleaning"), _l("Greening"), _l("Community activities"),
      _l("Fees and openness about them")), False),
    (QuestionKind.TEXT, _l("What should we do better? Any other opinion or suggestion"), False, (), False),
]


def satisfaction_template(actor, now, days=14):
    """The half-yearly satisfaction survey, ready to check and publish: every building, one answer
    per household, open from now for `days` days. Written in Chinese, the community's language,
    whoever prepares it."""
    local = to_local(now)
    buildings = db.session.scalars(select(Building).where(Building.is_active).order_by(Building.name)).all()
    closes_at = from_local(datetime.combine(local.date() + timedelta(days=days), time(23, 59)))
    with force_locale("zh_Hans"):
        half = _("first half") if local.month <= 6 else _("second half")
        title = _("Satisfaction survey %(year)d, %(half)s", year=local.year, half=half)
        introduction = _(
            "To keep improving our service we ask every household twice a year how satisfied you are. Those who read the results "
            "see your building and unit, never your name or phone number. It takes about three minutes; thank you for your time."
        )
        survey = create(title, introduction, buildings, owners_only=False, per_household=True, opens_at=now, closes_at=closes_at,
                        is_satisfaction=True, actor=actor, now=now)
        for position, (kind, text, required, choices, overall) in enumerate(SATISFACTION_QUESTIONS):
            question = SurveyQuestion(position=position)
            _fill(question, kind, str(text), required, [str(c) for c in choices], overall)
            survey.questions.append(question)
    db.session.flush()
    return survey
