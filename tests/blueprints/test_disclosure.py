"""The disclosure board's pages (信息公示, S2.3.1): read by everyone, signed in or not, from a link
on every page; each section's history; editing by the staff a section belongs to (everyone else
gets 404), bad input sent back with what was typed, an outdated form refused without losing
anything; the lobby screens and kept pages rebuilt after an edit; statement counts that do not
grow with the versions or the departments."""
import re
from datetime import date, timedelta
from html.parser import HTMLParser

import pytest
from sqlalchemy import event, func, select

from portal import cache
from portal.extensions import db
from portal.models import Department, DisclosureVersion, Notice, NoticeCategory, Role, utcnow
from portal.services import disclosure, kiosk, settings
from tests.conftest import PortalClient
from tests.markup import elements



def _row(item, scope, price, unit="元/㎡·月", note=""):
    return {"item": item, "scope": scope, "price": price, "unit": unit, "note": note}


@pytest.fixture
def today(app):
    """The community's today (Asia/Shanghai), not the machine's."""
    return disclosure.local_day(utcnow())


@pytest.fixture
def admin(make_user):
    return make_user(role=Role.ADMIN, name="陈立")


@pytest.fixture
def as_admin(app, admin):
    client = PortalClient(app)
    client.login(admin)
    return client


@pytest.fixture
def board(admin, make_user, today):
    """Every section published once; two departments, one with a head."""
    works, guards = Department(name="工程维修部"), Department(name="秩序维护部")
    db.session.add_all([works, guards])
    db.session.commit()
    make_user(role=Role.HEAD, name="张强", department_id=works.id)
    settings.update({settings.duty_phone_key(works.id): "0571-88880001"}, admin)
    now = utcnow()
    disclosure.save("fees", body="收费依据：物业服务合同。", fees=[_row("物业服务费", "住宅", "2.00"), _row("地下车位管理费", "已购车位", "80", "元/个·月")],
                    effective_on=date(today.year, 1, 1), base=0, actor=admin, now=now - timedelta(days=1))
    disclosure.save("commitments", body="我们承诺：\n\n1. 热线 24 小时接听。", base=0, actor=admin, now=now)
    disclosure.save("hours", body="前台接待：每日 8:00—20:00", base=0, actor=admin, now=now)
    disclosure.save("heads", body="项目经理：陈立。", base=0, actor=admin, now=now)
    db.session.commit()
    return {"works": works, "guards": guards}


def _section(html, section_id):
    match = re.search(rf'<section class="card disclosure" id="{section_id}">(.*?)</section>', html, re.S)
    assert match, f"no section {section_id}"
    return match.group(1)


def _versions(html):
    """{number: the HTML of that version's entry} on a history page."""
    parts = html.split('<li class="card version" id="v')[1:]
    return {int(p.split('"', 1)[0]): p for p in parts}


def _fees_form(base, rows, **extra):
    data = {"base": str(base), "effective_on": extra.pop("effective_on", ""), "body": extra.pop("body", ""),
            "note": extra.pop("note", ""), "notice_title": extra.pop("notice_title", "收费标准调整公示"), "action": "save"}
    for i, row in enumerate(rows):
        data.update({f"rows-{i}-{k}": v for k, v in row.items()})
    data.update(extra)
    return data


