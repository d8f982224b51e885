"""The disclosure board (信息公示, S2.3.1) at the service level: every edit a new version with who,
when, what changed and the version it replaced; the current version (the fee standard's by its
effective day); outdated forms refused; the heads from the people data; the announcement on the
notice board; the cache counter that pages and lobby screens are kept under."""
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from portal import cache
from portal.extensions import db
from portal.models import Department, DisclosureVersion, NoticeCategory, NotifyJob, Role, Setting
from portal.services import disclosure, settings

NOW = datetime(2026, 12, 8, 2, 0, tzinfo=timezone.utc)  # 10:00 on 8 December in Shanghai
NEW_YEAR = datetime(2026, 12, 31, 16, 0, tzinfo=timezone.utc)  # midnight, 1 January 2027, in Shanghai


def _row(item, scope, price, unit="元/㎡·月", note=""):
    return {"item": item, "scope": scope, "price": price, "unit": unit, "note": note}


FEES = [_row("物业服务费", "住宅", "2.00", note="按建筑面积计收"), _row("地下车位管理费", "已购车位", "80", "元/个·月")]


@pytest.fixture
def admin(make_user):
    return make_user(role=Role.ADMIN, name="陈立")


@pytest.fixture
def kefu(make_user):
    return make_user(role=Role.STAFF, name="王敏")


def _fees(actor, rows, effective, base, now=NOW, note=""):
    version = disclosure.save("fees", body="收费依据：物业服务合同。", fees=rows, effective_on=effective, note=note, base=base, actor=actor,
                              now=now)
    db.session.commit()
    return version


# Versions


def test_each_edit_is_a_new_version_with_who_when_what_and_the_version_it_replaced(admin, kefu):
    first = disclosure.save("hours", body="前台接待：每日 8:00—20:00", note="首次公示", base=0, actor=kefu, now=NOW)
    second = disclosure.save("hours", body="前台接待：每日 8:00—19:00\n收费窗口：周一至周六", note="冬季缩短接待时间", base=1, actor=admin,
                             now=NOW + timedelta(days=1))
    db.session.commit()
    assert (first.number, first.created_by.name, first.created_at, first.previous) == (1, "王敏", NOW, None)
    assert (second.number, second.created_by.name, second.note, second.previous.id) == (2, "陈立", "冬季缩短接待时间", first.id)
    assert "<p>前台接待：每日 8:00—19:00<br" in second.body_html
    assert disclosure.latest("hours").id == second.id and disclosure.in_force("hours", NOW).id == second.id
    assert disclosure.changes(second)["text"] == [("-", "前台接待：每日 8:00—20:00"), ("+", "前台接待：每日 8:00—19:00"), ("+", "收费窗口：周一至周六")]
    rows, more = disclosure.history("hours")
    assert [v.number for v in rows] == [2, 1] and more is None


def test_the_history_pages_twenty_at_a_time_newest_first(admin):
    for n in range(25):
        disclosure.save("commitments", body=f"承诺第{n}版", base=n, actor=admin, now=NOW + timedelta(minutes=n))
    db.session.commit()
    page, before = disclosure.history("commitments")
    assert [v.number for v in page] == list(range(25, 5, -1)) and before == 6
    rest, more = disclosure.history("commitments", before)
    assert [v.number for v in rest] == [5, 4, 3, 2, 1] and more is None


def test_saving_the_same_text_again_writes_no_version(admin):
    disclosure.save("commitments", body="我们承诺：24 小时接听热线。", base=0, actor=admin, now=NOW)
    assert disclosure.save("commitments", body="  我们承诺：24 小时接听热线。\n", note="再存一次", base=1, actor=admin, now=NOW) is None
    assert db.session.scalar(select(func.count(DisclosureVersion.id))) == 1


def test_a_form_opened_before_someone_else_saved_is_refused_and_nothing_is_written(admin, kefu):
    disclosure.save("hours", body="第一版", base=0, actor=kefu, now=NOW)
    db.session.commit()
    with pytest.raises(disclosure.Conflict) as refused:
        disclosure.save("hours", body="另一个人写的", base=0, actor=admin, now=NOW)
    assert refused.value.latest.number == 1 and refused.value.latest.created_by.name == "王敏"
    with pytest.raises(disclosure.Conflict):
        disclosure.save("hours", body="伪造的基础版本", base=-1, actor=admin, now=NOW)
    assert db.session.scalar(select(func.count(DisclosureVersion.id))) == 1


