"""Questionnaires (问卷, S3.1) and the half-yearly satisfaction survey (S3.5.2) at the service level:
what a questionnaire needs, editing until the first answer, publishing and inviting, one answer
per household or per person, required questions, dates, who is asked, the reminder, the results."""
import threading
from datetime import datetime, timedelta, timezone

import pytest
from flask_babel import force_locale
from sqlalchemy import event, func, select

from portal import database, permissions
from portal.extensions import db
from portal.models import Notification, NotifyJob, QuestionKind, Residency, Role, Survey, SurveyAnswer, SurveyResponse, User, utcnow
from portal.services import surveys
from portal.services.surveys import SurveyError, SurveyInvalid

NOW = datetime(2026, 12, 8, 2, 0, tzinfo=timezone.utc)
CLOSES = NOW + timedelta(days=7)


@pytest.fixture(autouse=True)
def english(app):
    with force_locale("en"):
        yield


@pytest.fixture
def place(make_building, make_user):
    """Buildings A (3 homes) and B (2) are asked, C (1) is not; customer service writes."""

    class Place:
        a, b, c = make_building("A栋", units=3), make_building("B栋", units=2), make_building("C栋", units=1)
        staff = make_user(role=Role.STAFF)

    return Place


def _draft(place, buildings=None, **kw):
    values = dict(owners_only=False, per_household=True, opens_at=NOW, closes_at=CLOSES, is_satisfaction=False)
    values.update(kw)
    return surveys.create("停车管理意见调查", "约需2分钟", buildings if buildings is not None else [place.a, place.b],
                          actor=place.staff, now=NOW, **values)


def _questions(survey, now=NOW):
    """Single (required), multiple (required), scale (required), text (optional)."""
    single = surveys.add_question(survey, "single", "几辆车？", True, ["没有", "1辆", "2辆及以上"], False, now)
    multiple = surveys.add_question(survey, "multiple", "问题在哪？", True, ["车位不足", "外来车辆", "充电桩"], False, now)
    scale = surveys.add_question(survey, "scale", "停车秩序满意吗？", True, [], True, now)
    text = surveys.add_question(survey, "text", "其他建议", False, [], False, now)
    return single, multiple, scale, text


@pytest.fixture
def open_survey(place):
    survey = _draft(place)
    _questions(survey)
    surveys.publish(survey, NOW)
    db.session.commit()
    return survey


def _homes(user):
    return permissions.homes_of(user)


def _tenant(make_user, unit):
    person = make_user(units=[])
    db.session.add(Residency(user_id=person.id, unit_id=unit.id, is_owner=False))
    db.session.commit()
    return person


def _raw(survey, single=0, multiple=(0,), scale=4, text=""):
    q = survey.questions
    return {q[0].id: [str(q[0].choices[single].id)], q[1].id: [str(q[1].choices[i].id) for i in multiple], q[2].id: [str(scale)],
            q[3].id: [text]}


def _answer(survey, person, when=NOW + timedelta(hours=1), unit=None, idempotency_key=None, **kw):
    unit = unit if unit is not None else person.residencies[0].unit_id
    return surveys.submit(survey, person, unit, _raw(survey, **kw), _homes(person), when, idempotency_key)


# Writing one


def test_a_draft_keeps_its_questions_in_order_with_their_choices(place):
    survey = _draft(place)
    single = surveys.add_question(survey, "single", "  几辆车？ ", True, [" 没有", "", "1辆", "没有", "2辆及以上 "], False, NOW)
    scale = surveys.add_question(survey, "scale", "满意吗？", False, ["ignored", "too"], True, NOW)
    assert survey.published_at is None and survey.state(NOW) == "draft"
    assert [(q.position, q.kind, q.text) for q in survey.questions] == [(0, QuestionKind.SINGLE, "几辆车？"), (1, QuestionKind.SCALE, "满意吗？")]
    assert [(c.label, c.position) for c in single.choices] == [("没有", 0), ("1辆", 1), ("2辆及以上", 2)]  # blanks and repeats dropped
    assert scale.choices == [] and scale.is_overall and not scale.is_required
    assert sorted(b.name for b in survey.buildings) == ["A栋", "B栋"]