class Checker(HTMLParser):
    """What makes a page invalid or inaccessible here: duplicate ids, labels for nothing, controls
    without a label, <time datetime> with microseconds."""

    def __init__(self):
        super().__init__()
        self.ids, self.fors, self.controls, self.times, self.duplicates = set(), [], [], [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            if attrs["id"] in self.ids:
                self.duplicates.append(attrs["id"])
            self.ids.add(attrs["id"])
        if tag == "label" and "for" in attrs:
            self.fors.append(attrs["for"])
        if tag in ("input", "textarea", "select") and attrs.get("type") not in ("hidden", "submit"):
            self.controls.append(attrs)
        if tag == "time":
            self.times.append(attrs.get("datetime", ""))


def assert_valid(html):
    checker = Checker()
    checker.feed(html)
    assert checker.duplicates == []
    assert [f for f in checker.fors if f not in checker.ids] == []
    unlabelled = [c for c in checker.controls if c.get("id") not in checker.fors and not c.get("aria-label") and c.get("type") != "checkbox"]
    assert unlabelled == []
    assert [t for t in checker.times if re.search(r"\.\d", t)] == []


# Reading


def test_everyone_reads_the_board_signed_in_or_not(app, board, make_user):
    for who in (None, make_user(), make_user(role=Role.COMMITTEE), make_user(role=Role.WORKER)):
        client = PortalClient(app)
        if who is not None:
            client.login(who)
        response = client.get("/disclosure/")
        assert response.status_code == 200, who
        html = response.get_data(as_text=True)
        fees = _section(html, "fees")
        assert "<th scope=\"row\">物业服务费</th>" in fees and "<strong>2.00</strong> 元/㎡·月" in fees
        assert "热线 24 小时接听。" in _section(html, "commitments")
        hours = _section(html, "hours")
        assert "前台接待：每日 8:00—20:00" in hours and 'href="tel:400-800-1234"' in hours  # the typed text, and the hotline setting
        heads = _section(html, "heads")
        assert re.search(r"<th scope=\"row\">工程维修部</th><td[^>]*>张强</td>", heads) and "0571-88880001" in heads
        assert re.search(r"<th scope=\"row\">秩序维护部</th><td[^>]*>—</td>", heads)
        assert "/disclosure/fees/edit" not in html  # no editing for them
        assert_valid(html)
    editor = PortalClient(app)
    editor.login(make_user(role=Role.ADMIN))
    assert [a.get("href") for a in elements(editor.get("/disclosure/"), "a[href$='/edit']")] == [
        "/disclosure/fees/edit", "/disclosure/commitments/edit", "/disclosure/hours/edit", "/disclosure/heads/edit"]


def test_a_section_never_published_says_so(client):
    html = client.get("/disclosure/").get_data(as_text=True)
    assert all("尚未公示。" in _section(html, s) for s in ("fees", "commitments", "hours", "heads"))


def test_the_link_is_in_the_footer_of_every_page(app, board, make_user, make_notice):
    notice = make_notice(title="停水通知")
    pages = [(None, "/auth/login"), (None, "/disclosure/"), (None, "/no-such-page"), (make_user(), "/notices/"),
             (make_user(), f"/notices/{notice.id}"), (make_user(), "/tickets/"), (make_user(role=Role.STAFF), "/"),
             (make_user(role=Role.COMMITTEE), "/figures/"), (make_user(role=Role.ADMIN), "/admin/settings")]
    for who, url in pages:
        client = PortalClient(app)
        if who is not None:
            client.login(who)
        html = client.get(url).get_data(as_text=True)
        footer = re.search(r'<footer class="footer">(.*?)</footer>', html, re.S)
        assert footer and '<a href="/disclosure/">信息公示</a>' in footer.group(1), url


def test_the_history_shows_who_changed_what_and_when(app, board, make_user):
    kefu = make_user(role=Role.STAFF, name="王敏")
    disclosure.save("hours", body="前台接待：每日 8:00—19:00\n收费窗口：每日 8:30—17:30", note="冬季缩短接待时间", base=1, actor=kefu, now=utcnow())
    db.session.commit()
    html = PortalClient(app).get("/disclosure/hours/history").get_data(as_text=True)
    versions = _versions(html)
    assert list(versions) == [2, 1]
    entry = versions[2]
    assert "王敏" in entry and '<p class="note">冬季缩短接待时间</p>' in entry and "与第 1 版相比：" in entry
    assert "<del>前台接待：每日 8:00—20:00</del>" in entry and "<ins>前台接待：每日 8:00—19:00</ins>" in entry
    assert "<ins>收费窗口：每日 8:30—17:30</ins>" in entry
    assert "首次公示。" in versions[1] and "首次公示。" not in entry
    assert_valid(html)
    assert PortalClient(app).get("/disclosure/nonsense/history").status_code == 404


def test_the_fee_history_names_the_changed_rows_and_the_new_effective_day(app, board, admin, today):
    current = disclosure.latest("fees")
    disclosure.save("fees", fees=[_row("物业服务费", "住宅", "2.20"), _row("装修垃圾清运费", "住宅装修", "300", "元/户")],
                    effective_on=date(today.year + 1, 1, 1), base=1, actor=admin, now=utcnow())
    db.session.commit()
    html = PortalClient(app).get("/disclosure/fees/history").get_data(as_text=True)
    entry = _versions(html)[2]
    assert f"{today.year + 1}年1月1日起执行" in entry
    assert "物业服务费（住宅）：<del>2.00 元/㎡·月</del> → <ins>2.20 元/㎡·月</ins>" in entry
    assert "新增</span> 装修垃圾清运费（住宅装修）：300 元/户" in entry
    assert "删除</span> <del>地下车位管理费（已购车位）：80 元/个·月</del>" in entry
    assert current.number == 1
    board_html = PortalClient(app).get("/disclosure/").get_data(as_text=True)
    fees = _section(board_html, "fees")
    assert f"新收费标准（{today.year + 1}年1月1日起执行）" in fees and "<strong>2.00</strong>" in fees  # still in force until then


# Editing


def test_the_administrator_publishes_a_new_fee_table(as_admin, board, today):
    page = as_admin.get("/disclosure/fees/edit").get_data(as_text=True)
    assert 'value="物业服务费"' in page and 'name="base" type="hidden" value="1"' in page
    assert_valid(page)
    response = as_admin.post("/disclosure/fees/edit", _fees_form(1, [_row("物业服务费", "住宅", "２．２０"), _row("", "", "", "", "")],
                                                                  note="调整住宅物业服务费", effective_on=f"{today.year}-01-01"))
    assert response.status_code == 302 and response.headers["Location"].endswith("/disclosure/#fees")
    version = disclosure.latest("fees")
    assert (version.number, version.fees, version.note, version.created_by.name) == (
        2, [_row("物业服务费", "住宅", "2.20")], "调整住宅物业服务费", "陈立")
    assert version.notice_id is None  # not announced
    html = as_admin.get("/disclosure/").get_data(as_text=True)
    assert "<strong>2.20</strong>" in _section(html, "fees") and "“收费标准”第 2 版已发布。" in html


def test_a_fee_standard_without_a_day_applies_from_today(as_admin, board):
    assert as_admin.post("/disclosure/fees/edit", _fees_form(1, [_row("物业服务费", "住宅", "2.10")], effective_on="")).status_code == 302
    assert disclosure.latest("fees").effective_on == disclosure.local_day(utcnow())


def test_bad_input_is_sent_back_with_what_was_typed_and_an_error_at_each_field(as_admin, board):
    rows = [_row("物业服务费", "住宅", "两块", "元/㎡·月", "按建筑面积"), _row("地下车位管理费", "", "80", ""), _row("物业服务费", "住宅", "2.20")]
    response = as_admin.post("/disclosure/fees/edit", _fees_form(1, rows, note="我写的说明", body="我写的依据", effective_on="2026-02-30"))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'value="两块"' in html and 'value="按建筑面积"' in html and "我写的依据</textarea>" in html and 'value="我写的说明"' in html
    assert re.search(r'<p class="error" id="rows-0-price-error">请用数字填写金额，例如 2.20（计费单位另填）。</p>', html)
    assert re.search(r'<p class="error" id="rows-1-unit-error">请填写计费单位，例如 元/㎡·月。</p>', html)
    assert re.search(r'<p class="error" id="rows-2-scope-error">同一项目、同一适用范围重复填写了。</p>', html)
    assert re.search(r'<p class="error" id="effective_on-error">', html)
    assert 'aria-describedby="rows-0-price-error"' in html and "请更正标出的项目。" in html
    assert_valid(html)
    assert disclosure.latest("fees").number == 1
    empty = as_admin.post("/disclosure/fees/edit", _fees_form(1, [_row("", "", "", "", "")]))
    assert empty.status_code == 422 and "请至少填写一项收费。" in empty.get_data(as_text=True)


def test_a_fee_standard_starting_before_the_one_in_force_is_refused_at_its_day(as_admin, board, today):
    response = as_admin.post("/disclosure/fees/edit", _fees_form(1, [_row("物业服务费", "住宅", "2.20")], effective_on=f"{today.year - 1}-12-31"))
    assert response.status_code == 422
    assert re.search(rf'<p class="error" id="effective_on-error">现行标准自{today.year}年1月1日起执行，新标准的执行日期不能早于这一天。</p>',
                     response.get_data(as_text=True))
    assert db.session.scalar(select(func.count(DisclosureVersion.id)).where(DisclosureVersion.section == "fees")) == 1


def test_three_more_rows_keep_what_was_typed_and_save_nothing(as_admin, board):
    data = _fees_form(1, [_row("物业服务费", "住宅", "2.50")], action="more")
    html = as_admin.post("/disclosure/fees/edit", data).get_data(as_text=True)
    assert 'value="2.50"' in html and 'id="rows-3-item"' in html and "error" not in re.sub(r"flash-error|has-error", "", html.split("<form", 1)[1])
    assert disclosure.latest("fees").number == 1


def test_a_form_opened_before_someone_else_saved_keeps_the_text_and_says_who(app, board, admin, make_user):
    kefu = PortalClient(app)
    kefu.login(make_user(role=Role.STAFF, name="王敏"))
    other = PortalClient(app)
    other.login(make_user(role=Role.ADMIN, name="李经理"))
    assert 'value="1"' in kefu.get("/disclosure/hours/edit").get_data(as_text=True)
    assert other.post("/disclosure/hours/edit", {"base": "1", "body": "李经理改的时间", "note": ""}).status_code == 302
    late = kefu.post("/disclosure/hours/edit", {"base": "1", "body": "王敏改的时间", "note": "我的说明"})
    assert late.status_code == 422
    html = late.get_data(as_text=True)
    assert "您编辑期间，李经理 已发布第 2 版。" in html and "王敏改的时间</textarea>" in html and 'value="2"' in html
    assert disclosure.latest("hours").body == "李经理改的时间"
    again = kefu.post("/disclosure/hours/edit", {"base": "2", "body": "王敏改的时间", "note": "我的说明"})
    assert again.status_code == 302 and disclosure.latest("hours").body == "王敏改的时间"


def test_customer_service_keeps_the_hours_and_nobody_else_edits_anything(app, board, make_user):
    """Fees, commitments, heads: the administrator. Hours and contacts: customer service too."""
    allowed = {"fees": {"admin"}, "commitments": {"admin"}, "heads": {"admin"}, "hours": {"admin", "staff"}}
    people = {role.value: make_user(role=role) for role in (Role.ADMIN, Role.STAFF, Role.HEAD, Role.WORKER, Role.COMMITTEE, Role.RESIDENT)}
    # The administrator goes first: a fee table needs its rows (422), the rest are saved as version 2;
    # customer service then sends the hours from version 1, which someone has since changed (422).
    expected = {("admin", "fees"): 422, ("admin", "commitments"): 302, ("admin", "heads"): 302, ("admin", "hours"): 302,
                ("staff", "hours"): 422}
    for name, user in people.items():
        client = PortalClient(app)
        client.login(user)
        for section, editors in allowed.items():
            page = client.get(f"/disclosure/{section}/edit")
            sent = client.post(f"/disclosure/{section}/edit", {"base": "1", "body": f"{name}改的"})
            if name in editors:
                assert (page.status_code, sent.status_code) == (200, expected[name, section]), (name, section)
            else:
                assert (page.status_code, sent.status_code) == (404, 404), (name, section)
    assert disclosure.latest("hours").body == "admin改的"
    assert disclosure.latest("commitments").body == "admin改的"
    assert disclosure.latest("fees").number == 1
    anonymous = PortalClient(app)
    response = anonymous.get("/disclosure/hours/edit")
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]
    sent = PortalClient(app).post("/disclosure/fees/edit", {"base": "1"})
    assert sent.status_code == 302 and "/auth/login" in sent.headers["Location"]


