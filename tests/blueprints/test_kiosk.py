import re
from datetime import timedelta

import pytest
from sqlalchemy import event, select

from portal.extensions import db
from portal.models import KioskScreen, NoticeCategory, Role, TicketChannel, utcnow
from portal.services import kiosk, notices, tickets
from tests.markup import element, elements, text_of, texts_of


def _titles(page):
    return texts_of(page, "section.slide h1")


@pytest.fixture
def lobby(make_building):
    building = make_building("1号楼")
    screen = kiosk.create(building, "大堂", "landscape", 12, 30, 23, 6, utcnow())
    db.session.commit()
    return building, screen


def test_the_screen_shows_the_buildings_notices_and_bulletins_without_login(client, lobby, make_building, make_notice):
    building, screen = lobby
    other = make_building("2号楼")
    make_notice(title="全体业主停水通知")
    make_notice(title="一号楼宣传栏", buildings=[building])
    make_notice(title="二号楼宣传栏", buildings=[other])
    page = client.get(f"/kiosk/{screen.secret}")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert sorted(_titles(page)) == ["一号楼宣传栏", "全体业主停水通知"] and "二号楼宣传栏" not in text
    assert [len(elements(slide, ".qr svg")) for slide in elements(page, "section.slide")] == [1, 1]  # a QR code per slide
    assert texts_of(page, "footer.kiosk-footer > span")[1:3] == ["服务热线 400-800-1234", "联系人 客服中心 王敏"]  # the hotline and contact person



def test_the_kept_screen_page_moves_with_its_slides_settings_hotline_and_poll(client, lobby, make_notice):
    """The screen's page is kept by everything it shows (kiosk.views._pages): each of these changes it at once."""
    from portal.services import settings

    _building, screen = lobby
    url = f"/kiosk/{screen.secret}"
    first = client.get(url)
    assert _titles(first) == ["暂无公告"] and client.get(url).get_data() == first.get_data()
    make_notice(title="电梯检修")
    assert _titles(client.get(url)) == ["电梯检修"]
    settings.update({"hotline": "400-000-0000"}, None)
    db.session.commit()
    assert texts_of(client.get(url), "footer.kiosk-footer > span")[1] == "服务热线 400-000-0000"
    from portal.models import Orientation

    db.session.get(KioskScreen, screen.id).orientation = Orientation.PORTRAIT
    db.session.commit()
    assert "portrait" in element(client.get(url), "body").get("class").split()
    assert element(client.get(f"{url}?poll=7"), "body").get("data-poll-seconds") == "7"
    assert element(client.get(url), "body").get("data-poll-seconds") == "30"


def test_no_personal_data_on_the_screen(client, lobby, make_user, make_notice):
    building, screen = lobby
    resident = make_user(name="隐私住户", phone="13812340000", building=building)
    tickets.create(category="repair", channel=TicketChannel.ONLINE, description="隐私住户家漏水", actor=resident, now=utcnow(),
                   resident=resident, unit=resident.residencies[0].unit)
    make_notice(title="公告")
    db.session.commit()
    text = client.get(f"/kiosk/{screen.secret}").get_data(as_text=True)
    assert _titles(text) == ["公告"]
    assert "隐私住户" not in text and "13812340000" not in text and "1-101" not in text


def test_a_long_notice_pages_through_and_pinned_ones_come_round_more_often(client, lobby, make_notice):
    building, screen = lobby
    long_body = "。".join(f"第{i}条注意事项，请各位住户仔细阅读并遵守" for i in range(40)) + "。"
    notice = make_notice(title="长公告", body=long_body)
    notice.body_html = notices.render_body(long_body)
    make_notice(title="置顶公告", is_pinned=True)
    db.session.commit()
    slides = client.get(f"/kiosk/{screen.secret}/slides").get_data(as_text=True)
    pages = re.findall(r"第 (\d+) / (\d+) 页", slides)
    n = len(pages)
    assert n >= 3 and pages == [(str(i), str(n)) for i in range(1, n + 1)]
    long_text = "".join(texts_of(slides, "section.slide:not(.pinned) p.text"))
    assert long_text.count("请各位住户仔细阅读并遵守") == 40 and "第39条注意事项" in long_text  # nothing cut off
    assert _titles(slides).count("置顶公告") == 2 and _titles(slides).count("长公告") == n


def test_polls_answer_304_with_one_query_when_nothing_changed(client, lobby, make_notice):
    building, screen = lobby
    make_notice(title="公告一")
    url = f"/kiosk/{screen.secret}/slides"
    first = client.get(url)
    etag = first.headers["ETag"]
    statements = []
    listener = lambda *a: a[2].startswith(("BEGIN", "SAVEPOINT", "RELEASE")) or statements.append(a[2])  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        again = client.get(url, headers={"If-None-Match": etag})
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    assert again.status_code == 304 and again.data == b""
    assert len(statements) == 1 and "cache_version" in statements[0]