def test_sections_are_numbered_on_their_own(admin):
    disclosure.save("commitments", body="承诺", base=0, actor=admin, now=NOW)
    heads = disclosure.save("heads", body="", base=0, actor=admin, now=NOW)
    assert heads.number == 1 and disclosure.current(NOW)[disclosure.HEADS].id == heads.id
    assert disclosure.current(NOW)[disclosure.HOURS] is None and disclosure.current(NOW)[disclosure.FEES] is None


# The fee standard and its effective day


def test_a_fee_standard_published_ahead_takes_effect_on_its_day_by_itself(admin):
    this_year = _fees(admin, FEES, date(2026, 1, 1), 0, now=NOW - timedelta(days=300))
    raised = [dict(FEES[0], price="2.20"), FEES[1]]
    next_year = _fees(admin, raised, date(2027, 1, 1), 1, note="业主大会表决通过")
    assert disclosure.in_force("fees", NOW).id == this_year.id
    assert [v.id for v in disclosure.upcoming(NOW)] == [next_year.id]
    assert disclosure.in_force("fees", NEW_YEAR - timedelta(seconds=1)).id == this_year.id
    assert disclosure.in_force("fees", NEW_YEAR).id == next_year.id and disclosure.upcoming(NEW_YEAR) == []
    assert disclosure.next_change(disclosure.upcoming(NOW)) == NEW_YEAR  # pages and lobby screens are rebuilt at that midnight
    found, until = disclosure.board(NOW)
    assert until <= NEW_YEAR
    assert found["current"][disclosure.FEES].id == this_year.id
    assert found["upcoming"] == [(next_year, [("changed", FEES[0], raised[0])])]


def test_correcting_the_standard_in_force_leaves_the_next_one_scheduled(admin):
    first = _fees(admin, FEES, date(2026, 1, 1), 0, now=NOW - timedelta(days=300))
    _fees(admin, [dict(FEES[0], price="2.20"), FEES[1]], date(2027, 1, 1), 1)
    fixed = _fees(admin, [FEES[0], dict(FEES[1], note="含公共照明")], date(2026, 1, 1), 2, note="补充备注")
    assert disclosure.in_force("fees", NOW).id == fixed.id and disclosure.upcoming(NOW)[0].number == 2
    assert fixed.previous.id == first.id  # compared with what applied on its day, not with next year's
    assert disclosure.changes(fixed)["fees"] == [("changed", FEES[1], dict(FEES[1], note="含公共照明"))]
    assert disclosure.changes(fixed)["effective"] is None


def test_a_fee_standard_cannot_start_before_the_one_in_force(admin):
    _fees(admin, FEES, date(2026, 7, 1), 0, now=NOW - timedelta(days=100))
    with pytest.raises(disclosure.TooEarly) as refused:
        disclosure.save("fees", fees=FEES, effective_on=date(2026, 6, 30), base=1, actor=admin, now=NOW)
    assert refused.value.in_force.effective_on == date(2026, 7, 1)


def test_a_fee_standard_without_a_day_applies_from_the_communitys_today(admin):
    late_evening = datetime(2026, 12, 8, 15, 30, tzinfo=timezone.utc)  # 23:30 in Shanghai, still the 8th
    version = disclosure.save("fees", fees=FEES, effective_on=None, base=0, actor=admin, now=late_evening)
    assert version.effective_on == date(2026, 12, 8)


def test_rows_are_trimmed_empty_ones_dropped_and_full_width_amounts_read():
    rows = disclosure.clean_rows([{"item": " 物业服务费 ", "scope": "住宅", "price": "２．２０", "unit": "元/㎡·月", "note": ""},
                                  {"item": "", "scope": " ", "price": "", "unit": "", "note": ""}])
    assert rows == [{"item": "物业服务费", "scope": "住宅", "price": "2.20", "unit": "元/㎡·月", "note": ""}]
    assert [disclosure.clean_price(p) for p in ("80", "0.035", "1,200", "2.20元", "-1", "NaN", "1e3", "")] == [
        "80", "0.035", "1200", None, None, None, None, None]


def test_fee_changes_name_the_rows_added_removed_and_changed():
    old = [_row("物业服务费", "住宅", "2.00"), _row("装修押金", "住宅装修", "2000", "元/户"), _row("临时停车费", "外来车辆", "2", "元/小时")]
    new = [_row("物业服务费", "住宅", "2.20"), _row("临时停车费", "外来车辆", "2", "元/小时"), _row("电梯运行维护费", "住宅", "0.30")]
    assert disclosure.fee_changes(old, new) == [("changed", old[0], new[0]), ("added", None, new[2]), ("removed", old[1], None)]


# Who heads which department: from the people and the settings