def test_announcing_a_fee_change_posts_a_notice_that_links_back(app, as_admin, board, make_user, today):
    data = _fees_form(1, [_row("物业服务费", "住宅", "2.20")], note="业主大会表决通过。", announce="y", notice_title="2027年物业服务费调整公示",
                      effective_on=f"{today.year + 1}-01-01")
    assert as_admin.post("/disclosure/fees/edit", data).status_code == 302
    notice = db.session.scalar(select(Notice).where(Notice.category == NoticeCategory.FEE_STANDARD))
    assert notice.title == "2027年物业服务费调整公示" and disclosure.latest("fees").notice_id == notice.id
    resident = PortalClient(app)
    resident.login(make_user())
    shown = resident.get(f"/notices/{notice.id}").get_data(as_text=True)
    assert '<a href="/disclosure/#fees">现行收费标准及变更记录 →</a>' in shown
    fees = _section(resident.get("/disclosure/").get_data(as_text=True), "fees")
    assert f'<a href="/notices/{notice.id}">2027年物业服务费调整公示</a>' in fees
    untitled = as_admin.post("/disclosure/fees/edit", _fees_form(2, [_row("物业服务费", "住宅", "2.30")], announce="y", notice_title=" "))
    assert untitled.status_code == 422 and "请填写公告标题，或取消勾选发布公告。" in untitled.get_data(as_text=True)


