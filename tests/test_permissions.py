"""portal/permissions.py, as a table: every role (and the cross-building and cross-department
cases) × every kind of object × every action, first through the predicates, then over HTTP,
where every refusal to a signed-in person is a 404 and an anonymous visitor is sent to sign in."""
import re
from datetime import date, timedelta

import pytest

from portal import permissions as p
from portal.extensions import db
from portal.models import Channel, Department, EventType, Report, Role, SuggestionTopic, TicketChannel, TrainingMethod, TrainingTopic, utcnow
from portal.services import chat, consultations, events, suggestions, tickets, training
from tests.markup import texts_of
from tests.conftest import PortalClient

VIEWERS = ("anonymous", "resident_a", "resident_b", "committee_a", "staff", "admin", "head_1", "head_2", "worker_1", "worker_2")
BACK_OFFICE = {"staff", "admin", "head_1", "head_2", "worker_1", "worker_2"}
OFFICE = {"staff", "admin", "head_1", "head_2"}
DESK = {"staff", "admin"}
EVERYONE = set(VIEWERS) - {"anonymous"}
PUBLIC = set(VIEWERS)


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
    for section in ("fees", "commitments", "heads"):  # the disclosure board: management's sections...
        assert p.can_edit_disclosure(user, section) == (who == "admin")
    assert p.can_edit_disclosure(user, "hours") == (who in DESK)  # ...and the service centre's own
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
        ("POST", f"/consultations/{o['consultation_b'].id}/publish", OFFICE),
        ("GET", f"/consultations/{o['consultation_a'].id}/answers.csv", OFFICE),
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
        ("GET", "/disclosure/fees/edit", {"admin"}), ("GET", "/disclosure/commitments/edit", {"admin"}),
        ("GET", "/disclosure/heads/edit", {"admin"}), ("GET", "/disclosure/hours/edit", DESK), ("POST", "/disclosure/fees/edit", {"admin"}),
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
    # a resident's conversation lives on their chat page: its own address leads there
    redirects = {f"/chat/{world['objects']['conversation_a'].id}": "/chat/"} if who.startswith("resident") else {}
    for method, url, allowed in _http_cases(world):
        if who in allowed and method == "POST":
            continue  # allowed actions change the world; the service tests cover them
        if who in allowed and url.endswith(".pdf"):
            continue  # slow to render; the PDF tests read them
        response = client.get(url) if method == "GET" else client.post(url, {"csrf_token": token}, csrf=False)
        if who == "anonymous":
            assert response.status_code == 302 and "/auth/login" in response.headers["Location"], (method, url)
        elif who in allowed and url in redirects:
            assert (response.status_code, response.headers["Location"]) == (302, redirects[url]), (who, method, url)
        elif who in allowed:  # the page itself (allowed actions are left out above)
            assert response.status_code == 200, (who, method, url, response.status_code)
        else:
            assert response.status_code == 404, (who, method, url, response.status_code)
        response.close()  # a streamed export ends here, not when it happens to be collected during a later request



# The staff side (and every other action route) of events, suggestions, consultations, notices,
# records, figures, the duty rota, the chat desk, the hotline screen and administration: one row
# per route and method, with who may, and the predicate of permissions.py that decides it where
# there is one. Objects for building A or B, or for department 1 or 2, are the cross cases.

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
RESIDENTS = {"resident_a", "resident_b"}
COMMUNITY_PEOPLE = EVERYONE - {"committee_a"}  # events, consultations, suggestions: not the committee
FIGURES = OFFICE | {"committee_a"}
NOTICE = {"notice": EVERYONE | {"anonymous"}, "bulletin_a": BACK_OFFICE | {"resident_a", "committee_a"},
          "bulletin_b": BACK_OFFICE | {"resident_b"}, "emergency_a": BACK_OFFICE | {"resident_a", "committee_a"},
          # not current: the back office only
          "draft": BACK_OFFICE, "scheduled": BACK_OFFICE, "expired": BACK_OFFICE, "withdrawn": BACK_OFFICE}


