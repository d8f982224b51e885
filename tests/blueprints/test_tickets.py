import re
import shutil
import subprocess
from io import BytesIO

import pytest
from sqlalchemy import event, func, insert, select

from portal.extensions import db
from portal.models import Department, EventKind, Role, Ticket, TicketCategory, TicketChannel, TicketStatus, utcnow
from portal.services import tickets
from tests.blueprints.test_notices import PNG
from tests.conftest import PortalClient
from tests.markup import element, elements, options_of, text_of, texts_of


@pytest.fixture
def dept():
    d = Department(name="工程维修部")
    db.session.add(d)
    db.session.commit()
    return d


@pytest.fixture
def other_dept():
    d = Department(name="秩序维护部")
    db.session.add(d)
    db.session.commit()
    return d


def _file(resident, client, **kw):
    data = {
        "category": "repair",
        "unit_id": str(resident.residencies[0].unit_id),
        "description": "卫生间天花板漏水",
        "preferred_visit": "工作日晚上",
        "idempotency_key": kw.pop("key", "key-1"),
    }
    data.update(kw)
    return client.post("/tickets/new", data, content_type="multipart/form-data")


def _register_numbers(page):
    """The ticket numbers the register's rows show, in order."""
    return texts_of(page, "#register-rows tbody td:first-child a")


def _mine_links(page):
    """The tickets a resident's list links to, in order."""
    return [a.get("href") for a in elements(page, "#ticket-list li.ticket a")]


def _ticket(resident, category="repair", text="卫生间漏水"):
    ticket, _ = tickets.create(
        category=category, channel=TicketChannel.ONLINE, description=text, actor=resident, now=utcnow(),
        resident=resident, unit=resident.residencies[0].unit,
    )
    db.session.commit()
    return ticket


def test_resident_files_a_repair_with_a_photo_and_sees_it_with_its_due_time(client, make_user):
    resident = make_user()
    client.login(resident)
    response = _file(resident, client, photos=(BytesIO(PNG), "漏水.png"))
    assert response.status_code == 302
    ticket = db.session.scalar(select(Ticket))
    assert ticket.number.startswith("BX-") and ticket.channel == TicketChannel.ONLINE and len(ticket.photos) == 1
    assert ticket.preferred_visit == "工作日晚上" and ticket.building_id == resident.residencies[0].unit.building_id
    page = client.get(f"/tickets/{ticket.id}").get_data(as_text=True)
    from portal.i18n import to_local

    assert text_of(page, "h1") == ticket.number and text_of(page, ".ticket-head p.text") == "卫生间天花板漏水"
    assert text_of(page, ".due-box time") == to_local(ticket.due_at).strftime("%Y/%m/%d %H:%M")  # when the answer is due
    assert texts_of(page, ".photos a") == ["漏水.png"]
    mine = client.get("/tickets/")
    assert texts_of(mine, "#ticket-list .title") == ["卫生间天花板漏水"]
    assert text_of(mine, "#ticket-list .meta").startswith(f"{ticket.number} · ")
    photo = client.get(f"/tickets/photos/{ticket.photos[0].id}")
    assert photo.status_code == 200 and photo.data == PNG and photo.headers["Content-Disposition"].startswith("attachment")


def test_a_form_submitted_twice_creates_one_ticket(client, make_user):
    resident = make_user()
    client.login(resident)
    _file(resident, client)
    _file(resident, client)
    assert db.session.scalar(select(func.count(Ticket.id))) == 1


def test_a_photo_that_is_not_an_image_is_refused_and_nothing_typed_is_lost(client, make_user):
    resident = make_user()
    client.login(resident)
    response = _file(resident, client, description="描述不能丢", photos=(BytesIO(b"MZ\x90\x00 not an image"), "x.jpg"))
    assert response.status_code == 422
    assert element(response, "textarea#description").text == "描述不能丢"
    assert text_of(response, "#photos-error") == "只能上传照片（PNG、JPEG、GIF、WebP、HEIC）作为附件。"
    assert db.session.scalar(select(func.count(Ticket.id))) == 0


def test_an_empty_description_is_explained_in_chinese(client, make_user):
    resident = make_user()
    client.login(resident)
    response = _file(resident, client, description="")
    assert response.status_code == 422 and text_of(response, "#description-error") == "请描述具体情况。"


