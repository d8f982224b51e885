"""Consulting the owners (征求意见) at the service level: what a consultation needs, one answer per
household until the deadline, owners only, results and turnout, and the reminder a day before."""
from datetime import datetime, timedelta, timezone

import pytest
from flask_babel import force_locale
from sqlalchemy import func, select

from portal import permissions
from portal.extensions import db
from portal.models import ConsultationAnswer, Notification, NotifyJob, Residency, Role
from portal.services import consultations
from portal.services.consultations import ConsultationError

NOW = datetime(2026, 12, 8, 2, 0, tzinfo=timezone.utc)
DEADLINE = NOW + timedelta(days=7)


@pytest.fixture(autouse=True)
def english(app):
    with force_locale("en"):
        yield


@pytest.fixture
def place(make_building, make_user):
    """Buildings A and B are asked, C is not; staff ask."""

    class Place:
        a, b, c = make_building("A栋", units=3), make_building("B栋", units=2), make_building("C栋", units=1)
        staff = make_user(role=Role.STAFF)

    return Place


@pytest.fixture
def question(place):
    q = consultations.create(" 是否更换电梯 ", " 使用维修资金 ", ["同意", "  ", "不同意", ""], DEADLINE, [place.a, place.b], place.staff, NOW)
    db.session.commit()
    return q


def _owner(make_user, *units):
    return make_user(units=list(units))


def _tenant(make_user, unit):
    person = make_user(units=[])
    db.session.add(Residency(user_id=person.id, unit_id=unit.id, is_owner=False))
    db.session.commit()
    return person


def test_a_consultation_keeps_its_options_in_order_and_tells_the_owners_of_the_buildings_asked(place, question):
    assert question.title == "是否更换电梯" and question.explanation == "使用维修资金"
    assert [(o.label, o.position) for o in question.options] == [("同意", 0), ("不同意", 1)]  # blank lines dropped
    assert sorted(b.name for b in question.buildings) == ["A栋", "B栋"]
    job = db.session.scalar(select(NotifyJob))
    assert job.kind == "consultation_opened" and job.object_id == question.id
    assert job.audience == {"buildings": sorted([place.a.id, place.b.id]), "owners_only": True, "unanswered_consultation": None}


def test_the_opening_reaches_owners_only_and_only_in_the_buildings_asked(place, make_user, fan_out):
    owner_a = _owner(make_user, place.a.units[0])
    tenant_a = _tenant(make_user, place.a.units[1])
    owner_c = _owner(make_user, place.c.units[0])
    consultations.create("问", "", ["甲", "乙"], DEADLINE, [place.a], place.staff, NOW)
    db.session.commit()
    fan_out()
    told = set(db.session.scalars(select(Notification.user_id).where(Notification.kind == "consultation_opened")))
    assert owner_a.id in told and tenant_a.id not in told and owner_c.id not in told


@pytest.mark.parametrize("options", [["只有一个"], ["甲", " ", ""], []])
def test_a_consultation_needs_at_least_two_options(place, options):
    with pytest.raises(ConsultationError, match="two options"):
        consultations.create("问", "", options, DEADLINE, [place.a], place.staff, NOW)


def test_a_consultation_needs_buildings_and_a_deadline_in_the_future(place):
    with pytest.raises(ConsultationError, match="buildings"):
        consultations.create("问", "", ["甲", "乙"], DEADLINE, [], place.staff, NOW)
    with pytest.raises(ConsultationError, match="future"):
        consultations.create("问", "", ["甲", "乙"], NOW, [place.a], place.staff, NOW)
    assert db.session.scalar(select(func.count(NotifyJob.id))) == 0


def test_one_answer_per_household_and_the_last_one_counts(place, question, make_user):
    owner, spouse = _owner(make_user, place.a.units[0]), _owner(make_user, place.a.units[0])
    yes, no = question.options
    first = consultations.answer(question, owner, place.a.units[0], yes.id, NOW)
    second = consultations.answer(question, spouse, place.a.units[0], no.id, NOW + timedelta(hours=1))
    assert second.id == first.id
    assert (second.option_id, second.user_id, second.updated_at) == (no.id, spouse.id, NOW + timedelta(hours=1))
    assert db.session.scalar(select(func.count(ConsultationAnswer.id))) == 1


def test_an_owner_of_two_homes_answers_for_each(place, question, make_user):
    owner = _owner(make_user, place.a.units[0], place.b.units[0])
    assert [u.id for u in consultations.owner_units(owner, question)] == [place.a.units[0].id, place.b.units[0].id]
    yes, no = question.options
    consultations.answer(question, owner, place.a.units[0], yes.id, NOW)
    consultations.answer(question, owner, place.b.units[0], no.id, NOW)
    assert consultations.results(question)["per_option"] == {yes.id: 1, no.id: 1}


