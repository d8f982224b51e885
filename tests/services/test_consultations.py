"""Consulting the owners (征求意见) at the service level: what a consultation needs, one answer per
household until the deadline, owners only, results and turnout, and the reminder a day before."""
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction

import pytest
from flask_babel import force_locale
from sqlalchemy import func, select

from portal import permissions
from portal.extensions import db
from portal.models import ConsultationAnswer, ConsultationKind, Notice, Notification, NotifyJob, Residency, Role, Vote
from portal.services import consultations
from portal.services.consultations import FAILED, PASSED, TOO_FEW, ConsultationError

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


# Owners' decisions (民法典 art. 278): floor area and owners, exact thresholds


@pytest.fixture
def estate(make_building, make_user):
    """make(areas, kind): a building with one unit per area (None: not recorded) and a decision
    asked of its owners; owners are added by the test."""

    class Estate:
        staff = make_user(role=Role.STAFF)

        def make(self, areas, kind=ConsultationKind.ORDINARY):
            self.building = make_building(units=len(areas))
            for unit, area in zip(self.building.units, areas):
                unit.area = None if area is None else Decimal(area)
            db.session.commit()
            self.question = consultations.create("是否续聘物业服务企业", "", [], DEADLINE, [self.building], self.staff, NOW, kind=kind)
            db.session.commit()
            return self.building.units

        def vote(self, owner, unit, vote):
            option = next(o for o in self.question.options if o.vote == vote)
            consultations.answer(self.question, owner, unit, option.id, NOW)

        def decide(self):
            return consultations.decide(self.question)

    return Estate()


def _owned(make_user, units):
    """One owner per unit."""
    return [make_user(units=[u]) for u in units]


def test_a_decision_asks_agree_disagree_or_abstain_whatever_options_are_given(place):
    q = consultations.create("是否筹集维修资金", "", ["甲", "乙"], DEADLINE, [place.a], place.staff, NOW, kind=ConsultationKind.MAJOR)
    assert [(o.label, o.vote) for o in q.options] == [("同意", Vote.AGREE), ("反对", Vote.DISAGREE), ("弃权", Vote.ABSTAIN)]
    assert q.kind == ConsultationKind.MAJOR
    poll = consultations.create("问", "", ["甲", "乙"], DEADLINE, [place.a], place.staff, NOW)
    assert poll.kind == ConsultationKind.POLL and [o.vote for o in poll.options] == [None, None]


def test_exactly_two_thirds_of_the_area_and_of_the_owners_taking_part_is_enough(estate, make_user):
    units = estate.make(["100", "100", "100"])
    owners = _owned(make_user, units)
    for owner, unit in zip(owners[:2], units[:2]):
        estate.vote(owner, unit, Vote.AGREE)
    decision = estate.decide()
    area, heads = decision.checks["participation_area"], decision.checks["participation_owners"]
    assert (area.part, area.whole, area.share) == (Decimal("200.00"), Decimal("300.00"), Fraction(2, 3))
    assert (heads.part, heads.whole, heads.share) == (2, 3, Fraction(2, 3))
    assert area.met and heads.met
    assert decision.outcome == PASSED


def test_a_hundredth_of_a_square_metre_under_two_thirds_is_too_few(estate, make_user):
    units = estate.make(["100", "100", "100.01"])
    owners = _owned(make_user, units)
    for owner, unit in zip(owners[:2], units[:2]):
        estate.vote(owner, unit, Vote.AGREE)
    decision = estate.decide()
    assert decision.checks["participation_owners"].met  # 2 of 3 owners
    assert not decision.checks["participation_area"].met  # 200 of 300.01 m²
    assert decision.outcome == TOO_FEW


def test_two_of_four_owners_is_under_two_thirds_however_large_their_homes(estate, make_user):
    units = estate.make(["300", "300", "10", "10"])
    owners = _owned(make_user, units)
    for owner, unit in zip(owners[:2], units[:2]):
        estate.vote(owner, unit, Vote.AGREE)
    decision = estate.decide()
    assert decision.checks["participation_area"].met and not decision.checks["participation_owners"].met
    assert decision.outcome == TOO_FEW


