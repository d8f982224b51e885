"""The yearly training plan (S6.2.1) over HTTP: the administrator and the heads keep it, the office
reads it against the sessions held, and a session is recorded against the item it delivers."""
import re
from datetime import date, datetime, timezone

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import Department, Role, TrainingAttendance, TrainingMethod, TrainingPlanItem, TrainingSession, TrainingTopic
from portal.services import training
from tests.conftest import PortalClient
from tests.markup import element, text_of

JOINED = datetime(2025, 1, 1, tzinfo=timezone.utc)


@pytest.fixture
def org(make_user):
    desk, works = Department(name="客服中心"), Department(name="工程维修部")
    db.session.add_all([desk, works])
    db.session.commit()
    return {
        "desk": desk, "works": works,
        "admin": make_user(role=Role.ADMIN, name="陈立", created_at=JOINED),
        "wang": make_user(role=Role.STAFF, name="王敏", department_id=desk.id, created_at=JOINED),
        "li": make_user(role=Role.STAFF, name="李娜", department_id=desk.id, created_at=JOINED),
        "zhang": make_user(role=Role.HEAD, name="张强", department_id=works.id, created_at=JOINED),
        "shifu": make_user(role=Role.WORKER, name="李师傅", department_id=works.id, created_at=JOINED),
    }


def _as(app, person):
    client = PortalClient(app)
    client.login(person)
    return client


def _item(org, month, year=2026, **kw):
    values = dict(year=year, month=month, title="投诉处理流程", topic=TrainingTopic.PROBLEM_HANDLING, method=TrainingMethod.CASE_STUDY,
                  goal="", department_id=org["desk"].id, people=[], actor=org["admin"])
    values.update(kw)
    item = training.save_item(None, **values)
    db.session.commit()
    return item


def test_the_administrator_adds_an_item_and_a_form_without_an_audience_keeps_what_was_typed(app, org):
    admin = _as(app, org["admin"])
    bad = admin.post("/records/training/plan", {"title": "电话礼仪", "topic": "communication", "method": "internal", "year": "2026",
                                                "month": "4", "goal": "接听规范", "department_id": "0"})
    assert bad.status_code == 422 and text_of(bad, "#people-error") == "请选择培训对象：一个部门或具体人员。"
    assert element(bad, "input#title").get("value") == "电话礼仪" and element(bad, "#goal").text == "接听规范"
    good = admin.post("/records/training/plan", {"title": "电话礼仪", "topic": "communication", "method": "internal", "year": "2026",
                                                 "month": "4", "goal": "接听规范", "department_id": "0",
                                                 "people": [str(org["wang"].id), str(org["zhang"].id)]})
    assert good.status_code == 302 and good.headers["Location"].endswith("/records/training/plan?year=2026")
    item = db.session.scalar(select(TrainingPlanItem))
    assert (item.year, item.month, item.title, item.goal) == (2026, 4, "电话礼仪", "接听规范")
    assert sorted(p.name for p in item.people) == ["张强", "王敏"] and item.department_id is None
    far = admin.post("/records/training/plan", {"title": "x", "topic": "communication", "method": "internal", "year": "3000",
                                                "month": "4", "department_id": str(org["desk"].id)})
    assert far.status_code == 422 and text_of(far, "#year-error") == "请输入 2000 至 2100 之间的年份。"


def test_a_head_plans_for_their_own_department_only(app, org):
    head = _as(app, org["zhang"])
    other = head.post("/records/training/plan", {"title": "维修标准", "topic": "business", "method": "coaching", "year": "2026",
                                                 "month": "5", "department_id": str(org["desk"].id)})
    assert other.status_code == 422 and db.session.scalar(select(TrainingPlanItem)) is None
    assert text_of(other, "#department_id-error") == "不是有效的选择。"
    own = head.post("/records/training/plan", {"title": "维修标准", "topic": "business", "method": "coaching", "year": "2026",
                                               "month": "5", "department_id": str(org["works"].id)})
    assert own.status_code == 302
    desk_item = _item(org, 3)
    assert head.get(f"/records/training/plan/{desk_item.id}").status_code == 404
    assert head.post(f"/records/training/plan/{desk_item.id}", {"action": "delete"}).status_code == 404
    assert db.session.get(TrainingPlanItem, desk_item.id) is not None