def test_a_questionnaire_needs_a_title_buildings_and_a_closing_after_its_opening_in_the_future(place):
    for kw, field in (({"buildings": []}, "buildings"), ({"closes_at": NOW}, "closes_at"),
                      ({"opens_at": NOW - timedelta(days=3), "closes_at": NOW - timedelta(days=1)}, "closes_at")):
        buildings = kw.pop("buildings", None)
        with pytest.raises(SurveyError) as caught:
            _draft(place, buildings, **kw)
        assert caught.value.field == field
    with pytest.raises(SurveyError, match="title"):
        surveys.create("  ", "", [place.a], owners_only=False, per_household=True, opens_at=NOW, closes_at=CLOSES,
                       is_satisfaction=False, actor=place.staff, now=NOW)
    assert db.session.scalar(select(func.count(Survey.id))) == 0


@pytest.mark.parametrize("choices", [[], ["只有一个"], ["甲", " ", "甲"]])
def test_choice_questions_need_two_different_choices(place, choices):
    survey = _draft(place)
    for kind in ("single", "multiple"):
        with pytest.raises(SurveyError, match="two choices") as caught:
            surveys.add_question(survey, kind, "问", True, choices, False, NOW)
        assert caught.value.field == "choices"
    assert survey.questions == []


def test_only_a_scale_question_can_be_the_overall_satisfaction(place):
    survey = _draft(place)
    text = surveys.add_question(survey, "text", "建议", False, [], True, NOW)
    choice = surveys.add_question(survey, "single", "是否", True, ["是", "否"], True, NOW)
    assert not text.is_overall and not choice.is_overall


def test_publishing_needs_questions_and_a_satisfaction_survey_its_overall_question(place):
    survey = _draft(place, is_satisfaction=True)
    with pytest.raises(SurveyError, match="at least one question"):
        surveys.publish(survey, NOW)
    surveys.add_question(survey, "scale", "客服满意吗？", True, [], False, NOW)
    with pytest.raises(SurveyError, match="overall"):
        surveys.publish(survey, NOW)
    surveys.update_question(survey.questions[0], "scale", "总体满意吗？", True, [], True, NOW)
    surveys.publish(survey, NOW)
    assert survey.published_at == NOW
    with pytest.raises(SurveyError, match="published already"):
        surveys.publish(survey, NOW)


def test_a_questionnaire_open_at_publishing_invites_at_once_and_its_settings_stay(place):
    survey = _draft(place, owners_only=True)
    _questions(survey)
    surveys.publish(survey, NOW + timedelta(minutes=5))
    assert survey.invited_at == NOW + timedelta(minutes=5)
    job = db.session.scalar(select(NotifyJob))
    assert (job.kind, job.object_type, job.object_id) == ("survey_opened", "survey", survey.id)
    assert job.audience == {"buildings": [place.a.id, place.b.id], "owners_only": True, "unanswered_consultation": None}
    with pytest.raises(SurveyError, match="published"):
        surveys.update_settings(survey, "新标题", "", [place.c], owners_only=False, per_household=True, opens_at=NOW, closes_at=CLOSES,
                                is_satisfaction=False, now=NOW)


def test_a_scheduled_questionnaire_is_invited_by_the_worker_when_it_opens_and_only_once(place):
    survey = _draft(place, opens_at=NOW + timedelta(days=1))
    _questions(survey)
    surveys.publish(survey, NOW)
    assert survey.invited_at is None and survey.state(NOW) == "scheduled"
    assert surveys.open_due(NOW + timedelta(hours=23)) == 0
    assert surveys.open_due(NOW + timedelta(days=1)) == 1
    assert surveys.open_due(NOW + timedelta(days=1, hours=1)) == 0
    assert survey.invited_at == NOW + timedelta(days=1)
    assert db.session.scalar(select(func.count(NotifyJob.id)).where(NotifyJob.kind == "survey_opened")) == 1


