"""A corpus of script and htmx-attribute payloads, stored in every text field, renders inert
in every view, fragment, email and PDF."""
import shutil
import subprocess

from html.parser import HTMLParser

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import Building, Channel, Delivery, Department, Role, Setting, Unit, User, utcnow
from portal.services import tickets
from portal.services import notices as notice_service
from tests.test_mail import smtp  # noqa: F401 - the SMTP server the email test sends to

PAYLOADS = [
    '<script>alert("x")</script>',
    "<img src=x onerror=alert(1)>",
    '<div hx-get="/admin/" hx-trigger="load" hx-target="body">hx</div>',
    '"><svg onload=alert(1)>',
    "<a href='javascript:alert(1)'>j</a>",
]
EVIL = " ".join(PAYLOADS)


class LiveMarkup(HTMLParser):
    """Collects what a browser would act on: elements, attributes, script text."""

    def __init__(self):
        super().__init__()
        self.problems = []
        self.in_script = False

    def handle_starttag(self, tag, attrs):
        self.in_script = tag == "script"
        if tag in ("svg", "img") and any(k == "src" and v == "x" for k, v in attrs):
            self.problems.append(f"<{tag}> from a payload")
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"event handler {name}")
            if name.startswith("hx-") and value == "/admin/":
                self.problems.append(f"htmx attribute {name}")
            if name in ("href", "src") and (value or "").strip().lower().startswith("javascript:"):
                self.problems.append(f"javascript: URL in {name}")

    def handle_data(self, data):
        if self.in_script and "alert" in data:
            self.problems.append("script element from a payload")

    def handle_endtag(self, tag):
        self.in_script = False


def assert_inert(html, where):
    for payload in PAYLOADS:
        assert payload not in html, f"{payload!r} rendered raw in {where}"
    parser = LiveMarkup()
    parser.feed(html)
    assert parser.problems == [], f"live markup in {where}: {parser.problems}"