def test_answers_close_at_the_deadline(place, question, make_user):
    owner = _owner(make_user, place.a.units[0])
    with pytest.raises(ConsultationError, match="deadline"):
        consultations.answer(question, owner, place.a.units[0], question.options[0].id, DEADLINE)
    consultations.answer(question, owner, place.a.units[0], question.options[0].id, DEADLINE - timedelta(seconds=1))


def test_tenants_outsiders_and_other_peoples_homes_cannot_answer(place, question, make_user):
    tenant = _tenant(make_user, place.a.units[1])
    outsider = _owner(make_user, place.c.units[0])
    owner = _owner(make_user, place.a.units[2])
    option = question.options[0].id
    for person, unit in ((tenant, place.a.units[1]), (outsider, place.c.units[0]), (owner, place.a.units[1])):
        with pytest.raises(ConsultationError, match="owners"):
            consultations.answer(question, person, unit, option, NOW)
    assert db.session.scalar(select(func.count(ConsultationAnswer.id))) == 0


def test_the_option_must_be_one_of_this_consultations(place, question, make_user):
    other = consultations.create("另一个问题", "", ["是", "否"], DEADLINE, [place.a], place.staff, NOW)
    owner = _owner(make_user, place.a.units[0])
    with pytest.raises(ConsultationError, match="options"):
        consultations.answer(question, owner, place.a.units[0], other.options[0].id, NOW)


def test_results_per_option_and_building_and_turnout_of_owner_households(place, question, make_user):
    owners = [_owner(make_user, u) for u in (*place.a.units, *place.b.units)]
    _owner(make_user, place.a.units[0])  # a second owner of a home: still one household
    _tenant(make_user, place.b.units[0])  # tenants are no household of their own
    _owner(make_user, place.c.units[0])  # not asked
    yes, no = question.options
    for owner, option in zip(owners[:3], (yes, yes, no)):
        consultations.answer(question, owner, owner.residencies[0].unit, option.id, NOW)
    results = consultations.results(question)
    assert results["per_option"] == {yes.id: 2, no.id: 1}
    assert results["per_building"] == {place.a.id: {yes.id: 2, no.id: 1}}
    assert (results["answered"], results["households"]) == (3, 5)
    assert results["turnout"] == pytest.approx(0.6)


def test_turnout_is_zero_where_nobody_owns_a_home(question):
    results = consultations.results(question)
    assert results == {"per_option": {}, "per_building": {}, "answered": 0, "households": 0, "turnout": 0.0}


def test_the_closing_reminder_goes_once_in_the_last_day(place, question):
    assert consultations.remind_closing(DEADLINE - timedelta(hours=25)) == 0
    assert consultations.remind_closing(DEADLINE - timedelta(hours=23)) == 1
    assert question.closing_told_at == DEADLINE - timedelta(hours=23)
    assert consultations.remind_closing(DEADLINE - timedelta(hours=1)) == 0
    job = db.session.scalar(select(NotifyJob).where(NotifyJob.kind == "consultation_closing"))
    assert job.audience["unanswered_consultation"] == question.id


def test_no_reminder_once_the_deadline_has_passed(place, question):
    assert consultations.remind_closing(DEADLINE) == 0
    assert question.closing_told_at is None


def test_the_reminder_reaches_owners_whose_household_has_not_answered(place, question, make_user, fan_out):
    answered, spouse = _owner(make_user, place.a.units[0]), _owner(make_user, place.a.units[0])
    silent = _owner(make_user, place.b.units[0])
    consultations.answer(question, answered, place.a.units[0], question.options[0].id, NOW)
    consultations.remind_closing(DEADLINE - timedelta(hours=12))
    db.session.commit()
    fan_out()
    told = set(db.session.scalars(select(Notification.user_id).where(Notification.kind == "consultation_closing")))
    assert told == {silent.id} and spouse.id not in told  # the spouse's household has answered


def test_residents_see_the_consultations_of_their_buildings_and_the_back_office_all(place, question, make_user):
    from portal.models import Consultation

    resident_c = _owner(make_user, place.c.units[0])
    query = select(Consultation.id)
    assert db.session.scalars(query.where(*permissions.consultation_scope(resident_c, [place.c.id]))).all() == []
    assert db.session.scalars(query.where(*permissions.consultation_scope(resident_c, [place.a.id]))).all() == [question.id]
    assert db.session.scalars(query.where(*permissions.consultation_scope(resident_c, []))).all() == []
    assert permissions.consultation_scope(place.staff, []) == ()
