from sqlalchemy import func, select

from portal.extensions import db
from portal.models import BoxOpening, Channel, Delivery, Role, Suggestion, SuggestionStatus, Ticket, TicketChannel, utcnow
from portal.services import suggestions
from tests.conftest import PortalClient
from tests.markup import element, text_of, texts_of


def _titles(page):
    return texts_of(page, "#suggestion-list .title")


def _post(client, **kw):
    data = {"topic": "facilities", "title": "增设充电桩", "body": "车棚里加充电桩", "idempotency_key": kw.pop("key", "s1")}
    data.update(kw)
    return client.post("/suggestions/new", data)


def test_resident_posts_signed_and_the_board_shows_it(client, make_user):
    resident = make_user(name="周杰")
    client.login(resident)
    assert _post(client).status_code == 302
    _post(client)  # sent twice: recorded once
    assert db.session.scalar(select(func.count(Suggestion.id))) == 1
    assert _titles(client.get("/suggestions/")) == ["增设充电桩"]
    item = db.session.scalar(select(Suggestion))
    assert not item.is_anonymous and text_of(client.get(f"/suggestions/{item.id}"), "article .meta").endswith("· 周杰")


def test_anonymous_means_no_staff_page_reveals_the_author(app, client, make_user):
    resident = make_user(name="隐名者甲", email="a@example.com")
    client.login(resident)
    assert _post(client, anonymous="y", title="匿名建议").status_code == 302
    item = db.session.scalar(select(Suggestion))
    own = client.get(f"/suggestions/{item.id}").get_data(as_text=True)
    assert text_of(own, "h1") == "匿名建议" and text_of(own, "article .meta").endswith("· 匿名 (您本人)")
    staff = PortalClient(app)
    staff.login(make_user(role=Role.STAFF))
    for url in ("/suggestions/", f"/suggestions/{item.id}", "/suggestions/box", "/"):
        page = staff.get(url)
        assert page.status_code == 200 and "隐名者甲" not in page.get_data(as_text=True), url
    assert text_of(staff.get(f"/suggestions/{item.id}"), "article .meta").endswith("· 匿名")  # the staff see the post, not who wrote it
    assert staff.post(f"/suggestions/{item.id}/ticket").status_code == 302
    ticket = db.session.scalar(select(Ticket))
    assert ticket.channel == TicketChannel.SUGGESTION_BOX and ticket.resident_id is None and "隐名者甲" not in ticket.caller_name
    for url in (f"/tickets/{ticket.id}", "/tickets/export.csv"):
        page = staff.get(url)
        assert page.status_code == 200 and ticket.number in page.get_data(as_text=True) and "隐名者甲" not in page.get_data(as_text=True), url
    import shutil
    import subprocess
    import tempfile

    if shutil.which("pdftotext"):
        with tempfile.NamedTemporaryFile(suffix=".pdf") as f:
            f.write(staff.get(f"/tickets/{ticket.id}/slip.pdf").data)
            f.flush()
            assert "隐名者甲" not in subprocess.run(["pdftotext", f.name, "-"], capture_output=True, text=True, check=True).stdout
    assert staff.post(f"/suggestions/{item.id}/answer", {"status": "planned", "reply": "已列入计划"}).status_code == 302
    mail = db.session.scalar(select(Delivery).where(Delivery.channel == Channel.EMAIL, Delivery.address == "a@example.com"))
    # the author hears back, by email only to themselves
    assert mail is not None and "已列入计划" in mail.body and "隐名者甲" not in mail.body
    assert db.session.scalar(select(func.count(Delivery.id)).where(Delivery.channel == Channel.EMAIL)) == 1


def test_support_counts_once_per_household(app, client, make_user, make_building):
    building = make_building(units=1)
    unit = building.units[0]
    author = make_user()
    item = suggestions.post(author, author.residencies[0].unit, "security", "巡逻", "夜间巡逻", False, False, utcnow())
    db.session.commit()
    first, spouse = make_user(units=[unit]), make_user(units=[unit])
    client.login(first)
    assert client.post(f"/suggestions/{item.id}/support").status_code == 302
    client.post(f"/suggestions/{item.id}/support")
    db.session.expire_all()
    assert db.session.get(Suggestion, item.id).support_count == 1
    other = PortalClient(app)
    other.login(spouse)
    other.post(f"/suggestions/{item.id}/support", headers={"HX-Request": "true"})
    db.session.expire_all()
    assert db.session.get(Suggestion, item.id).support_count == 1