def test_the_heads_edit_page_shows_the_table_it_reads_from_the_people_data(as_admin, board):
    html = as_admin.get("/disclosure/heads/edit").get_data(as_text=True)
    assert re.search(r"<th scope=\"row\">工程维修部</th><td[^>]*>张强</td>", html) and "/admin/people?role=head" in html
    assert_valid(html)


# Kept pages and lobby screens follow every change


def test_a_kept_board_shows_a_new_version_and_a_renamed_head_at_once(app, board, as_admin, make_user):
    resident = PortalClient(app)
    resident.login(make_user())
    first = resident.get("/disclosure/")
    assert "热线 24 小时接听。" in first.get_data(as_text=True)
    assert resident.get("/disclosure/", headers={"If-None-Match": first.headers["ETag"]}).status_code == 304
    assert as_admin.post("/disclosure/commitments/edit", {"base": "1", "body": "我们承诺：热线 24 小时接听，15 分钟到场。", "note": "到场时间"}).status_code == 302
    changed = resident.get("/disclosure/", headers={"If-None-Match": first.headers["ETag"]})
    assert changed.status_code == 200 and "15 分钟到场" in changed.get_data(as_text=True)
    head = db.session.scalar(select(Department).where(Department.name == "工程维修部"))
    from portal.models import User

    db.session.scalar(select(User).where(User.department_id == head.id)).name = "张工"
    db.session.commit()
    assert re.search(r"<td[^>]*>张工</td>", _section(resident.get("/disclosure/").get_data(as_text=True), "heads"))


