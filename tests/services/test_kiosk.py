"""Lobby screens at the service level: the secret link and its revocation, reporting in and silent
screens, the slides (this building's notices and bulletins, upcoming events, the figures), long
notices paged, an emergency taking over, and the ETag that lets an unchanged poll cost nothing."""
import re
from datetime import date, datetime, timedelta, timezone

import pytest
from flask import render_template
from flask_babel import force_locale
from sqlalchemy import select

from portal import cache
from portal.extensions import db
from portal.models import Event, EventType, KioskScreen, NoticeCategory, Orientation, PublishedFigures, Role
from portal.services import kiosk, notices
from tests.markup import elements, text_of, texts_of

NOW = datetime(2026, 12, 8, 2, 0, tzinfo=timezone.utc)
EARLIER = NOW - timedelta(hours=1)


@pytest.fixture
def lobby(make_building):
    building = make_building("1号楼")
    screen = kiosk.create(building, " 大堂 ", "landscape", 12, 30, 23, 6, NOW)
    db.session.commit()
    return building, screen


@pytest.fixture
def staff(make_user):
    return make_user(role=Role.STAFF)


def _info(screen):
    return kiosk.screen_for(screen.secret)


def _content(info, now):
    with force_locale("zh_Hans"):
        return kiosk.content(info, now, lambda found: render_template("kiosk/_slides.html", screen=info, **found))


def _slides(screen, now=NOW):
    html, etag = _content(_info(screen), now)
    return html, etag


def _titles(html):
    return re.findall(r"<h1>([^<]*)</h1>", html)


def _event(staff, title, starts, hours=2, buildings=(), **kw):
    event = Event(kind=EventType.ACTIVITY, title=title, location="中心广场", starts_at=starts, ends_at=starts + timedelta(hours=hours),
                  is_community_wide=not buildings, buildings=list(buildings), created_by_id=staff.id, **kw)
    db.session.add(event)
    db.session.commit()
    return event


def test_a_screen_gets_a_long_random_secret_and_keeps_its_settings(lobby, make_building):
    building, screen = lobby
    other = kiosk.create(building, "侧门", "portrait", 20, 60, None, None, NOW)
    assert screen.secret != other.secret and len(screen.secret) >= 32
    assert screen.name == "大堂" and screen.orientation == Orientation.LANDSCAPE and other.orientation == Orientation.PORTRAIT
    info = _info(screen)
    assert info == {"id": screen.id, "building_id": building.id, "building": "1号楼", "orientation": Orientation.LANDSCAPE,
                    "slide_seconds": 12, "poll_seconds": 30, "night_start": 23, "night_end": 6, "secret": screen.secret}


def test_a_revoked_or_unknown_link_finds_no_screen_at_once(lobby):
    _building, screen = lobby
    assert _info(screen) is not None  # now cached
    kiosk.revoke(screen, NOW)
    db.session.commit()
    assert kiosk.screen_for(screen.secret) is None
    assert kiosk.screen_for("no-such-secret") is None


def test_each_heartbeat_records_when_the_screen_was_last_seen(lobby):
    """The page posts its heartbeat once a minute (kiosk.js); each one is recorded."""
    _building, screen = lobby
    info = _info(screen)
    kiosk.report_in(info, NOW)
    kiosk.report_in(info, NOW + timedelta(seconds=60))
    db.session.expire_all()
    assert db.session.get(KioskScreen, screen.id).last_seen_at == NOW + timedelta(seconds=60)


def test_silent_screens_are_those_never_seen_or_not_for_five_minutes(lobby, make_building):
    building, seen = lobby
    never = kiosk.create(building, "从未上线", "landscape", 12, 30, None, None, NOW)
    gone = kiosk.create(building, "已断线", "landscape", 12, 30, None, None, NOW)
    revoked = kiosk.create(building, "已撤销", "landscape", 12, 30, None, None, NOW)
    kiosk.revoke(revoked, NOW)
    db.session.commit()
    kiosk.report_in(_info(seen), NOW)
    kiosk.report_in(_info(gone), NOW - timedelta(minutes=6))
    db.session.expire_all()
    assert [s.id for s in kiosk.silent(NOW + timedelta(minutes=4))] == [never.id, gone.id]
    assert [s.id for s in kiosk.silent(NOW + timedelta(minutes=6))] == [seen.id, never.id, gone.id]