def test_a_forged_unit_is_refused(client, make_user, make_building):
    resident = make_user()
    other = make_building()
    client.login(resident)
    response = _file(resident, client, unit_id=str(other.units[0].id))
    assert response.status_code == 422  # not one of the choices offered: the form says so
    assert options_of(response, "#unit_id") == [(str(resident.residencies[0].unit_id), f"{resident.residencies[0].unit.building.name} 1-101")]
    assert text_of(response, "#unit_id-error") == "不是有效的选择。"
    assert db.session.scalar(select(func.count(Ticket.id))) == 0


def test_resident_reaches_only_their_own_tickets_through_every_door(client, make_user, make_client):
    owner = make_user()
    ticket = _ticket(owner, "complaint")
    tickets.add_photo(ticket, "p.png", PNG)
    staff = make_user(role=Role.STAFF)
    tickets.resolve(ticket, "已处理", staff, utcnow())
    tickets.formal_reply(ticket, "答复内容", staff, utcnow())
    tickets.feedback(ticket, "written", staff, utcnow())
    db.session.commit()
    client.login(make_user())
    for url in (f"/tickets/{ticket.id}", f"/tickets/photos/{ticket.photos[0].id}", f"/tickets/{ticket.id}/reply.pdf",
                f"/tickets/{ticket.id}/slip.pdf", "/tickets/export.csv"):
        assert client.get(url).status_code == 404, url
    for action in ("rate", "message", "progress", "transfer", "resolve", "feedback", "callback"):
        assert client.post(f"/tickets/{ticket.id}/{action}", {"rating": "5", "resolved": "yes", "body": "x"}).status_code == 404, action
    assert _mine_links(client.get("/tickets/")) == [] and ticket.number not in client.get("/tickets/").get_data(as_text=True)
    assert client.get(f"/tickets/{ticket.id}", headers={"HX-Request": "true"}).status_code == 404


def test_a_head_sees_only_the_departments_queue(client, make_user, dept, other_dept):
    resident = make_user()
    staff = make_user(role=Role.STAFF)
    mine, theirs = _ticket(resident, text="我们部门的"), _ticket(resident, text="别的部门的")
    tickets.transfer(mine, dept, [], staff, utcnow())
    tickets.transfer(theirs, other_dept, [], staff, utcnow())
    db.session.commit()
    client.login(make_user(role=Role.HEAD, department_id=dept.id))
    page = client.get("/tickets/").get_data(as_text=True)
    assert _register_numbers(page) == [mine.number]
    assert client.get(f"/tickets/{theirs.id}").status_code == 404
    assert client.post(f"/tickets/{theirs.id}/progress", {"body": "x"}).status_code == 404
    assert client.get(f"/tickets/{theirs.id}/slip.pdf").status_code == 404
    csv_text = client.get("/tickets/export.csv").get_data(as_text=True)
    assert mine.number in csv_text and theirs.number not in csv_text
    # a co-department sees it too
    tickets.transfer(theirs, other_dept, [dept], staff, utcnow())
    db.session.commit()
    assert client.get(f"/tickets/{theirs.id}").status_code == 200


def test_head_posts_progress_with_an_expected_date_that_the_resident_sees_but_not_internal_notes(client, make_user, dept, make_client):
    resident = make_user()
    ticket = _ticket(resident)
    tickets.transfer(ticket, dept, [], make_user(role=Role.STAFF), utcnow())
    db.session.commit()
    head = make_client()
    head.login(make_user(role=Role.HEAD, department_id=dept.id))
    assert head.post(f"/tickets/{ticket.id}/progress", {"body": "明天上门", "expected_completion": "2026-12-01"}).status_code == 302
    assert head.post(f"/tickets/{ticket.id}/note", {"body": "内部备注不给住户看"}).status_code == 302
    assert texts_of(head.get(f"/tickets/{ticket.id}"), ".timeline li.internal p.text") == ["内部备注不给住户看"]
    client.login(resident)
    page = client.get(f"/tickets/{ticket.id}").get_data(as_text=True)
    assert texts_of(page, ".timeline li.kind-progress p") [1:] == ["预计完成: 2026-12-01", "明天上门"]
    assert text_of(page, ".due-box p:last-child") == "预计完成: 2026-12-01"
    assert "内部备注不给住户看" not in page and not elements(page, ".timeline li.internal")


