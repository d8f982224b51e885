"""`flask db upgrade` builds exactly the schema the models describe (SQLite, and PostgreSQL when set)."""
import os
import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade

from portal import create_app
from portal.extensions import db
from portal.models.search import in_schema_comparison


def _pg_scratch_database():
    import psycopg

    base = os.environ["TEST_DATABASE_URL"]
    name = f"portal_mig_{uuid.uuid4().hex[:8]}"
    admin = base.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return base.rsplit("/", 1)[0] + "/" + name, admin, name


def _drop_scratch(app, cleanup):
    """Close every connection the test's app holds (its pool and the cache's reader), whatever
    the test did, then drop the scratch database: a connection left open would be closed by the
    server's DROP ... WITH (FORCE) and warned about by psycopg when collected, in another test."""
    with app.app_context():
        db.engine.dispose()
    if cleanup:
        import psycopg

        with psycopg.connect(cleanup[0], autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{cleanup[1]}" WITH (FORCE)')


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_upgrade_matches_the_models(tmp_path, backend):
    cleanup = None
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'portal.db'}"
    else:
        if not os.environ.get("TEST_DATABASE_URL"):
            pytest.skip("PostgreSQL run only (TEST_DATABASE_URL)")
        url, admin, name = _pg_scratch_database()
        cleanup = (admin, name)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "x", "TESTING": True})
    try:
        with app.app_context():
            upgrade()
            with db.engine.connect() as conn:
                opts = {"compare_type": True, "include_object": in_schema_comparison(conn.dialect.name)}
                diff = compare_metadata(MigrationContext.configure(conn, opts=opts), db.metadata)
            assert diff == []
            db.engine.dispose()
    finally:
        _drop_scratch(app, cleanup)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_idempotency_keys_migration_adds_unique_keys_and_removes_them_keeping_the_rows(tmp_path, backend):
    """5e0c1d2a9b47 puts a unique idempotency key on sign-ups, ticket messages, questionnaire
    responses and records; going back removes it and keeps the rows."""
    import sqlalchemy as sa
    from flask_migrate import downgrade

    tables = ("event_signup", "ticket_event", "survey_response", "comm_record")
    cleanup = None
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'keys.db'}"
    else:
        if not os.environ.get("TEST_DATABASE_URL"):
            pytest.skip("PostgreSQL run only (TEST_DATABASE_URL)")
        url, admin, name = _pg_scratch_database()
        cleanup = (admin, name)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "x", "TESTING": True})
    try:
        with app.app_context():
            upgrade(revision="a7e3c9d1b2f4")
            with db.engine.begin() as conn:
                conn.execute(sa.text("INSERT INTO \"user\" (id, name, role, is_active, language, created_at, password_hash) "
                                     "VALUES (1, '王敏', 'staff', true, 'zh_Hans', '2026-12-01 08:00:00', '')"))
                conn.execute(sa.text("INSERT INTO comm_record (kind, occurred_at, place, participants, content, result, staff_id, legal_hold, "
                                     "created_at) VALUES ('visit', '2026-12-01 08:00:00', '', '', '走访3栋', '', 1, false, '2026-12-01 08:00:00')"))
            upgrade()
            inspector = sa.inspect(db.engine)
            for table in tables:
                assert "idempotency_key" in {c["name"] for c in inspector.get_columns(table)}, table
                assert {"name": f"uq_{table}_idempotency_key", "column_names": ["idempotency_key"]}.items() <= next(
                    u for u in inspector.get_unique_constraints(table) if u["name"] == f"uq_{table}_idempotency_key").items()
            with db.engine.begin() as conn:
                conn.execute(sa.text("UPDATE comm_record SET idempotency_key = 'k1'"))
                with pytest.raises(sa.exc.IntegrityError):
                    with conn.begin_nested():
                        conn.execute(sa.text("INSERT INTO comm_record (kind, occurred_at, place, participants, content, result, staff_id, "
                                             "legal_hold, created_at, idempotency_key) VALUES ('visit', '2026-12-01 09:00:00', '', '', "
                                             "'再次走访', '', 1, false, '2026-12-01 09:00:00', 'k1')"))
            downgrade(revision="a7e3c9d1b2f4")
            inspector = sa.inspect(db.engine)
            for table in tables:
                assert "idempotency_key" not in {c["name"] for c in inspector.get_columns(table)}, table
            with db.engine.connect() as conn:
                assert conn.execute(sa.text("SELECT content FROM comm_record")).scalars().all() == ["走访3栋"]
            db.engine.dispose()
    finally:
        _drop_scratch(app, cleanup)