def test_the_slides_are_this_buildings_current_notices_and_bulletins(lobby, make_building, make_notice):
    building, screen = lobby
    other = make_building("2号楼")
    make_notice(title="全体停水通知", publish_at=EARLIER)
    make_notice(title="一号楼宣传栏", buildings=[building], publish_at=EARLIER)
    make_notice(title="二号楼宣传栏", buildings=[other], publish_at=EARLIER)
    make_notice(title="明天才发布", publish_at=NOW + timedelta(days=1))
    make_notice(title="已过期", publish_at=NOW - timedelta(days=3), expires_at=NOW - timedelta(days=1))
    make_notice(title="已撤回", publish_at=EARLIER, withdrawn_at=NOW - timedelta(minutes=1))
    html, _etag = _slides(screen)
    assert sorted(_titles(html)) == sorted(["全体停水通知", "一号楼宣传栏"])
    # the bulletin is marked; a QR code per slide
    labels = dict(zip(texts_of(html, "section.slide h1"), texts_of(html, "section.slide p.label")))
    assert labels == {"全体停水通知": "社区新闻", "一号楼宣传栏": "社区新闻 · 本楼宣传栏"}
    assert [len(elements(slide, ".qr svg")) for slide in elements(html, "section.slide")] == [1, 1]


def test_without_anything_to_show_the_screen_says_so(lobby):
    _building, screen = lobby
    html, _etag = _slides(screen)
    assert _titles(html) == ["暂无公告"]


def test_upcoming_events_of_the_next_thirty_days_for_this_building(lobby, make_building, staff):
    building, screen = lobby
    other = make_building("2号楼")
    _event(staff, "中秋游园", NOW + timedelta(days=3))
    _event(staff, "一号楼消防演练", NOW + timedelta(days=5), buildings=[building])
    _event(staff, "二号楼消防演练", NOW + timedelta(days=5), buildings=[other])
    _event(staff, "下个月的活动", NOW + timedelta(days=31))
    _event(staff, "取消的活动", NOW + timedelta(days=2), cancelled_at=NOW)
    _event(staff, "正在进行", NOW - timedelta(hours=1))
    _event(staff, "已结束", NOW - timedelta(hours=3))
    html, _etag = _slides(screen)
    assert _titles(html) == ["正在进行", "中秋游园", "一号楼消防演练"]  # by start time


def test_a_long_notice_pages_through_at_sentence_ends_and_nothing_is_lost(lobby, make_notice, make_building):
    building, screen = lobby
    body = "".join(f"第{i}条注意事项，请各位住户仔细阅读并遵守。" for i in range(40))
    notice = make_notice(title="长公告", body=body, publish_at=EARLIER)
    notice.body_html = notices.render_body(body)
    db.session.commit()
    html, _etag = _slides(screen)
    texts = re.findall(r'<p class="text">([^<]*)</p>', html)
    markers = re.findall(r"第 (\d+) / (\d+) 页", html)
    assert len(texts) == len(markers) >= 3 and markers[0] == ("1", str(len(texts))) and markers[-1] == (str(len(texts)),) * 2
    assert all(t.endswith("。") and len(t) <= kiosk.PAGE_CHARS[Orientation.LANDSCAPE] for t in texts)
    assert "".join(texts) == body
    portrait = kiosk.create(building, "竖屏", "portrait", 12, 30, None, None, NOW)
    db.session.commit()
    portrait_html, _ = _slides(portrait)
    assert len(re.findall(r"第 \d+ / \d+ 页", portrait_html)) < len(markers)  # a taller screen holds more per page