def test_board_filters_sorts_and_counts_hidden_posts(client, make_user):
    author = make_user()
    unit = author.residencies[0].unit
    suggestions.post(author, unit, "fees", "物业费", "按季缴", False, False, utcnow())
    b = suggestions.post(author, unit, "environment", "绿化", "多种树", False, False, utcnow())
    c = suggestions.post(author, unit, "other", "广告", "违规内容", False, False, utcnow())
    b.support_count = 5
    suggestions.hide(c, "含广告", make_user(role=Role.STAFF), utcnow())
    db.session.commit()
    client.login(make_user())
    assert _titles(client.get("/suggestions/?topic=fees")) == ["物业费"]
    page = client.get("/suggestions/?sort=support").get_data(as_text=True)
    assert _titles(page) == ["绿化", "物业费"] and "违规内容" not in page
    assert text_of(page, "#hidden-count") == "已有 1 条帖子因违反社区公约被屏蔽。"
    assert client.get(f"/suggestions/{c.id}").status_code == 404
    mine = PortalClient(client.app)
    mine.login(author)
    assert text_of(mine.get(f"/suggestions/{c.id}"), "article .flash-error") == "已屏蔽: 含广告"  # the author sees why


def test_opening_the_box_records_who_when_and_what(client, make_user):
    author = make_user()
    suggestions.post(author, author.residencies[0].unit, "fees", "一", "一", False, False, utcnow())
    suggestions.post(author, author.residencies[0].unit, "fees", "二", "二", False, False, utcnow())
    db.session.commit()
    staff = make_user(role=Role.STAFF, name="王敏")
    client.login(staff)
    waiting = client.get("/suggestions/box")
    assert texts_of(waiting, "main section h2")[0] == "上次开箱后新收到: 2"
    assert [t.split(" · ")[0] for t in texts_of(waiting, "main section li")[:2]] == [f"#{s.id} {s.title}" for s in db.session.scalars(select(Suggestion))]
    page = client.post("/suggestions/box").get_data(as_text=True)
    assert texts_of(page, "main section h2")[0].startswith("王敏 于 ") and texts_of(page, "main section h2")[0].endswith("开箱：已阅 2 条建议")
    assert texts_of(page, "main section h2")[1] == "上次开箱后新收到: 0"
    opening = db.session.scalar(select(BoxOpening))
    assert opening.opened_by_id == staff.id and opening.read_count == 2
    assert all(s.status == SuggestionStatus.UNDER_REVIEW and s.opening_id == opening.id for s in db.session.scalars(select(Suggestion)))
    assert suggestions.unread() == []


def test_reply_tells_author_and_supporters_by_email(make_user):
    author = make_user(email="author@example.com")
    fan = make_user(email="fan@example.com")
    item = suggestions.post(author, author.residencies[0].unit, "fees", "按季缴费", "建议", False, False, utcnow())
    suggestions.support(item, fan, fan.residencies[0].unit, utcnow())
    suggestions.answer(item, "done", "已开通按季缴费", make_user(role=Role.STAFF), utcnow())
    db.session.commit()
    assert sorted(db.session.scalars(select(Delivery.address).where(Delivery.channel == Channel.EMAIL))) == ["author@example.com", "fan@example.com"]


def test_an_important_suggestion_starts_a_study_shown_on_the_staff_home_when_overdue(client, make_user):
    from datetime import date

    author = make_user()
    item = suggestions.post(author, author.residencies[0].unit, "facilities", "电梯更新", "建议", False, False, utcnow())
    db.session.commit()
    staff = make_user(role=Role.STAFF)
    client.login(staff)
    assert client.post(f"/suggestions/{item.id}/study", {"owner": str(staff.id), "deadline": "2020-01-01", "notes": "调研"}).status_code == 302
    home = client.get("/")
    studies = f"section:has(a[href='/suggestions/{item.id}'])"
    assert text_of(home, f"{studies} h2") == "已逾期的重要建议专项研究"
    assert texts_of(home, f"{studies} li a") == [f"#{item.id} 电梯更新"]
    assert client.post(f"/suggestions/{item.id}/answer", {"status": "planned", "reply": "明年更换"}).status_code == 302
    db.session.expire_all()
    assert db.session.get(Suggestion, item.id).study.completed_at is not None
    assert "电梯更新" not in client.get("/").get_data(as_text=True)
    assert suggestions.overdue_studies(date(2030, 1, 1)) == []


def test_a_suggestion_for_one_building_is_seen_only_there(client, make_user, make_building):
    a, b = make_building(), make_building()
    author = make_user(building=a)
    item = suggestions.post(author, author.residencies[0].unit, "environment", "一号楼门口", "积水", False, True, utcnow())
    suggestions.post(author, author.residencies[0].unit, "environment", "小区绿化", "多种树", False, False, utcnow())
    db.session.commit()
    client.login(make_user(building=b))
    assert client.get(f"/suggestions/{item.id}").status_code == 404
    assert _titles(client.get("/suggestions/")) == ["小区绿化"]
    neighbour = PortalClient(client.app)
    neighbour.login(make_user(building=a))
    assert _titles(neighbour.get("/suggestions/")) == ["小区绿化", "一号楼门口"]