@pytest.fixture
def staff_world(world, make_notice):
    """The world, plus what the staff-side routes act on: notices and bulletins (with a question
    and an attachment on A's), events that are over, a measure of department 2, a training session,
    a call, a lobby screen, a delivery, a notification, a chat photo and a ticket photo."""
    from portal.models import (
        Call, Delivery, FigureKey, Measure, Notification, NoticeCategory, Sender, TicketPhoto, TrainingAttendance, TrainingMethod,
        TrainingSession, TrainingTopic,
    )
    from portal.services import kiosk
    from portal.services import notices as notice_service
    from portal.services.notices import store_blob
    from portal.services.tickets import PHOTO_TYPES

    now = utcnow()
    people, objects, a, b = world["people"], world["objects"], world["a"], world["b"]
    staff, ra = people["staff"], people["resident_a"]
    for key, buildings, kw in (("notice", [], {}), ("bulletin_a", [a], {}), ("bulletin_b", [b], {}),
                               ("emergency_a", [a], {"category": NoticeCategory.EMERGENCY}), ("draft", [], {"publish_at": None}),
                               ("scheduled", [], {"publish_at": now + timedelta(days=1)}),
                               ("expired", [], {"publish_at": now - timedelta(days=2), "expires_at": now - timedelta(days=1)}),
                               ("withdrawn", [], {"withdrawn_at": now - timedelta(minutes=1)})):
        objects[key] = make_notice(title=key, buildings=buildings, author=staff, **kw)
    objects["attachment_a"] = notice_service.attach(objects["bulletin_a"], "停水.png", PNG)
    objects["question_a"], _ = tickets.ask_on_notice(objects["bulletin_a"], ra, "几点来水？", now)
    for side in ("a", "b"):  # each building's resident signed up for their building's event
        resident = people[f"resident_{side}"]
        events.sign_up(objects[f"event_{side}"], resident, resident.residencies[0].unit, 1, now)
    for key in ("event_a", "event_b"):  # the same, over: feedback is open
        start = now - timedelta(days=2)
        objects[f"past_{key}"] = past = events.create(
            kind=EventType.CAMPAIGN, title="义诊", description="", location="广场", starts_at=now + timedelta(days=10),
            ends_at=now + timedelta(days=10, hours=2), capacity=20, seats_per_household=2, signup_deadline=None,
            buildings=list(objects[key].buildings), actor=staff, now=now)
        past.starts_at, past.ends_at = start, start + timedelta(hours=2)
    objects["measure_2"] = Measure(problem="回复慢", goal="按时答复", figure=FigureKey.TIMELINESS, target=0.9, department_id=world["d2"].id,
                                   owner_id=people["head_2"].id, starts_on=date(2026, 1, 1), deadline=date(2026, 6, 30))
    objects["training"] = TrainingSession(title="沟通技巧", topic=TrainingTopic.COMMUNICATION, method=TrainingMethod.INTERNAL,
                                          held_on=date(2026, 3, 1), trainer="王老师",
                                          attendees=[TrainingAttendance(user_id=people["worker_1"].id)])
    objects["call"] = Call(call_id="pbx-1", caller=ra.phone)
    objects["delivery"] = Delivery(dedupe_key="test-delivery", channel=Channel.EMAIL, kind="test", user_id=ra.id, address="a@example.com")
    objects["notification_a"] = Notification(key="test-notification", user_id=ra.id, kind="test", title="通知")
    objects["ticket_photo"] = TicketPhoto(ticket_id=objects["ticket"].id, blob_sha256=store_blob(PNG, allowed=PHOTO_TYPES).sha256,
                                          filename="漏水.png", mime="image/png")
    db.session.add_all([objects[k] for k in ("measure_2", "training", "call", "delivery", "notification_a", "ticket_photo")])
    objects["screen_a"] = kiosk.create(a, "大堂", "landscape", 12, 30, None, None, now)
    objects["chat_photo"] = chat.post(objects["conversation_a"], Sender.RESIDENT, "", now, author=ra,
                                      photo=store_blob(PNG, allowed=PHOTO_TYPES), kind="image")
    db.session.commit()
    return world