def test_department_heads_come_from_the_people_data_and_the_on_duty_phones(make_user, admin):
    works, guards, closed = Department(name="工程维修部"), Department(name="秩序维护部"), Department(name="已撤销部门", is_active=False)
    db.session.add_all([works, guards, closed])
    db.session.commit()
    make_user(role=Role.HEAD, name="张强", department_id=works.id)
    make_user(role=Role.HEAD, name="副经理", department_id=works.id)
    make_user(role=Role.HEAD, name="离职者", department_id=guards.id, is_active=False)
    make_user(role=Role.WORKER, name="李师傅", department_id=guards.id)
    make_user(role=Role.HEAD, name="已撤销部门负责人", department_id=closed.id)
    settings.update({settings.duty_phone_key(works.id): "0571-88880001"}, admin)
    assert disclosure.department_heads() == [
        {"department": "工程维修部", "heads": ["张强", "副经理"], "phone": "0571-88880001"},
        {"department": "秩序维护部", "heads": [], "phone": ""},
    ]


def test_a_change_to_a_head_moves_the_disclosure_counter_and_a_change_to_anyone_else_does_not(make_user):
    dept = Department(name="工程维修部")
    db.session.add(dept)
    db.session.commit()
    head = make_user(role=Role.HEAD, name="张强", department_id=dept.id)
    worker = make_user(role=Role.WORKER, name="李师傅", department_id=dept.id)
    resident = make_user(name="周杰")

    def counter():
        return cache.read_versions(db.engine)[cache.DISCLOSURE]

    before = counter()
    resident.name, worker.name = "周杰伦", "李工"
    head.language = "en"  # not shown on the board
    db.session.commit()
    assert counter() == before
    head.name = "张强强"
    db.session.commit()
    assert counter() == before + 1
    worker.role = Role.HEAD  # becomes a head
    db.session.commit()
    assert counter() == before + 2
    head.role = Role.STAFF  # no longer one
    db.session.commit()
    assert counter() == before + 3


# The notice board


def test_announcing_a_change_posts_a_notice_of_its_category_to_everyone(admin):
    version = _fees(admin, [_row("物业服务费", "住宅", "2.20", note="按建筑面积计收")], date(2027, 1, 1), 0, note="业主大会表决通过。")
    notice = disclosure.announce(version, "2027年物业服务费调整公示", admin, NOW)
    db.session.commit()
    assert (notice.category, notice.is_community_wide, notice.publish_at, version.notice_id) == (NoticeCategory.FEE_STANDARD, True, NOW, notice.id)
    assert notice.body.splitlines()[:3] == ["业主大会表决通过。", "", "自2027年1月1日起，收费标准如下："]
    assert "- 物业服务费（住宅）：2.20 元/㎡·月（按建筑面积计收）" in notice.body
    assert '<a href="http://portal.test/disclosure/#fees"' in notice.body_html
    (job,) = db.session.scalars(select(NotifyJob)).all()
    assert (job.kind, job.object_id, job.audience["buildings"]) == ("notice_published", notice.id, None)


def test_the_related_notice_is_the_latest_current_community_notice_of_the_category(make_notice, make_building):
    make_notice(title="旧的收费公示", category=NoticeCategory.FEE_STANDARD, publish_at=NOW - timedelta(days=30))
    make_notice(title="新的收费公示", category=NoticeCategory.FEE_STANDARD, publish_at=NOW - timedelta(days=1))
    make_notice(title="撤回的收费公示", category=NoticeCategory.FEE_STANDARD, publish_at=NOW - timedelta(hours=1), withdrawn_at=NOW)
    make_notice(title="一栋楼的收费公示", category=NoticeCategory.FEE_STANDARD, publish_at=NOW - timedelta(hours=2), buildings=[make_building()])
    make_notice(title="服务承诺", category=NoticeCategory.SERVICE_COMMITMENT, publish_at=NOW - timedelta(hours=3))
    assert disclosure.related_notice("fees", NOW).title == "新的收费公示"
    assert disclosure.related_notice("commitments", NOW).title == "服务承诺"
    assert disclosure.related_notice("hours", NOW) is None


def test_the_contacts_are_the_policy_settings(admin):
    db.session.add_all([Setting(key="hotline", value="0571-96345"), Setting(key="chat_hours_end", value="21:00")])
    db.session.commit()
    assert disclosure.contacts() == {"hotline": "0571-96345", "contact_person": "客服中心 王敏", "chat_from": "08:00", "chat_until": "21:00"}


def test_a_lobby_screen_reads_lines_without_markup():
    body = "**物业服务中心**：会所一层\n\n- 前台接待：8:00—20:00\n1. 热线 24 小时接听\n\n### 说明\n"
    assert disclosure.plain_lines(body) == ["物业服务中心：会所一层", "· 前台接待：8:00—20:00", "1. 热线 24 小时接听", "说明"]
