"""portal/permissions.py, as a table: every role (and the cross-building and cross-department
cases) × every kind of object × every action, first through the predicates, then over HTTP,
where every refusal to a signed-in person is a 404 and an anonymous visitor is sent to sign in."""
import re
from datetime import date, timedelta

import pytest

from portal import permissions as p
from portal.extensions import db
from portal.models import Department, EventType, Report, Role, SuggestionTopic, TicketChannel, TrainingMethod, TrainingTopic, utcnow
from portal.services import chat, consultations, events, suggestions, tickets, training
from tests.conftest import PortalClient

VIEWERS = ("anonymous", "resident_a", "resident_b", "committee_a", "staff", "admin", "head_1", "head_2", "worker_1", "worker_2")
BACK_OFFICE = {"staff", "admin", "head_1", "head_2", "worker_1", "worker_2"}
OFFICE = {"staff", "admin", "head_1", "head_2"}
DESK = {"staff", "admin"}
EVERYONE = set(VIEWERS) - {"anonymous"}


@pytest.fixture
def world(app, make_user, make_building):
    """Two buildings (A, B), two departments (1, 2), a person of each kind, and one object of each
    kind on each side."""
    now = utcnow()
    a, b = make_building("A栋"), make_building("B栋")
    d1, d2 = Department(name="工程部", is_active=True), Department(name="秩序部", is_active=True)
    db.session.add_all([d1, d2])
    db.session.flush()
    people = {
        "resident_a": make_user(building=a), "resident_b": make_user(building=b),
        "committee_a": make_user(role=Role.COMMITTEE, units=[a.units[1]]),
        "staff": make_user(role=Role.STAFF), "admin": make_user(role=Role.ADMIN),
        "head_1": make_user(role=Role.HEAD, department_id=d1.id), "head_2": make_user(role=Role.HEAD, department_id=d2.id),
        "worker_1": make_user(role=Role.WORKER, department_id=d1.id), "worker_2": make_user(role=Role.WORKER, department_id=d1.id),
    }
    staff, ra, rb = people["staff"], people["resident_a"], people["resident_b"]
    ticket, _ = tickets.create(category="repair", channel=TicketChannel.ONLINE, description="厨房漏水", actor=ra, now=now, resident=ra,
                               unit=ra.residencies[0].unit)
    tickets.transfer(ticket, d1, [], staff, now)
    tickets.assign_person(ticket, people["worker_1"], people["head_1"], now)
    other, _ = tickets.create(category="repair", channel=TicketChannel.ONLINE, description="门禁坏了", actor=rb, now=now, resident=rb,
                              unit=rb.residencies[0].unit)
    tickets.transfer(other, d2, [], staff, now)
    urgent, _ = tickets.create(category="repair", channel=TicketChannel.HOTLINE, description="电梯困人", actor=staff, now=now, resident=ra,
                               unit=ra.residencies[0].unit, is_urgent=True)
    tickets.transfer(urgent, d1, [], staff, now)
    start = now + timedelta(days=10)

    def event(buildings):
        return events.create(kind=EventType.CAMPAIGN, title="义诊", description="", location="广场", starts_at=start,
                             ends_at=start + timedelta(hours=2), capacity=20, seats_per_household=2, signup_deadline=None,
                             buildings=buildings, actor=staff, now=now)

    objects = {
        "ticket": ticket, "other_ticket": other, "urgent": urgent,
        "event_a": event([a]), "event_b": event([b]),
        "consultation_a": consultations.create("加装电梯", "", ["同意", "反对"], now + timedelta(days=7), [a], staff, now),
        "consultation_b": consultations.create("改造车棚", "", ["同意", "反对"], now + timedelta(days=7), [b], staff, now),
        "suggestion_a": suggestions.post(ra, ra.residencies[0].unit, SuggestionTopic.ENVIRONMENT, "多种树", "小区绿化少", False, True, now),
        "suggestion_b": suggestions.post(rb, rb.residencies[0].unit, SuggestionTopic.ENVIRONMENT, "修车棚", "车棚漏雨", False, True, now),
        "hidden_b": suggestions.post(rb, rb.residencies[0].unit, SuggestionTopic.ENVIRONMENT, "广告", "广告", False, False, now),
        "conversation_a": chat.start(ra, ra.residencies[0].unit, now),
        "draft_report": Report(title="月报", period_start=date(2026, 11, 1), period_end=date(2026, 11, 30), problems="",
                               created_by_id=staff.id),
        "published_report": Report(title="半年报", period_start=date(2026, 1, 1), period_end=date(2026, 6, 30), problems="",
                                   created_by_id=staff.id, published_at=now),
    }
    suggestions.hide(objects["hidden_b"], "广告", staff, now)
    objects["plan_item"] = training.save_item(None, year=2026, month=3, title="维修标准", topic=TrainingTopic.BUSINESS,
                                              method=TrainingMethod.COACHING, goal="", department_id=d1.id, people=[],
                                              actor=people["head_1"])
    db.session.add_all([objects["draft_report"], objects["published_report"]])
    db.session.commit()
    return {"people": people, "objects": objects, "a": a, "b": b, "d1": d1, "d2": d2}