def test_staff_take_a_hotline_call_for_a_registered_resident_or_an_unregistered_caller(client, make_user):
    resident = make_user(name="欧阳锋", phone="13911112222")
    client.login(make_user(role=Role.STAFF))
    make_user(name="令狐冲", phone="13722223333", units=[resident.residencies[0].unit.building.units[1]])  # matches none of the queries
    for q in ("1391111", "欧阳", resident.residencies[0].unit.number):
        found = client.get(f"/tickets/residents?q={q}", headers={"HX-Request": "true"})
        assert [(a.text, a.get("href")) for a in elements(found, "#lookup-results li a")] == [("欧阳锋", f"/tickets/new?resident_id={resident.id}")], q
    client.post("/tickets/new", {"channel": "hotline", "resident_id": str(resident.id), "category": "inquiry",
                                 "description": "物业费怎么交", "unit_id": "0", "idempotency_key": "h1"})
    client.post("/tickets/new", {"channel": "walk_in", "caller_name": "路人甲", "caller_phone": "13700000000", "caller_unit": "3号楼",
                                 "category": "complaint", "description": "门口乱停车", "unit_id": "0", "idempotency_key": "h2"})
    rows = db.session.scalars(select(Ticket).order_by(Ticket.id)).all()
    assert [(t.channel, t.resident_id, t.caller_name) for t in rows] == [
        (TicketChannel.HOTLINE, resident.id, "欧阳锋"),
        (TicketChannel.WALK_IN, None, "路人甲"),
    ]
    assert rows[0].unit_id == resident.residencies[0].unit_id  # the resident's only unit


def test_an_unregistered_caller_needs_a_name(client, make_user):
    client.login(make_user(role=Role.STAFF))
    response = client.post("/tickets/new", {"channel": "hotline", "category": "inquiry", "description": "问", "unit_id": "0"})
    assert response.status_code == 422 and element(response, "textarea#description").text == "问"
    assert text_of(response, "#caller_name-error") == "请选择已登记住户，或填写来电/来访人姓名。"
    assert db.session.scalar(select(func.count(Ticket.id))) == 0


def test_a_worker_relays_and_sees_only_what_they_relayed(client, make_user):
    worker = make_user(role=Role.WORKER)
    other = _ticket(make_user(), text="别人的诉求")
    client.login(worker)
    client.post("/tickets/new", {"caller_name": "5号楼住户", "category": "complaint", "description": "垃圾桶满了", "unit_id": "0",
                                 "channel": "hotline", "idempotency_key": "w1"})
    relayed = db.session.scalar(select(Ticket).where(Ticket.created_by_id == worker.id))
    assert relayed.channel == TicketChannel.RELAYED
    assert client.get(f"/tickets/{relayed.id}").status_code == 200
    assert client.get(f"/tickets/{other.id}").status_code == 404


def test_committee_sees_no_tickets(client, make_user):
    ticket = _ticket(make_user())
    client.login(make_user(role=Role.COMMITTEE))
    assert client.get("/tickets/").status_code == 404
    assert client.get(f"/tickets/{ticket.id}").status_code == 404


def test_a_rating_is_recorded_only_by_a_submitted_form(client, make_user):
    resident = make_user()
    staff = make_user(role=Role.STAFF)
    ticket = _ticket(resident)
    tickets.resolve(ticket, "好了", staff, utcnow())
    tickets.feedback(ticket, "phone", staff, utcnow())
    db.session.commit()
    client.login(resident)
    assert client.get(f"/tickets/{ticket.id}/rate?rating=5&resolved=yes").status_code == 405
    assert client.post(f"/tickets/{ticket.id}/rate", {"rating": "9", "resolved": "yes"}).status_code == 422
    db.session.expire_all()
    assert db.session.get(Ticket, ticket.id).rating is None
    assert client.post(f"/tickets/{ticket.id}/rate", {"rating": "4", "resolved": "yes", "comment": "不错"}).status_code == 302
    db.session.expire_all()
    rated = db.session.get(Ticket, ticket.id)
    assert (rated.status, rated.rating, rated.rating_comment) == (TicketStatus.CLOSED, 4, "不错")