def test_seed_demo_loads_a_chinese_community(app):
    from sqlalchemy import func, select

    from portal.models import Building, Department, Notice, Role, Unit, User
    from portal.services import demo

    demo.seed()
    db.session.commit()
    assert db.session.scalar(select(func.count(Building.id))) >= 3
    assert db.session.scalar(select(func.count(Unit.id))) >= 200
    assert db.session.scalar(select(func.count(User.id)).where(User.role == Role.RESIDENT)) >= 200
    names = set(db.session.scalars(select(Department.name)))
    assert {"客服中心", "工程维修部", "秩序维护部", "环境保洁部", "绿化部", "财务部"} <= names
    categories = set(db.session.scalars(select(Notice.category)))
    assert len(categories) == 6
    assert db.session.scalar(select(func.count(Notice.id)).where(Notice.is_community_wide.is_(False))) >= 6


def test_questions_under_notices_move_into_the_register_with_their_answers(tmp_path):
    from datetime import datetime

    import sqlalchemy as sa
    from flask_migrate import upgrade as up

    from portal.models import Ticket, TicketChannel, TicketEvent, TicketStatus

    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'old.db'}", "SECRET_KEY": "x", "TESTING": True})
    with app.app_context():
        up(revision="1bcebe2b2289")  # the schema before tickets
        t = datetime(2026, 3, 1, 2, 0)
        with db.engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO building (id, name, address, is_active) VALUES (1, '1号楼', '', 1)"))
            conn.execute(sa.text("INSERT INTO unit (id, building_id, number, is_active) VALUES (1, 1, '1-101', 1)"))
            for uid, name, role in ((1, '周杰', 'resident'), (2, '王敏', 'staff')):
                conn.execute(sa.text(
                    "INSERT INTO user (id, name, phone, password_hash, role, language, email_pref, is_active, created_at) "
                    "VALUES (:id, :name, :phone, '', :role, 'zh_Hans', 'all', 1, :t)"), {"id": uid, "name": name, "phone": f"1380000000{uid}", "role": role, "t": t})
            conn.execute(sa.text("INSERT INTO residency (id, user_id, unit_id, is_owner) VALUES (1, 1, 1, 1)"))
            conn.execute(sa.text(
                "INSERT INTO notice (id, title, body, body_html, category, is_community_wide, publish_at, is_pinned, withdrawn_reason, author_id, created_at, updated_at) "
                "VALUES (1, '停水通知', '', '', 'maintenance', 1, :t, 0, '', 2, :t, :t)"), {"t": t})
            conn.execute(sa.text(
                "INSERT INTO notice_question (id, notice_id, author_id, body, created_at, answer, answered_by_id, answered_at) "
                "VALUES (1, 1, 1, '车库也停水吗？', :t, '车库不停水。', 2, :t2), (2, 1, 1, '几点来水？', :t, '', NULL, NULL)"),
                {"t": t, "t2": datetime(2026, 3, 1, 3, 0)})
        up()
        tickets = db.session.scalars(sa.select(Ticket).order_by(Ticket.id)).all()
        assert [t.number for t in tickets] == ["ZX-2026-0001", "ZX-2026-0002"]
        assert all(t.channel == TicketChannel.NOTICE_QUESTION and t.notice_id == 1 and t.resident_id == 1 for t in tickets)
        assert tickets[0].status == TicketStatus.FEEDBACK_GIVEN and tickets[0].result == "车库不停水。"
        assert tickets[1].status == TicketStatus.NEW and tickets[1].unit_id == 1
        kinds = [e.kind.value for e in db.session.scalars(sa.select(TicketEvent).where(TicketEvent.ticket_id == tickets[0].id).order_by(TicketEvent.id))]
        assert kinds == ["created", "resolved", "feedback"]
        from portal.services import tickets as svc
        from portal.models import TicketCategory, utcnow

        assert svc.next_number(TicketCategory.INQUIRY, datetime(2026, 6, 1, tzinfo=utcnow().tzinfo)) == "ZX-2026-0003"
        db.session.rollback()
        db.engine.dispose()