def _user(world, who):
    if who == "anonymous":
        from flask_login import AnonymousUserMixin

        return AnonymousUserMixin()
    return world["people"][who]


# What each object's actions allow, by viewer. The ticket belongs to resident A, is led by
# department 1 and assigned to worker 1; the urgent one is department 1's too, unassigned.
WORKS = DESK | {"head_1", "worker_1"}
TICKET = {
    "view": WORKS | {"resident_a"},
    **{action: DESK for action in ("classify", "transfer", "call", "feedback", "formal_reply", "callback", "gov_reply")},
    **{action: WORKS for action in ("progress", "note", "hold", "resume", "resolve", "urgency")},
    "assign": {"head_1"},
    "message": {"resident_a"}, "rate": {"resident_a"},
    "print": WORKS,
    "acknowledge": set(), "on_site": set(),
}
URGENT = {"view": DESK | {"head_1", "resident_a"}, "acknowledge": DESK | {"head_1"}, "on_site": DESK | {"head_1"},
          "progress": DESK | {"head_1"}, "assign": {"head_1"}}
OTHER_TICKET = {"view": DESK | {"head_2", "resident_b"}, "progress": DESK | {"head_2"}, "message": {"resident_b"}}
COMMUNITY = {
    "event_a": BACK_OFFICE | {"resident_a"}, "event_b": BACK_OFFICE | {"resident_b"},
    "consultation_a": BACK_OFFICE | {"resident_a"}, "consultation_b": BACK_OFFICE | {"resident_b"},
    "suggestion_a": BACK_OFFICE | {"resident_a"}, "suggestion_b": BACK_OFFICE | {"resident_b"},
    "hidden_b": BACK_OFFICE | {"resident_b"},
}
PREDICATES = {"event": p.can_see_event, "consultation": p.can_see_consultation, "suggestion": p.can_see_suggestion, "hidden": p.can_see_suggestion}


@pytest.mark.parametrize("who", VIEWERS)
def test_ticket_actions_by_role_department_and_ownership(world, who):
    user, objects = _user(world, who), world["objects"]
    for ticket_key, table in (("ticket", TICKET), ("urgent", URGENT), ("other_ticket", OTHER_TICKET)):
        ticket = objects[ticket_key]
        assert p.can_view_ticket(user, ticket) == (who in table["view"]), (ticket_key, "view")
        for action, allowed in table.items():
            if action != "view":
                assert p.can_act(user, ticket, action) == (who in allowed), (ticket_key, action)
    scope = p.ticket_scope(user) if user.is_authenticated else None
    if user.is_authenticated:
        from sqlalchemy import select

        from portal.models import Ticket

        listed = set(db.session.scalars(select(Ticket.id).where(*([scope] if scope is not None else []))))
        assert listed == {t.id for key, t in objects.items() if key in ("ticket", "urgent", "other_ticket")
                          and p.can_view_ticket(user, t)}, "the register lists exactly what may be opened"


@pytest.mark.parametrize("who", VIEWERS)
def test_events_consultations_and_suggestions_by_building(world, who):
    user, objects = _user(world, who), world["objects"]
    for key, allowed in COMMUNITY.items():
        predicate = PREDICATES[key.split("_")[0]]
        assert predicate(user, objects[key]) == (who in allowed), key


@pytest.mark.parametrize("who", VIEWERS)
def test_notices_by_building(world, who, make_notice):
    user = _user(world, who)
    now = utcnow()
    for buildings, allowed in (([], EVERYONE | {"anonymous"}), ([world["a"]], BACK_OFFICE | {"resident_a", "committee_a"}),
                               ([world["b"]], BACK_OFFICE | {"resident_b"})):
        notice = make_notice(title="通知", buildings=buildings)
        assert p.can_read_notice(user, notice, now) == (who in allowed), [b.name for b in buildings]
    assert p.can_edit_notices(user) == (who in OFFICE)


@pytest.mark.parametrize("who", VIEWERS)
def test_conversations_reports_rotas_and_figures(world, who):
    user, objects = _user(world, who), world["objects"]
    assert p.can_see_conversation(user, objects["conversation_a"]) == (who in DESK | {"resident_a"})
    assert p.can_see_report(user, objects["draft_report"]) == (who in OFFICE)
    assert p.can_see_report(user, objects["published_report"]) == (who in OFFICE | {"committee_a"})
    assert p.can_read_figures(user) == (who in OFFICE | {"committee_a"})
    assert p.can_edit_rota(user, world["d1"].id) == (who in DESK | {"head_1"})
    assert p.can_edit_rota(user, None) == (who in DESK)  # the duty manager's rota
    assert p.can_admin(user) == (who == "admin")
    assert p.can_plan_training(user) == (who in {"admin", "head_1", "head_2"})
    assert p.can_edit_training_item(user, world["objects"]["plan_item"]) == (who in {"admin", "head_1"})
    assert p.sees_policy_cadence(user) == (who in OFFICE)