def test_drafts_are_never_invited(place):
    survey = _draft(place)
    _questions(survey)
    assert surveys.open_due(NOW + timedelta(hours=1)) == 0
    assert survey.invited_at is None


def test_the_invitation_reaches_the_residents_of_the_buildings_asked_and_owners_only_when_it_says_so(place, make_user, fan_out):
    owner_a, owner_c = make_user(units=[place.a.units[0]]), make_user(units=[place.c.units[0]])
    tenant_b = _tenant(make_user, place.b.units[0])
    for owners_only, expected in ((False, {owner_a.id, tenant_b.id}), (True, {owner_a.id})):
        survey = _draft(place, owners_only=owners_only)
        _questions(survey)
        surveys.publish(survey, NOW)
        db.session.commit()
        fan_out()
        told = set(db.session.scalars(select(Notification.user_id).where(Notification.kind == "survey_opened",
                                                                          Notification.object_id == survey.id)))
        assert told == expected and owner_c.id not in told


def test_the_invitation_text_names_the_questionnaire_and_its_closing_and_links_to_it(place, make_user, fan_out):
    resident = make_user(units=[place.a.units[0]], language="zh_Hans")
    survey = _draft(place)
    _questions(survey)
    surveys.publish(survey, NOW)
    db.session.commit()
    fan_out()
    note = db.session.scalar(select(Notification).where(Notification.user_id == resident.id))
    assert (note.title, note.link) == ("问卷：停车管理意见调查", f"/go/q{survey.id}")
    assert note.body == "请于 12-15 10:00 前填写问卷《停车管理意见调查》，只需几分钟。"


# Editing until the first answer


def test_questions_move_and_go_keeping_their_positions(place):
    survey = _draft(place)
    single, multiple, scale, text = _questions(survey)
    surveys.move_question(scale, -1, NOW)
    surveys.move_question(single, -1, NOW)  # the first stays first
    db.session.expire(survey, ["questions"])
    assert [q.text for q in survey.questions] == ["几辆车？", "停车秩序满意吗？", "问题在哪？", "其他建议"]
    surveys.delete_question(multiple, NOW)
    db.session.expire(survey, ["questions"])
    assert [(q.position, q.text) for q in survey.questions] == [(0, "几辆车？"), (1, "停车秩序满意吗？"), (2, "其他建议")]


def test_changing_a_question_keeps_the_choices_it_still_has(place):
    survey = _draft(place)
    single = _questions(survey)[0]
    kept = single.choices[1].id
    surveys.update_question(single, "single", "家里有几辆车？", False, ["1辆", "3辆以上", "没有"], False, NOW)
    assert [(c.label, c.position) for c in single.choices] == [("1辆", 0), ("3辆以上", 1), ("没有", 2)]
    assert single.choices[0].id == kept and not single.is_required


def test_nothing_about_the_questions_changes_after_the_first_answer(place, open_survey, make_user):
    _answer(open_survey, make_user(units=[place.a.units[0]]))
    first = open_survey.questions[0]
    for change in (lambda: surveys.add_question(open_survey, "text", "再问", False, [], False, NOW),
                   lambda: surveys.update_question(first, "text", "改", False, [], False, NOW),
                   lambda: surveys.delete_question(first, NOW), lambda: surveys.move_question(first, 1, NOW),
                   lambda: surveys.update_text(open_survey, "新标题", "", NOW)):
        with pytest.raises(SurveyError, match="no longer change"):
            change()
    assert not surveys.editable(open_survey, NOW) and len(open_survey.questions) == 4


def test_the_questions_of_a_published_questionnaire_change_until_the_first_answer(place, open_survey):
    assert surveys.editable(open_survey, NOW)
    surveys.update_text(open_survey, " 停车调查 ", "说明", NOW)
    assert open_survey.title == "停车调查"
    assert not surveys.editable(open_survey, CLOSES)  # closed: never again


