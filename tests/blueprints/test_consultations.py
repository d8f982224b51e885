import csv
import io
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import event, func, select

from portal.extensions import db
from portal.models import Consultation, ConsultationAnswer, ConsultationKind, Notice, Residency, Role, Unit, Vote, utcnow
from portal.services import consultations
from portal.services.consultations import ConsultationError
from tests.conftest import PortalClient
from tests.markup import elements, rows_of, text_of, texts_of


@pytest.fixture
def setup(make_user, make_building):
    a, b, c = make_building(units=3), make_building(units=3), make_building(units=1)
    staff = make_user(role=Role.STAFF)
    question = consultations.create("是否更换电梯", "说明", ["同意", "不同意"], utcnow() + timedelta(days=3), [a, b], staff, utcnow())
    db.session.commit()
    return a, b, c, staff, question


def test_one_answer_per_household_changeable_until_the_deadline(client, make_user, setup):
    a, b, c, staff, question = setup
    owner = make_user(units=[a.units[0]])
    spouse = make_user(units=[a.units[0]])
    client.login(owner)
    yes, no = question.options
    assert client.post(f"/consultations/{question.id}/answer", {"option": str(yes.id)}).status_code == 302
    other = PortalClient(client.app)
    other.login(spouse)
    assert other.post(f"/consultations/{question.id}/answer", {"option": str(no.id)}).status_code == 302
    results = consultations.results(question)
    assert results["answered"] == 1 and results["per_option"] == {no.id: 1}
    question.deadline = utcnow() - timedelta(seconds=1)
    db.session.commit()
    late = client.post(f"/consultations/{question.id}/answer", {"option": str(yes.id)})
    assert late.status_code == 422
    assert consultations.results(question)["per_option"] == {no.id: 1}  # the last answer before the deadline stands


def test_only_owners_of_the_buildings_asked_answer(client, make_user, setup):
    a, b, c, staff, question = setup
    tenant = make_user(units=[])
    db.session.add(Residency(user_id=tenant.id, unit_id=a.units[1].id, is_owner=False))
    db.session.commit()
    with pytest.raises(ConsultationError):
        consultations.answer(question, tenant, a.units[1], question.options[0].id, utcnow())
    outsider = make_user(building=c)
    client.login(outsider)
    assert client.get(f"/consultations/{question.id}").status_code == 404
    assert client.post(f"/consultations/{question.id}/answer", {"option": str(question.options[0].id)}).status_code == 404


def test_results_per_option_and_building_for_staff_as_answers_come_and_for_residents_once_published(client, make_user, setup):
    a, b, c, staff, question = setup
    owners = [make_user(units=[u]) for u in (*a.units, *b.units)]
    for owner, option in zip(owners[:4], (0, 0, 1, 0)):
        consultations.answer(question, owner, owner.residencies[0].unit, question.options[option].id, utcnow())
    db.session.commit()
    client.login(owners[5])
    before = client.get(f"/consultations/{question.id}")
    assert not elements(before, "#result") and text_of(before, "main > p.hint") == "结果将在截止后公布。"  # not before the deadline
    staff_client = PortalClient(client.app)
    staff_client.login(staff)
    so_far = staff_client.get(f"/consultations/{question.id}")
    assert text_of(so_far, "#result h2") == "目前结果"
    assert text_of(so_far, "#result > p") == "6 户业主中已有 4 户参与（67%）"
    assert rows_of(so_far, "#result table.per-building tbody tr") == [["同意", "3", "2", "1"], ["不同意", "1", "1", "0"]]
    question.deadline = utcnow() - timedelta(seconds=1)
    db.session.commit()
    results = consultations.results(question)
    assert results["per_option"] == {question.options[0].id: 3, question.options[1].id: 1}
    assert results["per_building"][a.id] == {question.options[0].id: 2, question.options[1].id: 1}
    assert results["per_building"][b.id] == {question.options[0].id: 1}
    page = client.get(f"/consultations/{question.id}").get_data(as_text=True)
    assert not elements(page, "#result")  # closed, not yet published
    assert text_of(page, "main > p.hint") == "征求意见已截止，物业服务中心将在公告栏发布结果。"
    assert staff_client.post(f"/consultations/{question.id}/publish").status_code == 302
    published = client.get(f"/consultations/{question.id}")
    assert text_of(published, "#result h2") == "结果" and text_of(published, "#result > p") == "6 户业主中已有 4 户参与（67%）"
    assert rows_of(published, "#result table.per-building tbody tr") == [["同意", "3", "2", "1"], ["不同意", "1", "1", "0"]]