def test_pinned_notices_come_round_twice_as_often(lobby, make_notice):
    _building, screen = lobby
    make_notice(title="置顶公告", is_pinned=True, publish_at=EARLIER)
    make_notice(title="普通公告", publish_at=EARLIER)
    html, _etag = _slides(screen)
    assert _titles(html) == ["置顶公告", "置顶公告", "普通公告"]


def test_more_than_twelve_pinned_notices_leave_no_room_for_other_notices(lobby, make_notice):
    _building, screen = lobby
    for i in range(13):
        make_notice(title=f"置顶{i}", is_pinned=True, publish_at=EARLIER - timedelta(minutes=i))
    make_notice(title="普通一", publish_at=EARLIER)
    make_notice(title="普通二", publish_at=EARLIER)
    html, _etag = _slides(screen)
    titles = _titles(html)
    assert "普通一" not in titles and "普通二" not in titles
    assert len(titles) == 26  # every pinned notice, twice; before the fix a negative slice let 13 - 12 = -1 mean "all but one"


def test_an_emergency_takes_the_screen_over_until_lifted(lobby, make_notice, staff):
    _building, screen = lobby
    make_notice(title="普通公告", publish_at=EARLIER)
    alarm = make_notice(title="燃气泄漏，请勿使用明火", body="3号楼燃气管道泄漏，抢修中。", category=NoticeCategory.EMERGENCY,
                        publish_at=NOW - timedelta(minutes=5))
    html, etag = _slides(screen)
    assert 'data-emergency="1"' in html and "3号楼燃气管道泄漏，抢修中。" in html and "普通公告" not in html
    notices.lift(alarm, staff, NOW + timedelta(minutes=1))
    db.session.commit()
    lifted, lifted_etag = _slides(screen, NOW + timedelta(minutes=1))
    assert "data-emergency" not in lifted and "普通公告" in lifted and lifted_etag != etag


def test_last_months_figures_are_shown_for_45_days(lobby, staff):
    _building, screen = lobby
    figures = PublishedFigures(period_start=date(2026, 11, 1), period_end=date(2026, 11, 30), published_by_id=staff.id, published_at=NOW - timedelta(days=44),
                               data={"on_time": 93, "resolution": 97, "satisfaction": 91})
    db.session.add(figures)
    db.session.commit()
    html, _etag = _slides(screen)
    figures_slide = "section.slide.kind-figures"
    assert text_of(html, f"{figures_slide} h1") == "2026年11月服务数据"
    assert text_of(html, f"{figures_slide} p.text") == "按时反馈 93% · 问题解决率 97% · 满意度 91%"
    figures.published_at = NOW - timedelta(days=46)
    db.session.commit()
    html, _etag = _slides(screen)
    assert "服务数据" not in html


def test_the_etag_stays_while_nothing_changes_and_moves_with_a_new_notice(lobby, make_notice):
    _building, screen = lobby
    make_notice(title="公告一", publish_at=EARLIER)
    first = _slides(screen)
    assert _slides(screen, NOW + timedelta(minutes=1)) == first
    make_notice(title="公告二", publish_at=EARLIER)
    html, etag = _slides(screen, NOW + timedelta(minutes=2))
    assert etag != first[1] and "公告二" in html


def test_the_slides_change_by_themselves_when_an_event_ends_or_a_notice_is_due(lobby, make_notice, staff):
    _building, screen = lobby
    _event(staff, "中秋游园", NOW + timedelta(hours=1))
    make_notice(title="定时公告", publish_at=NOW + timedelta(hours=2))
    assert _titles(_slides(screen)[0]) == ["中秋游园"]
    assert _titles(_slides(screen, NOW + timedelta(hours=2, seconds=1))[0]) == ["定时公告", "中秋游园"]
    assert _titles(_slides(screen, NOW + timedelta(hours=3, seconds=1))[0]) == ["定时公告"]  # the event is over