def _staff_routes(world):
    """(methods, url, who may, predicate or None): the predicate is what permissions.py says about
    this viewer and this object; None where the view decides by something else (a sign-up, a home)."""
    o, people, d1, d2 = world["objects"], world["people"], world["d1"].id, world["d2"].id
    a = world["a"]

    def see(predicate, key):
        return lambda user: predicate(user, o[key])

    def office_and(predicate, key):
        return lambda user: p.is_office(user) and predicate(user, o[key])

    def back_office_and(predicate, key):
        return lambda user: p.is_back_office(user) and predicate(user, o[key])

    def resident_and(predicate, key):
        return lambda user: p.is_resident(user) and predicate(user, o[key])

    def read(key):
        return lambda user: p.can_read_notice(user, o[key], utcnow())

    rows = [
        # Events: the list, the calendar, creating one
        ("GET", "/events/", COMMUNITY_PEOPLE, p.can_see_community),
        ("GET", "/events/calendar", BACK_OFFICE, p.is_back_office),
        ("GET POST", "/events/new", OFFICE, p.is_office),
    ]
    for side in ("a", "b"):  # each event for one building: the other building's resident is refused
        key = f"event_{side}"
        e, past = o[key].id, o[f"past_{key}"].id
        rows += [
            ("GET", f"/events/{e}/event.ics", COMMUNITY[key], see(p.can_see_event, key)),
            ("POST", f"/events/{e}/cancel", {f"resident_{side}"}, resident_and(p.can_see_event, key)),  # their own sign-up
            ("POST", f"/events/{past}/feedback", {f"resident_{side}"}, resident_and(p.can_see_event, key)),  # once it began
            ("POST", f"/events/{e}/change", OFFICE, office_and(p.can_see_event, key)),
            ("POST", f"/events/{e}/cancel-event", OFFICE, office_and(p.can_see_event, key)),
            ("POST", f"/events/{past}/minutes", OFFICE, office_and(p.can_see_event, key)),
            ("GET POST", f"/events/{e}/attendance", BACK_OFFICE, back_office_and(p.can_see_event, key)),
            ("GET", f"/events/{e}/sign-in-sheet.pdf", BACK_OFFICE, back_office_and(p.can_see_event, key)),
        ]
    # Suggestions: the box, supporting one (A's; B's hidden one, which only its author sees), and
    # what the office does with each (A's, B's, B's hidden one)
    rows += [
        ("GET", "/suggestions/", COMMUNITY_PEOPLE, p.can_see_community),
        ("GET POST", "/suggestions/new", RESIDENTS, p.is_resident),
        ("GET POST", "/suggestions/box", OFFICE, p.is_office),
        ("POST", f"/suggestions/{o['suggestion_a'].id}/support", {"resident_a"}, resident_and(p.can_see_suggestion, "suggestion_a")),
        ("POST", f"/suggestions/{o['hidden_b'].id}/support", {"resident_b"}, resident_and(p.can_see_suggestion, "hidden_b")),
    ]
    for key in ("suggestion_a", "suggestion_b", "hidden_b"):
        for action in ("hide", "answer", "study", "ticket", "agenda"):
            rows.append(("POST", f"/suggestions/{o[key].id}/{action}", OFFICE, office_and(p.can_see_suggestion, key)))
    # Consultations: there is no close or publish step (results show to staff, and to residents after the deadline)
    rows += [
        ("GET", "/consultations/", COMMUNITY_PEOPLE, p.can_see_community),
        ("GET POST", "/consultations/new", OFFICE, p.is_office),
        ("POST", f"/consultations/{o['consultation_a'].id}/answer", {"resident_a"}, resident_and(p.can_see_consultation, "consultation_a")),
    ]
    # Notices and bulletins
    rows += [
        ("GET", "/notices/", EVERYONE, None),
        ("GET", "/notices/manage", OFFICE, p.can_edit_notices),
        ("GET", "/notices/questions", OFFICE, p.can_answer_questions),
        ("GET POST", "/notices/new", OFFICE, p.can_edit_notices),
        ("GET", f"/notices/attachments/{o['attachment_a'].id}", NOTICE["bulletin_a"], read("bulletin_a")),
        ("GET", f"/notices/questions/{o['question_a'].id}", OFFICE | {"resident_a"},
         lambda user: p.can_see_question(user, o["question_a"], utcnow())),
        ("POST", f"/notices/questions/{o['question_a'].id}/answer", OFFICE,
         lambda user: p.can_answer_questions(user) and p.can_see_question(user, o["question_a"], utcnow())),
        ("POST", f"/notices/{o['emergency_a'].id}/lift", OFFICE, p.can_edit_notices),
    ]
    for key, readers in NOTICE.items():
        n = o[key].id
        rows += [
            ("GET", f"/notices/{n}", readers, read(key)),
            ("GET", f"/notices/{n}/poster.pdf", readers, read(key)),
            ("POST", f"/notices/{n}/questions", readers & RESIDENTS, lambda user, key=key: p.is_resident(user) and read(key)(user)),
            ("GET POST", f"/notices/{n}/edit", OFFICE, p.can_edit_notices),
            ("POST", f"/notices/{n}/attachments", OFFICE, p.can_edit_notices),
            ("POST", f"/notices/{n}/withdraw", OFFICE, p.can_edit_notices),
        ]
    # Communication records, outreach and training
    worker = people["worker_1"].id
    rows += [
        ("GET", "/records/", OFFICE, p.is_office),
        ("GET POST", "/records/new", OFFICE, p.is_office),
        ("GET", "/records/export.csv", OFFICE, p.is_office),
        ("GET", "/records/register.pdf", OFFICE, p.is_office),
        ("GET", "/records/outreach", BACK_OFFICE, p.is_back_office),
        ("GET POST", "/records/training", OFFICE, p.is_office),
        ("GET POST", f"/records/training/{o['training'].id}", OFFICE, p.is_office),
        ("GET", f"/records/training/people/{worker}", OFFICE, lambda user: p.can_see_training_of(user, people["worker_1"])),
        ("GET", f"/records/training/people/{people['resident_b'].id}", set(),
         lambda user: p.can_see_training_of(user, people["resident_b"])),
    ]
    # Figures, reports and measures (a measure belongs to a department, but measures are the office's)
    draft, published = o["draft_report"].id, o["published_report"].id
    rows += [
        ("GET", "/figures/", FIGURES, p.can_read_figures),
        ("POST", "/figures/publish", DESK, p.is_desk),
        ("GET", "/figures/published", PUBLIC, None),  # what the lobby screens show, open to anyone
        ("GET", "/figures/reports", FIGURES, p.can_read_figures),
        ("POST", "/figures/reports", OFFICE, p.can_write_figures),
        ("GET", f"/figures/reports/{draft}", OFFICE, see(p.can_see_report, "draft_report")),
        ("GET", f"/figures/reports/{draft}/report.pdf", OFFICE, see(p.can_see_report, "draft_report")),
        ("POST", f"/figures/reports/{draft}", OFFICE, lambda user: p.can_write_figures(user) and p.can_see_report(user, o["draft_report"])),
        ("GET", f"/figures/reports/{published}", FIGURES, see(p.can_see_report, "published_report")),
        ("GET", f"/figures/reports/{published}/report.pdf", FIGURES, see(p.can_see_report, "published_report")),
        ("POST", f"/figures/reports/{published}", OFFICE, p.can_write_figures),
        ("GET POST", "/figures/measures", OFFICE, p.can_write_figures),
        ("GET POST", f"/figures/measures/{o['measure_2'].id}", OFFICE, p.can_write_figures),
    ]
    # The duty rota: the back office reads every rota; a head edits only their department's
    rows += [
        ("GET", "/duty/", BACK_OFFICE, p.is_back_office),
        ("GET", f"/duty/{d1}", BACK_OFFICE, p.is_back_office),
        ("POST", f"/duty/{d1}", DESK | {"head_1"}, lambda user: p.can_edit_rota(user, d1)),
        ("POST", f"/duty/{d2}", DESK | {"head_2"}, lambda user: p.can_edit_rota(user, d2)),
        ("GET", "/duty/manager", BACK_OFFICE, p.is_back_office),
        ("POST", "/duty/manager", DESK, lambda user: p.can_edit_rota(user, None)),
    ]
    # The chat desk (resident A's conversation) and the hotline screen
    c = o["conversation_a"].id
    own = see(p.can_see_conversation, "conversation_a")
    rows += [
        ("GET POST", "/chat/", DESK | RESIDENTS, p.can_use_chat),
        ("GET POST", "/chat/canned", DESK, p.is_desk),
        ("POST", f"/chat/{c}/messages", DESK | {"resident_a"}, own),
        ("POST", f"/chat/{c}/seen", DESK | {"resident_a"}, own),
        ("GET", f"/chat/photo/{o['chat_photo'].id}", DESK | {"resident_a"}, own),
        *(("POST", f"/chat/{c}/{action}", DESK, lambda user: p.is_desk(user) and own(user))
          for action in ("handover", "close", "ticket", "link")),
        ("POST", f"/chat/{c}/urgent", {"resident_a"}, lambda user: p.is_resident(user) and own(user)),
        ("POST", f"/telephony/{o['call'].id}/take", DESK, p.is_desk),
    ]
    # The register's other pages: the lists, intake, the resident lookup, a photo
    rows += [
        ("GET", "/tickets/", EVERYONE - {"committee_a"}, p.can_use_register),
        ("GET POST", "/tickets/new", BACK_OFFICE | RESIDENTS, lambda user: p.is_back_office(user) or p.is_resident(user)),
        ("GET", "/tickets/residents", BACK_OFFICE, p.is_back_office),
        ("GET", f"/tickets/photos/{o['ticket_photo'].id}", TICKET["view"], see(p.can_view_ticket, "ticket")),
        ("POST", f"/notifications/{o['notification_a'].id}/read", {"resident_a"}, None),
    ]
    # Administration: every page, the administrator only
    admin_gets = ["/admin/", "/admin/buildings", "/admin/deliveries", f"/admin/deliveries/{o['delivery'].id}", "/admin/people"]
    admin_forms = ["/admin/buildings/new", f"/admin/buildings/{a.id}", f"/admin/units/{a.units[0].id}", "/admin/calendar",
                   "/admin/channels", "/admin/departments", f"/admin/departments/{d1}", f"/admin/people/{people['resident_a'].id}",
                   "/admin/people/new", "/admin/people/import", "/admin/screens", "/admin/settings"]
    admin_posts = [f"/admin/buildings/{a.id}/units", f"/admin/deliveries/{o['delivery'].id}/retry",
                   f"/admin/people/{people['resident_a'].id}/reset-password", f"/admin/screens/{o['screen_a'].id}/revoke"]
    rows += [("GET", url, {"admin"}, p.can_admin) for url in admin_gets]
    rows += [("GET POST", url, {"admin"}, p.can_admin) for url in admin_forms]
    rows += [("POST", url, {"admin"}, p.can_admin) for url in admin_posts]
    return [(method, url, allowed, may) for methods, url, allowed, may in rows for method in methods.split()]