def test_an_emergency_takes_over_until_lifted(client, lobby, make_notice, make_user, make_building):
    building, screen = lobby
    make_notice(title="普通公告")
    etag = client.get(f"/kiosk/{screen.secret}/slides").headers["ETag"]
    other = make_building("3号楼")
    make_notice(title="三号楼停电", category=NoticeCategory.EMERGENCY, buildings=[other])
    assert client.get(f"/kiosk/{screen.secret}/slides", headers={"If-None-Match": etag}).status_code == 304  # not this building's
    emergency = make_notice(title="燃气泄漏", category=NoticeCategory.EMERGENCY)
    changed = client.get(f"/kiosk/{screen.secret}/slides", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and _titles(changed) == ["燃气泄漏"] and elements(changed, "section.slide.emergency")
    notices.lift(emergency, make_user(role=Role.STAFF), utcnow())
    db.session.commit()
    after = client.get(f"/kiosk/{screen.secret}/slides")
    assert sorted(_titles(after)) == ["普通公告", "燃气泄漏"] and not elements(after, "section.slide.emergency")  # a notice again


def test_a_revoked_or_unknown_link_answers_404_at_once(client, lobby):
    building, screen = lobby
    assert client.get(f"/kiosk/{screen.secret}").status_code == 200
    kiosk.revoke(screen, utcnow())
    db.session.commit()
    assert client.get(f"/kiosk/{screen.secret}").status_code == 404
    assert client.get(f"/kiosk/{screen.secret}/slides").status_code == 404
    assert client.get("/kiosk/not-a-real-secret").status_code == 404


def test_screens_report_in_and_silent_ones_show_on_the_staff_home(client, lobby, make_user, make_building):
    building, screen = lobby
    quiet = kiosk.create(make_building("9号楼"), "大堂", "portrait", 12, 30, None, None, utcnow())
    db.session.commit()
    assert client.post(f"/kiosk/{screen.secret}/alive", csrf=False).status_code == 204  # the page's heartbeat, no session
    db.session.expire_all()
    assert db.session.get(KioskScreen, screen.id).last_seen_at is not None
    assert [s.id for s in kiosk.silent(utcnow())] == [quiet.id]
    assert [s.id for s in kiosk.silent(utcnow() + timedelta(minutes=10))] == [screen.id, quiet.id]
    staff = client.__class__(client.app)
    staff.login(make_user(role=Role.STAFF))
    home = staff.get("/")
    (silent,) = [section for section in elements(home, "main section") if text_of(section, "h2") == "已失联的大堂公告屏"]
    assert texts_of(silent, "li") == ["9号楼 · 大堂 · 从未在线"]


def test_admins_create_and_revoke_screens_and_others_cannot(client, make_user, make_building):
    building = make_building("5号楼")
    client.login(make_user(role=Role.STAFF))
    assert client.get("/admin/screens").status_code == 404
    admin = client.__class__(client.app)
    admin.login(make_user(role=Role.ADMIN))
    response = admin.post("/admin/screens", {"building_id": str(building.id), "name": "东门大堂", "orientation": "portrait",
                                             "slide_seconds": "15", "poll_seconds": "30", "night_start": "23", "night_end": "6"})
    assert response.status_code == 302
    screen = db.session.scalar(select(KioskScreen))
    assert screen.orientation.value == "portrait" and screen.night_start == 23
    assert screen.secret in admin.get("/admin/screens").get_data(as_text=True)
    assert admin.post(f"/admin/screens/{screen.id}/revoke").status_code == 302
    db.session.expire_all()
    assert db.session.get(KioskScreen, screen.id).revoked_at is not None


def test_kiosk_link_command_prints_the_secret_link(app, make_building):
    make_building("7号楼")
    result = app.test_cli_runner().invoke(args=["kiosk-link", "7号楼"])
    screen = db.session.scalar(select(KioskScreen))
    assert result.exit_code == 0 and result.output == f"{screen.name}: http://portal.test/kiosk/{screen.secret}\n"
    again = app.test_cli_runner().invoke(args=["kiosk-link", "7号楼"])
    assert again.output == result.output  # the same screen, not a new one each time
    assert app.test_cli_runner().invoke(args=["kiosk-link", "无此楼"]).exit_code != 0


def test_unchanged_polls_are_answered_before_flask_and_changes_fall_through(app, client, lobby, make_notice):
    building, screen = lobby
    make_notice(title="公告一")
    url = f"/kiosk/{screen.secret}/slides"
    etag = client.get(url).headers["ETag"]
    calls = []
    app.before_request_funcs.setdefault(None, []).insert(0, lambda: calls.append(1))
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 304
    assert calls == []  # answered by the fast path: no Flask request at all
    make_notice(title="公告二")
    changed = client.get(url, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and sorted(_titles(changed)) == ["公告一", "公告二"] and calls == [1]
    kiosk.revoke(db.session.get(KioskScreen, screen.id), utcnow())
    db.session.commit()
    assert client.get(url, headers={"If-None-Match": changed.headers["ETag"]}).status_code == 404