def test_an_unchanged_poll_is_answered_from_what_is_kept_until_something_changes(lobby, make_notice):
    _building, screen = lobby
    make_notice(title="公告一", publish_at=EARLIER)
    assert kiosk.unchanged_etag(screen.secret, cache.versions(), NOW) is None  # nothing kept yet
    info = _info(screen)
    kiosk.report_in(info, NOW)
    _html, etag = _content(info, NOW)
    assert kiosk.unchanged_etag(screen.secret, cache.versions(), NOW + timedelta(seconds=30)) == etag
    assert kiosk.unchanged_etag(screen.secret, cache.versions(), NOW + timedelta(seconds=60)) == etag  # polls never write: no report-in turn
    make_notice(title="公告二", publish_at=EARLIER)
    assert kiosk.unchanged_etag(screen.secret, cache.versions(), NOW + timedelta(seconds=40)) is None  # the notices changed


def test_a_revoked_screen_is_not_answered_from_what_was_kept(lobby):
    _building, screen = lobby
    info = _info(screen)
    kiosk.report_in(info, NOW)
    _content(info, NOW)
    kiosk.revoke(db.session.scalar(select(KioskScreen).where(KioskScreen.id == screen.id)), NOW)
    db.session.commit()
    assert kiosk.unchanged_etag(screen.secret, cache.versions(), NOW + timedelta(seconds=10)) is None


# The disclosure board (信息公示) on the lobby screens


def _publish_fees(staff, rows, day, base, now=NOW - timedelta(days=30)):
    from portal.services import disclosure

    version = disclosure.save("fees", fees=rows, effective_on=day, base=base, actor=staff, now=now)
    db.session.commit()
    return version


def _fee(item, price):
    return {"item": item, "scope": "住宅", "price": price, "unit": "元/㎡·月", "note": ""}


def test_the_published_sections_of_the_disclosure_board_come_round_after_the_notices(lobby, make_user, make_notice):
    from portal.models import Department
    from portal.services import disclosure

    _building, screen = lobby
    admin = make_user(role=Role.ADMIN)
    make_notice(title="停水通知", publish_at=EARLIER)
    db.session.add(Department(name="工程维修部"))
    make_user(role=Role.HEAD, name="张强", department_id=1)
    _publish_fees(admin, [_fee(f"收费项目{i}", f"{i}.00") for i in range(9)], date(2026, 1, 1), 0)  # 9 rows: two slides
    disclosure.save("commitments", body="我们承诺：\n\n1. 热线 24 小时接听。\n2. 投诉 48 小时内书面答复。", base=0, actor=admin, now=NOW)
    disclosure.save("heads", body="项目经理：陈立。", base=0, actor=admin, now=NOW)
    db.session.commit()
    html, _etag = _slides(screen)
    assert _titles(html) == ["停水通知", "收费标准", "收费标准", "服务承诺", "各部门负责人"]  # the hours are not published
    assert "收费项目8" in html and "第 2 / 2 页" in html and "自 2026年1月1日 起执行" in html
    assert "1. 热线 24 小时接听。\n2. 投诉 48 小时内书面答复。" in html
    assert "<td>张强</td>" in html and "项目经理：陈立。" in html
    assert html.count("http://portal.test/disclosure/") == 0 and html.count("<svg") == 5  # QR codes to the page, not its URL in text


def test_the_screen_shows_the_next_fee_standard_and_switches_to_it_at_midnight(lobby, make_user):
    _building, screen = lobby
    admin = make_user(role=Role.ADMIN)
    _publish_fees(admin, [_fee("物业服务费", "2.00")], date(2026, 1, 1), 0)
    _publish_fees(admin, [_fee("物业服务费", "2.20")], date(2027, 1, 1), 1)
    html, etag = _slides(screen)
    assert _titles(html) == ["收费标准", "新收费标准"] and "<strong>2.00</strong>" in html and "自 2027年1月1日 起执行" in html
    new_year = datetime(2026, 12, 31, 16, 0, tzinfo=timezone.utc)
    before, same = _slides(screen, new_year - timedelta(seconds=1))
    assert same == etag
    after, changed = _slides(screen, new_year)
    assert changed != etag and _titles(after) == ["收费标准"] and "<strong>2.20</strong>" in after and "2.00" not in after