STAFF_BLUEPRINTS = ("events", "suggestions", "consultations", "notices", "records", "figures", "duty", "chat", "telephony", "admin",
                    "tickets")
# Not in the table: marks a person's own board as seen; the PBX's signed events; a paged person's
# one-tap link and a formal reply's PDF (their own tests issue the page and the reply).
NOBODYS = ("notices.seen", "telephony.events", "tickets.ack_link", "tickets.reply_pdf")


def test_staff_routes_cover_every_action_route(app, staff_world):
    """Every route of these blueprints that acts on or shows something is in the table (or is
    covered by the tickets table above, or is nobody's in particular: sign-in, the account, the
    bell, the kiosk and the providers' callbacks)."""
    def shape(url):
        return re.sub(r"/(\d+|manager)(?=/|$)", "/<id>", url)

    covered = {(method, shape(url)) for method, url, _a, _p in _staff_routes(staff_world)}
    covered |= {(method, shape(url)) for method, url, _a in _http_cases(staff_world)}
    missing = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.split(".")[0] not in STAFF_BLUEPRINTS or rule.endpoint in NOBODYS:
            continue
        for method in sorted(rule.methods & {"GET", "POST"}):
            if (method, re.sub(r"<(int:)?[a-z_]+>", "<id>", rule.rule)) not in covered:
                missing.append((method, rule.rule))
    assert missing == []


