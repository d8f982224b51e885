"""The notice board at the service level: formatting through the allow-list, who may read what and
when (scheduled, expired, withdrawn, bulletins), the board's pages, emergencies and their lifting,
telling the audience once, the worker's scheduled notices, and attachments checked by content."""
from datetime import datetime, timedelta, timezone

import pytest
from flask_babel import force_locale
from flask_login import AnonymousUserMixin
from markupsafe import Markup
from sqlalchemy import func, select

from portal import permissions
from portal.extensions import db
from portal.models import Blob, Notice, NoticeCategory, NotifyJob, Residency, Role
from portal.services import notices
from portal.services.notices import UploadRejected
from tests.blueprints.test_notices import PNG

NOW = datetime(2026, 12, 8, 2, 0, tzinfo=timezone.utc)
EARLIER = NOW - timedelta(hours=1)
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture(autouse=True)
def english(app):
    with force_locale("en"):
        yield


@pytest.fixture
def place(make_building, make_user):
    class Place:
        a, b = make_building("A栋"), make_building("B栋")
        staff = make_user(role=Role.STAFF)

    Place.resident_a = make_user(units=[Place.a.units[0]])
    return Place


def _titles(user, now=NOW, building_ids=None):
    return db.session.scalars(select(Notice.title).where(permissions.notice_scope(user, now, building_ids)).order_by(Notice.id)).all()


def _save(staff, notice=None, title="停水通知", body="周六停水。", category=NoticeCategory.NEWS, buildings=(), publish_at=EARLIER,
          expires_at=None, pinned=False, now=NOW):
    return notices.save(notice or Notice(), title=title, body=body, category=category, community_wide=not buildings, buildings=list(buildings),
                        publish_at=publish_at, expires_at=expires_at, is_pinned=pinned, actor=staff, now=now)


def _jobs():
    return db.session.scalars(select(NotifyJob).order_by(NotifyJob.id)).all()


# Formatting


def test_markdown_is_rendered_through_the_allow_list():
    html = notices.render_body("**停水**通知\n第二行\n\n- 储水\n\n[详情](https://example.com) <script>alert(1)</script>")
    assert "<strong>停水</strong>" in html and "<br" in html and "<li>储水</li>" in html
    assert 'href="https://example.com"' in html and 'rel="noopener noreferrer nofollow"' in html
    assert "<script" not in html
    assert html == ('<p><strong>停水</strong>通知<br>\n第二行</p>\n<ul>\n<li>储水</li>\n</ul>\n'
                    '<p><a href="https://example.com" rel="noopener noreferrer nofollow">详情</a> </p>')  # the script and its text gone


def test_dangerous_links_and_attributes_do_not_survive():
    html = notices.render_body('[点我](javascript:alert(1)) <img src=x onerror="alert(1)"> <a href="http://ok.example" onclick="x()">ok</a>')
    assert "javascript:" not in html and "onerror" not in html and "onclick" not in html and "<img" not in html
    # the link keeps its text without its target; the harmless link stays, without its handler
    assert html == '<p><a rel="noopener noreferrer nofollow">点我</a>  <a href="http://ok.example" rel="noopener noreferrer nofollow">ok</a></p>'


def test_stored_html_is_cleaned_again_on_the_way_out():
    out = notices.sanitized('<p onclick="x()">好</p><script>bad()</script>')
    assert isinstance(out, Markup) and out == Markup("<p>好</p>")
    assert notices.sanitized(None) == Markup("")


# Who reads what


def test_residents_read_current_community_notices_and_their_own_buildings_bulletins(place, make_notice):
    make_notice(title="全体", publish_at=EARLIER)
    make_notice(title="A栋宣传栏", buildings=[place.a], publish_at=EARLIER)
    make_notice(title="B栋宣传栏", buildings=[place.b], publish_at=EARLIER)
    make_notice(title="定时", publish_at=NOW + timedelta(minutes=1))
    make_notice(title="草稿", publish_at=None)
    make_notice(title="过期", publish_at=NOW - timedelta(days=2), expires_at=NOW)
    make_notice(title="撤回", publish_at=EARLIER, withdrawn_at=NOW - timedelta(minutes=1))
    assert _titles(place.resident_a) == ["全体", "A栋宣传栏"]
    assert _titles(AnonymousUserMixin()) == ["全体"]
    assert _titles(place.staff) == ["全体", "A栋宣传栏", "B栋宣传栏"]  # current ones, of every building