# The same table over HTTP: (method, url template, action table or set of who may).
def _http_cases(world):
    o = world["objects"]
    t, u, x = o["ticket"].id, o["urgent"].id, o["other_ticket"].id
    cases = [("GET", f"/tickets/{t}", TICKET["view"]), ("GET", f"/tickets/{x}", OTHER_TICKET["view"]),
             ("GET", f"/tickets/{u}", URGENT["view"])]
    posts = {"classify": "classify", "transfer": "transfer", "call": "call", "feedback": "feedback", "formal_reply": "formal-reply",
             "callback": "callback", "gov_reply": "gov-reply", "progress": "progress", "note": "note", "hold": "hold",
             "resume": "resume", "resolve": "resolve", "urgency": "urgency", "assign": "assign", "message": "message", "rate": "rate",
             "acknowledge": "acknowledge", "on_site": "on-site"}
    for action, path in posts.items():
        cases.append(("POST", f"/tickets/{t}/{path}", TICKET[action]))
    cases += [("POST", f"/tickets/{u}/acknowledge", URGENT["acknowledge"]), ("POST", f"/tickets/{u}/on-site", URGENT["on_site"]),
              ("POST", f"/tickets/{x}/progress", OTHER_TICKET["progress"]), ("POST", f"/tickets/{x}/message", OTHER_TICKET["message"]),
              ("GET", f"/tickets/{t}/slip.pdf", TICKET["print"]), ("GET", f"/tickets/{u}/emergency.pdf", URGENT["view"] - {"resident_a"})]
    for key, allowed in COMMUNITY.items():
        kind = key.split("_")[0]
        base = {"event": "events", "consultation": "consultations", "suggestion": "suggestions", "hidden": "suggestions"}[kind]
        cases.append(("GET", f"/{base}/{o[key].id}", allowed))
    cases += [
        ("POST", f"/events/{o['event_a'].id}/signup", {"resident_a"}), ("POST", f"/events/{o['event_b'].id}/signup", {"resident_b"}),
        ("POST", f"/consultations/{o['consultation_b'].id}/answer", {"resident_b"}),
        ("POST", f"/suggestions/{o['suggestion_b'].id}/support", {"resident_b"}),
        ("GET", f"/chat/{o['conversation_a'].id}", DESK | {"resident_a"}),
        ("GET", f"/chat/{o['conversation_a'].id}/messages", DESK | {"resident_a"}),
        ("POST", f"/chat/{o['conversation_a'].id}/take", DESK),
        ("GET", f"/figures/reports/{o['draft_report'].id}", OFFICE),
        ("GET", f"/figures/reports/{o['published_report'].id}", OFFICE | {"committee_a"}),
        ("GET", "/figures/", OFFICE | {"committee_a"}),
        ("POST", f"/duty/{world['d1'].id}", DESK | {"head_1"}), ("POST", "/duty/manager", DESK),
        ("GET", f"/records/training/people/{world['people']['resident_a'].id}", set()),
        ("GET", "/admin/", {"admin"}), ("GET", "/notices/manage", OFFICE), ("GET", "/records/", OFFICE),
        ("GET", "/telephony/", DESK), ("GET", "/tickets/export.csv", BACK_OFFICE),
        ("GET", "/records/training/plan", OFFICE), ("POST", "/records/training/plan", {"admin", "head_1", "head_2"}),
        ("GET", f"/records/training/plan/{o['plan_item'].id}", {"admin", "head_1"}),
        ("POST", f"/records/training/plan/{o['plan_item'].id}", {"admin", "head_1"}),
    ]
    return cases


@pytest.mark.parametrize("who", VIEWERS)
def test_every_refusal_over_http_is_a_404(app, world, who):
    client = PortalClient(app)
    if who != "anonymous":
        client.login(world["people"][who])
    token = client.csrf_token()
    for method, url, allowed in _http_cases(world):
        if who in allowed and method == "POST":
            continue  # allowed actions change the world; the service tests cover them
        if who in allowed and url.endswith(".pdf"):
            continue  # slow to render; the PDF tests read them
        response = client.get(url) if method == "GET" else client.post(url, {"csrf_token": token}, csrf=False)
        if who == "anonymous":
            assert response.status_code == 302 and "/auth/login" in response.headers["Location"], (method, url)
        elif who in allowed:  # the page, or (a resident's conversation) the page it lives on
            assert response.status_code in (200, 302) and "/auth/login" not in response.headers.get("Location", ""), (
                who, method, url, response.status_code)
        else:
            assert response.status_code == 404, (who, method, url, response.status_code)
        response.close()  # a streamed export ends here, not when it happens to be collected during a later request


def test_no_inline_role_comparisons_in_views_or_templates():
    """Views and templates ask permissions.py; they never compare roles themselves."""
    import pathlib

    import portal

    root = pathlib.Path(portal.__file__).parent
    pattern = re.compile(r"current_user\.role|\buser\.role\b|role\.value\s*(==|!=|in\b|not in\b)")
    found = []
    for path in [*root.glob("blueprints/*/views.py"), *root.rglob("templates/**/*.html")]:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if pattern.search(line):
                found.append(f"{path.relative_to(root)}:{number}: {line.strip()}")
    assert found == []