def test_search_finds_two_chinese_characters_numbers_and_phones_and_pages_by_keyset(client, make_user):
    resident = make_user(phone="13812345678")
    rows = [_ticket(resident, text=f"第{i}户厨房漏水严重" if i % 2 else f"第{i}户灯不亮") for i in range(70)]
    client.login(make_user(role=Role.STAFF))
    page = client.get("/tickets/?q=漏水").get_data(as_text=True)
    found = _register_numbers(page)
    assert found == [t.number for t in reversed(rows) if "漏水" in t.description][:30]  # newest first
    assert all(int(n[-4:]) % 2 == 0 for n in found)  # odd i → even numbers (i + 1)
    next_url = element(page, "#register-rows p.more a").get("href")
    assert "before=" in next_url
    second = _register_numbers(client.get(next_url))
    assert second == [t.number for t in reversed(rows) if "漏水" in t.description][30:]
    assert len(second) == 5
    assert _register_numbers(client.get(f"/tickets/?q={rows[7].number}")) == [rows[7].number]
    assert _register_numbers(client.get("/tickets/?q=13812345678")) == [t.number for t in reversed(rows)][:30]


def test_register_filters_and_csv(client, make_user, dept):
    resident = make_user()
    staff = make_user(role=Role.STAFF)
    a = _ticket(resident, "complaint", "噪音")
    b = _ticket(resident, "repair", "漏水")
    tickets.transfer(b, dept, [], staff, utcnow())
    db.session.commit()
    client.login(staff)
    assert _register_numbers(client.get("/tickets/?category=complaint")) == [a.number]
    assert _register_numbers(client.get(f"/tickets/?department={dept.id}")) == [b.number]
    assert _register_numbers(client.get("/tickets/?status=assigned&channel=online")) == [b.number]
    bogus = client.get("/tickets/?status=bogus&since=notadate")
    assert bogus.status_code == 200 and _register_numbers(bogus) == [b.number, a.number]  # filters it cannot read are left out
    response = client.get("/tickets/export.csv?category=complaint")
    text = response.get_data(as_text=True)
    assert response.headers["Content-Type"].startswith("text/csv") and text.startswith("\ufeff")
    import csv
    import io

    table = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert len(table) == 2 and table[1][0] == a.number and table[1][-1] == "噪音"  # the number first, what happened last


def test_register_fragment_for_htmx(client, make_user):
    _ticket(make_user())
    client.login(make_user(role=Role.STAFF))
    response = client.get("/tickets/", headers={"HX-Request": "true"})
    assert "<html" not in response.get_data(as_text=True) and "HX-Request" in response.headers["Vary"]


def test_overdue_filter(client, make_user):
    from datetime import timedelta

    resident = make_user()
    late = _ticket(resident, text="迟了")
    late.due_at = utcnow() - timedelta(hours=1)
    fresh = _ticket(resident, text="还早")
    db.session.commit()
    client.login(make_user(role=Role.STAFF))
    page = client.get("/tickets/?overdue=y").get_data(as_text=True)
    assert _register_numbers(page) == [late.number]
    assert texts_of(page, "#register-rows tr.overdue strong.late") == ["已超时"]


needs_pdftotext = pytest.mark.skipif(not shutil.which("pdftotext"), reason="pdftotext not installed")


def _pdf_text(data, tmp_path):
    path = tmp_path / "t.pdf"
    path.write_bytes(data)
    return subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout.replace(" ", "")


@needs_pdftotext
def test_transfer_slip_emergency_slip_and_formal_reply_pdfs(client, make_user, dept, tmp_path):
    resident = make_user()
    staff = make_user(role=Role.STAFF, name="王敏")
    urgent, _ = tickets.create(category="repair", channel="hotline", description="地下车库进水", actor=staff, now=utcnow(),
                               resident=resident, unit=resident.residencies[0].unit, is_urgent=True)
    tickets.record_call(urgent, "张强 13900000003", utcnow(), staff, utcnow())
    tickets.transfer(urgent, dept, [], staff, utcnow())
    complaint = _ticket(resident, "complaint", "夜间噪音")
    tickets.transfer(complaint, dept, [], staff, utcnow())
    tickets.resolve(complaint, "已整改", staff, utcnow())
    db.session.commit()
    client.login(staff)
    slip = _pdf_text(client.get(f"/tickets/{urgent.id}/slip.pdf").data, tmp_path)
    assert "信息传递单" in slip and urgent.number in slip and "工程维修部" in slip and "地下车库进水" in slip
    emergency = _pdf_text(client.get(f"/tickets/{urgent.id}/emergency.pdf").data, tmp_path)
    assert "紧急信息处理单" in emergency and "张强" in emergency and "30分钟" in emergency
    assert client.post(f"/tickets/{complaint.id}/formal-reply", {"text": "经核查，商铺已承诺停止夜间施工。"}).status_code == 302
    client.logout()
    client.login(resident)
    reply = client.get(f"/tickets/{complaint.id}/reply.pdf")
    assert reply.status_code == 200
    text = _pdf_text(reply.data, tmp_path)
    assert "书面答复" in text and complaint.number in text and "经核查，商铺已承诺停止夜间施工。" in text and "工程维修部" in text and "签章" in text