@pytest.fixture
def poisoned(app, make_user, make_notice):
    building = Building(name="楼" + EVIL[:40])
    building.units.append(Unit(number="u" + EVIL[:20]))
    db.session.add_all([building, Department(name="部" + EVIL[:50])])
    db.session.add(Setting(key="hotline", value=EVIL[:90]))
    db.session.add(Setting(key="contact_person", value=EVIL[:90]))
    db.session.commit()
    resident = make_user(name="住户" + EVIL[:50], building=building, email="r@example.com")
    staff = make_user(role=Role.STAFF, name="客服" + EVIL[:50])
    notice = make_notice(title=EVIL[:190], body=EVIL, buildings=[building], author=staff)
    notice.body_html = notice_service.render_body(EVIL + "\n\n[click](javascript:alert(1))")
    notice.withdrawn_reason = EVIL[:400]
    notice_service.attach(notice, EVIL[:150] + ".png", _png())
    question, _ = tickets.ask_on_notice(notice, resident, EVIL, utcnow())
    tickets.answer_question(question, EVIL, staff, utcnow())
    tickets.ask_on_notice(notice, resident, EVIL, utcnow())
    notice_service.tell(notice, notice.publish_at)
    from portal.notify import fanout

    fanout.run_jobs(utcnow())
    ticket, _ = tickets.create(
        category="complaint", channel="hotline", description=EVIL, actor=staff, now=utcnow(), resident=resident,
        unit=building.units[0], caller_name=EVIL[:60], caller_unit=EVIL[:60], preferred_visit=EVIL[:190], is_urgent=True,
    )
    dept = Department.query.first()
    tickets.record_call(ticket, EVIL[:190], utcnow(), staff, utcnow())
    tickets.transfer(ticket, dept, [], staff, utcnow())
    tickets.progress(ticket, EVIL, None, staff, utcnow())
    tickets.internal_note(ticket, EVIL, staff, utcnow())
    tickets.resident_reply(ticket, EVIL, resident, utcnow())
    tickets.hold(ticket, EVIL[:290], staff, utcnow())
    tickets.resume(ticket, staff, utcnow())
    tickets.resolve(ticket, EVIL, staff, utcnow())
    tickets.formal_reply(ticket, EVIL, staff, utcnow())
    from datetime import timedelta

    from portal.models import EventType
    from portal.services import consultations, events, suggestions

    idea = suggestions.post(resident, building.units[0], "other", EVIL[:110], EVIL, False, False, utcnow())
    suggestions.answer(idea, "planned", EVIL, staff, utcnow())
    start = utcnow() + timedelta(days=30)
    event = events.create(kind=EventType.FORUM, title=EVIL[:190], description=EVIL, location=EVIL[:190], starts_at=start,
                          ends_at=start + timedelta(hours=2), capacity=5, seats_per_household=1, signup_deadline=None, buildings=[],
                          actor=staff, now=utcnow(), exception_reason=EVIL)
    events.sign_up(event, resident, building.units[0], 1, utcnow())
    events.publish_minutes(event, EVIL, utcnow())
    question_c = consultations.create(EVIL[:190], EVIL, [EVIL[:150], "同意"], utcnow() + timedelta(days=3), [building], staff, utcnow())
    from portal.models import Measure, Report, TrainingAttendance, TrainingSession
    from portal.services import records as record_service

    record_service.add("visit", utcnow(), EVIL, staff, utcnow(), place=EVIL[:190], participants=EVIL, result=EVIL)
    training = TrainingSession(title=EVIL[:190], topic="service", method="internal", held_on=utcnow().date(), trainer=EVIL[:90])
    training.attendees = [TrainingAttendance(user_id=staff.id, score=90)]
    db.session.add(training)
    db.session.add(Report(title=EVIL[:190], period_start=utcnow().date(), period_end=utcnow().date(), problems=EVIL, created_by_id=staff.id))
    db.session.add(Measure(problem=EVIL, goal=EVIL, figure="timeliness", target=0.9, owner_id=staff.id, starts_on=utcnow().date(),
                           deadline=utcnow().date(), steps=EVIL))
    from portal.services import disclosure

    db.session.add(_evil_head(dept))
    row = {"item": EVIL[:60], "scope": EVIL[:60], "price": "2.00", "unit": EVIL[:30], "note": EVIL[:120]}
    disclosure.save("fees", body=EVIL + "\n\n[click](javascript:alert(1))", fees=[row], effective_on=utcnow().date(), note=EVIL[:300], base=0,
                    actor=staff, now=utcnow() - timedelta(minutes=1))
    disclosure.save("fees", body=EVIL, fees=[dict(row, price="2.20"), dict(row, item="x" + EVIL[:50])], effective_on=utcnow().date(),
                    note=EVIL[:300], base=1, actor=staff, now=utcnow())
    for section in ("commitments", "hours", "heads"):
        disclosure.save(section, body=EVIL, note=EVIL[:300], base=0, actor=staff, now=utcnow() - timedelta(minutes=1))
        disclosure.save(section, body=EVIL + "\n第二版", note=EVIL[:300], base=1, actor=staff, now=utcnow())
    db.session.commit()
    return dict(resident=resident, staff=staff, notice=notice, question=question, building=building, ticket=ticket,
                idea=idea, event=event, consultation=question_c)


def _evil_head(dept):
    head = User(name="负责人" + EVIL[:50], role=Role.HEAD, username="evilhead", department_id=dept.id)
    head.set_password("x")
    return head


def _png():
    from tests.blueprints.test_notices import PNG

    return PNG