def test_exactly_half_agreeing_does_not_pass_an_ordinary_matter(estate, make_user):
    units = estate.make(["100", "100", "100", "100"])
    owners = _owned(make_user, units)
    for owner, unit, vote in zip(owners, units, (Vote.AGREE, Vote.AGREE, Vote.DISAGREE, Vote.DISAGREE)):
        estate.vote(owner, unit, vote)
    decision = estate.decide()
    assert decision.checks["agreement_area"].share == Fraction(1, 2) and not decision.checks["agreement_area"].met
    assert decision.checks["agreement_owners"].share == Fraction(1, 2) and not decision.checks["agreement_owners"].met
    assert decision.outcome == FAILED
    estate.vote(owners[2], units[2], Vote.AGREE)
    assert estate.decide().outcome == PASSED  # three of four


def test_an_ordinary_matter_needs_more_than_half_of_both_area_and_owners(estate, make_user):
    units = estate.make(["100", "100", "100", "300"])
    owners = _owned(make_user, units)
    for owner, unit, vote in zip(owners, units, (Vote.AGREE, Vote.AGREE, Vote.AGREE, Vote.DISAGREE)):
        estate.vote(owner, unit, vote)
    decision = estate.decide()
    assert decision.checks["agreement_owners"].met  # 3 of 4 owners
    assert decision.checks["agreement_area"].share == Fraction(1, 2)  # 300 of 600 m²: not more than half
    assert decision.outcome == FAILED


def test_exactly_three_quarters_passes_a_major_matter(estate, make_user):
    units = estate.make(["80", "80", "80", "80"], ConsultationKind.MAJOR)
    owners = _owned(make_user, units)
    for owner, unit, vote in zip(owners, units, (Vote.AGREE, Vote.AGREE, Vote.AGREE, Vote.DISAGREE)):
        estate.vote(owner, unit, vote)
    decision = estate.decide()
    assert decision.checks["agreement_area"].share == Fraction(3, 4) and decision.checks["agreement_area"].met
    assert decision.checks["agreement_owners"].share == Fraction(3, 4) and decision.checks["agreement_owners"].met
    assert decision.outcome == PASSED


def test_an_abstention_takes_part_but_does_not_agree(estate, make_user):
    units = estate.make(["100", "100", "100"], ConsultationKind.MAJOR)
    owners = _owned(make_user, units)
    for owner, unit, vote in zip(owners, units, (Vote.AGREE, Vote.AGREE, Vote.ABSTAIN)):
        estate.vote(owner, unit, vote)
    decision = estate.decide()
    assert decision.taking_part.owners == 3 and decision.taking_part.area == Decimal("300.00")
    assert decision.checks["agreement_owners"].share == Fraction(2, 3)  # under three quarters
    assert decision.outcome == FAILED


def test_the_same_owner_of_several_units_is_one_owner_with_the_area_of_each(estate, make_user):
    units = estate.make(["100", "50", "100", "50"])
    buyer = make_user(units=units[:2])
    others = _owned(make_user, units[2:])
    estate.vote(buyer, units[0], Vote.AGREE)
    estate.vote(buyer, units[1], Vote.AGREE)
    decision = estate.decide()
    assert (decision.total.owners, decision.total.area, decision.total.units) == (3, Decimal("300.00"), 4)
    assert (decision.taking_part.owners, decision.taking_part.area, decision.taking_part.units) == (1, Decimal("150.00"), 2)
    assert decision.per_option[decision.agree_option_id].owners == 1
    estate.vote(others[0], units[2], Vote.AGREE)
    assert estate.decide().checks["participation_owners"].share == Fraction(2, 3)


def test_co_owners_of_one_unit_are_one_owner(estate, make_user):
    units = estate.make(["90", "90"])
    husband, wife = make_user(units=[units[0]]), make_user(units=[units[0]])
    _owned(make_user, units[1:])
    estate.vote(wife, units[0], Vote.AGREE)
    decision = estate.decide()
    assert (decision.total.owners, decision.taking_part.owners) == (2, 1)
    assert husband.id != wife.id


