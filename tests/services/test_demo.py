"""The demo community: it loads into an empty database with every login working, everyone on duty
at every hour and nothing left to send; it is loaded once; `--scale` adds the promised rows."""
import functools

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import (
    Building,
    Delivery,
    DeliveryStatus,
    Department,
    Notice,
    Residency,
    Role,
    Ticket,
    Unit,
    User,
    utcnow,
)
from portal.services import auth, demo, duty


def _count(model, *where):
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


@pytest.fixture
def seeded(app):
    demo.seed()
    db.session.commit()


def test_the_demo_loads_into_an_empty_database_and_every_demo_login_works(seeded):
    for login, role, _label in demo.LOGINS:
        person = auth.authenticate(login, demo.DEMO_PASSWORD)
        assert person is not None and person.role == Role(role), login
    assert _count(Building) == 6 and _count(Unit) == 6 * 60 and _count(Department) == len(demo.DEPARTMENTS)
    assert _count(User, User.role == Role.RESIDENT) == 302
    assert _count(Residency, Residency.user_id == auth.find_user("13800000001").id) == 2  # 周杰 holds two units


def test_the_demo_has_notices_in_every_state_and_tickets_in_the_register(seeded):
    now = utcnow()
    states = {n.state(now) for n in db.session.scalars(select(Notice))}
    assert states == {"draft", "scheduled", "published", "expired", "withdrawn"}
    assert _count(Ticket) > 10
    numbers = db.session.scalars(select(Ticket.number)).all()
    assert len(numbers) == len(set(numbers))


def test_someone_is_on_duty_in_every_department_at_every_hour(seeded):
    now = utcnow()
    assert duty.Rota(now).gaps(duty.departments(), now) == []


def test_the_demos_history_is_not_sent_again_by_the_first_worker_round(seeded):
    assert _count(Delivery) > 0
    assert _count(Delivery, Delivery.status == DeliveryStatus.PENDING) == 0
    assert _count(Ticket, Ticket.next_page_at.is_not(None)) == 0


def test_seeding_again_adds_no_second_community(seeded):
    people, notices = _count(User), _count(Notice)
    demo.seed()
    db.session.commit()
    assert (_count(User), _count(Notice)) == (people, notices)


def test_the_command_with_if_empty_leaves_a_database_with_people_alone(app, make_user):
    make_user(name="已有的人")
    result = app.test_cli_runner().invoke(args=["seed-demo", "--if-empty"])
    assert result.exit_code == 0 and "demo not loaded" in result.output
    assert _count(User) == 1


def test_the_command_loads_the_demo_into_an_empty_database(app):
    result = app.test_cli_runner().invoke(args=["seed-demo", "--if-empty"])
    assert result.exit_code == 0 and "Demo community loaded." in result.output
    db.session.expire_all()
    assert auth.authenticate("admin", demo.DEMO_PASSWORD).username == "admin"


def test_each_scale_step_adds_ten_thousand_notices_and_two_thousand_residents(seeded, monkeypatch):
    # the full 100,000 tickets per step take long on a laptop: a few hundred show the numbering just as well
    monkeypatch.setattr(demo, "_seed_scale_tickets", functools.partial(demo._seed_scale_tickets, count=300))
    residents, notices, tickets = _count(User, User.role == Role.RESIDENT), _count(Notice), _count(Ticket)
    demo.seed(scale=2)
    db.session.commit()
    assert _count(User, User.role == Role.RESIDENT) == residents + 2 * 2000
    assert _count(Notice) == notices + 2 * 10000
    assert _count(Ticket) == tickets + 2 * 300
    numbers = db.session.scalars(select(Ticket.number)).all()
    assert len(numbers) == len(set(numbers))  # numbered after what the counters already held
    bulletins = db.session.scalars(select(Notice).where(Notice.is_community_wide.is_(False), Notice.title.contains("期）")).limit(5)).all()
    assert bulletins and all(len(n.buildings) == 1 for n in bulletins)  # every scaled bulletin names its building


def test_the_demo_has_floor_areas_and_owners_decisions_one_published_one_open(seeded):
    from portal.models import Consultation, ConsultationKind
    from portal.services import consultations

    assert _count(Unit, Unit.area.is_(None)) == 0
    assert _count(Unit, Unit.is_unsold) > 0  # the developer still holds some of 6号楼
    decisions = {c.kind: c for c in db.session.scalars(select(Consultation).where(Consultation.kind != ConsultationKind.POLL))}
    published, running = decisions[ConsultationKind.ORDINARY], decisions[ConsultationKind.MAJOR]
    notice = db.session.get(Notice, published.notice_id)
    assert notice.title == f"表决结果：{published.title}" and not notice.is_community_wide
    assert consultations.decide(published).area_complete
    assert running.notice_id is None and running.deadline > utcnow()