def test_the_lobby_screen_shows_the_board_and_its_etag_changes_after_an_edit(client, board, as_admin, make_building):
    screen = kiosk.create(make_building("1号楼"), "大堂", "landscape", 12, 30, None, None, utcnow())
    db.session.commit()
    url = f"/kiosk/{screen.secret}/slides"
    first = client.get(url)
    html = first.get_data(as_text=True)
    assert "<h1>收费标准</h1>" in html and "<h1>服务承诺</h1>" in html and "<h1>各部门负责人</h1>" in html and "<td>张强</td>" in html
    etag = first.headers["ETag"]
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 304
    assert as_admin.post("/disclosure/commitments/edit", {"base": "1", "body": "我们承诺：紧急报修 15 分钟到场。"}).status_code == 302
    changed = client.get(url, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag and "紧急报修 15 分钟到场。" in changed.get_data(as_text=True)
    assert client.get(url, headers={"If-None-Match": changed.headers["ETag"]}).status_code == 304


# Fragments and statement counts


def test_the_board_fragment_comes_without_the_layout_and_varies_on_htmx(client, board):
    response = client.get("/disclosure/", headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert "<html" not in html and html.lstrip().startswith('<div id="disclosure-board">') and "HX-Request" in response.headers["Vary"]


def _count(app, fn):
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


def test_statement_counts_do_not_grow_with_versions_or_departments(app, board, admin, make_user, today):
    resident = PortalClient(app)
    resident.login(make_user())

    def measure():
        cache.clear()
        for url in ("/disclosure/", "/disclosure/commitments/history", "/disclosure/fees/history"):
            assert resident.get(url).status_code == 200, url
        cache.clear()
        return (_count(app, lambda: resident.get("/disclosure/")), _count(app, lambda: resident.get("/disclosure/")),
                _count(app, lambda: resident.get("/disclosure/commitments/history")), _count(app, lambda: resident.get("/disclosure/fees/history")))

    small = measure()
    now = utcnow()
    for n in range(2, 32):
        disclosure.save("commitments", body=f"承诺第{n}版\n第{n}条", note=f"第{n}次修改", base=n - 1, actor=admin, now=now)
        version = disclosure.save("fees", fees=[_row("物业服务费", "住宅", f"2.{n:02d}")], base=n - 1, actor=admin, now=now,
                                  effective_on=date(today.year + 1, 1, 1) + timedelta(days=n))
        disclosure.announce(version, f"收费标准第{n}次调整", admin, now)
    for n in range(20):
        department = Department(name=f"第{n}部门")
        db.session.add(department)
        db.session.flush()
        make_user(role=Role.HEAD, department_id=department.id)
    db.session.commit()
    large = measure()
    assert "收费标准第31次调整" in resident.get("/disclosure/fees/history").get_data(as_text=True)
    assert small == large
    cold, warm, _history, _fees = small
    assert warm == 1  # a kept board: only the cache versions