@pytest.mark.parametrize("who", VIEWERS)
def test_staff_actions_by_predicate(staff_world, who):
    user = _user(staff_world, who)
    wrong = []
    for method, url, allowed, may in _staff_routes(staff_world):
        if may is None:
            continue
        try:
            answer = bool(may(user))
        except Exception as exc:  # a predicate answers for anyone, signed in or not
            answer = repr(exc)
        if answer != (who in allowed):
            wrong.append((who, method, url, answer))
    assert not wrong, "\n".join(map(str, wrong))
    # cross-department: a head's figures and outreach week are their own department's, whichever they ask for
    d1, d2 = staff_world["d1"].id, staff_world["d2"].id
    if user.is_authenticated:
        assert p.figures_department(user, d2) == {"head_1": d1, "head_2": d2, "committee_a": None}.get(who, d2)
        assert p.outreach_department(user) == {"head_1": (True, d1), "head_2": (True, d2), "admin": (True, None)}.get(who, (False, None))


@pytest.mark.parametrize("who", VIEWERS)
def test_staff_routes_over_http(app, staff_world, who):
    """A viewer outside a route's set gets 404 (an anonymous one the sign-in page) for GET and POST
    alike, with a valid CSRF token and nothing else: refusing comes before reading the form. A
    viewer inside it gets the page; sent an empty form, never a 404 or the sign-in page."""
    client = PortalClient(app)
    if who != "anonymous":
        client.login(staff_world["people"][who])
    token = client.csrf_token()
    wrong = []
    # the one page that sends its reader elsewhere: a withdrawn notice cannot be edited, so its form leads back to it
    withdrawn = staff_world["objects"]["withdrawn"].id
    redirects = {f"/notices/{withdrawn}/edit": f"/notices/{withdrawn}"}
    for method, url, allowed, _may in _staff_routes(staff_world):
        if who in allowed and url.endswith(".pdf"):
            continue  # slow to render; the PDF tests read them
        response = client.get(url) if method == "GET" else client.post(url, {"csrf_token": token}, csrf=False)
        location = response.headers.get("Location", "")
        if who == "anonymous" and allowed is PUBLIC:
            ok = response.status_code == 200  # open without signing in
        elif who == "anonymous":
            ok = response.status_code == 302 and "/auth/login" in location
        elif who in allowed:
            ok = response.status_code != 404 and "/auth/login" not in location and response.status_code < 500
            if method == "GET":
                ok = ok and ((response.status_code, location) == (302, redirects[url]) if url in redirects else response.status_code == 200)
        else:
            ok = response.status_code == 404
        if not ok:
            wrong.append((who, method, url, response.status_code, location))
    assert not wrong, "\n".join(map(str, wrong))



