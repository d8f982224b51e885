from datetime import timedelta

import pytest

from portal.extensions import db
from portal.models import Residency, Role, utcnow
from portal.services import consultations
from portal.services.consultations import ConsultationError
from tests.conftest import PortalClient


@pytest.fixture
def setup(make_user, make_building):
    a, b, c = make_building(units=3), make_building(units=3), make_building(units=1)
    staff = make_user(role=Role.STAFF)
    question = consultations.create("是否更换电梯", "说明", ["同意", "不同意"], utcnow() + timedelta(days=3), [a, b], staff, utcnow())
    db.session.commit()
    return a, b, c, staff, question


def test_one_answer_per_household_changeable_until_the_deadline(client, make_user, setup):
    a, b, c, staff, question = setup
    owner = make_user(units=[a.units[0]])
    spouse = make_user(units=[a.units[0]])
    client.login(owner)
    yes, no = question.options
    assert client.post(f"/consultations/{question.id}/answer", {"option": str(yes.id)}).status_code == 302
    other = PortalClient(client.app)
    other.login(spouse)
    other.post(f"/consultations/{question.id}/answer", {"option": str(no.id)})
    results = consultations.results(question)
    assert results["answered"] == 1 and results["per_option"] == {no.id: 1}
    question.deadline = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert client.post(f"/consultations/{question.id}/answer", {"option": str(yes.id)}).status_code == 422


def test_only_owners_of_the_buildings_asked_answer(client, make_user, setup):
    a, b, c, staff, question = setup
    tenant = make_user(units=[])
    db.session.add(Residency(user_id=tenant.id, unit_id=a.units[1].id, is_owner=False))
    db.session.commit()
    with pytest.raises(ConsultationError):
        consultations.answer(question, tenant, a.units[1], question.options[0].id, utcnow())
    outsider = make_user(building=c)
    client.login(outsider)
    assert client.get(f"/consultations/{question.id}").status_code == 404
    assert client.post(f"/consultations/{question.id}/answer", {"option": str(question.options[0].id)}).status_code == 404


def test_results_per_option_and_building_after_the_deadline_and_turnout_for_staff(client, make_user, setup):
    a, b, c, staff, question = setup
    owners = [make_user(units=[u]) for u in (*a.units, *b.units)]
    for owner, option in zip(owners[:4], (0, 0, 1, 0)):
        consultations.answer(question, owner, owner.residencies[0].unit, question.options[option].id, utcnow())
    db.session.commit()
    client.login(owners[5])
    page = client.get(f"/consultations/{question.id}").get_data(as_text=True)
    assert "4 / 6" not in page  # residents see no results before the deadline
    staff_client = PortalClient(client.app)
    staff_client.login(staff)
    assert "67%" in staff_client.get(f"/consultations/{question.id}").get_data(as_text=True)
    question.deadline = utcnow() - timedelta(seconds=1)
    db.session.commit()
    results = consultations.results(question)
    assert results["per_option"] == {question.options[0].id: 3, question.options[1].id: 1}
    assert results["per_building"][a.id] == {question.options[0].id: 2, question.options[1].id: 1}
    assert results["per_building"][b.id] == {question.options[0].id: 1}
    assert "67%" in client.get(f"/consultations/{question.id}").get_data(as_text=True)


def test_a_consultation_needs_two_options_and_buildings(make_user, make_building):
    staff = make_user(role=Role.STAFF)
    with pytest.raises(ConsultationError):
        consultations.create("问", "", ["只有一个"], utcnow() + timedelta(days=1), [make_building()], staff, utcnow())
    with pytest.raises(ConsultationError):
        consultations.create("问", "", ["甲", "乙"], utcnow() + timedelta(days=1), [], staff, utcnow())
