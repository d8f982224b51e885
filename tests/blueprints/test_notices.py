import re
from datetime import timedelta

import pytest
from sqlalchemy import event, func, insert, select

from portal.extensions import db
from portal.models import Channel, Delivery, Notice, NoticeCategory, Role, Ticket, TicketChannel, utcnow
from portal.services import tickets
from tests.conftest import PortalClient
from tests.markup import element, elements, text_of, texts_of

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7\x35\x81\x84\x00\x00\x00\x00IEND\xaeB`\x82"
)


@pytest.fixture
def two_buildings(make_building, make_user):
    a, b = make_building("1号楼"), make_building("2号楼")
    return a, b, make_user(building=a), make_user(building=b)


def test_resident_sees_community_notices_and_only_their_own_buildings_bulletins(client, two_buildings, make_notice):
    a, b, alice, _ = two_buildings
    make_notice(title="全体业主通知")
    make_notice(title="一号楼宣传栏", buildings=[a])
    make_notice(title="二号楼宣传栏", buildings=[b])
    client.login(alice)
    page = client.get("/notices/").get_data(as_text=True)
    assert texts_of(page, "#notice-list .title") == ["一号楼宣传栏", "全体业主通知"]  # newest first
    assert "二号楼宣传栏" not in page


def test_resident_cannot_open_another_buildings_bulletin(client, two_buildings, make_notice):
    a, b, alice, _ = two_buildings
    other = make_notice(title="二号楼宣传栏", buildings=[b])
    client.login(alice)
    assert client.get(f"/notices/{other.id}").status_code == 404
    assert client.get(f"/notices/{other.id}/poster.pdf").status_code == 404
    response = client.post(f"/notices/{other.id}/questions", {"body": "能看到吗"})
    assert response.status_code == 404


@pytest.mark.parametrize(
    "state",
    [
        dict(publish_at=None),
        dict(publish_at=utcnow() + timedelta(days=1)),
        dict(expires_at=utcnow() - timedelta(minutes=1)),
        dict(withdrawn_at=utcnow(), withdrawn_reason="发错了"),
    ],
    ids=["draft", "scheduled", "expired", "withdrawn"],
)
def test_resident_sees_only_published_unexpired_notices(client, make_user, make_notice, state):
    resident = make_user()
    notice = make_notice(title="不该看到的公告", **state)
    make_notice(title="看得到的公告", publish_at=utcnow() - timedelta(days=2))
    client.login(resident)
    page = client.get("/notices/").get_data(as_text=True)
    assert texts_of(page, "#notice-list .title") == ["看得到的公告"] and "不该看到的公告" not in page
    assert client.get(f"/notices/{notice.id}").status_code == 404


def test_pinned_first_then_newest_first(client, make_user, make_notice):
    resident = make_user()
    now = utcnow()
    make_notice(title="旧公告", publish_at=now - timedelta(days=3))
    make_notice(title="新公告", publish_at=now - timedelta(days=1))
    make_notice(title="置顶公告", publish_at=now - timedelta(days=9), is_pinned=True)
    client.login(resident)
    page = client.get("/notices/").get_data(as_text=True)
    assert texts_of(page, "#notice-list .title") == ["置顶公告", "新公告", "旧公告"]
    assert texts_of(page, "#notice-list li.pinned .title") == ["置顶公告"]


def test_new_since_last_visit_mark(client, make_user, make_notice):
    resident = make_user()
    resident.notices_seen_at = utcnow() - timedelta(hours=1)
    db.session.commit()
    make_notice(title="早先的", publish_at=utcnow() - timedelta(hours=2))
    make_notice(title="刚发布的", publish_at=utcnow() - timedelta(minutes=1))
    client.login(resident)
    page = client.get("/notices/").get_data(as_text=True)
    new_items = re.findall(r'tag-new">[^<]*</span>\s*</span>\s*<span class="title">([^<]+)<', page)
    assert new_items == ["刚发布的"]
    upto = re.search(r'hx-post="/notices/seen"[^>]*hx-vals=\'\{"upto": "([^"]+)"\}\'', page).group(1)
    assert client.post("/notices/seen", {"upto": upto}).status_code == 204  # the page says it was seen
    again = client.get("/notices/").get_data(as_text=True)
    assert "tag-new" not in again and texts_of(again, "#notice-list .title") == ["刚发布的", "早先的"]


def test_board_pages_by_keyset(client, make_user, make_notice):
    resident = make_user()
    author = make_user(role=Role.STAFF)
    now = utcnow()
    for i in range(25):
        make_notice(title=f"公告{i:02d}号", publish_at=now - timedelta(minutes=i + 1), author=author)
    client.login(resident)
    first = client.get("/notices/").get_data(as_text=True)
    assert texts_of(first, "#notice-list .title") == [f"公告{i:02d}号" for i in range(20)]
    cursor = re.search(r'href="/notices/\?before=([^"]+)"', first).group(1)
    second = client.get(f"/notices/?before={cursor}").get_data(as_text=True)
    assert texts_of(second, "#notice-list .title") == [f"公告{i:02d}号" for i in range(20, 25)]
    assert not elements(second, "#notice-more")
    garbage = client.get("/notices/?before=garbage")
    assert garbage.status_code == 200 and texts_of(garbage, "#notice-list .title") == [f"公告{i:02d}号" for i in range(20)]


def test_board_fragment_for_htmx_has_no_layout_and_varies(client, make_user, make_notice):
    make_notice()
    client.login(make_user())
    response = client.get("/notices/", headers={"HX-Request": "true"})
    assert "<html" not in response.get_data(as_text=True)
    assert "HX-Request" in response.headers["Vary"]
    boosted = client.get("/notices/", headers={"HX-Request": "true", "HX-Boosted": "true"})
    assert "<html" in boosted.get_data(as_text=True)


def _notice_form(**kw):
    data = {
        "title": "电梯维修通知",
        "body": "明天 **9点** 维修。",
        "category": "maintenance",
        "community_wide": "y",
        "publish_at": "",
        "expires_at": "",
        "action": "publish",
    }
    data.update(kw)
    return data


EMAILS = select(Delivery).where(Delivery.channel == Channel.EMAIL).order_by(Delivery.id)
EMAIL_TO = select(Delivery.address).where(Delivery.channel == Channel.EMAIL).order_by(Delivery.id)


def test_staff_publish_a_notice_and_email_copies_go_to_the_outbox(client, make_user, make_building, fan_out):
    building = make_building()
    staff = make_user(role=Role.STAFF)
    wants_all = make_user(building=building, email="all@example.com")
    make_user(building=building, email="emerg@example.com", channels={"notices": "wechat"})  # emergencies only
    make_user(building=building, email="none@example.com", channels={"notices": "", "emergencies": "sms"})  # no email
    make_user(building=building)  # no email address
    client.login(staff)
    response = client.post("/notices/new", _notice_form())
    assert response.status_code == 302
    notice = db.session.scalar(select(Notice))
    assert notice.body_html == "<p>明天 <strong>9点</strong> 维修。</p>"
    assert fan_out() == 4  # the worker tells the building's four residents
    mails = db.session.scalars(EMAILS).all()
    assert [m.address for m in mails] == [wants_all.email]
    assert mails[0].subject == "【公告】 电梯维修通知"
    assert "400-800-1234" in mails[0].body and "客服中心" in mails[0].body


def test_emergency_notice_reaches_emergency_only_subscribers(client, make_user, make_building, fan_out):
    building = make_building()
    client.login(make_user(role=Role.STAFF))
    make_user(building=building, email="all@example.com")
    make_user(building=building, email="emerg@example.com", channels={"notices": "wechat"})
    client.post("/notices/new", _notice_form(category="emergency", title="燃气泄漏紧急通知"))
    fan_out()
    assert sorted(db.session.scalars(EMAIL_TO)) == ["all@example.com", "emerg@example.com"]
    assert [m.subject for m in db.session.scalars(EMAILS)] == ["【紧急通知】 燃气泄漏紧急通知"] * 2


def test_bulletin_emails_only_that_buildings_residents(client, make_user, make_building, fan_out):
    a, b = make_building(), make_building()
    make_user(building=a, email="a@example.com")
    make_user(building=b, email="b@example.com")
    client.login(make_user(role=Role.STAFF))
    client.post("/notices/new", _notice_form(community_wide="", buildings=str(a.id)))
    fan_out()
    assert list(db.session.scalars(EMAIL_TO)) == ["a@example.com"]


def test_scheduled_notice_is_mailed_by_the_worker_when_its_time_comes(client, app, make_user, make_notice):
    make_user(email="r@example.com")
    notice_id = make_notice(publish_at=utcnow() - timedelta(seconds=1)).id
    count = select(func.count(Delivery.id)).where(Delivery.channel == Channel.EMAIL)
    assert db.session.scalar(count) == 0
    result = app.test_cli_runner().invoke(args=["worker", "--once"])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert db.session.scalar(count) == 1
    assert db.session.get(Notice, notice_id).mailed_at is not None
    app.test_cli_runner().invoke(args=["worker", "--once"])
    assert db.session.scalar(count) == 1  # exactly once


def test_bad_notice_form_keeps_what_was_typed_and_explains_in_chinese(client, make_user):
    client.login(make_user(role=Role.STAFF))
    response = client.post(
        "/notices/new",
        _notice_form(title="", body="这段正文不能丢", publish_at="2026-05-02T10:00", expires_at="2026-05-01T10:00"),
    )
    assert response.status_code == 422
    assert element(response, "textarea#body").text == "这段正文不能丢"
    assert element(response, "input#publish_at").get("value") == "2026-05-02T10:00"
    assert text_of(response, "#title-error") == "请输入标题。"  # errors in Chinese, on their fields
    assert text_of(response, "#expires_at-error") == "过期时间必须晚于发布时间。"
    assert db.session.scalar(select(func.count(Notice.id))) == 0


def test_notice_must_name_its_audience(client, make_user):
    client.login(make_user(role=Role.STAFF))
    response = client.post("/notices/new", _notice_form(community_wide=""))
    assert response.status_code == 422
    assert text_of(response, "#buildings-error") == "请选择全小区，或至少选择一栋楼。"
    assert db.session.scalar(select(func.count(Notice.id))) == 0


def test_scheduling_and_draft(client, make_user):
    client.login(make_user(role=Role.STAFF))
    assert client.post("/notices/new", _notice_form(title="草稿", action="draft")).status_code == 302
    assert client.post("/notices/new", _notice_form(title="定时", publish_at="2099-01-01T08:00")).status_code == 302
    draft = db.session.scalar(select(Notice).where(Notice.title == "草稿"))
    scheduled = db.session.scalar(select(Notice).where(Notice.title == "定时"))
    assert draft.publish_at is None
    assert scheduled.publish_at.isoformat() == "2099-01-01T00:00:00+00:00"  # 08:00 in Shanghai
    assert scheduled.mailed_at is None


def test_withdraw_keeps_the_reason(client, make_user, make_notice):
    notice = make_notice()
    client.login(make_user(role=Role.STAFF))
    refused = client.post(f"/notices/{notice.id}/withdraw", {"reason": ""})  # the notice's page again, the error under the field
    assert refused.status_code == 422
    assert text_of(refused, "#reason-error") == "请填写原因。"
    db.session.expire_all()
    assert db.session.get(Notice, notice.id).withdrawn_at is None
    assert client.post(f"/notices/{notice.id}/withdraw", {"reason": "时间有误"}).status_code == 302
    db.session.expire_all()
    withdrawn = db.session.get(Notice, notice.id)
    assert withdrawn.withdrawn_reason == "时间有误" and withdrawn.withdrawn_at is not None


def test_emergency_banner_on_every_page_until_lifted(client, make_user, make_notice, make_client):
    resident = make_user()
    notice = make_notice(title="燃气泄漏", category=NoticeCategory.EMERGENCY)
    client.login(resident)
    for url in ("/notices/", "/account/", f"/notices/{notice.id}"):
        page = client.get(url).get_data(as_text=True)
        banner = re.search(r'<div class="emergency-banner" role="alert" id="emergency-\d+">(.*?)</div>', page, re.S)
        assert banner and "燃气泄漏" in banner.group(1), url  # the banner itself, not its escaped text
    staff = make_client()
    staff.login(make_user(role=Role.STAFF))
    assert staff.post(f"/notices/{notice.id}/lift").status_code == 302
    after = client.get("/notices/")
    assert "emergency-banner" not in after.get_data(as_text=True) and texts_of(after, "#notice-list .title") == ["燃气泄漏"]


def test_expired_emergency_puts_up_no_banner(client, make_user, make_notice):
    make_notice(title="过期的紧急通知", category=NoticeCategory.EMERGENCY, expires_at=utcnow() - timedelta(seconds=1))
    live = make_notice(title="现行的紧急通知", category=NoticeCategory.EMERGENCY)
    client.login(make_user())
    assert texts_of(client.get("/notices/"), ".emergency-banner a") == ["现行的紧急通知"]
    live.lifted_at = utcnow()
    db.session.commit()
    assert "emergency-banner" not in client.get("/notices/").get_data(as_text=True)


def test_another_buildings_emergency_is_not_shown(client, two_buildings, make_notice):
    a, b, alice, _ = two_buildings
    make_notice(title="二号楼停电", category=NoticeCategory.EMERGENCY, buildings=[b])
    make_notice(title="一号楼停电", category=NoticeCategory.EMERGENCY, buildings=[a])
    client.login(alice)
    page = client.get("/notices/")
    assert texts_of(page, ".emergency-banner a") == ["一号楼停电"] and "二号楼停电" not in page.get_data(as_text=True)


def test_question_and_answer_in_place(client, make_user, make_notice, make_client):
    resident = make_user()
    notice = make_notice()
    client.login(resident)
    response = client.post(f"/notices/{notice.id}/questions", {"body": "地下车库也停水吗？"}, headers={"HX-Request": "true"})
    assert response.status_code == 200 and "<html" not in response.get_data(as_text=True)
    question = db.session.scalar(select(Ticket))
    assert question.channel == TicketChannel.NOTICE_QUESTION and question.number.startswith("ZX-")
    staff = make_client()
    staff.login(make_user(role=Role.STAFF))
    answered = staff.post(f"/notices/questions/{question.id}/answer", {"answer": "车库不停水。"}, headers={"HX-Request": "true"})
    body = answered.get_data(as_text=True)
    assert answered.status_code == 200 and "<html" not in body
    assert text_of(body, f"#question-{question.id} .answer p.text") == "车库不停水。"
    assert "HX-Request" in answered.headers["Vary"]
    # the resident sees it: on the notice page, and in the polled fragment
    shown = client.get(f"/notices/{notice.id}")
    assert text_of(shown, f"#question-{question.id} > p.text") == "地下车库也停水吗？"
    assert text_of(shown, f"#question-{question.id} .answer p.text") == "车库不停水。"
    fragment = client.get(f"/notices/questions/{question.id}", headers={"HX-Request": "true"})
    assert text_of(fragment, f"#question-{question.id} .answer p.text") == "车库不停水。" and "<html" not in fragment.get_data(as_text=True)


def _ask(notice, user, body):
    question, _ = tickets.ask_on_notice(notice, user, body, utcnow())
    db.session.commit()
    return question


def test_a_question_sent_twice_is_registered_once(client, make_user, make_notice):
    notice = make_notice()
    client.login(make_user())
    for _ in range(2):
        client.post(f"/notices/{notice.id}/questions", {"body": "重复提交", "idempotency_key": "k-123"})
    assert db.session.scalar(select(func.count(Ticket.id))) == 1


def test_answer_without_javascript_redirects_back_to_the_notice(client, make_user, make_notice):
    notice = make_notice()
    question = _ask(notice, make_user(), "问")
    client.login(make_user(role=Role.STAFF))
    response = client.post(f"/notices/questions/{question.id}/answer", {"answer": "答"})
    assert response.status_code == 302 and f"/notices/{notice.id}" in response.headers["Location"]


def test_resident_cannot_see_another_residents_question(client, make_user, make_notice):
    notice = make_notice()
    other = make_user()
    question = _ask(notice, other, "别人的问题")
    me = make_user()
    mine = _ask(notice, me, "我的问题")
    client.login(me)
    page = client.get(f"/notices/{notice.id}")
    assert texts_of(page, ".question > p.text") == ["我的问题"] and element(page, f"#question-{mine.id}") is not None
    assert "别人的问题" not in page.get_data(as_text=True)
    assert client.get(f"/notices/questions/{question.id}").status_code == 404


@pytest.mark.parametrize("role", [Role.RESIDENT, Role.WORKER, Role.COMMITTEE])
def test_only_notice_editors_write_answer_or_withdraw(client, make_user, make_notice, role):
    notice = make_notice()
    question = _ask(notice, make_user(), "问")
    client.login(make_user(role=role))
    assert client.get("/notices/new").status_code == 404
    assert client.get("/notices/manage").status_code == 404
    assert client.post(f"/notices/{notice.id}/withdraw", {"reason": "x"}).status_code == 404
    assert client.post(f"/notices/questions/{question.id}/answer", {"answer": "x"}).status_code == 404
    assert client.post(f"/notices/{notice.id}/lift").status_code == 404


def test_signed_out_visitor_is_sent_to_login(client, make_notice):
    notice = make_notice()
    response = client.get(f"/notices/{notice.id}")
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]


def test_attachments_checked_by_content_stored_once_and_served_as_downloads(client, make_user, make_notice, app):
    notice = make_notice()
    client.login(make_user(role=Role.STAFF))
    from io import BytesIO

    client.post(f"/notices/{notice.id}/attachments", {"files": (BytesIO(PNG), "图.png")}, content_type="multipart/form-data")
    client.post(f"/notices/{notice.id}/attachments", {"files": (BytesIO(PNG), "again.png")}, content_type="multipart/form-data")
    fake = client.post(
        f"/notices/{notice.id}/attachments",
        {"files": (BytesIO(b"<script>alert(1)</script>"), "evil.png")},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    # the rejection explains what is allowed
    assert text_of(fake, ".flash-error") == "evil.png: 只能上传图片（PNG、JPEG、GIF、WebP）和 PDF 文件作为附件。"
    from portal.models import Attachment, Blob

    assert db.session.scalar(select(func.count(Attachment.id))) == 2
    assert db.session.scalar(select(func.count(Blob.sha256))) == 1
    attachment = db.session.scalars(select(Attachment)).first()
    resident = PortalClient(app)
    resident.login(make_user())
    download = resident.get(f"/notices/attachments/{attachment.id}")
    assert download.status_code == 200 and download.data == PNG
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    assert download.headers.getlist("Content-Security-Policy") == ["default-src 'none'; sandbox"]  # its own, not the pages'


def test_oversized_attachment_is_refused_with_a_clear_message(client, make_user, make_notice, app):
    app.config["UPLOAD_MAX_BYTES"] = 1000
    notice = make_notice()
    client.login(make_user(role=Role.STAFF))
    from io import BytesIO

    big = PNG + b"\0" * 2000
    response = client.post(
        f"/notices/{notice.id}/attachments", {"files": (BytesIO(big), "big.png")}, content_type="multipart/form-data", follow_redirects=True
    )
    assert text_of(response, ".flash-error") == "big.png: 文件超过 0.0 MB。"


def test_attachment_of_another_buildings_bulletin_is_404(client, two_buildings, make_notice):
    a, b, alice, _ = two_buildings
    notice = make_notice(buildings=[b])
    from portal.services import notices as svc

    svc.attach(notice, "x.png", PNG)
    db.session.commit()
    client.login(alice)
    assert client.get(f"/notices/attachments/{notice.attachments[0].id}").status_code == 404


def _count_statements(app, fn):
    statements = []

    def before(conn, cursor, statement, *args):
        if not statement.startswith(("BEGIN", "SAVEPOINT", "RELEASE", "ROLLBACK")):
            statements.append(statement)

    engine = db.engine
    event.listen(engine, "before_cursor_execute", before)
    try:
        fn()
    finally:
        event.remove(engine, "before_cursor_execute", before)
    return statements


def _bulk_notices(n, author_id, start):
    now = utcnow()
    db.session.execute(
        insert(Notice),
        [
            {
                "title": f"批量公告{start + i}",
                "body": "",
                "body_html": "<p>x</p>",
                "category": NoticeCategory.NEWS,
                "is_community_wide": True,
                "publish_at": now - timedelta(minutes=start + i + 1),
                "is_pinned": (start + i) % 50 == 0,
                "withdrawn_reason": "",
                "author_id": author_id,
                "created_at": now,
                "updated_at": now,
            }
            for i in range(n)
        ],
    )
    from portal import cache

    cache.bump(cache.NOTICES)  # a Core insert bypasses the ORM hook, as the demo seeder's does
    db.session.commit()


def test_board_statement_count_is_the_same_for_100_and_10000_notices(client, app, make_user):
    from portal import cache

    resident = make_user()
    author = make_user(role=Role.STAFF)
    client.login(resident)

    def measure():
        assert client.get("/notices/").status_code == 200  # marks what is new as seen
        cache.clear()
        cold = _count_statements(app, lambda: client.get("/notices/"))
        warm = _count_statements(app, lambda: client.get("/notices/"))
        return len(cold), len(warm)

    _bulk_notices(100, author.id, 0)
    small = measure()
    _bulk_notices(9900, author.id, 100)
    large = measure()
    assert small == large
    cold, warm = small
    assert cold <= 9  # versions, session, buildings, settings, pinned, page, emergencies, next changes
    assert warm == 1  # only the cache versions: everything else is cached until something changes


def test_cached_board_page_carries_each_browsers_own_csrf_token_and_role(app, make_user, make_building, make_notice):
    building = make_building()
    make_notice(title="共享的公告")
    first, second = PortalClient(app), PortalClient(app)
    first.login(make_user(building=building))
    second.login(make_user(building=building))
    pages = [c.get("/notices/").get_data(as_text=True) for c in (first, second, first, second)]
    tokens = [re.search(r'"X-CSRFToken": "([^"]+)"', p).group(1) for p in pages]
    assert tokens[0] != tokens[1]
    assert "csrf-" not in pages[2] and "<!--items-" not in pages[2]
    # each token works for its own browser
    assert first.post("/language", {"lang": "en", "next": "/", "csrf_token": tokens[2]}).status_code == 302
    assert second.post("/language", {"lang": "en", "next": "/", "csrf_token": tokens[0]}).status_code == 400
    staff = PortalClient(app)
    staff.login(make_user(role=Role.STAFF))
    assert "/notices/manage" in staff.get("/notices/").get_data(as_text=True)
    assert "/notices/manage" not in first.get("/notices/").get_data(as_text=True)


def test_board_shows_a_flash_message_after_a_redirect(client, make_user, make_notice):
    client.login(make_user())
    client.get("/notices/")
    with client.http.session_transaction() as session:
        session["_flashes"] = [("success", "已保存的提示")]
    assert texts_of(client.get("/notices/"), "main .flash-success") == ["已保存的提示"]


# Searching the board (portal/search.py): what the board would show, narrowed


def _items(client, url):
    """The list only (the htmx fragment): the page around it repeats the query in its links."""
    return client.get(url, headers={"HX-Request": "true"}).get_data(as_text=True)


def test_board_has_a_search_box_that_works_without_javascript(client, make_user, make_notice):
    make_notice(title="停水通知", body="周六水箱清洗")
    make_notice(title="电梯年检", body="下周检验")
    client.login(make_user())
    board = client.get("/notices/").get_data(as_text=True)
    assert re.search(r'<form method="get" action="/notices/"[^>]*role="search"', board)
    assert element(board, "form[role=search] input#notice-q").get("name") == "q"
    page = client.get("/notices/?q=水箱").get_data(as_text=True)
    assert texts_of(page, "#notice-list .title") == ["停水通知"] and element(page, "input#notice-q").get("value") == "水箱"


def test_board_search_finds_only_what_the_resident_may_read(client, two_buildings, make_notice):
    a, b, alice, _ = two_buildings
    make_notice(title="全体消防通道检查")
    make_notice(title="一号楼消防通道清理", buildings=[a])
    make_notice(title="二号楼消防通道清理", buildings=[b])
    make_notice(title="过期的消防通道通知", expires_at=utcnow() - timedelta(minutes=1))
    make_notice(title="撤回的消防通道通知", withdrawn_at=utcnow(), withdrawn_reason="发错了")
    make_notice(title="未来的消防通道通知", publish_at=utcnow() + timedelta(days=1))
    make_notice(title="置顶的消防通道提醒", is_pinned=True)
    client.login(alice)
    found = re.findall(r'<span class="title">([^<]+)<', _items(client, "/notices/?q=消防通道"))
    assert sorted(found) == sorted(["全体消防通道检查", "一号楼消防通道清理", "置顶的消防通道提醒"])


def test_board_search_pages_by_the_boards_keyset_and_keeps_the_query(client, make_user, make_notice):
    author = make_user(role=Role.STAFF)
    now = utcnow()
    for i in range(25):
        make_notice(title=f"停水通知{i:02d}号", body="请储水", publish_at=now - timedelta(minutes=i + 1), author=author)
        make_notice(title=f"电梯通知{i:02d}号", body="请错峰", publish_at=now - timedelta(minutes=i + 1), author=author)
    client.login(make_user())
    first = _items(client, "/notices/?q=停水")
    assert texts_of(first, "#notice-list .title") == [f"停水通知{i:02d}号" for i in range(20)]
    older = element(first, "#notice-more a").get("href")
    assert "q=%E5%81%9C%E6%B0%B4" in older and "before=" in older
    second = _items(client, older)
    assert texts_of(second, "#notice-list .title") == [f"停水通知{i:02d}号" for i in range(20, 25)]
    garbage = client.get("/notices/?q=停水&before=garbage")
    assert garbage.status_code == 200 and texts_of(garbage, "#notice-list .title") == [f"停水通知{i:02d}号" for i in range(20)]


def test_board_search_fragment_for_htmx_has_no_layout_and_varies(client, make_user, make_notice):
    make_notice(title="停水通知")
    client.login(make_user())
    response = client.get("/notices/?q=停水", headers={"HX-Request": "true"})
    assert "<html" not in response.get_data(as_text=True) and 'id="notice-list"' in response.get_data(as_text=True)
    assert "HX-Request" in response.headers["Vary"]


def test_board_search_leaves_the_new_marks_for_the_board(client, make_user, make_notice):
    resident = make_user()
    seen = utcnow() - timedelta(hours=1)
    resident.notices_seen_at = seen
    db.session.commit()
    make_notice(title="刚发布的停水通知", publish_at=utcnow() - timedelta(minutes=1))
    client.login(resident)
    assert texts_of(_items(client, "/notices/?q=停水"), "#notice-list li:has(.tag-new) .title") == ["刚发布的停水通知"]
    db.session.expire_all()
    assert db.session.get(type(resident), resident.id).notices_seen_at == seen
    assert "tag-new" in client.get("/notices/").get_data(as_text=True)


@pytest.mark.parametrize("q", ['"', "*", "NEAR(停水", "'", "%", "\\", "x" * 300, "。！", "%00x"])
def test_odd_board_searches_give_a_normal_page(client, make_user, make_notice, q):
    make_notice(title="停水通知")
    client.login(make_user())
    response = client.get(f"/notices/?q={q}")
    assert response.status_code == 200 and texts_of(response, "#notice-list .title") == []
    assert text_of(_items(client, f"/notices/?q={q}"), "#notice-list p.empty") == "没有符合搜索条件的公告。"
    assert ("查询条件含有控制字符，已将其删除。" in response.get_data(as_text=True)) == ("%00" in q)  # searched for "x"


def test_board_search_statement_count_is_the_same_for_100_and_5000_matching_notices(client, app, make_user):
    from portal import search

    author = make_user(role=Role.STAFF)
    client.login(make_user())

    def measure():
        from portal import cache

        client.get("/notices/")  # marks what is new as seen
        assert len(texts_of(client.get("/notices/?q=批量公告"), "#notice-list .title")) == 20
        cache.clear()
        cold = _count_statements(app, lambda: client.get("/notices/?q=批量公告"))
        warm = _count_statements(app, lambda: client.get("/notices/?q=批量公告"))
        older = re.search(r'href="(/notices/\?[^"]+)"', _items(client, "/notices/?q=批量公告")).group(1).replace("&amp;", "&")
        return len(cold), len(warm), len(_count_statements(app, lambda: client.get(older)))

    _bulk_notices(100, author.id, 0)
    search.reindex(Notice)
    db.session.commit()
    small = measure()
    _bulk_notices(4900, author.id, 100)
    search.reindex(Notice)
    db.session.commit()
    assert measure() == small
    cold, warm, older = small
    assert warm == older == 2  # the cache versions, and the search's page