def test_lists_show_exactly_what_may_be_opened(app, staff_world):
    """The cross-building and cross-department cases on the lists: each list links to exactly the
    objects the viewer may open (the notice board: those that are also current). Every viewer in
    one app, there and back, so that a page kept for one audience is never shown to another."""
    o, now = staff_world["objects"], utcnow()
    objects = {
        "/tickets/": [("tickets", o[k], p.can_view_ticket) for k in ("ticket", "other_ticket", "urgent")],
        "/events/": [("events", o[k], p.can_see_event) for k in ("event_a", "event_b", "past_event_a", "past_event_b")],
        "/consultations/": [("consultations", o[k], p.can_see_consultation) for k in ("consultation_a", "consultation_b")],
        "/suggestions/": [("suggestions", o[k], p.can_see_suggestion) for k in ("suggestion_a", "suggestion_b", "hidden_b")],
        "/notices/": [("notices", o[k], lambda user, n: p.can_read_notice(user, n, now) and n.is_current(now))
                      for k in NOTICE],
    }
    clients = {}
    for who in sorted(EVERYONE):
        clients[who] = PortalClient(app)
        clients[who].login(staff_world["people"][who])
    wrong = []
    for who in [*sorted(EVERYONE), *sorted(EVERYONE, reverse=True)]:
        user = _user(staff_world, who)
        for page, rows in objects.items():
            response = clients[who].get(page)
            if response.status_code == 404:
                if any(may(user, item) for _base, item, may in rows):
                    wrong.append((who, page, 404))
                continue
            html = response.get_data(as_text=True)
            for base, item, may in rows:
                if bool(re.search(f'href="/{base}/{item.id}["?#]', html)) != may(user, item):
                    wrong.append((who, page, f"/{base}/{item.id}", "missing" if may(user, item) else "listed"))
        # the emergency banner on every page: A's emergency bulletin, to those who may read it
        banners = texts_of(clients[who].get("/account/"), ".emergency-banner a")
        banner = banners == ["emergency_a"]
        if banners not in ([], ["emergency_a"]) or banner != p.can_read_notice(user, o["emergency_a"], now):
            wrong.append((who, "/account/", "emergency banner", "missing" if not banner else "shown"))
    assert not wrong, "\n".join(map(str, wrong))


