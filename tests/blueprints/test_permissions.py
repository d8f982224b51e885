"""Every page a role may not see answers 404, exactly like a missing one."""
from datetime import timedelta
from io import BytesIO

import pytest

from portal.extensions import db
from portal.models import EventType, Role, utcnow
from portal.services import consultations, events, kiosk
from tests.blueprints.test_notices import PNG

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
    assert response.status_code == 422 and "MB" in response.get_data(as_text=True)
