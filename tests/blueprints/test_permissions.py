"""Every page a role may not see answers 404, exactly like a missing one."""
from datetime import timedelta
from io import BytesIO

import pytest

from portal.extensions import db
from portal.models import EventType, Role, utcnow
from portal.services import consultations, events, kiosk
from tests.blueprints.test_notices import PNG
from tests.markup import text_of, texts_of

STAFF_ONLY_GET = [
    "/notices/new", "/notices/manage", "/notices/questions", "/tickets/export.csv", "/tickets/residents?q=13",
    "/events/new", "/events/calendar", "/events/{event}/attendance", "/events/{event}/sign-in-sheet.pdf",
    "/consultations/new", "/suggestions/box", "/records/", "/records/new", "/records/export.csv", "/records/register.pdf",
    "/records/outreach", "/records/training", "/figures/measures", "/admin/", "/admin/screens",
]


@pytest.fixture
def world(make_user, make_building):
    building = make_building()
    staff = make_user(role=Role.STAFF)
    start = utcnow() + timedelta(days=20)
    event = events.create(kind=EventType.CAMPAIGN, title="义诊", description="", location="", starts_at=start, ends_at=start + timedelta(hours=2),
                          capacity=5, seats_per_household=1, signup_deadline=None, buildings=[], actor=staff, now=utcnow())
    consultations.create("问", "", ["甲", "乙"], utcnow() + timedelta(days=3), [building], staff, utcnow())
    kiosk.create(building, "大堂", "landscape", 12, 30, None, None, utcnow())
    db.session.commit()
    return {"event": event.id}


@pytest.mark.parametrize("role", [Role.RESIDENT, Role.COMMITTEE])
def test_back_office_pages_answer_404_to_residents_and_the_committee(client, make_user, world, role):
    client.login(make_user(role=role))
    for url in STAFF_ONLY_GET:
        url = url.format(**world)
        assert client.get(url).status_code == 404, url


def test_a_worker_sees_no_records_figures_or_administration(client, make_user, world):
    client.login(make_user(role=Role.WORKER))
    for url in ("/records/", "/figures/", "/figures/reports", "/admin/", "/notices/manage", "/suggestions/box"):
        assert client.get(url).status_code == 404, url


def test_the_committee_reads_figures_but_no_ticket_suggestion_or_event_of_anyone(client, make_user, world):
    client.login(make_user(role=Role.COMMITTEE))
    assert client.get("/figures/").status_code == 200
    for url in ("/tickets/", "/suggestions/", "/events/", "/consultations/", f"/events/{world['event']}"):
        assert client.get(url).status_code == 404, url


def test_ticket_photos_are_capped_in_size(client, make_user, app):
    app.config["UPLOAD_MAX_BYTES"] = 1000
    resident = make_user()
    client.login(resident)
    response = client.post("/tickets/new", {"category": "repair", "unit_id": str(resident.residencies[0].unit_id), "description": "漏水",
                                            "photos": (BytesIO(PNG + b"\0" * 5000), "big.png")}, content_type="multipart/form-data")
    assert response.status_code == 422 and text_of(response, "#photos-error") == "文件超过 0.0 MB。"


def test_committee_cannot_open_a_suggestion_by_id(client, make_user):
    from portal.services import suggestions

    author = make_user()
    item = suggestions.post(author, author.residencies[0].unit, "fees", "x", "y", False, False, utcnow())
    db.session.commit()
    client.login(make_user(role=Role.COMMITTEE))
    assert client.get(f"/suggestions/{item.id}").status_code == 404


def test_out_of_range_ids_and_dates_are_not_errors(client, make_user):
    client.login(make_user(role=Role.STAFF))
    huge = "9" * 25
    # a number far beyond anything stored is simply not there (portal/errors.py), not a server error
    for url in (f"/tickets/{huge}", f"/notices/{huge}", f"/suggestions/{huge}", f"/events/{huge}", f"/tickets/?before={huge}",
                f"/figures/?building={huge}"):
        assert client.get(url).status_code == 404, url
    for url in ("/tickets/?since=0001-01-01", "/tickets/?until=9999-12-31", "/records/?until=9999-12-31",
                "/figures/?start=0001-01-01&end=0001-01-02", "/tickets/new?resident_id=%C2%B2"):
        assert client.get(url).status_code == 200, url
    response = client.post("/events/new", {"kind": "bogus", "title": "x", "starts_at": "2026-12-01T10:00", "ends_at": "2026-12-01T12:00",
                                           "seats_per_household": "1"})
    assert response.status_code == 422 and text_of(response, "#kind-error") == "不是有效的选择。"
    response = client.post("/figures/reports", {"title": "x", "period_start": "0001-01-01", "period_end": "0001-01-02"})
    assert response.status_code == 422 and text_of(response, "#period_start-error") == "请输入 2000 年至 2100 年之间的日期。"


def test_next_never_leaves_the_site(client, make_user):
    resident = make_user()
    response = client.post("/auth/login", {"identifier": resident.phone, "password": "secret-pass-1", "next": "/\t/evil.example"})
    assert response.status_code == 302 and response.headers["Location"] == "/"
    response = client.post("/language", {"lang": "en", "next": "/\t/evil.example"})
    assert response.status_code == 302 and response.headers["Location"] == "/"


def test_kept_pages_show_the_viewers_own_emergencies_at_once(client, make_user, make_building, make_notice):
    from portal.models import NoticeCategory
    from tests.conftest import PortalClient

    a, b = make_building(), make_building()
    com_a = make_user(role=Role.COMMITTEE, units=[a.units[0]])
    com_b = make_user(role=Role.COMMITTEE, units=[b.units[0]])
    resident_a = make_user(building=a)
    first, second = PortalClient(client.app), PortalClient(client.app)
    first.login(com_a)
    second.login(com_b)
    client.login(resident_a)
    for c, url in ((first, "/figures/"), (second, "/figures/"), (client, "/tickets/"), (client, "/events/")):
        assert c.get(url).status_code == 200, url
    make_notice(title="一号楼燃气泄漏", category=NoticeCategory.EMERGENCY, buildings=[a])
    banner = ".emergency-banner a"
    assert texts_of(first.get("/figures/"), banner) == ["一号楼燃气泄漏"]
    assert texts_of(second.get("/figures/"), banner) == []
    assert texts_of(client.get("/tickets/"), banner) == ["一号楼燃气泄漏"]
    assert texts_of(client.get("/events/"), banner) == ["一号楼燃气泄漏"]


def test_the_events_list_follows_a_resident_who_moves(client, make_user, make_building):
    from portal.models import Residency

    a, b = make_building(), make_building()
    staff = make_user(role=Role.STAFF)
    start = utcnow() + timedelta(days=20)
    events.create(kind=EventType.DRILL, title="一号楼演练", description="", location="", starts_at=start, ends_at=start + timedelta(hours=1),
                  capacity=None, seats_per_household=1, signup_deadline=None, buildings=[a], actor=staff, now=utcnow())
    db.session.commit()
    resident = make_user(building=a)
    client.login(resident)
    assert texts_of(client.get("/events/"), "#event-list .title") == ["一号楼演练"]
    residency = db.session.query(Residency).filter_by(user_id=resident.id).one()
    residency.unit_id = b.units[0].id
    db.session.commit()
    assert texts_of(client.get("/events/"), "#event-list .title") == []
