"""The figures page as people open it: the current half year to date, the previous half year one
tap away, monthly trends drawn on the server as SVG with their numbers, and the published
figures reachable from the notice board and the lobby screens."""
import re
from datetime import datetime, time, timedelta

import pytest
from sqlalchemy import event

from portal import cache
from portal.extensions import db
from portal.i18n import from_local, to_local
from portal.links import external_url
from portal.models import PublishedFigures, Role, Ticket, TicketCategory, TicketChannel, TicketStatus, utcnow
from portal.pdf import qr_svg
from portal.services import figures, kiosk
from tests.conftest import PortalClient
from tests.markup import element, rows_of, text_of, texts_of

def _today():
    return to_local(utcnow()).date()


def _month_back(n):
    first = _today().replace(day=1)
    for _ in range(n):
        first = (first - timedelta(days=1)).replace(day=1)
    return first


_numbers = iter(range(1, 100000))


def _ticket(at, category=TicketCategory.REPAIR, rating=None, late=False):
    prefix = {TicketCategory.REPAIR: "BX", TicketCategory.COMPLAINT: "TS"}[category]
    ticket = Ticket(number=f"{prefix}-2099-{next(_numbers):05d}", category=category, channel=TicketChannel.ONLINE,
                    status=TicketStatus.CLOSED if rating else TicketStatus.NEW, description="x", created_at=at,
                    due_at=at + timedelta(minutes=30))
    if rating:
        ticket.feedback_at = at + timedelta(minutes=50 if late else 10)
        ticket.rated_at, ticket.rating = at + timedelta(minutes=55), rating
    db.session.add(ticket)
    return ticket


def _noon(day):
    return from_local(datetime(day.year, day.month, day.day, 12, 0))


@pytest.fixture
def staff_client(client, make_user):
    client.login(make_user(role=Role.STAFF))
    return client


def _figure(page, figure_id):
    return page.split(f'<figure class="trend" id="{figure_id}">')[1].split("</figure>")[0]


def test_the_page_opens_on_the_current_half_year_to_date_with_the_previous_one_a_tap_away(staff_client):
    today = _today()
    first, last = figures.half_year_to_date(today)
    previous = figures.half_year_before(today)
    page = staff_client.get("/figures/").get_data(as_text=True)
    assert f'id="start" name="start" value="{first.isoformat()}"' in page
    assert f'id="end" name="end" value="{last.isoformat()}"' in page
    assert first == today.replace(month=1 if today.month <= 6 else 7, day=1)
    here = re.search(r'<a id="preset-1" href="([^"]+)"([^>]*)>', page)
    assert 'aria-current="page"' in here.group(2)
    link = re.search(r'<a id="preset-2" href="([^"]+)"', page).group(1).replace("&amp;", "&")
    assert link == f"/figures/?start={previous[0].isoformat()}&end={previous[1].isoformat()}"
    before = staff_client.get(link).get_data(as_text=True)
    assert f'id="start" name="start" value="{previous[0].isoformat()}"' in before
    assert re.search(r'<a id="preset-2" href="[^"]+" aria-current="page"', before)


def test_a_forbidden_period_falls_back_to_the_default_and_filters_stay_on_the_presets(staff_client):
    first, _last = figures.half_year_to_date(_today())
    page = staff_client.get("/figures/?start=2026-05-01&end=2020-01-01&category=complaint").get_data(as_text=True)
    assert f'id="start" name="start" value="{first.isoformat()}"' in page
    assert [o.get("value") for o in element(page, "select#category").iter() if o.get("selected") is not None] == ["complaint"]
    assert "category=complaint" in re.search(r'<a id="preset-2" href="([^"]+)"', page).group(1)


def test_trend_charts_are_svg_with_a_point_per_month_with_data_and_a_bar_per_month_and_category(staff_client):
    now, earlier = from_local(datetime.combine(_today(), time(0, 5))), _noon(_month_back(2))  # early today: this month, whatever the hour
    _ticket(now, rating=5)
    _ticket(now, category=TicketCategory.COMPLAINT)
    _ticket(earlier, rating=5)
    _ticket(earlier, rating=2, late=True)
    db.session.commit()
    page = staff_client.get("/figures/").get_data(as_text=True)
    this_month, two_back = f"{_today():%Y-%m}", f"{_month_back(2):%Y-%m}"

    satisfaction = _figure(page, "trend-satisfaction")
    assert '<svg class="chart"' in satisfaction and 'aria-labelledby="trend-satisfaction-title trend-satisfaction-desc"' in satisfaction
    assert '<title id="trend-satisfaction-title">满意度，逐月</title>' in satisfaction and '<desc id="trend-satisfaction-desc">' in satisfaction
    points = re.findall(r'<circle class="point"[^>]* data-month="([0-9-]+)" data-value="([0-9.]+)"', satisfaction)
    assert points == [(two_back, "50.0"), (this_month, "100.0")]
    rows = re.findall(r'<tr><th scope="row">([0-9-]+)</th><td>([^<]*)</td><td>(\d+)</td></tr>', satisfaction)
    assert len(rows) == 12 and rows[-1] == (this_month, "100.0%", "1") and rows[-3] == (two_back, "50.0%", "2")
    assert rows[0][1] == "—"

    timeliness = re.findall(r'data-month="([0-9-]+)" data-value="([0-9.]+)"', _figure(page, "trend-timeliness"))
    assert timeliness == [(two_back, "50.0"), (this_month, "100.0")]

    volume = _figure(page, "trend-volume")
    bars = re.findall(r'<rect class="bar"[^>]* data-month="([0-9-]+)" data-category="(\w+)" data-value="(\d+)"', volume)
    assert sorted(bars) == sorted([(two_back, "repair", "2"), (this_month, "complaint", "1"), (this_month, "repair", "1")])
    assert re.search(rf'<tr><th scope="row">{this_month}</th>(<td>\d+</td>)+</tr>', volume).group(0).endswith("<td>2</td></tr>")