def test_an_owner_whose_units_answered_differently_counts_as_abstaining(estate, make_user):
    units = estate.make(["120", "60", "100"])
    buyer = make_user(units=units[:2])
    _owned(make_user, units[2:])
    estate.vote(buyer, units[0], Vote.AGREE)
    estate.vote(buyer, units[1], Vote.DISAGREE)
    decision = estate.decide()
    by_vote = {o.vote: decision.per_option[o.id] for o in estate.question.options}
    assert (by_vote[Vote.AGREE].area, by_vote[Vote.AGREE].owners) == (Decimal("120.00"), 0)
    assert (by_vote[Vote.DISAGREE].area, by_vote[Vote.DISAGREE].owners) == (Decimal("60.00"), 0)
    assert (by_vote[Vote.ABSTAIN].area, by_vote[Vote.ABSTAIN].owners) == (Decimal("0.00"), 1)
    assert decision.split_owners == 1 and decision.taking_part.owners == 1


def test_the_developers_unsold_units_count_together_as_one_owner(estate, make_user):
    units = estate.make(["100", "100", "100", "100", "100", "100"])
    owners = _owned(make_user, units[:3])
    for unit in units[3:5]:
        unit.is_unsold = True  # no owner recorded: the developer's
    db.session.commit()
    decision = estate.decide()
    assert (decision.total.owners, decision.developer_units, decision.ownerless_units) == (5, 2, 1)  # 3 owners, the developer, one unit
    assert decision.total.area == Decimal("600.00")
    for owner, unit in zip(owners, units):
        estate.vote(owner, unit, Vote.AGREE)
    decision = estate.decide()
    assert decision.checks["participation_owners"].share == Fraction(3, 5)
    assert decision.checks["participation_area"].share == Fraction(1, 2)


def test_a_unit_marked_unsold_with_an_owner_recorded_counts_by_its_owner(estate, make_user):
    units = estate.make(["100", "100"])
    units[0].is_unsold = units[1].is_unsold = True
    db.session.commit()
    make_user(units=[units[0]])
    decision = estate.decide()
    assert (decision.total.owners, decision.developer_units) == (2, 1)


def test_inactive_units_are_not_counted(estate, make_user):
    units = estate.make(["100", "100", "100"])
    units[2].is_active = False
    db.session.commit()
    decision = estate.decide()
    assert (decision.total.units, decision.total.area, decision.total.owners) == (2, Decimal("200.00"), 2)


def test_units_without_an_area_make_the_count_incomplete(estate, make_user):
    units = estate.make(["100", None, "100"])
    decision = estate.decide()
    assert decision.units_without_area == 1 and not decision.area_complete
    assert decision.total.area == Decimal("200.00")


def test_nobody_answering_takes_no_part_and_divides_by_nothing(estate):
    estate.make(["100", "100"])
    decision = estate.decide()
    assert decision.checks["agreement_area"].share is None and not decision.checks["agreement_area"].met
    assert decision.outcome == TOO_FEW


# Comments and the published result


def test_an_answer_keeps_its_comment_trimmed_and_a_changed_answer_its_new_comment(place, question, make_user):
    owner = _owner(make_user, place.a.units[0])
    answer = consultations.answer(question, owner, place.a.units[0], question.options[0].id, NOW, comment="  电梯太旧了  ")
    assert answer.comment == "电梯太旧了"
    consultations.answer(question, owner, place.a.units[0], question.options[1].id, NOW)
    assert answer.comment == ""


def test_a_comment_has_a_limit(place, question, make_user):
    owner = _owner(make_user, place.a.units[0])
    with pytest.raises(ConsultationError, match="1000"):
        consultations.answer(question, owner, place.a.units[0], question.options[0].id, NOW, comment="字" * 1001)
    consultations.answer(question, owner, place.a.units[0], question.options[0].id, NOW, comment="字" * 1000)


