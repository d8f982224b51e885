"""Questionnaires (问卷) over HTTP: residents list and answer the ones meant for them (without
JavaScript, errors by the question in Chinese, nothing typed lost), everyone else gets 404; the
office writes, publishes and reads the results (charts, CSV without names), statement counts stay
flat, and the satisfaction survey's figure shows on the figures page beside the ticket ratings."""
import csv
import io
import re
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from sqlalchemy import event, func, select

from portal.extensions import db
from portal.i18n import to_local
from portal.models import NotifyJob, Residency, Role, Survey, SurveyResponse, utcnow
from portal.services import figures, surveys
from tests.conftest import PortalClient
from tests.markup import element, elements, text_of, texts_of
from tests.test_escaping import EVIL, assert_inert


@pytest.fixture
def world(app, make_user, make_building):
    """Buildings A and B are asked, C is not; an open questionnaire per household, a draft and one owners only."""
    a, b, c = make_building("A栋", units=3), make_building("B栋", units=2), make_building("C栋", units=1)
    staff = make_user(role=Role.STAFF, name="王敏")
    now = utcnow()

    def survey(title, buildings, publish=True, **kw):
        values = dict(owners_only=False, per_household=True, opens_at=now - timedelta(hours=1), closes_at=now + timedelta(days=7),
                      is_satisfaction=False)
        values.update(kw)
        item = surveys.create(title, "请每户填写一份。", buildings, actor=staff, now=now - timedelta(hours=1), **values)
        surveys.add_question(item, "single", "几辆车？", True, ["没有", "1辆", "2辆及以上"], False, item.opens_at)
        surveys.add_question(item, "multiple", "问题在哪？", True, ["车位不足", "外来车辆", "充电桩"], False, item.opens_at)
        surveys.add_question(item, "scale", "停车秩序满意吗？", True, [], True, item.opens_at)
        surveys.add_question(item, "text", "其他建议", False, [], False, item.opens_at)
        if publish:
            surveys.publish(item, item.opens_at)
        return item

    class World:
        parking = survey("停车管理意见调查", [a, b])
        draft = survey("草稿问卷", [a, b], publish=False)
        owners = survey("业主专项调查", [a], owners_only=True)
        later = survey("下周的问卷", [a], opens_at=now + timedelta(days=2), closes_at=now + timedelta(days=9))
    db.session.commit()
    World.a, World.b, World.c, World.staff = a, b, c, staff
    return World


def _client(app, person):
    c = PortalClient(app)
    c.login(person)
    return c


def _tenant(make_user, unit):
    person = make_user(units=[])
    db.session.add(Residency(user_id=person.id, unit_id=unit.id, is_owner=False))
    db.session.commit()
    return person


def _form(survey, single=1, multiple=(0,), scale=4, text="", unit=None):
    q = survey.questions
    data = {f"q{q[0].id}": str(q[0].choices[single].id), f"q{q[1].id}": [str(q[1].choices[i].id) for i in multiple],
            f"q{q[2].id}": str(scale), f"q{q[3].id}": text}
    if unit is not None:
        data["unit"] = str(unit)
    return data