def test_the_trend_follows_a_chosen_period_longer_than_a_year(staff_client):
    start = _month_back(20)
    page = staff_client.get(f"/figures/?start={start.isoformat()}&end={_today().isoformat()}").get_data(as_text=True)
    rows = re.findall(r'<tr><th scope="row">([0-9-]+)</th>', _figure(page, "trend-emergency"))
    assert len(rows) == 21 and rows[0] == f"{start:%Y-%m}"


def test_a_head_sees_the_trend_of_their_department_only(client, make_user):
    from portal.models import Department

    mine, other = Department(name="工程维修部"), Department(name="秩序维护部")
    db.session.add_all([mine, other])
    db.session.commit()
    _ticket(utcnow() - timedelta(minutes=90), rating=5).lead_department_id = mine.id
    _ticket(utcnow() - timedelta(minutes=90), rating=1).lead_department_id = other.id
    db.session.commit()
    client.login(make_user(role=Role.HEAD, department_id=mine.id))
    page = client.get(f"/figures/?department={other.id}").get_data(as_text=True)
    assert re.findall(r'data-value="([0-9.]+)"', _figure(page, "trend-satisfaction")) == ["100.0"]


@pytest.mark.parametrize("role", [Role.RESIDENT, Role.WORKER])
def test_the_figures_are_404_for_residents_and_other_staff(client, make_user, role):
    client.login(make_user(role=role))
    assert client.get("/figures/").status_code == 404
    assert client.get(f"/figures/?start={_month_back(3).isoformat()}").status_code == 404


def _count(fn):
    statements = []

    def before(conn, cursor, statement, *args):
        if not statement.startswith(("BEGIN", "SAVEPOINT", "RELEASE", "ROLLBACK")):
            statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", before)
    try:
        fn()
    finally:
        event.remove(db.engine, "before_cursor_execute", before)
    return len(statements)


def test_statement_count_is_the_same_with_more_tickets_over_more_months(staff_client):
    def cold():
        cache.clear()
        return _count(lambda: staff_client.get("/figures/").status_code == 200 or pytest.fail("not 200"))

    for _ in range(3):
        _ticket(utcnow() - timedelta(minutes=90), rating=4)
    db.session.commit()
    few = cold()
    for back in range(1, 12):
        for i in range(6):
            _ticket(_noon(_month_back(back)), category=TicketCategory.COMPLAINT if i % 2 else TicketCategory.REPAIR, rating=1 + i % 5,
                    late=bool(i % 3))
    db.session.commit()
    assert cold() == few
    assert _count(lambda: staff_client.get("/figures/")) <= 2  # kept: the versions only


def test_the_published_figures_are_public_and_linked_from_the_board_and_the_lobby_screens(client, make_user, make_building):
    staff = make_user(role=Role.STAFF)
    db.session.add(PublishedFigures(period_start=_month_back(1), period_end=_today().replace(day=1) - timedelta(days=1),
                                    data={"on_time": 91.5, "resolution": 97.0, "satisfaction": 88.2, "average": 4.4, "departments": []},
                                    published_by_id=staff.id))
    db.session.commit()
    anonymous = PortalClient(client.app)
    public = anonymous.get("/figures/published")
    assert public.status_code == 200
    assert [(text_of(t, "span"), text_of(t, "strong")) for t in
            [element(public, f"main section .tile:nth-child({i})") for i in (1, 2, 3)]] == [
        ("按时反馈率", "91.5%"), ("问题解决率", "97.0%"), ("满意度", "88.2%")]
    resident = PortalClient(client.app)
    resident.login(make_user())
    board = resident.get("/notices/").get_data(as_text=True)
    assert re.search(r'<a class="button" id="published-figures" href="/figures/published">', board)
    screen = kiosk.create(make_building("8号楼"), "大堂", "landscape", 12, 30, None, None, utcnow())
    db.session.commit()
    client.login(staff)
    slides = client.get(f"/kiosk/{screen.secret}/slides").get_data(as_text=True)
    with client.app.test_request_context():
        assert str(qr_svg(external_url("figures.published"))) in slides.split("kind-figures")[1]