# Answering


def test_one_answer_per_household_and_the_others_see_it_answered(place, open_survey, make_user):
    owner, spouse = make_user(units=[place.a.units[0]]), make_user(units=[place.a.units[0]])
    response = _answer(open_survey, owner, text="  增设充电桩  ")
    assert (response.respondent, response.unit_id, response.user_id) == (f"u{place.a.units[0].id}", place.a.units[0].id, owner.id)
    assert surveys.answered(open_survey, spouse, _homes(spouse)) == {place.a.units[0].id: NOW + timedelta(hours=1)}
    with pytest.raises(SurveyError, match="household has answered"):
        _answer(open_survey, spouse)
    assert db.session.scalar(select(func.count(SurveyResponse.id))) == 1
    assert db.session.scalar(select(SurveyAnswer.text).where(SurveyAnswer.text != "")) == "增设充电桩"


def test_one_answer_per_person_when_it_asks_each_person(place, make_user):
    survey = _draft(place, per_household=False)
    _questions(survey)
    surveys.publish(survey, NOW)
    owner, spouse = make_user(units=[place.a.units[0]]), make_user(units=[place.a.units[0]])
    _answer(survey, owner)
    _answer(survey, spouse)
    with pytest.raises(SurveyError, match="You have answered already"):
        _answer(survey, owner)
    assert sorted(db.session.scalars(select(SurveyResponse.respondent))) == sorted([f"p{owner.id}", f"p{spouse.id}"])


def test_the_same_form_sent_again_records_nothing_more_and_returns_the_first_response(place, open_survey, make_user):
    """A retry after a timeout or a 503 (its idempotency key) is the answer recorded, not "answered already"."""
    owner = make_user(units=[place.a.units[0]])
    first = _answer(open_survey, owner, text="增设充电桩", idempotency_key="k-survey-1")
    db.session.commit()
    again = _answer(open_survey, owner, text="增设充电桩", idempotency_key="k-survey-1")
    assert again.id == first.id
    assert db.session.scalar(select(func.count(SurveyResponse.id))) == 1
    with pytest.raises(SurveyError, match="household has answered"):
        _answer(open_survey, owner, idempotency_key="k-survey-2")  # another form: the household has answered


def test_an_owner_of_two_homes_answers_once_for_each_household(place, open_survey, make_user):
    owner = make_user(units=[place.a.units[0], place.b.units[1]])
    assert surveys.eligible_units(open_survey, _homes(owner)) == [place.a.units[0].id, place.b.units[1].id]
    _answer(open_survey, owner, unit=place.b.units[1].id)
    _answer(open_survey, owner, unit=place.a.units[0].id)
    with pytest.raises(SurveyError, match="household has answered"):
        _answer(open_survey, owner, unit=place.a.units[0].id)
    with pytest.raises(SurveyError, match="Choose the home") as caught:
        _answer(open_survey, owner, unit=place.c.units[0].id)
    assert caught.value.field == "unit"


def test_required_questions_and_wrong_values_give_an_error_per_question_and_record_nothing(place, open_survey, make_user):
    owner = make_user(units=[place.a.units[0]])
    single, multiple, scale, text = open_survey.questions
    raw = {single.id: [str(multiple.choices[0].id)], multiple.id: [], scale.id: ["6"], text.id: ["x" * 2001]}
    with pytest.raises(SurveyInvalid) as caught:
        surveys.submit(open_survey, owner, place.a.units[0].id, raw, _homes(owner), NOW)
    assert caught.value.errors == {
        single.id: "Choose among the choices given.", multiple.id: "This question must be answered.",
        scale.id: "Choose a value from 1 to 5.", text.id: "At most 2000 characters, please (now 2001).",
    }
    raw = {single.id: [str(c.id) for c in single.choices[:2]], multiple.id: ["abc"], scale.id: ["4"], text.id: [""]}
    with pytest.raises(SurveyInvalid) as caught:
        surveys.submit(open_survey, owner, place.a.units[0].id, raw, _homes(owner), NOW)
    assert caught.value.errors == {single.id: "Choose one of the choices.", multiple.id: "Choose among the choices given."}
    assert db.session.scalar(select(func.count(SurveyResponse.id))) == 0