def test_backup_makes_a_whole_copy(tmp_path):
    import sqlite3

    from portal.models import Building

    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'live.db'}", "SECRET_KEY": "x", "TESTING": True})
    with app.app_context():
        db.create_all()
        db.session.add(Building(name="1号楼"))
        db.session.commit()
        result = app.test_cli_runner().invoke(args=["backup", "--to", str(tmp_path / "copy.db")])
        assert result.exit_code == 0, result.output
        db.engine.dispose()
    copy = sqlite3.connect(tmp_path / "copy.db")
    assert copy.execute("SELECT name FROM building").fetchall() == [("1号楼",)]
    copy.close()


def test_backup_on_postgresql(app, database_url, tmp_path):
    import shutil

    if not database_url or not shutil.which("pg_dump"):
        pytest.skip("PostgreSQL run with pg_dump only")
    result = app.test_cli_runner().invoke(args=["backup", "--to", str(tmp_path / "copy.pgdump")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "copy.pgdump").stat().st_size > 0


def test_the_email_outbox_and_email_choices_move_into_the_notification_tables(tmp_path):
    """Queued emails survive the move to the one outbox; "no email" and "emergencies only" become channel choices."""
    from datetime import datetime

    import sqlalchemy as sa
    from flask_migrate import upgrade as up

    from portal.models import Channel, Delivery, DeliveryStatus, NotificationPref

    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'old.db'}", "SECRET_KEY": "x", "TESTING": True})
    with app.app_context():
        up(revision="7135fd7ed0e8")  # the schema before notifications
        t = datetime(2026, 11, 30, 2, 0)
        with db.engine.begin() as conn:
            for uid, pref in ((1, "all"), (2, "emergency"), (3, "none")):
                conn.execute(sa.text(
                    "INSERT INTO user (id, name, phone, password_hash, role, language, email_pref, is_active, created_at) "
                    "VALUES (:id, '住户', :phone, '', 'resident', 'zh_Hans', :pref, 1, :t)"), {"id": uid, "phone": f"1380000000{uid}", "pref": pref, "t": t})
            conn.execute(sa.text(
                "INSERT INTO outbox_message (dedupe_key, to_addr, subject, body, status, attempts, next_attempt_at, last_error, created_at) "
                "VALUES ('notice:1:1', 'a@example.com', '停水', '正文', 'pending', 2, :t, 'timeout', :t), "
                "('notice:1:2', 'b@example.com', '停水', '正文', 'sent', 1, :t, '', :t)"), {"t": t})
        up()
        rows = db.session.scalars(sa.select(Delivery).order_by(Delivery.id)).all()
        assert [(r.channel, r.address, r.status, r.attempts) for r in rows] == [
            (Channel.EMAIL, "a@example.com", DeliveryStatus.PENDING, 2), (Channel.EMAIL, "b@example.com", DeliveryStatus.SENT, 1)]
        assert rows[0].subject == "停水" and rows[0].last_error == "timeout"
        prefs = {(p.user_id, p.category): p.channels for p in db.session.scalars(sa.select(NotificationPref))}
        # "all": the defaults, no rows; "emergency": no notices by email; "none": no email for anything
        assert prefs == {(2, "notices"): "wechat", (3, "notices"): "wechat", (3, "tickets"): "wechat,sms", (3, "events"): "wechat,sms",
                         (3, "consultations"): "wechat,sms", (3, "emergencies"): "sms,wechat"}
        db.session.rollback()
        db.engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_search_index_migration_fills_from_existing_rows_and_downgrades(tmp_path, backend):
    """Rows written before the search index existed are found after `db upgrade`; downgrading removes the index."""
    import sqlalchemy as sa
    from flask_migrate import downgrade

    from portal.models import Notice, Role, Ticket, TicketCategory, TicketChannel, User, utcnow
    from portal.search import matches

    cleanup = None
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'search.db'}"
    else:
        if not os.environ.get("TEST_DATABASE_URL"):
            pytest.skip("PostgreSQL run only (TEST_DATABASE_URL)")
        url, admin, name = _pg_scratch_database()
        cleanup = (admin, name)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "x", "TESTING": True})
    try:
        with app.app_context():
            upgrade()
            author = User(name="王敏", role=Role.STAFF, username="kefu")
            db.session.add(author)
            db.session.flush()
            db.session.add(Ticket(number="BX-2026-0001", category=TicketCategory.REPAIR, channel=TicketChannel.HOTLINE,
                                  description="厨房漏水", caller_phone="13800001111", created_at=utcnow()))
            db.session.add(Notice(title="停水通知", body="周六水箱清洗", author_id=author.id, publish_at=utcnow()))
            db.session.commit()
            downgrade(revision="529474bd1147")  # the schema before the index: these rows have no index rows now
            tables = sa.inspect(db.engine).get_table_names()
            assert not any(t.startswith(("ticket_search", "notice_search")) for t in tables)
            upgrade()
            db.session.remove()
            assert db.session.scalars(sa.select(Ticket.number).where(matches(Ticket, "漏水"))).all() == ["BX-2026-0001"]
            assert db.session.scalars(sa.select(Notice.title).where(matches(Notice, "水箱"))).all() == ["停水通知"]
            db.session.remove()
            db.engine.dispose()
    finally:
        _drop_scratch(app, cleanup)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_disclosure_board_migration_upgrades_and_downgrades(tmp_path, backend):
    """f456b7b3d1f0 adds the versions of the disclosure board's sections; downgrading removes them and nothing else."""
    from datetime import date

    import sqlalchemy as sa
    from flask_migrate import downgrade

    from portal.models import DisclosureVersion, Role, User, utcnow

    cleanup = None
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'disclosure.db'}"
    else:
        if not os.environ.get("TEST_DATABASE_URL"):
            pytest.skip("PostgreSQL run only (TEST_DATABASE_URL)")
        url, admin, name = _pg_scratch_database()
        cleanup = (admin, name)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "x", "TESTING": True})
    try:
        with app.app_context():
            upgrade(revision="d4b2e1f3a6c7")
            assert "disclosure_version" not in sa.inspect(db.engine).get_table_names()
            upgrade(revision="f456b7b3d1f0")
            admin_user = User(name="陈立", role=Role.ADMIN, username="admin")
            db.session.add(admin_user)
            db.session.flush()
            first = DisclosureVersion(section="fees", number=1, fees=[{"item": "物业服务费", "scope": "住宅", "price": "2.00", "unit": "元/㎡·月",
                                                                        "note": ""}], effective_on=date(2026, 1, 1), created_by_id=admin_user.id,
                                      created_at=utcnow())
            db.session.add(first)
            db.session.flush()
            db.session.add(DisclosureVersion(section="fees", number=2, fees=[], effective_on=date(2027, 1, 1), previous_id=first.id,
                                             created_by_id=admin_user.id, created_at=utcnow()))
            db.session.commit()
            with pytest.raises(sa.exc.IntegrityError):  # one number per section
                db.session.add(DisclosureVersion(section="fees", number=2, created_by_id=admin_user.id, created_at=utcnow()))
                db.session.commit()
            db.session.rollback()
            stored = db.session.scalars(sa.select(DisclosureVersion).order_by(DisclosureVersion.number)).all()
            assert [(v.number, v.effective_on, v.fees[0]["price"] if v.fees else None) for v in stored] == [
                (1, date(2026, 1, 1), "2.00"), (2, date(2027, 1, 1), None)]
            db.session.remove()
            downgrade(revision="d4b2e1f3a6c7")
            tables = sa.inspect(db.engine).get_table_names()
            assert "disclosure_version" not in tables and "user" in tables and "notice" in tables
            upgrade()
            assert db.session.scalar(sa.select(sa.func.count(DisclosureVersion.id))) == 0
            db.session.remove()
            db.engine.dispose()
    finally:
        _drop_scratch(app, cleanup)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_consultation_decisions_migration_keeps_the_rows_down_and_up(tmp_path, backend):
    """Units' floor areas, consultations' kind and result notice, options' votes and answers'
    comments: downgrading drops them and keeps every row; upgrading again gives the old rows the
    defaults (a poll, no area, not unsold, no comment)."""
    from decimal import Decimal

    import sqlalchemy as sa
    from flask_migrate import downgrade

    from portal.models import (Building, Consultation, ConsultationAnswer, ConsultationKind, ConsultationOption, Residency, Role, Unit,
                               User, Vote, utcnow)

    cleanup = None
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'decisions.db'}"
    else:
        if not os.environ.get("TEST_DATABASE_URL"):
            pytest.skip("PostgreSQL run only (TEST_DATABASE_URL)")
        url, admin, name = _pg_scratch_database()
        cleanup = (admin, name)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "x", "TESTING": True})
    try:
        with app.app_context():
            upgrade()
            building = Building(name="1号楼", units=[Unit(number="1-101", area=Decimal("89.56"), is_unsold=True)])
            staff = User(name="王敏", role=Role.STAFF, username="kefu")
            owner = User(name="周杰", role=Role.RESIDENT, phone="13800000001")
            db.session.add_all([building, staff, owner])
            db.session.flush()
            owner.residencies.append(Residency(unit=building.units[0]))
            consultation = Consultation(kind=ConsultationKind.MAJOR, title="是否改建车棚", deadline=utcnow(), created_by_id=staff.id,
                                        buildings=[building], options=[ConsultationOption(label="同意", vote=Vote.AGREE, position=0)])
            db.session.add(consultation)
            db.session.flush()
            db.session.add(ConsultationAnswer(consultation_id=consultation.id, unit_id=building.units[0].id,
                                              option_id=consultation.options[0].id, user_id=owner.id, comment="尽快"))
            db.session.commit()
            assert db.session.scalar(sa.select(Unit.area)) == Decimal("89.56")
            db.session.remove()

            downgrade(revision="d4b2e1f3a6c7")
            inspector = sa.inspect(db.engine)
            assert {"area_dm2", "is_unsold"}.isdisjoint(c["name"] for c in inspector.get_columns("unit"))
            assert {"kind", "notice_id"}.isdisjoint(c["name"] for c in inspector.get_columns("consultation"))
            assert "vote" not in {c["name"] for c in inspector.get_columns("consultation_option")}
            assert "comment" not in {c["name"] for c in inspector.get_columns("consultation_answer")}
            with db.engine.connect() as conn:
                counts = [conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar() for t in
                          ("unit", "consultation", "consultation_option", "consultation_answer", "consultation_building")]
            assert counts == [1, 1, 1, 1, 1]

            upgrade()
            unit = db.session.scalar(sa.select(Unit))
            assert (unit.area, unit.is_unsold) == (None, False)
            consultation = db.session.scalar(sa.select(Consultation))
            assert (consultation.kind, consultation.notice_id, consultation.options[0].vote) == (ConsultationKind.POLL, None, None)
            assert db.session.scalar(sa.select(ConsultationAnswer.comment)) == ""
            db.session.remove()
            db.engine.dispose()
    finally:
        _drop_scratch(app, cleanup)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_questionnaires_migration_upgrades_and_downgrades(tmp_path, backend):
    """The questionnaire tables come with `db upgrade`, hold a questionnaire and its answers, and go
    with a downgrade to the revision before them; upgrading again brings them back empty."""
    from datetime import timedelta

    import sqlalchemy as sa
    from flask_migrate import downgrade

    from portal.models import Building, Residency, Role, Survey, SurveyResponse, Unit, User, utcnow
    from portal.services import surveys

    cleanup = None
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'surveys.db'}"
    else:
        if not os.environ.get("TEST_DATABASE_URL"):
            pytest.skip("PostgreSQL run only (TEST_DATABASE_URL)")
        url, admin, name = _pg_scratch_database()
        cleanup = (admin, name)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "x", "TESTING": True})
    tables = {"survey", "survey_building", "survey_question", "survey_choice", "survey_response", "survey_answer"}
    try:
        with app.app_context():
            upgrade()
            now = utcnow()
            building = Building(name="1号楼", units=[Unit(number="1-101")])
            staff, owner = User(name="王敏", role=Role.STAFF, username="kefu"), User(name="周杰", role=Role.RESIDENT, phone="13800000001")
            owner.residencies.append(Residency(unit=building.units[0]))
            db.session.add_all([building, staff, owner])
            db.session.flush()
            survey = surveys.create("问卷", "", [building], owners_only=False, per_household=True, opens_at=now, closes_at=now + timedelta(days=1),
                                    is_satisfaction=False, actor=staff, now=now)
            question = surveys.add_question(survey, "single", "满意吗？", True, ["是", "否"], False, now)
            surveys.publish(survey, now)
            surveys.submit(survey, owner, building.units[0].id, {question.id: [str(question.choices[0].id)]},
                           ((building.units[0].id, building.id, True),), now)
            db.session.commit()
            assert db.session.scalar(sa.select(sa.func.count(SurveyResponse.id))) == 1
            db.session.remove()
            downgrade(revision="d4b2e1f3a6c7")
            assert not tables & set(sa.inspect(db.engine).get_table_names())
            upgrade()
            assert tables <= set(sa.inspect(db.engine).get_table_names())
            assert db.session.scalar(sa.select(sa.func.count(Survey.id))) == 0
            db.session.remove()
            db.engine.dispose()
    finally:
        _drop_scratch(app, cleanup)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_training_plan_migration_upgrades_and_downgrades_keeping_the_sessions(tmp_path, backend):
    """c326d53fefad adds the plan, its people and the session's link to it; going back removes them
    and leaves the sessions recorded."""
    from datetime import date

    import sqlalchemy as sa
    from flask_migrate import downgrade

    from portal.models import Role, TrainingMethod, TrainingPlanItem, TrainingSession, TrainingTopic, User

    cleanup = None
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'plan.db'}"
    else:
        if not os.environ.get("TEST_DATABASE_URL"):
            pytest.skip("PostgreSQL run only (TEST_DATABASE_URL)")
        url, admin, name = _pg_scratch_database()
        cleanup = (admin, name)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "x", "TESTING": True})
    try:
        with app.app_context():
            upgrade(revision="d4b2e1f3a6c7")
            assert "training_plan_item" not in sa.inspect(db.engine).get_table_names()
            upgrade(revision="c326d53fefad")
            head = User(name="张强", role=Role.HEAD, username="gongcheng")
            db.session.add(head)
            db.session.flush()
            item = TrainingPlanItem(year=2026, month=3, title="维修标准", topic=TrainingTopic.BUSINESS, method=TrainingMethod.COACHING,
                                    created_by_id=head.id, people=[head])
            db.session.add(item)
            db.session.flush()
            db.session.add(TrainingSession(title="维修标准", topic=TrainingTopic.BUSINESS, method=TrainingMethod.COACHING,
                                           held_on=date(2026, 3, 12), trainer="外部讲师", plan_item_id=item.id))
            db.session.commit()
            db.session.remove()
            downgrade(revision="d4b2e1f3a6c7")
            inspector = sa.inspect(db.engine)
            assert not {"training_plan_item", "training_plan_person"} & set(inspector.get_table_names())
            assert "plan_item_id" not in {c["name"] for c in inspector.get_columns("training_session")}
            with db.engine.connect() as conn:
                rows = conn.execute(sa.text("SELECT title, held_on FROM training_session")).all()
            assert [(title, str(held_on)) for title, held_on in rows] == [("维修标准", "2026-03-12")]  # SQLite answers text, PostgreSQL a date
            upgrade()
            db.session.remove()
            assert db.session.scalars(sa.select(TrainingSession.plan_item_id)).all() == [None]
            db.session.remove()
            db.engine.dispose()
    finally:
        _drop_scratch(app, cleanup)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_urgent_tickets_get_their_response_due_time_and_keep_it(tmp_path, backend):
    """a7e3c9d1b2f4 fills the missing response due time of urgent tickets from their registration
    and the policy's minutes, then a CHECK constraint refuses an urgent ticket without one."""
    from datetime import datetime, timedelta

    import sqlalchemy as sa
    from flask_migrate import downgrade

    cleanup = None
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'urgent.db'}"
    else:
        if not os.environ.get("TEST_DATABASE_URL"):
            pytest.skip("PostgreSQL run only (TEST_DATABASE_URL)")
        url, admin, name = _pg_scratch_database()
        cleanup = (admin, name)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "x", "TESTING": True})
    created = datetime(2026, 11, 3, 2, 0)
    columns = ("number, category, channel, status, is_urgent, description, preferred_visit, caller_name, caller_phone, caller_unit, "
               "hold_reason, result, feedback_method, rating_comment, reopened_count, reclassified_count, created_at, due_at, version, "
               "gov_order_number, response_due_at")

    def insert(conn, number, urgent, response_due_at=None):
        conn.execute(sa.text(f"INSERT INTO ticket ({columns}) VALUES (:number, 'repair', 'hotline', 'new', :urgent, '水管爆裂', '', '', '', '', "
                             "'', '', '', '', 0, 0, :created, :created, 0, '', :response)"),
                     {"number": number, "urgent": urgent, "created": created, "response": response_due_at})

    try:
        with app.app_context():
            upgrade(revision="c326d53fefad")
            with db.engine.begin() as conn:
                conn.execute(sa.text("INSERT INTO setting (key, value) VALUES ('emergency_response_minutes', '15')"))
                insert(conn, "BX-2026-0001", True)  # the state the ticket page could not show
                insert(conn, "BX-2026-0002", True, created + timedelta(minutes=5))
                insert(conn, "BX-2026-0003", False)
            upgrade(revision="a7e3c9d1b2f4")
            with db.engine.connect() as conn:
                rows = dict(conn.execute(sa.text("SELECT number, response_due_at FROM ticket ORDER BY number")).all())
            as_time = (lambda v: datetime.fromisoformat(v) if isinstance(v, str) else v)
            assert {k: as_time(v) for k, v in rows.items() if v is not None} == {
                "BX-2026-0001": created + timedelta(minutes=15), "BX-2026-0002": created + timedelta(minutes=5)}
            assert rows["BX-2026-0003"] is None  # not urgent: no clock
            with pytest.raises(sa.exc.IntegrityError), db.engine.begin() as conn:
                insert(conn, "BX-2026-0004", True)
            downgrade(revision="c326d53fefad")
            with db.engine.begin() as conn:
                insert(conn, "BX-2026-0005", True)  # no constraint any more
            upgrade()
            with db.engine.connect() as conn:
                assert conn.execute(sa.text("SELECT count(*) FROM ticket WHERE is_urgent AND response_due_at IS NULL")).scalar() == 0
    finally:
        _drop_scratch(app, cleanup)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_text_stored_before_the_input_rule_loses_its_control_characters(tmp_path, backend):
    """7182a55f6993: every text column and the text in every JSON column, on both databases (PostgreSQL
    never stored a NUL); the downgrade keeps the clean text and the upgrade runs again."""
    import json

    import sqlalchemy as sa
    from flask_migrate import downgrade as down
    from flask_migrate import upgrade as up

    cleanup = None
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
    else:
        if not os.environ.get("TEST_DATABASE_URL"):
            pytest.skip("PostgreSQL run only (TEST_DATABASE_URL)")
        url, admin, name = _pg_scratch_database()
        cleanup = (admin, name)
    nul = "\x00" if backend == "sqlite" else ""
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "x", "TESTING": True})
    try:
        with app.app_context():
            up(revision="5e0c1d2a9b47")  # the schema before the rule
            with db.engine.begin() as conn:
                conn.execute(sa.text("INSERT INTO building (id, name, address, is_active) VALUES (1, :name, :address, :yes), (2, '2号楼', '', :yes)"),
                             {"name": f"1号{nul}楼\x07", "address": "东门\r\n进\r右转\x7f\t第一栋", "yes": True})
                conn.execute(sa.text("INSERT INTO setting (key, value) VALUES ('hotline', :a), ('chat_emergency_words', :b), ('quiet', :c)"),
                             {"a": json.dumps("400-800\x01-1234"), "b": json.dumps({"words": ["漏水\x1b", "火"], "note\x02": "x\r\ny"}),
                              "c": json.dumps(22)})
            up()
            with db.engine.connect() as conn:
                assert conn.execute(sa.text("SELECT name, address FROM building ORDER BY id")).all() == [
                    ("1号楼", "东门\n进\n右转\t第一栋"), ("2号楼", "")]
                values = {k: json.loads(v) if backend == "sqlite" and isinstance(v, str) else v for k, v in conn.execute(sa.text("SELECT key, value FROM setting"))}
            assert values == {"hotline": "400-800-1234", "chat_emergency_words": {"words": ["漏水", "火"], "note": "x\ny"}, "quiet": 22}
            down(revision="5e0c1d2a9b47")
            up()
            with db.engine.connect() as conn:
                assert conn.execute(sa.text("SELECT name FROM building WHERE id = 1")).scalar() == "1号楼"
            db.engine.dispose()
    finally:
        _drop_scratch(app, cleanup)