def test_can_read_follows_the_same_rules_and_the_back_office_reads_every_state(place, make_notice):
    theirs = make_notice(title="B栋宣传栏", buildings=[place.b], publish_at=EARLIER)
    mine = make_notice(title="A栋宣传栏", buildings=[place.a], publish_at=EARLIER)
    draft = make_notice(title="草稿", publish_at=None)
    public = make_notice(title="全体", publish_at=EARLIER)
    assert permissions.can_read_notice(place.resident_a, mine, NOW) and not permissions.can_read_notice(place.resident_a, theirs, NOW)
    assert not permissions.can_read_notice(place.resident_a, draft, NOW)
    assert permissions.can_read_notice(place.staff, draft, NOW) and permissions.can_read_notice(place.staff, theirs, NOW)
    assert permissions.can_read_notice(AnonymousUserMixin(), public, NOW) and not permissions.can_read_notice(AnonymousUserMixin(), mine, NOW)
    notices.withdraw(mine, "写错了", place.staff, NOW)
    assert not permissions.can_read_notice(place.resident_a, mine, NOW)


def test_a_resident_who_moves_in_sees_the_new_buildings_bulletins(place, make_notice):
    make_notice(title="B栋宣传栏", buildings=[place.b], publish_at=EARLIER)
    assert permissions.building_ids_of(place.resident_a) == (place.a.id,)
    db.session.add(Residency(user_id=place.resident_a.id, unit_id=place.b.units[0].id))
    db.session.commit()
    assert permissions.building_ids_of(place.resident_a) == tuple(sorted([place.a.id, place.b.id]))
    assert "B栋宣传栏" in _titles(place.resident_a)


def test_withdrawing_keeps_who_why_and_when(place, make_notice):
    notice = make_notice(publish_at=EARLIER)
    notices.withdraw(notice, "  时间调整  ", place.staff, NOW)
    assert (notice.withdrawn_at, notice.withdrawn_reason, notice.withdrawn_by_id) == (NOW, "时间调整", place.staff.id)
    assert notice.state(NOW) == "withdrawn"


# The board


def test_the_board_puts_pinned_notices_apart_and_pages_the_rest_newest_first(place, make_notice):
    make_notice(title="置顶", is_pinned=True, publish_at=NOW - timedelta(days=30))
    for i in range(notices.PAGE_SIZE + 5):
        make_notice(title=f"第{i}号", publish_at=NOW - timedelta(minutes=i + 1))
    pinned, page, cursor = notices.board(place.resident_a, NOW)
    assert [n.title for n in pinned] == ["置顶"]
    assert [n.title for n in page] == [f"第{i}号" for i in range(notices.PAGE_SIZE)]
    assert cursor == (page[-1].publish_at, page[-1].id)
    pinned2, rest, end = notices.board(place.resident_a, NOW, before=cursor)
    assert pinned2 == () and [n.title for n in rest] == [f"第{i}号" for i in range(notices.PAGE_SIZE, notices.PAGE_SIZE + 5)]
    assert end is None


def test_notices_published_at_the_same_moment_are_neither_lost_nor_repeated_across_pages(place, make_notice):
    for i in range(notices.PAGE_SIZE + 3):
        make_notice(title=f"同时{i}", publish_at=EARLIER)
    _pinned, first, cursor = notices.board(place.resident_a, NOW)
    _pinned, second, _end = notices.board(place.resident_a, NOW, before=cursor)
    ids = [n.id for n in (*first, *second)]
    assert len(ids) == len(set(ids)) == notices.PAGE_SIZE + 3
    assert ids == sorted(ids, reverse=True)


def test_a_cursor_survives_the_round_trip_and_a_bad_one_means_the_first_page():
    cursor = (datetime(2026, 12, 8, 1, 2, 3, 456789, tzinfo=timezone.utc), 42)
    assert notices.decode_cursor(notices.encode_cursor(cursor)) == cursor
    for bad in ("", "nonsense", "20261208T010203.456789_x", None):
        assert notices.decode_cursor(bad) is None


def test_the_first_page_changes_by_itself_when_the_next_notice_is_due(place, make_notice):
    make_notice(title="现在", publish_at=EARLIER)
    make_notice(title="稍后", publish_at=NOW + timedelta(minutes=3))
    _pinned, page, _cursor = notices.board(place.resident_a, NOW)
    assert [n.title for n in page] == ["现在"] and notices.next_change(NOW) == NOW + timedelta(minutes=3)
    _pinned, later, _cursor = notices.board(place.resident_a, NOW + timedelta(minutes=3))
    assert [n.title for n in later] == ["稍后", "现在"]
    assert notices.next_change(NOW + timedelta(minutes=3)) == NOW + timedelta(minutes=13)  # nothing scheduled: ten minutes