def test_emergency_page_shows_the_on_duty_phone_and_the_response_clock(client, make_user, dept):
    from portal.services import settings

    staff = make_user(role=Role.STAFF)
    settings.update({settings.duty_phone_key(dept.id): "13900009999"}, staff)
    resident = make_user()
    urgent, _ = tickets.create(category="repair", channel="hotline", description="燃气味", actor=staff, now=utcnow(),
                               resident=resident, unit=resident.residencies[0].unit, is_urgent=True)
    tickets.transfer(urgent, dept, [], staff, utcnow())
    db.session.commit()
    client.login(staff)
    page = client.get(f"/tickets/{urgent.id}").get_data(as_text=True)
    assert text_of(page, "#emergency h2") == "紧急 · 30 分钟内响应"
    assert text_of(page, "#emergency a[href='tel:13900009999']") == "13900009999"
    assert element(page, "#emergency p time").get("datetime") == urgent.response_due_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    before = utcnow()
    assert client.post(f"/tickets/{urgent.id}/call", {"to_whom": "张强", "called_at": ""}).status_code == 302
    db.session.expire_all()
    called = db.session.get(Ticket, urgent.id)
    assert before <= called.responded_at <= utcnow() and called.acknowledged_at == called.responded_at
    assert called.events[-1].kind == EventKind.CALLED and called.events[-1].body == "张强"


def test_the_resident_can_reply_on_their_ticket(client, make_user):
    resident = make_user()
    ticket = _ticket(resident)
    client.login(resident)
    assert client.post(f"/tickets/{ticket.id}/message", {"body": "我周末在家"}).status_code == 302
    db.session.expire_all()
    last = db.session.get(Ticket, ticket.id).events[-1]
    assert (last.kind, last.body, last.actor_id) == (EventKind.RESIDENT_REPLY, "我周末在家", resident.id)


def test_step_errors_keep_the_input_and_explain(client, make_user):
    ticket = _ticket(make_user(), "complaint")
    client.login(make_user(role=Role.STAFF))
    client.post(f"/tickets/{ticket.id}/resolve", {"result": "已处理"})
    response = client.post(f"/tickets/{ticket.id}/feedback", {"method": "phone"})
    assert response.status_code == 422
    assert text_of(response, ".flash-error[role=status]") == "投诉须先出具书面答复，才能反馈处理结果。"


def _count(app, fn):
    statements = []
    listener = lambda *a: a[2].startswith(("BEGIN", "SAVEPOINT", "RELEASE")) or statements.append(a[2])  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        fn()
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    return len(statements)


def _bulk_tickets(resident, n, start):
    now = utcnow()
    db.session.execute(insert(Ticket), [
        {"number": f"BX-2099-{start + i:05d}", "category": TicketCategory.REPAIR, "channel": TicketChannel.ONLINE,
         "status": TicketStatus.NEW, "is_urgent": False, "description": "漏水", "preferred_visit": "", "resident_id": resident.id,
         "caller_name": resident.name, "caller_phone": "", "caller_unit": "", "building_id": resident.residencies[0].unit.building_id,
         "hold_reason": "", "result": "", "feedback_method": "", "rating_comment": "", "reopened_count": 0, "reclassified_count": 0,
         "created_at": now, "due_at": now}
        for i in range(n)
    ])
    from portal import cache

    cache.bump(cache.TICKETS)  # a Core insert bypasses the ORM hook, as the demo seeder's does
    cache.bump(cache.resident_tickets_key(resident.id))
    db.session.commit()