def test_a_consultation_needs_two_options_and_buildings(make_user, make_building):
    staff = make_user(role=Role.STAFF)
    with pytest.raises(ConsultationError):
        consultations.create("问", "", ["只有一个"], utcnow() + timedelta(days=1), [make_building()], staff, utcnow())
    with pytest.raises(ConsultationError):
        consultations.create("问", "", ["甲", "乙"], utcnow() + timedelta(days=1), [], staff, utcnow())


# Comments, owners' decisions, the published result


@pytest.fixture
def decision(make_user, make_building):
    """A major matter asked of one building of four units of 80 m², each with its owner, answered
    three agree, one disagree; the deadline has passed."""
    building = make_building(units=4)
    for unit in building.units:
        unit.area = Decimal("80")
    staff = make_user(role=Role.STAFF)
    question = consultations.create("是否利用共有部分设置广告位", "", [], utcnow() + timedelta(days=3), [building], staff, utcnow(),
                                    kind=ConsultationKind.MAJOR)
    owners = [make_user(units=[u]) for u in building.units]
    votes = {o.vote: o for o in question.options}
    for owner, vote in zip(owners, (Vote.AGREE, Vote.AGREE, Vote.AGREE, Vote.DISAGREE)):
        consultations.answer(question, owner, owner.residencies[0].unit, votes[vote].id, utcnow(), comment=f"{owner.name}的意见")
    question.deadline = utcnow() - timedelta(minutes=1)
    db.session.commit()
    return building, staff, question, owners


def _text(html, element_id):
    """The text of the element with this id (tags dropped, whitespace collapsed)."""
    match = re.search(rf'<(\w+)[^>]*id="{element_id}"[^>]*>(.*?)</\1>', html, re.S)
    assert match, element_id
    return " ".join(re.sub(r"<[^>]+>", " ", match.group(2)).split())


def test_an_owner_answers_with_a_comment_that_only_the_staff_read(client, make_client, make_user, setup):
    a, b, c, staff, question = setup
    owner, neighbour = make_user(units=[a.units[0]]), make_user(units=[a.units[1]])
    client.login(owner)
    response = client.post(f"/consultations/{question.id}/answer", {"option": str(question.options[0].id), "unit_id": str(a.units[0].id),
                                                                     "comment": "希望周末施工"})
    assert response.status_code == 302
    assert db.session.scalar(select(ConsultationAnswer.comment)) == "希望周末施工"
    own = client.get(f"/consultations/{question.id}")
    assert texts_of(own, "#my-answer > p:not(.hint)") == [f"{a.name} 1-101: 同意 · 您的意见: 希望周末施工"]  # their own
    assert elements(own, f"#comment-{a.units[0].id}")[0].text == "希望周末施工"
    other = make_client()
    other.login(neighbour)
    assert "希望周末施工" not in other.get(f"/consultations/{question.id}").get_data(as_text=True)
    desk = make_client()
    desk.login(staff)
    page = desk.get(f"/consultations/{question.id}").get_data(as_text=True)
    assert re.search(r'<span class="meta">[^<]*1-101 · 同意</span><p class="text">希望周末施工</p>', page)


def test_a_comment_too_long_is_a_field_error_that_keeps_what_was_typed(client, make_user, setup):
    a, b, c, staff, question = setup
    owner = make_user(units=[a.units[0]])
    client.login(owner)
    typed = "意" * 1001
    response = client.post(f"/consultations/{question.id}/answer", {"option": str(question.options[1].id), "unit_id": str(a.units[0].id),
                                                                     "comment": typed})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert f'id="comment-{a.units[0].id}-error">最多 1000 个字。' in page
    assert f">{typed}</textarea>" in page
    assert f'id="option-{a.units[0].id}-{question.options[1].id}" value="{question.options[1].id}" checked' in page
    assert db.session.scalar(select(func.count(ConsultationAnswer.id))) == 0