def test_current_emergencies_until_lifted_or_expired_for_their_buildings_only(place, make_notice):
    lifted = make_notice(title="已解除", category=NoticeCategory.EMERGENCY, publish_at=EARLIER)
    make_notice(title="B栋停电", category=NoticeCategory.EMERGENCY, buildings=[place.b], publish_at=EARLIER)
    make_notice(title="燃气泄漏", category=NoticeCategory.EMERGENCY, publish_at=EARLIER, expires_at=NOW + timedelta(hours=1))
    notices.lift(lifted, place.staff, NOW)
    db.session.commit()
    assert lifted.lifted_by_id == place.staff.id
    assert [n.title for n in notices.active_emergencies(place.resident_a, NOW)] == ["燃气泄漏"]
    assert notices.active_emergencies(place.resident_a, NOW + timedelta(hours=1)) == ()
    lobby = notices.active_emergencies(notices.BUILDING_RESIDENTS, NOW, [place.b.id])
    assert sorted(n.title for n in lobby) == ["B栋停电", "燃气泄漏"]


# Saving and telling


def test_a_new_current_notice_is_stored_rendered_and_told_to_its_audience_once(place):
    notice = _save(place.staff, title="  停水通知  ", body="**周六**停水", buildings=[place.a])
    assert notice.id and notice.title == "停水通知" and notice.author_id == place.staff.id
    assert "<strong>周六</strong>" in notice.body_html and not notice.is_community_wide and notice.buildings == [place.a]
    assert notice.mailed_at == NOW
    (job,) = _jobs()
    assert (job.kind, job.object_id, job.audience["buildings"]) == ("notice_published", notice.id, [place.a.id])
    _save(place.staff, notice=notice, title="停水通知（更正）", now=NOW + timedelta(minutes=5))
    assert len(_jobs()) == 1 and notice.title == "停水通知（更正）" and notice.is_community_wide  # an edit tells nobody again


def test_an_emergency_is_told_as_an_emergency_to_the_whole_community(place):
    notice = _save(place.staff, category=NoticeCategory.EMERGENCY, title="燃气泄漏")
    (job,) = _jobs()
    assert job.kind == "notice_emergency" and job.audience["buildings"] is None and notice.is_emergency


def test_a_scheduled_or_draft_notice_is_told_when_its_time_comes_by_the_worker(place):
    scheduled = _save(place.staff, title="定时", publish_at=NOW + timedelta(hours=1))
    _save(place.staff, title="草稿", publish_at=None)
    withdrawn = _save(place.staff, title="撤回", publish_at=NOW + timedelta(minutes=30))
    notices.withdraw(withdrawn, "取消", place.staff, NOW)
    assert _jobs() == [] and scheduled.mailed_at is None
    assert notices.publish_due(NOW + timedelta(minutes=59)) == 0
    assert notices.publish_due(NOW + timedelta(hours=1)) == 1
    assert scheduled.mailed_at == NOW + timedelta(hours=1)
    assert notices.publish_due(NOW + timedelta(hours=2)) == 0
    assert [j.object_id for j in _jobs()] == [scheduled.id]


def test_a_draft_published_by_an_edit_is_told_then(place):
    draft = _save(place.staff, publish_at=None)
    assert _jobs() == []
    _save(place.staff, notice=draft, publish_at=NOW)
    assert len(_jobs()) == 1 and draft.mailed_at == NOW


# Attachments


def test_attachments_are_checked_by_content_and_stored_once(place, app):
    first = notices.store_blob(PNG)
    again = notices.store_blob(PNG)
    assert first is again and first.mime == "image/png" and first.size == len(PNG)
    assert notices.store_blob(PDF).mime == "application/pdf"
    db.session.flush()
    assert db.session.scalar(select(func.count()).select_from(Blob)) == 2


def test_an_empty_oversized_or_disguised_file_is_refused(app):
    with pytest.raises(UploadRejected, match="empty"):
        notices.store_blob(b"")
    with pytest.raises(UploadRejected, match="larger than"):
        notices.store_blob(PNG + b"\0" * 100, limit=len(PNG))
    with pytest.raises(UploadRejected, match="images .* and PDF"):
        notices.store_blob(b"MZ\x90\x00 this is an exe named photo.png")
    with pytest.raises(UploadRejected, match="Only photos"):
        notices.store_blob(PDF, allowed={"image/png", "image/jpeg"})


def test_the_upload_limit_is_the_configured_one(app):
    app.config["UPLOAD_MAX_BYTES"] = len(PNG) - 1
    with pytest.raises(UploadRejected, match="larger than"):
        notices.store_blob(PNG)


def test_an_attachment_keeps_only_the_files_own_name(place, make_notice):
    notice = make_notice()
    assert notices.attach(notice, "C:\\Users\\wm\\停水.png", PNG).filename == "停水.png"
    assert notices.attach(notice, "../../etc/passwd.pdf", PDF).filename == "passwd.pdf"
    assert notices.attach(notice, "", PNG).filename == "file"
    assert notices.attach(notice, "dir/", PNG).filename == "file"
    db.session.commit()
    assert [a.mime for a in notice.attachments] == ["image/png", "application/pdf", "image/png", "image/png"]