def test_register_and_resident_list_statement_counts_do_not_grow_with_tickets(app, make_user):
    resident = make_user()
    staff_client, resident_client = PortalClient(app), PortalClient(app)
    staff_client.login(make_user(role=Role.STAFF))
    resident_client.login(resident)

    def counts():
        from portal import cache

        cache.clear()
        assert staff_client.get("/tickets/").status_code == resident_client.get("/tickets/").status_code == 200
        cache.clear()
        cold = _count(app, lambda: staff_client.get("/tickets/")), _count(app, lambda: resident_client.get("/tickets/"))
        warm = _count(app, lambda: staff_client.get("/tickets/")), _count(app, lambda: resident_client.get("/tickets/"))
        return cold, warm

    _bulk_tickets(resident, 50, 0)
    small = counts()
    _bulk_tickets(resident, 2000, 50)
    assert counts() == small
    (cold_staff, cold_resident), (warm_staff, warm_resident) = small
    assert cold_staff <= 12 and cold_resident <= 12
    assert warm_staff == 1 and warm_resident == 1  # the kept page: only the cache versions


# Search (portal/search.py) narrows the register each person already sees


def _rows(client, url):
    """The list's rows only (the htmx fragment): the page around them repeats the query in its links."""
    return client.get(url, headers={"HX-Request": "true"}).get_data(as_text=True)


def test_a_resident_never_finds_another_residents_ticket_and_it_stays_404(client, make_user):
    alice, bob = make_user(phone="13811110001"), make_user(phone="13811110002")
    mine, theirs = _ticket(alice, text="厨房漏水"), _ticket(bob, text="厨房漏水")
    client.login(alice)
    for q in ("漏水", theirs.number, "13811110002", bob.name):
        # a resident's own list (it has no search box: whatever the query, their own tickets only)
        assert _mine_links(_rows(client, f"/tickets/?q={q}")) == [f"/tickets/{mine.id}"], q
    assert client.get(f"/tickets/{theirs.id}").status_code == 404
    for q in ("漏水", theirs.number, "13811110002"):
        found = db.session.scalars(tickets.register_query(alice, {"q": q}, utcnow())).all()
        assert theirs not in found, q
    assert db.session.scalars(tickets.register_query(alice, {"q": "漏水"}, utcnow())).all() == [mine]


def test_a_head_finds_only_the_departments_tickets(client, make_user, dept, other_dept):
    resident, staff = make_user(), make_user(role=Role.STAFF)
    mine, theirs = _ticket(resident, text="楼顶漏水"), _ticket(resident, text="楼顶漏水")
    tickets.transfer(mine, dept, [], staff, utcnow())
    tickets.transfer(theirs, other_dept, [], staff, utcnow())
    db.session.commit()
    client.login(make_user(role=Role.HEAD, department_id=dept.id))
    assert _register_numbers(_rows(client, "/tickets/?q=漏水")) == [mine.number]
    assert _register_numbers(_rows(client, f"/tickets/?q={mine.number}")) == [mine.number]
    assert _register_numbers(_rows(client, f"/tickets/?q={theirs.number}")) == []
    csv_text = client.get("/tickets/export.csv?q=漏水").get_data(as_text=True)
    assert mine.number in csv_text and theirs.number not in csv_text


def test_register_search_combines_with_filters_and_keeps_the_query_when_paging(client, make_user, dept):
    resident = make_user()
    complaints = [_ticket(resident, "complaint", f"第{i}次投诉楼下噪音") for i in range(33)]
    _ticket(resident, "repair", "楼下噪音很大")  # a repair: filtered out by category
    _ticket(resident, "complaint", "垃圾没人清理")  # no match
    client.login(make_user(role=Role.STAFF))
    first = client.get("/tickets/?q=噪音&category=complaint").get_data(as_text=True)
    numbers = _register_numbers(first)
    assert numbers == [t.number for t in reversed(complaints)][:30] and not re.search(r"BX-\d{4}-\d{4}", first)
    next_url = element(first, "#register-rows p.more a").get("href")
    assert "q=%E5%99%AA%E9%9F%B3" in next_url and "category=complaint" in next_url and "before=" in next_url
    second = _register_numbers(client.get(next_url))
    assert second == [t.number for t in reversed(complaints)][30:]


