"""One unit of work per request: services flush, hooks.unit_of_work commits a successful write
request and rolls back everything else, and no GET ever writes."""
import re
from datetime import date

import pytest
from sqlalchemy import event, select

from portal.extensions import db
from portal.models import (
    Attachment,
    Building,
    ChatMessage,
    Consultation,
    Conversation,
    Delivery,
    Department,
    Event,
    FigureKey,
    KioskScreen,
    Measure,
    Notice,
    Page,
    Report,
    Suggestion,
    Survey,
    Ticket,
    TicketPhoto,
    TrainingMethod,
    TrainingPlanItem,
    TrainingSession,
    TrainingTopic,
    Unit,
    User,
    utcnow,
)
from portal.services import demo, kiosk, notices, paging, surveys, tickets
from tests.blueprints.test_notices import PNG

READ_ONLY = re.compile(r"^\s*(SELECT|WITH|BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|PRAGMA)\b", re.I)
MODELS = {
    "building_id": Building, "delivery_id": Delivery, "department_id": Department, "user_id": User, "unit_id": Unit,
    "conversation_id": Conversation, "message_id": ChatMessage, "consultation_id": Consultation, "event_id": Event,
    "measure_id": Measure, "report_id": Report, "notice_id": Notice, "attachment_id": Attachment, "session_id": TrainingSession,
    "suggestion_id": Suggestion, "ticket_id": Ticket, "photo_id": TicketPhoto, "item_id": TrainingPlanItem,
}


@pytest.fixture
def community(app):
    """The demo community, plus one of everything the demo does not make."""
    demo.seed()
    now = utcnow()
    admin = db.session.scalar(select(User).where(User.username == "admin"))
    building = db.session.scalar(select(Building).order_by(Building.id))
    kiosk.create(building, "大堂", "landscape", 12, 30, None, None, now)
    notice = db.session.scalar(select(Notice).order_by(Notice.id))
    notices.attach(notice, "map.png", PNG)
    ticket = db.session.scalar(select(Ticket).order_by(Ticket.id))
    tickets.add_photo(ticket, "leak.png", PNG)
    db.session.add(Report(title="月报", period_start=date(2026, 11, 1), period_end=date(2026, 11, 30), problems="", created_by_id=admin.id))
    db.session.add(Measure(problem="维修回复慢", goal="48小时内回复", figure=FigureKey.TIMELINESS, target=0.95, owner_id=admin.id,
                           starts_on=date(2026, 11, 1), deadline=date(2026, 12, 31)))
    db.session.add(TrainingSession(title="服务礼仪", topic=list(TrainingTopic)[0], method=list(TrainingMethod)[0], held_on=date(2026, 11, 20),
                                   trainer="陈立"))
    surveys.satisfaction_template(admin, now)  # a draft
    db.session.commit()
    return app


def _values(rule):
    """Path values naming real rows, so that each GET reaches its view's real work."""
    values = {}
    for name in rule.arguments:
        if name in MODELS:
            values[name] = db.session.scalar(select(MODELS[name].id).order_by(MODELS[name].id)) or 1
        elif name == "question_id":
            values[name] = db.session.scalar(select(Ticket.id).where(Ticket.notice_id.is_not(None))) or 1
        elif name == "survey_id":  # a draft for its settings page, a published one with answers elsewhere
            draft = rule.endpoint == "surveys.settings"
            values[name] = db.session.scalar(select(Survey.id).where(Survey.published_at.is_(None) if draft else Survey.published_at.is_not(None))
                                             .order_by(Survey.id))
        elif name == "secret":
            values[name] = db.session.scalar(select(KioskScreen.secret))
        elif name == "key":
            values[name] = db.session.scalar(select(Department.id).order_by(Department.id))
        elif name == "filename":
            values[name] = "css/portal.css"
        elif name == "section":
            values[name] = "fees"  # the disclosure board's section with the most to read
        elif rule.endpoint == "go.short":
            values.update(kind="t", object_id=db.session.scalar(select(Ticket.id).order_by(Ticket.id)))
        elif rule.endpoint in ("go.acknowledge", "tickets.ack_link"):
            page = db.session.scalar(select(Page).order_by(Page.id))
            values.update(page_id=page.id, sig=paging.signature(page))
        else:
            raise AssertionError(f"test_every_get_only_reads does not know how to fill <{name}> of {rule.rule}")
    return values


def test_no_get_request_writes_for_anyone(community, make_client):
    app = community
    rules = [r for r in app.url_map.iter_rules() if "GET" in r.methods]
    urls = []
    with app.test_request_context():
        from flask import url_for

        for rule in rules:
            urls.append(url_for(rule.endpoint, **_values(rule)))
    writes = []
    listener = lambda conn, cursor, statement, *rest: READ_ONLY.match(statement) or writes.append(statement)  # noqa: E731
    viewers = {"anonymous": None, "admin": "admin", "kefu": "kefu", "head": "gongcheng", "worker": "weixiu", "committee": "yewei",
               "resident": "13800000001"}
    for who, login in viewers.items():
        client = make_client()
        if login:
            user = db.session.scalar(select(User).where((User.username == login) | (User.phone == login)))
            client.login(user, password=demo.DEMO_PASSWORD)
        event.listen(db.engine, "before_cursor_execute", listener)
        try:
            for url in urls:
                if url.endswith(".pdf") and who not in ("admin", "resident"):
                    continue  # PDFs are slow to render: two viewers are enough to prove they only read
                response = client.get(url)
                response.close()
                assert response.status_code < 500, f"{who} GET {url}: {response.status_code}"
                assert not writes, f"{who} GET {url} wrote: {writes[0][:200]}"
        finally:
            event.remove(db.engine, "before_cursor_execute", listener)


def test_a_failed_write_request_keeps_nothing(client, make_user, make_building):
    """A refused form (422) rolls back what the services had already flushed."""
    from portal.models import Role

    admin = make_user(role=Role.ADMIN)
    building = make_building("7号楼")
    client.login(admin)
    taken = building.units[0].number
    response = client.post(f"/units/{building.units[1].id}".replace("/units", "/admin/units"), {"number": taken})
    assert response.status_code == 422
    db.session.expire_all()
    assert sorted(u.number for u in db.session.get(Building, building.id).units).count(taken) == 1


def test_a_successful_write_request_is_committed_once_by_the_hook(app, client, make_user):
    resident = make_user()
    client.login(resident)
    statements = []
    listener = lambda conn, cursor, statement, *rest: statements.append(statement.split()[0].upper())  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        response = client.post("/account/", {"language": "en", "email": ""})
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    assert response.status_code == 302
    assert statements.count("COMMIT") <= 2  # the write lock's fresh start, then the request's one commit
    db.session.expire_all()
    assert db.session.get(User, resident.id).language == "en"


def test_only_the_request_hook_and_the_unit_of_work_commit():
    """Views, services, the outbox and the CLI never commit: hooks.unit_of_work (a request) and
    database.unit_of_work (a worker part, a CLI command) do, both through database.commit."""
    import pathlib

    import portal

    root = pathlib.Path(portal.__file__).parent
    committing = sorted(str(p.relative_to(root)) for p in root.rglob("*.py")
                        if "migrations" not in p.parts and ".commit()" in p.read_text(encoding="utf-8"))
    assert committing == ["database.py"]