def test_the_answers_export_has_every_comment_and_never_a_formula(client, make_user, setup):
    a, b, c, staff, question = setup
    a.units[0].area = Decimal("89.5")
    owner = make_user(units=[a.units[0]], name="周杰")
    consultations.answer(question, owner, a.units[0], question.options[0].id, utcnow(), comment="=HYPERLINK(\"http://x\")")
    db.session.commit()
    client.login(staff)
    response = client.get(f"/consultations/{question.id}/answers.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0] == ["楼栋", "房屋", "专有部分面积（m²）", "选项", "补充意见", "回答人", "回答时间"]
    assert rows[1][:6] == [a.name, "1-101", "89.50", "同意", "'=HYPERLINK(\"http://x\")", "周杰"]


@pytest.mark.parametrize("role", [Role.RESIDENT, Role.WORKER, Role.COMMITTEE])
def test_publishing_and_the_export_answer_404_to_everyone_but_the_office(client, make_user, decision, role):
    building, staff, question, owners = decision
    person = owners[0] if role == Role.RESIDENT else make_user(role=role)
    client.login(person)
    assert client.post(f"/consultations/{question.id}/publish").status_code == 404
    assert client.get(f"/consultations/{question.id}/answers.csv").status_code == 404
    assert db.session.scalar(select(func.count(Notice.id))) == 0


def test_a_resident_of_another_building_gets_404_for_the_consultation_and_no_link_from_a_community_notice(client, make_user, decision):
    building, staff, question, owners = decision
    outsider = make_user()
    notice = consultations.publish_result(question, staff, utcnow())
    notice.is_community_wide, notice.buildings = True, []  # staff widened it afterwards
    db.session.commit()
    client.login(outsider)
    assert client.get(f"/consultations/{question.id}").status_code == 404
    page = client.get(f"/notices/{notice.id}").get_data(as_text=True)
    assert 'id="consultation-link"' not in page


def test_staff_publish_the_result_once_and_the_consultation_and_notice_link_to_each_other(client, make_client, decision):
    building, staff, question, owners = decision
    client.login(staff)
    page = client.get(f"/consultations/{question.id}").get_data(as_text=True)
    assert f'action="/consultations/{question.id}/publish"' in page
    response = client.post(f"/consultations/{question.id}/publish")
    notice = db.session.scalar(select(Notice))
    assert response.status_code == 302 and response.headers["Location"] == f"/notices/{notice.id}"
    again = client.post(f"/consultations/{question.id}/publish", follow_redirects=True)
    assert texts_of(again, "main .flash-error") == ["结果已发布，不能重复发布。"]
    assert db.session.scalar(select(func.count(Notice.id))) == 1
    page = client.get(f"/consultations/{question.id}").get_data(as_text=True)
    assert f'<a href="/notices/{notice.id}" id="result-notice">表决结果：是否利用共有部分设置广告位</a>' in page
    assert f'action="/consultations/{question.id}/publish"' not in page
    resident = make_client()
    resident.login(owners[0])
    notice_page = resident.get(f"/notices/{notice.id}").get_data(as_text=True)
    assert f'<a href="/consultations/{question.id}">是否利用共有部分设置广告位</a>' in notice_page
    assert _text(resident.get(f"/consultations/{question.id}").get_data(as_text=True), "outcome") == "通过"


def test_publishing_before_the_deadline_is_refused_with_a_message(client, setup):
    a, b, c, staff, question = setup
    client.login(staff)
    response = client.post(f"/consultations/{question.id}/publish", follow_redirects=True)
    assert texts_of(response, "main .flash-error") == ["截止后才能发布结果。"]
    assert db.session.get(Consultation, question.id).notice_id is None


def test_the_result_page_states_each_threshold_and_each_option_with_the_numbers(client, decision):
    building, staff, question, owners = decision
    client.login(staff)
    page = client.get(f"/consultations/{question.id}").get_data(as_text=True)
    assert _text(page, "outcome") == "通过"
    assert _text(page, "check-participation-area") == "参与表决（按专有部分面积） 320.00 / 320.00 m² 100.0% 须达全部的三分之二以上 ✓ 已达到"
    assert _text(page, "check-participation-owners") == "参与表决（按人数） 4 / 4 人 100.0% 须达全部的三分之二以上 ✓ 已达到"
    assert _text(page, "check-agreement-area") == "同意（按专有部分面积） 240.00 / 320.00 m² 75.0% 须达参与表决的四分之三以上 ✓ 已达到"
    assert _text(page, "check-agreement-owners") == "同意（按人数） 3 / 4 人 75.0% 须达参与表决的四分之三以上 ✓ 已达到"
    disagree = next(o for o in question.options if o.vote == Vote.DISAGREE)
    assert _text(page, f"option-row-{disagree.id}") == "反对 80.00 (25.0%) 1 (25.0%) 1"
    assert "弃权计入参与表决，不计入同意" in text_of(page, "#result")


def test_too_few_taking_part_says_so(client, decision):
    building, staff, question, owners = decision
    db.session.execute(ConsultationAnswer.__table__.delete().where(ConsultationAnswer.unit_id.in_([building.units[0].id, building.units[1].id])))
    db.session.commit()
    client.login(staff)
    page = client.get(f"/consultations/{question.id}").get_data(as_text=True)
    assert _text(page, "outcome") == "参与不足"
    assert _text(page, "check-participation-owners") == "参与表决（按人数） 2 / 4 人 50.0% 须达全部的三分之二以上 ✗ 未达到"


def test_units_without_an_area_warn_that_the_area_count_is_incomplete_and_block_publishing(client, decision):
    building, staff, question, owners = decision
    building.units[3].area = None
    db.session.commit()
    client.login(staff)
    page = client.get(f"/consultations/{question.id}").get_data(as_text=True)
    assert _text(page, "area-warning").startswith("所涉楼栋有 1 户未登记专有部分面积：以下面积统计不完整")
    response = client.post(f"/consultations/{question.id}/publish", follow_redirects=True)
    assert texts_of(response, "main .flash-error") == ["所涉楼栋有 1 户未登记专有部分面积，面积统计不完整。请先由管理员登记面积。"]
    assert db.session.scalar(select(func.count(Notice.id))) == 0


def test_staff_open_a_major_matter_and_its_options_are_agree_disagree_abstain(client, make_user, make_building):
    building = make_building()
    client.login(make_user(role=Role.STAFF))
    deadline = (utcnow() + timedelta(days=5)).strftime("%Y-%m-%dT%H:%M")
    response = client.post("/consultations/new", {"title": "是否改建自行车棚", "kind": "major", "options": "", "deadline": deadline,
                                                   "buildings": str(building.id)})
    assert response.status_code == 302
    item = db.session.scalar(select(Consultation))
    assert item.kind == ConsultationKind.MAJOR and [o.label for o in item.options] == ["同意", "反对", "弃权"]


def test_a_poll_without_options_is_a_field_error_that_keeps_the_question(client, make_user, make_building):
    building = make_building()
    client.login(make_user(role=Role.STAFF))
    deadline = (utcnow() + timedelta(days=5)).strftime("%Y-%m-%dT%H:%M")
    response = client.post("/consultations/new", {"title": "绿化方案", "kind": "poll", "options": "", "deadline": deadline,
                                                   "buildings": str(building.id)})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'id="options-error">请填写选项。' in page and 'value="绿化方案"' in page


def _statements(app, fn):
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


def test_the_result_page_costs_the_same_statements_for_few_and_many_answers(app, client, make_user, make_building):
    staff = make_user(role=Role.STAFF)
    client.login(staff)

    def page_with(n):
        building = make_building(units=n)
        question = consultations.create("问", "", [], utcnow() + timedelta(days=1), [building], staff, utcnow(), kind=ConsultationKind.ORDINARY)
        for unit in building.units:
            unit.area = Decimal("90")
            owner = make_user(units=[unit])
            consultations.answer(question, owner, unit, question.options[0].id, utcnow(), comment="同意")
        db.session.commit()
        page = client.get(f"/consultations/{question.id}")
        assert page.status_code == 200 and text_of(page, "#staff-tools h3") == f"业主意见 ({n})"
        return _statements(app, lambda: client.get(f"/consultations/{question.id}"))

    assert page_with(3) == page_with(30)


def _ids_and_labels(html):
    ids = re.findall(r'\sid="([^"]+)"', html)
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    dangling = sorted(set(re.findall(r'<label[^>]*\sfor="([^"]+)"', html)) - set(ids))
    return duplicates, dangling


def test_an_owner_of_two_units_gets_a_page_with_unique_ids_and_labels_that_point_to_controls(client, make_client, make_user, decision):
    building, staff, question, owners = decision
    question.deadline = utcnow() + timedelta(days=1)
    db.session.commit()
    two_homes = make_user(units=building.units[:2])
    client.login(two_homes)
    page = client.get(f"/consultations/{question.id}").get_data(as_text=True)
    assert [t.get("id") for t in elements(page, "textarea[name=comment]")] == [f"comment-{u.id}" for u in building.units[:2]]
    assert _ids_and_labels(page) == ([], [])
    desk = make_client()
    desk.login(staff)
    assert _ids_and_labels(desk.get(f"/consultations/{question.id}").get_data(as_text=True)) == ([], [])
    assert _ids_and_labels(desk.get("/consultations/new").get_data(as_text=True)) == ([], [])


def test_a_deadline_in_the_past_is_an_error_on_the_deadline(client, make_user, make_building):
    building = make_building()
    client.login(make_user(role=Role.STAFF))
    past = (utcnow() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    response = client.post("/consultations/new", {"title": "绿化方案", "kind": "poll", "options": "甲\n乙", "deadline": past,
                                                   "buildings": str(building.id)})
    assert response.status_code == 422
    assert 'id="deadline-error">截止时间必须晚于当前时间。' in response.get_data(as_text=True)