def test_the_result_is_published_once_after_the_deadline_as_a_bulletin_of_the_buildings_asked(estate, make_user, make_building):
    make_building("其他楼")  # not asked: the result is a bulletin, not community-wide
    units = estate.make(["100", "100", "100"], ConsultationKind.MAJOR)
    owners = _owned(make_user, units)
    for owner, unit in zip(owners, units):
        estate.vote(owner, unit, Vote.AGREE)
    with pytest.raises(ConsultationError, match="after the deadline"):
        consultations.publish_result(estate.question, estate.staff, DEADLINE - timedelta(seconds=1))
    assert db.session.scalar(select(func.count(Notice.id))) == 0
    notice = consultations.publish_result(estate.question, estate.staff, DEADLINE)
    assert estate.question.notice_id == notice.id
    assert notice.is_community_wide is False and [b.id for b in notice.buildings] == [estate.building.id]
    assert notice.title == "表决结果：是否续聘物业服务企业" and notice.publish_at == DEADLINE
    lines = notice.body.splitlines()
    assert "**表决结果：通过**" in lines
    assert "- 参与表决（按专有部分面积）：300.00 / 300.00 m²（100.0%），须达到全部的三分之二以上：已达到" in lines
    assert "- 同意（按人数）：3 / 3 人参与表决（100.0%），须达到参与表决的四分之三以上：已达到" in lines
    job = db.session.scalar(select(NotifyJob).where(NotifyJob.kind == "notice_published"))
    assert job.object_id == notice.id and job.audience["buildings"] == [estate.building.id]
    with pytest.raises(ConsultationError, match="already"):
        consultations.publish_result(estate.question, estate.staff, DEADLINE + timedelta(hours=1))
    assert db.session.scalar(select(func.count(Notice.id))) == 1


def test_a_decision_with_units_without_an_area_cannot_be_published(estate, make_user):
    estate.make(["100", None])
    with pytest.raises(ConsultationError, match="1 units"):
        consultations.publish_result(estate.question, estate.staff, DEADLINE)
    assert estate.question.notice_id is None


def test_a_poll_of_every_building_publishes_a_community_wide_notice_with_the_households(place, make_user):
    poll = consultations.create("绿化改造意见", "", ["赞成", "反对"], DEADLINE, [place.a, place.b, place.c], place.staff, NOW)
    owner = _owner(make_user, place.a.units[0])
    consultations.answer(poll, owner, place.a.units[0], poll.options[0].id, NOW)
    notice = consultations.publish_result(poll, place.staff, DEADLINE)
    assert notice.is_community_wide is True and notice.buildings == []
    assert notice.title == "征求意见结果：绿化改造意见"
    assert "- 赞成：1" in notice.body.splitlines() and "- 反对：0" in notice.body.splitlines()


def test_two_staff_publishing_at_once_make_one_notice(concurrent_app):
    import threading

    from portal import database
    from portal.models import Building, Consultation, Unit, User

    with concurrent_app.app_context():
        building = Building(name="1号楼", units=[Unit(number="1-101", area=Decimal("90"))])
        staff = [User(name=f"客服{i}", username=f"kefu{i}", role=Role.STAFF) for i in range(2)]
        db.session.add_all([building, *staff])
        db.session.commit()
        question = consultations.create("是否续聘", "", [], NOW + timedelta(days=1), [building], staff[0], NOW, kind=ConsultationKind.ORDINARY)
        db.session.commit()
        question_id, staff_ids = question.id, [s.id for s in staff]
    outcomes, barrier = [], threading.Barrier(2)

    def publish(user_id):
        with concurrent_app.app_context():
            barrier.wait()
            database.begin_write(db.session)
            try:
                consultations.publish_result(db.session.get(Consultation, question_id), db.session.get(User, user_id), NOW + timedelta(days=2))
                db.session.commit()
                outcomes.append("published")
            except ConsultationError as exc:
                db.session.rollback()
                outcomes.append(str(exc))

    threads = [threading.Thread(target=publish, args=(i,)) for i in staff_ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["published", "结果已发布，不能重复发布。"]  # the threads speak the default language
    with concurrent_app.app_context():
        assert db.session.scalar(select(func.count(Notice.id))) == 1
        assert db.session.get(Consultation, question_id).notice_id is not None