def test_moderation_is_for_staff_only(client, make_user):
    author = make_user()
    item = suggestions.post(author, author.residencies[0].unit, "fees", "x", "y", False, False, utcnow())
    db.session.commit()
    client.login(make_user())
    for action in ("hide", "answer", "study", "ticket", "agenda"):
        assert client.post(f"/suggestions/{item.id}/{action}", {"reason": "x", "status": "done"}).status_code == 404
    assert client.get("/suggestions/box").status_code == 404


# Searching the box (portal/search.py): the list each person sees, narrowed


def _items(client, url):
    """The list only (the htmx fragment): the page around it repeats the query in its links."""
    return client.get(url, headers={"HX-Request": "true"}).get_data(as_text=True)


def test_suggestion_search_finds_only_what_the_list_would_show(app, client, make_user, make_building):
    import re

    a, b = make_building(), make_building()
    author, neighbour, stranger = make_user(building=a), make_user(building=a), make_user(building=b)
    unit = author.residencies[0].unit
    suggestions.post(author, unit, "facilities", "增设充电桩", "车棚里加充电桩", False, False, utcnow())
    suggestions.post(author, unit, "facilities", "本楼充电桩", "一号楼门口加充电桩", False, True, utcnow())  # only building a
    hidden = suggestions.post(neighbour, neighbour.residencies[0].unit, "other", "充电桩广告", "违规内容", False, False, utcnow())
    suggestions.post(author, unit, "environment", "多种树", "绿化", False, False, utcnow())
    suggestions.hide(hidden, "含广告", make_user(role=Role.STAFF), utcnow())
    db.session.commit()

    def titles(who, url="/suggestions/?q=充电桩"):
        c = PortalClient(app)
        c.login(who)
        return sorted(re.findall(r'<span class="title">([^<]+)<', _items(c, url)))

    assert titles(author) == ["增设充电桩", "本楼充电桩"]
    assert titles(stranger) == ["增设充电桩"]
    assert titles(neighbour) == ["充电桩广告", "增设充电桩", "本楼充电桩"]  # their own hidden post
    assert titles(make_user(role=Role.STAFF)) == ["充电桩广告", "增设充电桩", "本楼充电桩"]
    assert titles(author, "/suggestions/?q=充电桩&topic=environment") == []
    assert titles(author, "/suggestions/?q=充电桩&sort=support") == ["增设充电桩", "本楼充电桩"]


def test_suggestion_search_pages_newest_first_by_keyset(client, make_user):
    import re

    author = make_user()
    unit = author.residencies[0].unit
    made = [suggestions.post(author, unit, "fees", f"物业费建议{i:02d}", "按季度缴纳", False, False, utcnow()) for i in range(35)]
    suggestions.post(author, unit, "fees", "停车费", "按月缴纳", False, False, utcnow())
    db.session.commit()
    client.login(make_user())
    first = _items(client, "/suggestions/?q=季度")
    shown = re.findall(r"物业费建议(\d\d)", first)
    assert shown == [f"{i:02d}" for i in range(34, 4, -1)] and "停车费" not in first
    older = re.search(r'href="(/suggestions/\?[^"]*before=\d+[^"]*)"', first).group(1).replace("&amp;", "&")
    assert "q=" in older
    assert re.findall(r"物业费建议(\d\d)", _items(client, older)) == ["04", "03", "02", "01", "00"]
    assert len(made) == 35 and _titles(client.get("/suggestions/"))[:2] == ["停车费", "物业费建议34"]


def test_suggestion_search_fragment_for_htmx_has_no_layout_and_varies(client, make_user):
    author = make_user()
    suggestions.post(author, author.residencies[0].unit, "fees", "物业费", "按季缴", False, False, utcnow())
    db.session.commit()
    client.login(author)
    page = client.get("/suggestions/").get_data(as_text=True)
    assert element(page, "form[hx-target='#suggestion-list'] input[name=q]").get("type") == "search"
    response = client.get("/suggestions/?q=物业", headers={"HX-Request": "true"})
    assert "<html" not in response.get_data(as_text=True) and _titles(response) == ["物业费"]
    assert "HX-Request" in response.headers["Vary"]


def test_odd_suggestion_searches_give_a_normal_page(client, make_user):
    author = make_user()
    suggestions.post(author, author.residencies[0].unit, "fees", "物业费", "按季缴", False, False, utcnow())
    db.session.commit()
    client.login(author)
    for q in ('"', "*", "(", "NEAR", "'", "%", "x" * 300, "。", "%00x"):  # (the NUL is removed: a search for "x")
        response = client.get(f"/suggestions/?q={q}")
        assert response.status_code == 200 and _titles(response) == [], q
        assert text_of(_items(client, f"/suggestions/?q={q}"), "#suggestion-list li.empty") == "没有符合搜索条件的建议。", q
    garbage = client.get("/suggestions/?q=物业&before=abc")
    assert garbage.status_code == 200 and _titles(garbage) == ["物业费"]