FINDS = ("(漏水", "漏水%00")  # the word with punctuation or a NUL around it; "漏水 OR" wants both words


@pytest.mark.parametrize("q", ['"', "*", "(漏水", "NEAR", "漏水 OR", "'", "%", "_", "\\", "x" * 300, "。", "%00x", "漏水%00"])
def test_odd_queries_give_a_normal_register_page(client, make_user, q):
    ticket = _ticket(make_user(), text="厨房漏水")
    client.login(make_user(role=Role.STAFF))
    page = client.get(f"/tickets/?q={q}")
    # and a wildcard (%, _, *) is a character, never "everything"
    assert page.status_code == 200 and _register_numbers(page) == ([ticket.number] if q in FINDS else [])
    exported = client.get(f"/tickets/export.csv?q={q}")
    assert exported.status_code == 200 and exported.get_data(as_text=True).startswith("\ufeff编号,")


def test_register_search_statement_count_does_not_grow_with_matches(app, make_user):
    from portal import cache, search

    resident = make_user()
    staff_client = PortalClient(app)
    staff_client.login(make_user(role=Role.STAFF))

    def counts():
        cache.clear()
        assert staff_client.get("/tickets/?q=漏水").status_code == 200
        cache.clear()
        cold = _count(app, lambda: staff_client.get("/tickets/?q=漏水"))
        warm = _count(app, lambda: staff_client.get("/tickets/?q=漏水"))
        return cold, warm

    _bulk_tickets(resident, 50, 0)
    search.reindex(Ticket)
    db.session.commit()
    assert len(re.findall(r"BX-2099-\d{5}", staff_client.get("/tickets/?q=漏水").get_data(as_text=True))) == 30
    small = counts()
    _bulk_tickets(resident, 2000, 50)
    search.reindex(Ticket)
    db.session.commit()
    assert counts() == small
    cold, warm = small
    assert cold <= 12 and warm == 1  # the searched page is kept like the register's own


def test_a_reclassified_ticket_shows_its_new_number_and_is_found_by_the_old(client, make_user):
    resident = make_user()
    ticket = _ticket(resident, category="inquiry", text="物业费为什么涨了")
    old = ticket.number
    client.login(make_user(role=Role.STAFF))
    assert client.post(f"/tickets/{ticket.id}/classify", {"category": "complaint"}).status_code == 302
    db.session.expire_all()
    ticket = db.session.get(Ticket, ticket.id)
    assert ticket.number.startswith("TS-") and old.startswith("ZX-")
    page = client.get(f"/tickets/{ticket.id}").get_data(as_text=True)
    assert re.search(rf"<h1>{ticket.number}</h1>\s*<p class=\"meta\">原编号 {old}</p>", page)
    assert f"{old} → {ticket.number}" in page  # on the timeline
    assert _register_numbers(_rows(client, f"/tickets/?q={old}")) == [ticket.number]


def test_the_staff_ticket_page_offers_the_next_step_first_and_the_rest_under_more(client, make_user):
    resident = make_user()
    ticket = _ticket(resident)
    client.login(make_user(role=Role.STAFF))

    def names(forms):
        return [next(c[len("step-"):] for c in f.get("class").split() if c.startswith("step-")) for f in forms]

    def steps(page=None):
        page = page or client.get(f"/tickets/{ticket.id}")
        return names(elements(page, "#steps > form.action-form")), names(elements(page, "#steps details.more-steps form.action-form"))

    first, more = steps()
    assert first == ["transfer"] and more == ["progress", "classify", "urgency", "note", "hold", "resolve"]
    assert "feedback" not in more and "callback" not in more  # not before a result
    assert text_of(client.get(f"/tickets/{ticket.id}"), "#steps details.more-steps > summary") == "更多操作"
    tickets.resolve(ticket, "已更换水管", make_user(role=Role.STAFF), utcnow())
    db.session.commit()
    first, more = steps()
    assert first == ["feedback"] and more == ["note"]  # neither resolve nor transfer once resolved
    # a form sent with an error comes back first, with what was typed
    page = client.post(f"/tickets/{ticket.id}/note", {"body": ""})
    assert page.status_code == 422 and steps(page) == (["note"], ["feedback"])
    assert text_of(page, "#note-body-error") == "请填写备注内容。"
    first, more = steps()
    assert first == ["feedback"]  # and on the next visit the order is the state's again
