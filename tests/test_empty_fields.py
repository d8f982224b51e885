"""States the templates cannot handle cannot exist: with every nullable column of the demo community
emptied (where the schema lets it be empty at all), every page each role reaches still renders, and
so does every ticket's page and slip. A value a template compares must either be there by
constraint (an urgent ticket's response due time) or be checked for before it is compared."""
import re
from urllib.parse import urljoin, urlsplit

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from portal import cache
from portal.extensions import db
from portal.models import Ticket, User
from portal.services import demo
from tests.conftest import PortalClient

ROLES = ("13800000001", "kefu", "gongcheng", "baojie", "yewei", "admin")
# The search index keeps its own copy of the text, not a field anyone fills in
NOT_FIELDS = re.compile(r"_search$")
SKIP = re.compile(r"/auth/logout|\.(csv|ics|png|jpg|svg|ico)\b|/download|/attachments/|/static/|/export|/photos/|lang=|/kiosk/")


def _empty_every_nullable_column():
    """{table: [columns emptied]} and {table: [columns the schema refuses to empty]}."""
    emptied, refused = {}, {}
    for table in db.metadata.sorted_tables:
        if NOT_FIELDS.search(table.name):
            continue
        for column in table.columns:
            if not column.nullable or column.primary_key:
                continue
            try:
                with db.session.begin_nested():
                    db.session.execute(text(f'UPDATE "{table.name}" SET "{column.name}" = NULL'))
                emptied.setdefault(table.name, []).append(column.name)
            except IntegrityError:
                refused.setdefault(table.name, []).append(column.name)
    db.session.commit()
    cache.clear()
    return emptied, refused


def _crawl(client, limit=150):
    queue, shapes, seen = ["/"], set(), []
    while queue and len(seen) < limit:
        path = queue.pop(0)
        shape = re.sub(r"\d+", "N", path)
        if shape in shapes:
            continue
        shapes.add(shape)
        response = client.get(path, follow_redirects=True)
        seen.append((path, response.status_code))
        if response.mimetype != "text/html":
            continue
        for href in re.findall(r'href="([^"#]+)"', response.get_data(as_text=True)):
            url = urljoin(f"http://localhost{path}", href.replace("&amp;", "&"))
            parts = urlsplit(url)
            if parts.netloc == "localhost" and not SKIP.search(url):
                queue.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    return seen


@pytest.fixture
def emptied(app):
    demo.seed()
    db.session.commit()
    clients = {}
    for login in ROLES:
        person = db.session.scalar(select(User).where((User.username == login) | (User.phone == login)))
        client = PortalClient(app)
        client.login(person, password=demo.DEMO_PASSWORD)
        clients[login] = client
    return clients, _empty_every_nullable_column()


def test_the_schema_keeps_an_urgent_tickets_response_due_time(emptied):
    _clients, (emptied_columns, refused) = emptied
    assert refused.get("ticket") == ["notice_id", "response_due_at"]  # the demo has questions and urgent tickets: CHECKs refuse
    assert "resident_id" in emptied_columns["ticket"] and "phone" in emptied_columns["user"]


def test_every_page_renders_with_every_nullable_field_empty(emptied):
    clients, _ = emptied
    broken, reached = [], 0
    for login, client in clients.items():
        for path, status in _crawl(client):
            reached += 1
            if status >= 500:
                broken.append((login, path, status))
    assert broken == []
    assert reached > 150  # the crawls went everywhere, not just to an error page


def test_every_tickets_page_and_slips_render_with_every_nullable_field_empty(emptied):
    clients, _ = emptied
    staff = clients["kefu"]
    ids = db.session.scalars(select(Ticket.id).order_by(Ticket.id)).all()
    assert len(ids) > 50
    broken = [(i, code) for i in ids if (code := staff.get(f"/tickets/{i}").status_code) != 200]
    assert broken == []
    for i in ids[:: max(1, len(ids) // 6)]:  # the printed slips: a few, they are slow to render
        for pdf in ("slip.pdf", "emergency.pdf"):
            assert staff.get(f"/tickets/{i}/{pdf}").status_code in (200, 404), (i, pdf)