class Markup(HTMLParser):
    """What a validator would object to: duplicate ids, labels pointing at no control, times with microseconds."""

    def __init__(self):
        super().__init__()
        self.ids, self.controls, self.fors, self.times = [], set(), [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.append(attrs["id"])
            if tag in ("input", "select", "textarea"):
                self.controls.add(attrs["id"])
        if tag == "label" and "for" in attrs:
            self.fors.append(attrs["for"])
        if tag == "time":
            self.times.append(attrs.get("datetime", ""))


def assert_valid(html):
    parser = Markup()
    parser.feed(html)
    assert len(parser.ids) == len(set(parser.ids)), sorted(i for i in parser.ids if parser.ids.count(i) > 1)
    assert [f for f in parser.fors if f not in parser.controls] == []
    assert [t for t in parser.times if "." in t] == []


# Residents


def test_a_resident_sees_the_questionnaires_open_to_their_home_and_what_is_left_to_answer(app, world, make_user):
    owner = make_user(units=[world.a.units[0]])
    page = _client(app, owner).get("/surveys/").get_data(as_text=True)
    assert_valid(page)
    titles = re.findall(r'<span class="title">([^<]+)</span>', page)
    assert titles == ["停车管理意见调查", "业主专项调查"]  # not the draft, not next week's
    assert texts_of(page, "ul.tickets .tags") == ["待填写", "待填写"]
    surveys.submit(world.parking, owner, world.a.units[0].id, {q.id: [] for q in world.parking.questions} | {
        world.parking.questions[0].id: [str(world.parking.questions[0].choices[0].id)],
        world.parking.questions[1].id: [str(world.parking.questions[1].choices[0].id)], world.parking.questions[2].id: ["5"]},
        ((world.a.units[0].id, world.a.id, True),), utcnow())
    db.session.commit()
    page = _client(app, owner).get("/surveys/").get_data(as_text=True)
    assert [(t, tag) for t, tag in zip(texts_of(page, "ul.tickets .title"), texts_of(page, "ul.tickets .tags"))] == [
        ("停车管理意见调查", "已填写"), ("业主专项调查", "待填写")]


def test_the_answer_page_works_without_javascript_and_records_one_answer_for_the_household(app, world, make_user):
    owner, spouse = make_user(units=[world.a.units[0]]), make_user(units=[world.a.units[0]])
    client = _client(app, owner)
    page = client.get(f"/surveys/{world.parking.id}").get_data(as_text=True)
    assert_valid(page)
    assert '<form method="post" action="/surveys/%d/answer"' % world.parking.id in page and "<script" not in page.split("</head>")[1]
    assert f'<input type="hidden" name="unit" value="{world.a.units[0].id}">' in page
    response = client.post(f"/surveys/{world.parking.id}/answer", _form(world.parking, multiple=(0, 2), text="希望增设充电桩"))
    assert response.status_code == 302 and response.headers["Location"] == f"/surveys/{world.parking.id}"
    saved = db.session.scalar(select(SurveyResponse))
    assert (saved.unit_id, saved.user_id, saved.respondent) == (world.a.units[0].id, owner.id, f"u{world.a.units[0].id}")
    other = _client(app, spouse).get(f"/surveys/{world.parking.id}").get_data(as_text=True)
    assert re.search(r"您家（A栋 1-101）已于 \S+ \S+ 提交答卷，谢谢！", other)
    assert 'class="card survey-form"' not in other  # nothing more to answer
    again = _client(app, spouse).post(f"/surveys/{world.parking.id}/answer", _form(world.parking, unit=world.a.units[0].id))
    assert again.status_code == 422 and text_of(again, "main .flash-error") == "您家已经提交过答卷。"
    assert db.session.scalar(select(func.count(SurveyResponse.id))) == 1


def test_a_resident_with_two_homes_chooses_the_household_and_then_answers_for_the_other(app, world, make_user):
    owner = make_user(units=[world.a.units[0], world.b.units[1]])
    client = _client(app, owner)
    page = client.get(f"/surveys/{world.parking.id}").get_data(as_text=True)
    assert [(i.get("type"), i.get("value")) for i in elements(page, "input[name=unit]")] == [
        ("radio", str(world.a.units[0].id)), ("radio", str(world.b.units[1].id))]
    assert "我为这一户作答" in page
    assert client.post(f"/surveys/{world.parking.id}/answer", _form(world.parking, unit=world.b.units[1].id)).status_code == 302
    page = client.get(f"/surveys/{world.parking.id}").get_data(as_text=True)
    assert "您家（B栋 1-102）已于" in page and f'<input type="hidden" name="unit" value="{world.a.units[0].id}">' in page


def test_missing_required_answers_are_marked_by_the_question_in_chinese_and_nothing_typed_is_lost(app, world, make_user):
    owner = make_user(units=[world.a.units[0]])
    client = _client(app, owner)
    q = world.parking.questions
    response = client.post(f"/surveys/{world.parking.id}/answer", {
        "unit": str(world.a.units[0].id), f"q{q[0].id}": str(q[0].choices[2].id), f"q{q[2].id}": "9", f"q{q[3].id}": "东门外<加>临时停车区\n第二行"})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert_valid(page)
    assert re.search(rf'<fieldset class="field question has-error" id="question-{q[1].id}"[^>]*>.*?<p class="error" id="q{q[1].id}-error">'
                     r"此题为必答题，请作答。</p>", page, re.S)
    assert f'<p class="error" id="q{q[2].id}-error">请选择 1 到 5 分。</p>' in page
    assert f'id="q{q[0].id}-error"' not in page
    assert f'value="{q[0].choices[2].id}" checked' in page  # the choice made stays chosen
    assert "东门外&lt;加&gt;临时停车区\n第二行</textarea>" in page  # the text typed stays
    assert db.session.scalar(select(func.count(SurveyResponse.id))) == 0


def test_a_questionnaire_that_closed_meanwhile_says_so_and_keeps_nothing(app, world, make_user):
    owner = make_user(units=[world.a.units[0]])
    client = _client(app, owner)
    world.parking.closes_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    response = client.post(f"/surveys/{world.parking.id}/answer", _form(world.parking, unit=world.a.units[0].id))
    assert response.status_code == 422
    assert text_of(response, "main .flash-error") == "问卷已结束。"
    assert text_of(response, "main p.hint") == "本问卷已结束，感谢关注。" and not elements(response, "form.survey-form")
    assert db.session.scalar(select(func.count(SurveyResponse.id))) == 0


@pytest.mark.parametrize("who", ["other_building", "tenant_for_owners", "committee", "worker"])
def test_people_a_questionnaire_is_not_for_get_404(app, world, make_user, who):
    person = {
        "other_building": lambda: make_user(units=[world.c.units[0]]),
        "tenant_for_owners": lambda: _tenant(make_user, world.a.units[1]),
        "committee": lambda: make_user(role=Role.COMMITTEE, units=[world.a.units[0]]),
        "worker": lambda: make_user(role=Role.WORKER),
    }[who]()
    client = _client(app, person)
    targets = {"other_building": [world.parking, world.owners], "tenant_for_owners": [world.owners],
               "committee": [world.parking, world.owners], "worker": [world.parking]}[who]
    for survey in targets:
        assert client.get(f"/surveys/{survey.id}").status_code == 404
        assert client.post(f"/surveys/{survey.id}/answer", _form(survey, unit=world.a.units[0].id)).status_code == 404
    if who in ("committee", "worker"):
        assert client.get("/surveys/").status_code == 404
    assert db.session.scalar(select(func.count(SurveyResponse.id))) == 0


def test_residents_never_see_drafts_or_questionnaires_before_they_open(app, world, make_user):
    client = _client(app, make_user(units=[world.a.units[0]]))
    for survey in (world.draft, world.later):
        assert client.get(f"/surveys/{survey.id}").status_code == 404
        assert client.post(f"/surveys/{survey.id}/answer", _form(survey, unit=world.a.units[0].id)).status_code == 404


@pytest.mark.parametrize("role", [Role.RESIDENT, Role.COMMITTEE, Role.WORKER, Role.HEAD])
def test_only_customer_service_and_the_administrator_write_and_publish(app, world, make_user, role):
    person = make_user(role=role, units=[world.a.units[0]] if role in (Role.RESIDENT, Role.COMMITTEE) else None)
    client = _client(app, person)
    d, q = world.draft, world.draft.questions[0]
    for url in ("/surveys/new", f"/surveys/{d.id}/settings", f"/surveys/{world.parking.id}/results",
                f"/surveys/{world.parking.id}/results.csv"):
        if role == Role.HEAD and "results" in url:
            assert client.get(url).status_code == 200  # department heads read the results
        else:
            assert client.get(url).status_code == 404, url
    for url in ("/surveys/new", "/surveys/satisfaction", f"/surveys/{d.id}/publish", f"/surveys/{d.id}/questions",
                f"/surveys/{d.id}/questions/{q.id}", f"/surveys/{d.id}/questions/{q.id}/delete", f"/surveys/{d.id}/text",
                f"/surveys/{d.id}/settings"):
        assert client.post(url, {"title": "x", "new-text": "x", "new-kind": "text"}).status_code == 404, url
    db.session.expire_all()
    assert db.session.get(Survey, d.id).published_at is None and len(db.session.get(Survey, d.id).questions) == 4
    assert db.session.scalar(select(func.count(Survey.id))) == 4


def test_anonymous_visitors_are_sent_to_sign_in(app, world):
    client = PortalClient(app)
    for url in ("/surveys/", f"/surveys/{world.parking.id}", f"/surveys/{world.parking.id}/results"):
        response = client.get(url)
        assert response.status_code == 302 and "/auth/login" in response.headers["Location"]


def test_the_short_link_of_a_message_opens_the_questionnaire(app, world):
    response = PortalClient(app).get(f"/go/q{world.parking.id}")
    assert response.status_code == 302 and response.headers["Location"] == f"/surveys/{world.parking.id}"


def test_the_navigation_shows_questionnaires_to_residents_and_the_office_only(app, world, make_user):
    link = '<a href="/surveys/">问卷</a>'
    for role, shown in ((Role.RESIDENT, True), (Role.STAFF, True), (Role.HEAD, True), (Role.WORKER, False), (Role.COMMITTEE, False)):
        person = make_user(role=role, units=[world.a.units[0]] if role in (Role.RESIDENT, Role.COMMITTEE) else None)
        page = _client(app, person).get("/notices/").get_data(as_text=True)
        assert (link in page) == shown, role


# The office


def test_customer_service_writes_a_questionnaire_adds_checks_and_arranges_its_questions_and_publishes_it(app, world, make_building):
    client = _client(app, world.staff)
    local = to_local(utcnow()).replace(second=0, microsecond=0)
    bad = client.post("/surveys/new", {"title": "垃圾分类调查", "audience": "all", "per": "person",
                                       "opens_at": local.strftime("%Y-%m-%dT%H:%M"), "closes_at": local.strftime("%Y-%m-%dT%H:%M")})
    assert bad.status_code == 422
    page = bad.get_data(as_text=True)
    assert text_of(page, "#buildings-error") == "请选择要调查的楼栋。" and element(page, "input#title").get("value") == "垃圾分类调查"
    response = client.post("/surveys/new", {"title": "垃圾分类调查", "audience": "owners", "per": "person", "buildings": [str(world.b.id)],
                                            "opens_at": local.strftime("%Y-%m-%dT%H:%M"),
                                            "closes_at": (local + timedelta(days=5)).strftime("%Y-%m-%dT%H:%M")})
    assert response.status_code == 302
    survey = db.session.scalar(select(Survey).where(Survey.title == "垃圾分类调查"))
    assert (survey.is_owners_only, survey.is_per_household, [b.id for b in survey.buildings]) == (True, False, [world.b.id])
    url = f"/surveys/{survey.id}"
    wrong = client.post(f"{url}/questions", {"new-kind": "single", "new-text": "投放点够用吗？", "new-choices": "够用", "new-is_required": "y"})
    assert wrong.status_code == 422
    page = wrong.get_data(as_text=True)
    assert_valid(page)
    assert "请至少给出两个选项，每行一个。" in page and 'value="投放点够用吗？"' in page and "\n够用</textarea>" in page
    for kind, text, options in (("single", "投放点够用吗？", "够用\n不够"), ("text", "其他建议", ""), ("scale", "满意吗？", "")):
        assert client.post(f"{url}/questions", {"new-kind": kind, "new-text": text, "new-choices": options}).status_code == 302
    db.session.expire_all()
    first, second, third = db.session.get(Survey, survey.id).questions
    assert client.post(f"{url}/questions/{third.id}/up").status_code == 302
    assert client.post(f"{url}/questions/{first.id}/delete").status_code == 302
    changed = client.post(f"{url}/questions/{second.id}", {f"q{second.id}-kind": "text", f"q{second.id}-text": "您的建议",
                                                           f"q{second.id}-is_required": "y"})
    assert changed.status_code == 302
    db.session.expire_all()
    assert [(q.text, q.is_required) for q in db.session.get(Survey, survey.id).questions] == [("满意吗？", False), ("您的建议", True)]
    page = client.get(url).get_data(as_text=True)
    assert_valid(page)
    assert client.post(f"{url}/publish").status_code == 302
    db.session.expire_all()
    assert db.session.get(Survey, survey.id).invited_at is not None
    assert db.session.scalar(select(NotifyJob.audience).where(NotifyJob.kind == "survey_opened", NotifyJob.object_id == survey.id)) == {
        "buildings": [world.b.id], "owners_only": True, "unanswered_consultation": None}


def test_the_questions_are_locked_once_the_first_answer_arrived(app, world, make_user):
    owner = make_user(units=[world.a.units[0]])
    _client(app, owner).post(f"/surveys/{world.parking.id}/answer", _form(world.parking, unit=world.a.units[0].id))
    client = _client(app, world.staff)
    page = client.get(f"/surveys/{world.parking.id}").get_data(as_text=True)
    assert text_of(page, "#questions p.hint") == "已有人作答，题目不能再修改。" and 'id="new-text"' not in page and "/delete" not in page
    q = world.parking.questions[0]
    refused = client.post(f"/surveys/{world.parking.id}/questions/{q.id}/delete", follow_redirects=True)
    assert text_of(refused, "main .flash-error") == "已有人作答，题目不能再修改。"
    db.session.expire_all()
    assert len(db.session.get(Survey, world.parking.id).questions) == 4


def test_the_half_yearly_satisfaction_survey_is_one_click_away(app, world):
    client = _client(app, world.staff)
    listing = client.get("/surveys/").get_data(as_text=True)
    assert_valid(listing)
    assert texts_of(listing, "form[action='/surveys/satisfaction'] button") == ["一键创建半年度满意度调查"]
    response = client.post("/surveys/satisfaction")
    survey = db.session.scalar(select(Survey).where(Survey.is_satisfaction))
    assert response.status_code == 302 and response.headers["Location"] == f"/surveys/{survey.id}"
    assert survey.title.endswith("物业服务满意度调查") and len(survey.questions) == 8 and survey.published_at is None
    assert {b.id for b in survey.buildings} == {world.a.id, world.b.id, world.c.id}
    page = client.get(f"/surveys/{survey.id}").get_data(as_text=True)
    assert texts_of(page, "ol.survey-questions > li > p.q-text")[0] == "总体而言，您对本小区物业服务的满意程度如何？"
    assert texts_of(page, "ol.survey-questions > li > p.meta")[0] == "评分题（1–5 分） · 必答 · 总体满意度"


def _answer_many(survey, building, make_user, n):
    """n more households of `building` (asked too) answer."""
    if building not in survey.buildings:
        survey.buildings.append(building)
    done = set(db.session.scalars(select(SurveyResponse.unit_id)))
    homes = [u for u in building.units if u.id not in done][:n]
    q = survey.questions
    for i, home in enumerate(homes):
        person = make_user(units=[home])
        raw = {q[0].id: [str(q[0].choices[i % 3].id)], q[1].id: [str(q[1].choices[0].id)], q[2].id: [str(5 - i % 5)], q[3].id: ["好" * (i + 1)]}
        surveys.submit(survey, person, home.id, raw, ((home.id, home.building_id, True),), utcnow())
    db.session.commit()


def test_the_results_page_shows_rates_per_building_charts_with_counts_and_shares_and_the_texts(app, world, make_user):
    owners = [make_user(units=[u]) for u in world.a.units]
    make_user(units=[world.b.units[0]])
    for owner, (single, scale, text) in zip(owners, ((0, 5, "充电桩不够"), (1, 4, ""), (1, 2, "外来车辆<多>"))):
        home = owner.residencies[0].unit
        surveys.submit(world.parking, owner, home.id, {q.id: v for q, v in zip(world.parking.questions, (
            [str(world.parking.questions[0].choices[single].id)], [str(world.parking.questions[1].choices[0].id)], [str(scale)], [text]))},
            ((home.id, home.building_id, True),), utcnow())
    db.session.commit()
    page = _client(app, world.staff).get(f"/surveys/{world.parking.id}/results").get_data(as_text=True)
    assert_valid(page)
    assert "<strong>75.0%</strong>\n    4 户中已有 3 户作答" in page
    assert re.search(r"<th scope=\"row\">A栋</th><td>3</td><td>3</td><td>100.0%</td>", page)
    assert re.search(r"<th scope=\"row\">B栋</th><td>0</td><td>1</td><td>0.0%</td>", page)
    single = world.parking.questions[0]
    chart = re.search(rf'<svg class="chart"[^>]*aria-labelledby="chart-{single.id}-title chart-{single.id}-desc".*?</svg>', page, re.S).group(0)
    assert f'<title id="chart-{single.id}-title">1. 几辆车？</title>' in chart
    assert f'<desc id="chart-{single.id}-desc">没有: 1 (33.3%); 1辆: 2 (66.7%); 2辆及以上: 0 (0.0%)</desc>' in chart
    assert ">2 · 66.7%</text>" in chart
    assert "平均 3.67 分（满分 5 分）" in page
    assert '<li class="text">充电桩不够</li>' in page and '<li class="text">外来车辆&lt;多&gt;</li>' in page


def test_the_csv_has_a_row_per_response_with_the_unit_and_no_name_or_phone(app, world, make_user):
    owner = make_user(units=[world.a.units[0]], name="周杰", phone="13800007777")
    _client(app, owner).post(f"/surveys/{world.parking.id}/answer", _form(world.parking, single=2, multiple=(0, 1), scale=5,
                                                                          text="谢谢", unit=world.a.units[0].id))
    response = _client(app, world.staff).get(f"/surveys/{world.parking.id}/results.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    text = response.data.decode("utf-8")
    assert text.startswith("\ufeff") and "周杰" not in text and "13800007777" not in text
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0] == ["答卷编号", "回答时间", "楼栋", "房号", "1. 几辆车？", "2. 问题在哪？", "3. 停车秩序满意吗？", "4. 其他建议"]
    assert len(rows) == 2 and rows[1][2:] == ["A栋", "1-101", "2辆及以上", "车位不足；外来车辆", "5", "谢谢"]


def _statements(fn):
    found = []
    listener = lambda *a: a[2].startswith(("BEGIN", "SAVEPOINT", "RELEASE")) or found.append(a[2])  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        fn()
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    return len(found)


def test_pages_take_as_many_statements_for_many_answers_as_for_few(app, world, make_user, make_building):
    from portal import cache

    resident = make_user(units=[world.b.units[1]])
    staff, home = _client(app, world.staff), _client(app, resident)
    urls = [(staff, "/surveys/"), (staff, f"/surveys/{world.parking.id}"), (staff, f"/surveys/{world.parking.id}/results"),
            (staff, f"/surveys/{world.parking.id}/results.csv"), (home, "/surveys/"), (home, f"/surveys/{world.parking.id}")]

    def counts():
        found = []
        for client, url in urls:
            cache.clear()
            assert client.get(url).status_code == 200, url
            found.append(_statements(lambda: client.get(url)))
        return found

    many = make_building("D栋", units=30)
    _answer_many(world.parking, many, make_user, 2)
    few = counts()
    _answer_many(world.parking, many, make_user, 25)
    assert db.session.scalar(select(func.count(SurveyResponse.id))) == 27
    assert counts() == few


def test_user_text_stays_text_on_every_questionnaire_page(app, world, make_user):
    survey = surveys.create(EVIL, EVIL, [world.a], owners_only=False, per_household=True, opens_at=utcnow() - timedelta(hours=1),
                            closes_at=utcnow() + timedelta(days=1), is_satisfaction=False, actor=world.staff, now=utcnow() - timedelta(hours=1))
    surveys.add_question(survey, "single", EVIL, True, [EVIL, "乙"], False, survey.opens_at)
    surveys.add_question(survey, "text", EVIL, True, [], False, survey.opens_at)
    surveys.publish(survey, survey.opens_at)
    owner = make_user(units=[world.a.units[0]])
    q1, q2 = survey.questions
    surveys.submit(survey, owner, world.a.units[0].id, {q1.id: [str(q1.choices[0].id)], q2.id: [EVIL]},
                   ((world.a.units[0].id, world.a.id, True),), utcnow())
    db.session.commit()
    other = make_user(units=[world.a.units[1]])
    resident = _client(app, other)
    for url in ("/surveys/", f"/surveys/{survey.id}"):
        assert_inert(resident.get(url).get_data(as_text=True), url)
    assert_inert(resident.post(f"/surveys/{survey.id}/answer", {f"q{q2.id}": EVIL, "unit": str(world.a.units[1].id)}).get_data(as_text=True),
                 "the answer page with errors")
    office = _client(app, world.staff)
    for url in ("/surveys/", f"/surveys/{survey.id}", f"/surveys/{survey.id}/results"):
        assert_inert(office.get(url).get_data(as_text=True), url)


# The satisfaction figure


def test_the_figures_page_shows_the_survey_satisfaction_beside_the_ticket_ratings_and_follows_new_answers(app, world, make_user):
    now = utcnow()
    survey = surveys.satisfaction_template(world.staff, now - timedelta(days=2), days=5)
    surveys.publish(survey, now - timedelta(days=2))
    overall = survey.questions[0]
    people = [make_user(units=[u]) for u in world.a.units]

    def answer(person, value):
        home = person.residencies[0].unit
        raw = {q.id: ["4"] for q in survey.questions if q.kind.value == "scale"} | {overall.id: [str(value)]}
        surveys.submit(survey, person, home.id, raw, ((home.id, home.building_id, True),), utcnow())
        db.session.commit()

    answer(people[0], 5)
    answer(people[1], 2)
    office = _client(app, world.staff)
    day = to_local(now).date()
    url = f"/figures/?start={(day - timedelta(days=30)).isoformat()}&end={(day + timedelta(days=30)).isoformat()}"

    def tile():
        page = office.get(url).get_data(as_text=True)
        return re.search(r'<div class="tile" id="figure-survey-satisfaction">.*?</div>', page, re.S).group(0)

    first = tile()
    assert "<strong>50.0%</strong>" in first and "平均 3.5 分（满分 5 分），2 份答卷" in first
    assert "本期结束的满意度调查 1 次，与工单评价分开统计" in first
    answer(people[2], 4)  # the kept page must not show the old figure
    again = tile()
    assert "<strong>66.7%</strong>" in again and "平均 3.67 分（满分 5 分），3 份答卷" in again
    result, _ = figures.compute(*figures.period(day - timedelta(days=30), day + timedelta(days=30)))
    assert result["satisfaction"].denominator == 0  # no ticket was rated: the two never mix


def test_the_figures_page_takes_as_many_statements_for_many_surveys_and_consultations_as_for_one(app, world, make_user):
    from portal import cache
    from portal.services import consultations

    office = _client(app, world.staff)
    start, end = figures.half_year_before(to_local(utcnow()).date())
    url = f"/figures/?start={start.isoformat()}&end={end.isoformat()}"  # the previous half year, where the surveys closed
    closes = figures.period(start, end)[0] + timedelta(days=10)

    def add(i):
        opens = closes - timedelta(days=3)
        item = surveys.create(f"满意度调查{i}", "", [world.a], owners_only=False, per_household=True, opens_at=opens, closes_at=closes,
                              is_satisfaction=True, actor=world.staff, now=opens)
        question = surveys.add_question(item, "scale", "总体满意吗？", True, [], True, opens)
        surveys.publish(item, opens)
        person = make_user(units=[world.a.units[i % 3]])
        home = person.residencies[0].unit
        surveys.submit(item, person, home.id, {question.id: ["4"]}, ((home.id, home.building_id, True),), opens + timedelta(hours=1))
        consultation = consultations.create(f"征求意见{i}", "", ["同意", "反对"], closes, [world.a, world.b], world.staff, opens)
        consultation.deadline = closes
        db.session.commit()

    def count():
        cache.clear()
        return _statements(lambda: office.get(url).status_code == 200 or pytest.fail(url))

    add(0)
    few = count()
    for i in range(1, 6):
        add(i)
    assert count() == few
    page = office.get(url).get_data(as_text=True)
    assert "本期结束的满意度调查 6 次" in text_of(page, "#figure-survey-satisfaction")


def test_whom_a_draft_asks_and_when_change_until_it_is_published(app, world):
    client = _client(app, world.staff)
    url = f"/surveys/{world.draft.id}/settings"
    page = client.get(url).get_data(as_text=True)
    assert_valid(page)
    assert 'name="title" required type="text" value="草稿问卷"' in page
    assert re.findall(r'<input (checked )?id="buildings-\d" name="buildings" type="checkbox" value="(\d+)">', page) == [
        ("checked ", str(world.a.id)), ("checked ", str(world.b.id)), ("", str(world.c.id))]
    opens = to_local(world.draft.opens_at).strftime("%Y-%m-%dT%H:%M")
    form = {"title": "草稿问卷（改）", "buildings": [str(world.c.id)], "audience": "owners", "per": "household", "opens_at": opens,
            "closes_at": (to_local(world.draft.closes_at) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"), "is_satisfaction": "y"}
    bad = client.post(url, form | {"closes_at": opens})
    assert bad.status_code == 422 and text_of(bad, "#closes_at-error") == "截止时间必须晚于开始时间。"
    assert client.post(url, form).status_code == 302
    db.session.expire_all()
    draft = db.session.get(Survey, world.draft.id)
    assert (draft.title, [b.id for b in draft.buildings], draft.is_owners_only, draft.is_satisfaction) == ("草稿问卷（改）", [world.c.id], True, True)
    assert client.get(f"/surveys/{world.parking.id}/settings").status_code == 404  # published: no more