def test_an_optional_question_may_stay_empty_and_a_multiple_choice_keeps_each_choice(place, open_survey, make_user):
    owner = make_user(units=[place.a.units[0]])
    response = _answer(open_survey, owner, multiple=(2, 0, 2), scale=5)
    rows = db.session.execute(select(SurveyAnswer.question_id, SurveyAnswer.choice_id, SurveyAnswer.scale, SurveyAnswer.text)
                              .where(SurveyAnswer.response_id == response.id).order_by(SurveyAnswer.id)).all()
    single, multiple, scale, _text = open_survey.questions
    assert rows == [(single.id, single.choices[0].id, None, ""), (multiple.id, multiple.choices[0].id, None, ""),
                    (multiple.id, multiple.choices[2].id, None, ""), (scale.id, None, 5, "")]


def test_answers_are_taken_only_between_the_opening_and_the_closing(place, make_user):
    survey = _draft(place, opens_at=NOW + timedelta(days=1))
    _questions(survey)
    owner = make_user(units=[place.a.units[0]])
    with pytest.raises(SurveyError, match="not open yet"):
        _answer(survey, owner, when=NOW + timedelta(days=2))  # a draft
    surveys.publish(survey, NOW)
    with pytest.raises(SurveyError, match="not open yet"):
        _answer(survey, owner, when=NOW + timedelta(hours=23))
    with pytest.raises(SurveyError, match="closed"):
        _answer(survey, owner, when=CLOSES)
    _answer(survey, owner, when=CLOSES - timedelta(seconds=1))


def test_residents_of_other_buildings_and_tenants_of_an_owners_only_questionnaire_are_not_asked(place, make_user):
    survey = _draft(place, owners_only=True)
    _questions(survey)
    surveys.publish(survey, NOW)
    outsider, tenant = make_user(units=[place.c.units[0]]), _tenant(make_user, place.a.units[1])
    for person, unit in ((outsider, place.c.units[0]), (tenant, place.a.units[1])):
        with pytest.raises(SurveyError, match="not for your home"):
            _answer(survey, person, unit=unit.id)
        assert not permissions.can_see_survey(person, survey, _homes(person), NOW)
    owner = make_user(units=[place.a.units[1]])
    with pytest.raises(SurveyError, match="Choose the home"):
        _answer(survey, owner, unit=place.a.units[2].id)  # somebody else's home
    assert db.session.scalar(select(func.count(SurveyResponse.id))) == 0


def test_residents_see_the_published_opened_questionnaires_of_their_homes_and_the_office_every_one(place, open_survey, make_user):
    draft, owners = _draft(place), _draft(place, [place.b], owners_only=True)
    _questions(owners)
    surveys.publish(owners, NOW)
    later = _draft(place, opens_at=NOW + timedelta(days=1))
    _questions(later)
    surveys.publish(later, NOW)
    db.session.commit()
    query = select(Survey.id).order_by(Survey.id)

    def seen(person, when=NOW):
        return db.session.scalars(query.where(*permissions.survey_scope(person, _homes(person), when))).all()

    tenant_b = _tenant(make_user, place.b.units[0])
    assert seen(make_user(units=[place.a.units[0]])) == [open_survey.id]
    assert seen(tenant_b) == [open_survey.id]
    assert seen(make_user(units=[place.b.units[1]])) == [open_survey.id, owners.id]
    assert seen(make_user(units=[place.c.units[0]])) == []
    assert seen(tenant_b, NOW + timedelta(days=1)) == [open_survey.id, later.id]
    assert seen(place.staff) == [open_survey.id, draft.id, owners.id, later.id]
    assert seen(make_user(role=Role.COMMITTEE, units=[place.a.units[0]])) == []
    assert seen(make_user(role=Role.WORKER)) == []