def test_resident_views_are_inert(client, poisoned):
    client.login(poisoned["resident"])
    n = poisoned["notice"]
    t = poisoned["ticket"]
    community = (f"/suggestions/{poisoned['idea'].id}", "/suggestions/", f"/events/{poisoned['event'].id}", "/events/",
                 f"/consultations/{poisoned['consultation'].id}", "/consultations/")
    disclosure = ("/disclosure/", "/disclosure/fees/history", "/disclosure/commitments/history", "/disclosure/hours/history",
                  "/disclosure/heads/history")
    for url in ("/notices/", f"/notices/{n.id}", f"/notices/questions/{poisoned['question'].id}", "/account/", "/tickets/", f"/tickets/{t.id}",
                *community, *disclosure):
        response = client.get(url)
        assert response.status_code == 200, url  # the page itself, not an error page that shows nothing
        assert_inert(response.get_data(as_text=True), url)
    fragment = client.get("/notices/", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert_inert(fragment, "board fragment")


def test_staff_and_admin_views_are_inert(client, make_user, poisoned):
    admin = make_user(role=Role.ADMIN)
    client.login(admin)
    n, b = poisoned["notice"], poisoned["building"]
    urls = [
        "/",
        "/notices/",
        f"/notices/{n.id}",
        f"/notices/{n.id}/edit",
        "/notices/manage",
        "/notices/questions",
        "/admin/people",
        f"/admin/people/{poisoned['resident'].id}",
        "/admin/buildings",
        f"/admin/buildings/{b.id}",
        f"/admin/units/{b.units[0].id}",
        "/admin/departments",
        "/admin/settings",
        "/tickets/",
        "/tickets/?q=script",
        f"/tickets/{poisoned['ticket'].id}",
        "/tickets/residents?q=住户",
        f"/suggestions/{poisoned['idea'].id}",
        "/suggestions/",
        "/suggestions/box",
        f"/events/{poisoned['event'].id}",
        f"/events/{poisoned['event'].id}/attendance",
        "/events/",
        "/events/calendar",
        f"/consultations/{poisoned['consultation'].id}",
        "/records/",
        "/records/?q=script",
        "/records/training",
        "/records/training/1",
        f"/records/training/people/{poisoned['staff'].id}",
        "/figures/",
        "/figures/reports",
        "/figures/reports/1",
        "/figures/measures",
        "/figures/measures/1",
        "/disclosure/",
        "/disclosure/fees/history",
        "/disclosure/fees/edit",
        "/disclosure/hours/edit",
        "/disclosure/heads/edit",
        "/disclosure/heads/history",
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        assert_inert(response.get_data(as_text=True), url)


def test_emails_are_plain_text(app, smtp, poisoned):  # noqa: F811 - the fixture imported above
    message = db.session.scalar(select(Delivery).where(Delivery.channel == Channel.EMAIL, Delivery.kind == "notice_published"))
    assert message is not None
    email_text = message.body
    assert PAYLOADS[0] in email_text  # the payload is there, as text...
    controller, handler = smtp
    controller.start()
    app.extensions.pop("portal_channels", None)
    from portal.notify import delivery

    delivery.deliver_due()
    db.session.refresh(message)
    (sent,) = [m for m in handler.messages if m["Message-ID"] == message.provider_id]
    # ...in the message the outbox sent, which no mail client renders as HTML
    assert sent.get_content_type() == "text/plain" and not sent.is_multipart()
    assert sent.get_payload(decode=True).decode(sent.get_content_charset()) == email_text  # the body as stored, nothing added


@pytest.mark.skipif(not shutil.which("pdftotext"), reason="pdftotext not installed")
def test_pdf_shows_payloads_as_text(client, poisoned, tmp_path):
    client.login(poisoned["resident"])
    response = client.get(f"/notices/{poisoned['notice'].id}/poster.pdf")
    assert response.status_code == 200
    path = tmp_path / "p.pdf"
    path.write_bytes(response.data)
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
    assert "<script>" in text  # printed literally in the title, not executed or dropped silently
    for url in (f"/tickets/{poisoned['ticket'].id}/reply.pdf",):
        response = client.get(url)
        assert response.status_code == 200
        path.write_bytes(response.data)
        text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
        assert "<script>" in text


def test_the_lobby_screen_is_inert(client, poisoned):
    """Notices, the disclosure board's sections and the department heads, on a lobby screen."""
    from portal.services import kiosk

    screen = kiosk.create(poisoned["building"], "大堂", "landscape", 12, 30, None, None, utcnow())
    db.session.commit()
    page = client.get(f"/kiosk/{screen.secret}").get_data(as_text=True)
    assert "kind-disclosure-fees" in page and "kind-disclosure-heads" in page
    assert_inert(page, "lobby screen")
    assert_inert(client.get(f"/kiosk/{screen.secret}/slides").get_data(as_text=True), "lobby screen slides")