@pytest.mark.parametrize("role", [Role.RESIDENT, Role.COMMITTEE, Role.WORKER])
def test_the_plan_is_404_outside_the_office(app, org, make_user, role):
    client = _as(app, make_user(role=role))
    item = _item(org, 3)
    assert client.get("/records/training/plan").status_code == 404
    assert client.get(f"/records/training/plan/{item.id}").status_code == 404


def test_customer_service_reads_the_plan_but_does_not_keep_it(app, org):
    staff = _as(app, org["wang"])
    item = _item(org, 3)
    assert staff.get("/records/training/plan?year=2026").status_code == 200
    assert staff.post("/records/training/plan", {"title": "x", "topic": "communication", "method": "internal", "year": "2026",
                                                 "month": "4", "department_id": str(org["desk"].id)}).status_code == 404
    assert staff.get(f"/records/training/plan/{item.id}").status_code == 404


def test_the_plan_page_shows_what_was_held_and_who_did_not_attend(app, org):
    held = _item(org, 3, title="投诉处理流程")
    session = TrainingSession(title="投诉处理流程", topic=TrainingTopic.PROBLEM_HANDLING, method=TrainingMethod.CASE_STUDY,
                              held_on=date(2026, 3, 20), trainer="外部讲师", plan_item_id=held.id)
    session.attendees = [TrainingAttendance(user_id=org["wang"].id)]
    db.session.add(session)
    missed = _item(org, 2, title="电话礼仪", department_id=None, people=[org["zhang"]])
    db.session.commit()
    page = _as(app, org["admin"]).get("/records/training/plan?year=2026").get_data(as_text=True)
    row = page.split(f'id="plan-item-{held.id}"')[1].split("</tr>")[0]
    assert "2026-03-20" in row and re.search(r"未参加：<a href=\"/records/training/people/\d+\">李娜</a></span>", row)
    assert "王敏</a>" not in row.split("未参加")[1]
    assert "计划月份已过，未举办" in page.split(f'id="plan-item-{missed.id}"')[1].split("</tr>")[0]


def test_a_session_recorded_from_the_plan_delivers_its_item(app, org):
    item = _item(org, 3)
    staff = _as(app, org["wang"])
    form = staff.get(f"/records/training?plan={item.id}").get_data(as_text=True)
    assert f'<option selected value="{item.id}">' in form and 'value="投诉处理流程"' in form
    assert re.search(rf'<input checked id="attendees-\d+" name="attendees" type="checkbox" value="{org["li"].id}">', form)
    response = staff.post("/records/training", {"plan_item_id": str(item.id), "title": "投诉处理流程", "topic": "problem_handling",
                                                "method": "case_study", "held_on": "2026-03-18", "trainer": "王敏",
                                                "attendees": [str(org["wang"].id), str(org["li"].id)]})
    assert response.status_code == 302
    session = db.session.scalar(select(TrainingSession))
    assert session.plan_item_id == item.id
    db.session.expire_all()
    (review,) = training.review([db.session.get(TrainingPlanItem, item.id)], date(2026, 4, 1))
    assert review.state == training.HELD and review.absent == []


def test_removing_an_item_keeps_its_sessions(app, org):
    item = _item(org, 3)
    session = TrainingSession(title="x", topic=TrainingTopic.SERVICE, method=TrainingMethod.INTERNAL, held_on=date(2026, 3, 2), trainer="王敏",
                              plan_item_id=item.id)
    db.session.add(session)
    db.session.commit()
    response = _as(app, org["admin"]).post(f"/records/training/plan/{item.id}", {"action": "delete"})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(TrainingPlanItem, item.id) is None and db.session.get(TrainingSession, session.id).plan_item_id is None