def test_two_members_of_a_household_answering_at_once_make_one_response(concurrent_app):
    from portal.models import Building, Unit

    with concurrent_app.app_context():
        building = Building(name="1号楼", units=[Unit(number="1-101")])
        staff = User(name="王敏", username="kefu", role=Role.STAFF)
        members = [User(name=f"家人{i}", phone=f"1380000{i:04d}", role=Role.RESIDENT) for i in range(8)]
        for member in members:
            member.residencies.append(Residency(unit=building.units[0]))
        db.session.add_all([building, staff, *members])
        db.session.flush()
        survey = surveys.create("问卷", "", [building], owners_only=False, per_household=True, opens_at=utcnow(),
                                closes_at=utcnow() + timedelta(days=1), is_satisfaction=False, actor=staff, now=utcnow())
        question = surveys.add_question(survey, "scale", "满意吗？", True, [], False, utcnow())
        surveys.publish(survey, utcnow())
        db.session.commit()
        ids, survey_id, question_id, unit_id = [m.id for m in members], survey.id, question.id, building.units[0].id
    outcomes, barrier = [], threading.Barrier(len(ids))

    def answer(user_id):
        try:
            with concurrent_app.app_context(), force_locale("en"):
                barrier.wait()
                database.begin_write(db.session)
                person = db.session.get(User, user_id)
                surveys.submit(db.session.get(Survey, survey_id), person, unit_id, {question_id: ["5"]}, permissions.homes_of(person), utcnow())
                db.session.commit()
                outcomes.append("answered")
        except SurveyError as exc:
            outcomes.append(str(exc))
        except Exception as exc:  # collected and asserted below
            outcomes.append(repr(exc))

    threads = [threading.Thread(target=answer, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["Your household has answered already."] * (len(ids) - 1) + ["answered"]
    with concurrent_app.app_context():
        assert db.session.scalar(select(func.count(SurveyResponse.id))) == 1


# The reminder


def test_the_closing_reminder_goes_once_in_the_last_day_to_households_that_have_not_answered(place, open_survey, make_user, fan_out):
    answered, spouse = make_user(units=[place.a.units[0]]), make_user(units=[place.a.units[0]])
    silent, tenant = make_user(units=[place.b.units[0]]), _tenant(make_user, place.a.units[1])
    make_user(units=[place.c.units[0]])
    _answer(open_survey, answered)
    assert surveys.remind_closing(CLOSES - timedelta(hours=25)) == 0
    assert surveys.remind_closing(CLOSES - timedelta(hours=23)) == 1
    assert surveys.remind_closing(CLOSES - timedelta(hours=1)) == 0
    assert open_survey.closing_told_at == CLOSES - timedelta(hours=23)
    db.session.commit()
    fan_out()
    told = set(db.session.scalars(select(Notification.user_id).where(Notification.kind == "survey_closing")))
    assert told == {silent.id, tenant.id} and spouse.id not in told  # the spouse's household has answered


def test_a_questionnaire_per_person_reminds_each_person_who_has_not_answered(place, make_user, fan_out):
    survey = _draft(place, per_household=False)
    _questions(survey)
    surveys.publish(survey, NOW)
    answered, spouse = make_user(units=[place.a.units[0]]), make_user(units=[place.a.units[0]])
    _answer(survey, answered)
    surveys.remind_closing(CLOSES - timedelta(hours=2))
    db.session.commit()
    fan_out()
    assert set(db.session.scalars(select(Notification.user_id).where(Notification.kind == "survey_closing"))) == {spouse.id}


def test_no_reminder_after_the_closing_nor_for_a_questionnaire_open_less_than_a_day(place, make_user):
    short = _draft(place, closes_at=NOW + timedelta(hours=10))
    _questions(short)
    surveys.publish(short, NOW)
    assert surveys.remind_closing(NOW + timedelta(hours=1)) == 0
    assert short.closing_told_at == NOW + timedelta(hours=1)  # looked at, and left: the invitation was its reminder
    late = _draft(place)
    _questions(late)
    surveys.publish(late, NOW)
    assert surveys.remind_closing(CLOSES) == 0 and late.closing_told_at is None
    assert db.session.scalar(select(func.count(NotifyJob.id)).where(NotifyJob.kind == "survey_closing")) == 0


# Results


def test_results_count_households_against_those_asked_per_building_and_each_question(place, open_survey, make_user):
    a1, a2, a3 = (make_user(units=[u]) for u in place.a.units)
    b1 = make_user(units=[place.b.units[0]])
    make_user(units=[place.a.units[0]])  # a second person of a home: still one household
    _tenant(make_user, place.b.units[1])  # a tenant's household is asked too
    make_user(units=[place.c.units[0]])  # not asked
    make_user(units=[place.b.units[0]], is_active=False)
    _answer(open_survey, a1, single=0, multiple=(0, 1), scale=5, text="加装充电桩")
    _answer(open_survey, a2, single=1, multiple=(0,), scale=4)
    _answer(open_survey, b1, single=1, multiple=(2,), scale=2, text="外来车辆太多")
    del a3
    r = surveys.results(open_survey)
    assert (r["answered"], r["asked"], r["rate"]) == (3, 5, pytest.approx(0.6))
    assert [(x["building"].name, x["answered"], x["asked"], x["rate"]) for x in r["buildings"]] == [
        ("A栋", 2, 3, pytest.approx(2 / 3)), ("B栋", 1, 2, pytest.approx(0.5))]
    single, multiple, scale, text = r["questions"]
    assert single["answered"] == 3 and single["rows"] == [("没有", 1, pytest.approx(1 / 3)), ("1辆", 2, pytest.approx(2 / 3)),
                                                          ("2辆及以上", 0, 0.0)]
    assert multiple["rows"] == [("车位不足", 2, pytest.approx(2 / 3)), ("外来车辆", 1, pytest.approx(1 / 3)), ("充电桩", 1, pytest.approx(1 / 3))]
    assert [count for _label, count, _share in scale["rows"]] == [1, 1, 0, 1, 0]  # 5, 4, 3, 2, 1
    assert scale["average"] == pytest.approx(11 / 3, abs=0.01) and scale["satisfied"] == pytest.approx(2 / 3)
    assert text["answered"] == 2 and text["texts"] == ["加装充电桩", "外来车辆太多"] and text["rows"] == []


def test_results_per_person_count_a_person_with_homes_in_two_buildings_once_in_all(place, make_user):
    survey = _draft(place, per_household=False, owners_only=True)
    _questions(survey)
    surveys.publish(survey, NOW)
    both = make_user(units=[place.a.units[0], place.b.units[0]])
    make_user(units=[place.a.units[0]])
    _tenant(make_user, place.a.units[1])  # owners only: not asked
    _answer(survey, both)
    r = surveys.results(survey)
    assert [(x["answered"], x["asked"]) for x in r["buildings"]] == [(1, 2), (0, 1)]
    assert (r["answered"], r["asked"]) == (1, 2)


def test_results_of_a_questionnaire_nobody_answered(place, open_survey):
    r = surveys.results(open_survey)
    assert (r["answered"], r["asked"], r["rate"]) == (0, 0, None)
    assert r["questions"][2]["average"] is None and r["questions"][0]["rows"][0] == ("没有", 0, None)


def _statements(fn):
    found = []
    listener = lambda *a: a[2].startswith(("BEGIN", "SAVEPOINT", "RELEASE")) or found.append(a[2])  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        fn()
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    return len(found)


def test_results_and_export_take_as_many_statements_for_thirty_answers_as_for_two(place, open_survey, make_user, make_building):
    def measure():
        db.session.expire_all()
        survey = db.session.get(Survey, open_survey.id)
        return _statements(lambda: (surveys.results(survey), surveys.export_rows(survey)))

    for unit in place.a.units[:2]:
        _answer(open_survey, make_user(units=[unit]))
    db.session.commit()
    few = measure()
    more = make_building("D栋", units=28)
    open_survey.buildings.append(more)
    for unit in more.units:
        _answer(open_survey, make_user(units=[unit]), text="好")
    db.session.commit()
    assert measure() == few


def test_the_export_has_a_row_per_response_with_its_unit_and_never_a_name_or_phone(place, open_survey, make_user):
    owner = make_user(units=[place.a.units[0]], name="周杰", phone="13800009999")
    _answer(open_survey, owner, single=2, multiple=(0, 2), scale=3, text="=HYPERLINK(\"x\")")
    header, rows = surveys.export_rows(open_survey)
    assert header == ["Response", "Answered at", "Building", "Unit number", "1. 几辆车？", "2. 问题在哪？", "3. 停车秩序满意吗？", "4. 其他建议"]
    response_id = db.session.scalar(select(SurveyResponse.id))
    assert rows == [[response_id, "2026-12-08 11:00", "A栋", place.a.units[0].number, "2辆及以上", "车位不足；充电桩", "3",
                     "'=HYPERLINK(\"x\")"]]
    assert not any("周杰" in str(cell) or "13800009999" in str(cell) for cell in rows[0])


# The half-yearly satisfaction survey


def test_the_satisfaction_survey_is_prepared_in_chinese_for_every_building_one_answer_per_household(place):
    place.c.is_active = False
    survey = surveys.satisfaction_template(place.staff, NOW)
    assert survey.title == "2026年下半年物业服务满意度调查"
    assert survey.published_at is None and survey.is_satisfaction and survey.is_per_household and not survey.is_owners_only
    assert [b.name for b in survey.buildings] == ["A栋", "B栋"]
    assert (survey.opens_at, survey.closes_at) == (NOW, datetime(2026, 12, 22, 15, 59, tzinfo=timezone.utc))  # 23:59 in Shanghai
    kinds = [(q.kind, q.is_overall, q.is_required) for q in survey.questions]
    assert kinds == [(QuestionKind.SCALE, True, True)] + [(QuestionKind.SCALE, False, True)] * 5 + [
        (QuestionKind.MULTIPLE, False, False), (QuestionKind.TEXT, False, False)]
    texts = [q.text for q in survey.questions]
    assert texts[0] == "总体而言，您对本小区物业服务的满意程度如何？"
    assert [t[:4] for t in texts[1:6]] == ["客户服务", "工程维修", "秩序维护", "环境保洁", "绿化养护"]
    assert "改进" in texts[7]
    surveys.publish(survey, NOW)  # ready as it is
    assert survey.invited_at == NOW


def test_the_first_half_years_survey_is_called_so(place):
    assert surveys.satisfaction_template(place.staff, datetime(2026, 6, 1, 2, 0, tzinfo=timezone.utc)).title == "2026年上半年物业服务满意度调查"


def test_the_worker_invites_at_the_opening_and_reminds_in_the_last_day(place, make_user):
    from portal.worker import run_round

    resident = make_user(units=[place.a.units[0]])
    survey = _draft(place, opens_at=NOW + timedelta(hours=2))
    _questions(survey)
    surveys.publish(survey, NOW)
    db.session.commit()

    def told():
        return db.session.scalars(select(Notification.kind).where(Notification.user_id == resident.id).order_by(Notification.id)).all()

    run_round(now=NOW + timedelta(hours=1))
    assert told() == []
    run_round(now=NOW + timedelta(hours=3))
    assert told() == ["survey_opened"]
    run_round(now=CLOSES - timedelta(hours=5))
    run_round(now=CLOSES - timedelta(hours=4))
    assert told() == ["survey_opened", "survey_closing"]