def test_a_lobby_screen_shows_only_its_building(app, staff_world):
    """The kiosk role: building A's screen shows the community's notices and A's bulletins, never
    B's or a draft; an unknown or revoked secret answers 404."""
    from portal.services import kiosk

    client = PortalClient(app)
    screen = staff_world["objects"]["screen_a"]
    screen_b = kiosk.create(staff_world["b"], "大堂", "landscape", 12, 30, None, None, utcnow())
    db.session.commit()
    assert texts_of(client.get(f"/kiosk/{screen.secret}/slides"), "section.slide.emergency h1") == ["emergency_a"]  # it takes A's screen over
    html = client.get(f"/kiosk/{screen_b.secret}/slides").get_data(as_text=True)
    assert sorted(texts_of(html, "section.slide.kind-notice h1")) == ["bulletin_b", "notice"]
    emergency = staff_world["objects"]["emergency_a"]
    emergency.lifted_at = utcnow()  # lifted, it is one slide among the others
    db.session.commit()
    html = client.get(f"/kiosk/{screen.secret}/slides").get_data(as_text=True)
    assert sorted(texts_of(html, "section.slide.kind-notice h1")) == ["bulletin_a", "emergency_a", "notice"]
    assert client.get("/kiosk/not-a-screen/slides").status_code == 404
    kiosk.revoke(screen, utcnow())
    db.session.commit()
    assert client.get(f"/kiosk/{screen.secret}").status_code == 404
    assert client.get(f"/kiosk/{screen.secret}/slides").status_code == 404


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
