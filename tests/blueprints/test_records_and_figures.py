import shutil
import subprocess
from datetime import date, timedelta

from sqlalchemy import func, select

from portal.extensions import db
from portal.models import (
    CommRecord,
    Department,
    Measure,
    MeasureStatus,
    PublishedFigures,
    RecordKind,
    Report,
    Role,
    Ticket,
    TicketStatus,
    TrainingSession,
    utcnow,
)
from portal.services import kiosk, records, settings, tickets
from tests.conftest import PortalClient
from tests.markup import element, rows_of, text_of, texts_of


def _contents(page):
    """The content column of the records register, in order."""
    return [row[4] for row in rows_of(page, "table.register tbody tr") if len(row) == 7]


def _pdf_text(data, tmp_path):
    path = tmp_path / "f.pdf"
    path.write_bytes(data)
    return subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout


def test_records_are_filed_searched_and_exported(client, make_user, tmp_path):
    staff = make_user(role=Role.STAFF, name="王敏")
    resident = make_user(phone="13800001111")
    client.login(staff)
    assert client.post("/records/new", {"kind": "visit", "place": "3号楼", "participants": "王敏、周杰", "content": "走访了解漏水情况",
                                        "result": "已约维修", "resident_phone": "13800001111"}).status_code == 302
    assert client.post("/records/new", {"kind": "coordination", "content": "周例会：讨论电梯维保", "participants": "各部门负责人"}).status_code == 302
    bad = client.post("/records/new", {"kind": "call", "content": "x", "ticket_number": "BX-1999-0001"})
    assert bad.status_code == 422 and text_of(bad, "#ticket_number-error") == "没有此编号的诉求。"
    assert db.session.scalar(select(func.count(CommRecord.id))) == 2
    record = db.session.scalar(select(CommRecord).where(CommRecord.kind == RecordKind.VISIT))
    assert record.resident_id == resident.id
    page = client.get("/records/?q=漏水").get_data(as_text=True)
    assert rows_of(page, "table.register tbody tr")[0][1:] == ["走访", "3号楼", "王敏、周杰", "走访了解漏水情况", "已约维修", "王敏"]
    assert _contents(page) == ["走访了解漏水情况"]
    assert _contents(client.get("/records/?kind=coordination")) == ["周例会：讨论电梯维保"]
    csv_text = client.get("/records/export.csv?q=漏水").get_data(as_text=True)
    import csv
    import io

    table = list(csv.reader(io.StringIO(csv_text.lstrip("\ufeff"))))
    assert len(table) == 2 and "走访了解漏水情况" in table[1] and "周例会" not in csv_text
    pdf = client.get("/records/register.pdf")
    if shutil.which("pdftotext"):
        text = _pdf_text(pdf.data, tmp_path).replace("\n", "").replace(" ", "")
        assert "沟通记录登记簿" in text and "周例会" in text and "走访" in text


def test_records_search_finds_phrases_pages_and_takes_odd_input(client, make_user):
    staff = make_user(role=Role.STAFF)
    now = utcnow()
    for i in range(55):
        records.add("call", now - timedelta(minutes=i), f"回访{i:02d}：卫生间漏水管已修好", staff, now)
    records.add("call", now, "漏了一点水管外的水", staff, now)  # 漏…水管 apart: not 漏水管
    db.session.commit()
    client.login(staff)
    first = client.get("/records/?q=漏水管").get_data(as_text=True)
    # newest first by when, though filed oldest last
    assert _contents(first) == [f"回访{i:02d}：卫生间漏水管已修好" for i in range(50)] and "漏了一点" not in first
    older = element(first, "p.more a").get("href")
    assert "q=" in older and "before=" in older
    second = client.get(older).get_data(as_text=True)
    assert _contents(second) == [f"回访{i:02d}：卫生间漏水管已修好" for i in range(50, 55)]
    for q in ('"', "*", "NEAR(漏水", "'", "%", "x" * 300, "。", "%00x"):  # NUL is removed: "x" is searched
        page = client.get(f"/records/?q={q}")
        assert page.status_code == 200 and _contents(page) == [], q  # a wildcard is a character, not "everything"
        assert client.get(f"/records/export.csv?q={q}").get_data(as_text=True).count("\n") == 1, q  # the header only


def test_records_are_for_the_back_office(client, make_user):
    for role in (Role.RESIDENT, Role.COMMITTEE, Role.WORKER):
        c = PortalClient(client.app)
        c.login(make_user(role=role))
        assert c.get("/records/").status_code == 404
        assert c.get("/records/export.csv").status_code == 404


def test_purge_removes_exactly_what_is_past_retention_keeping_legal_holds(app, make_user):
    staff = make_user(role=Role.STAFF)
    now = utcnow()
    cutoff = now - timedelta(days=365 * settings.get("records_retention_years"))
    old = records.add("call", cutoff - timedelta(seconds=1), "旧记录", staff, now)
    held = records.add("call", cutoff - timedelta(days=10), "保全记录", staff, now)
    held.legal_hold = True
    boundary = records.add("call", cutoff + timedelta(minutes=1), "刚好未过期", staff, now)
    young = records.add("call", now, "新记录", staff, now)
    resident = make_user()
    closed, _ = tickets.create(category="inquiry", channel="hotline", description="旧诉求", actor=staff, now=now, resident=resident,
                               unit=resident.residencies[0].unit)
    closed.status, closed.closed_at = TicketStatus.CLOSED, cutoff - timedelta(days=1)
    db.session.commit()
    dry = app.test_cli_runner().invoke(args=["purge-expired", "--dry-run"])
    assert dry.exit_code == 0 and f"record {old.id} " in dry.output and closed.number in dry.output
    assert f"record {held.id} " not in dry.output and f"record {boundary.id} " not in dry.output
    assert db.session.scalar(select(func.count(CommRecord.id))) == 4  # nothing removed by a dry run
    ids = (old.id, held.id, boundary.id, young.id)
    ticket_id = closed.id
    assert app.test_cli_runner().invoke(args=["purge-expired"]).exit_code == 0
    db.session.expire_all()
    remaining = set(db.session.scalars(select(CommRecord.id)))
    assert remaining == {ids[1], ids[2], ids[3]}
    assert db.session.get(Ticket, ticket_id) is None


def test_outreach_today_against_the_target_and_the_heads_week(client, make_user):
    dept = Department(name="客服中心")
    db.session.add(dept)
    db.session.commit()
    staff = make_user(role=Role.STAFF, department_id=dept.id, name="李娜")
    for _ in range(3):
        records.add("outreach_call", utcnow(), "回访", staff, utcnow())
    records.add("call", utcnow(), "来电", staff, utcnow())  # not outreach
    db.session.commit()
    client.login(staff)
    tile = element(client.get("/"), "a.tile[href='/records/outreach']")
    assert text_of(tile, "strong") == "3 / 5" and "alert" in tile.get("class").split()  # under the target
    head = PortalClient(client.app)
    head.login(make_user(role=Role.HEAD, department_id=dept.id))
    page = head.get("/records/outreach").get_data(as_text=True)
    week = {row[0]: row[1:] for row in rows_of(page, "table tbody tr")}
    from portal.i18n import to_local

    assert rows_of(page, "table thead tr")[0][-1] == f"{to_local(utcnow()):%m-%d}"  # the last column is today
    assert week["李娜"] == ["0"] * 6 + ["3"]  # the call is not outreach


def test_training_sessions_scores_and_history(client, make_user):
    staff = make_user(role=Role.STAFF, name="王敏")
    client.login(staff)
    assert client.post("/records/training", {"title": "投诉处理技巧", "topic": "problem_handling", "method": "case_study", "held_on": "2026-10-10",
                                             "trainer": "外部讲师", "attendees": str(staff.id)}).status_code == 302
    session_row = db.session.scalar(select(TrainingSession))
    attendance = session_row.attendees[0]
    assert client.post(f"/records/training/{session_row.id}", {f"score-{attendance.id}": "101"}).status_code == 422
    db.session.expire_all()
    assert db.session.get(type(attendance), attendance.id).score is None
    assert client.post(f"/records/training/{session_row.id}", {f"score-{attendance.id}": "88"}).status_code == 302
    page = client.get(f"/records/training/people/{staff.id}").get_data(as_text=True)
    assert rows_of(page, "table tbody tr") == [["2026-10-10", "投诉处理技巧", "问题处理", "案例分析", "88"]]


def _closed_ticket(resident, staff, late=False, rating=5):
    now = utcnow()
    ticket, _ = tickets.create(category="repair", channel="online", description="漏水", actor=resident, now=now - timedelta(days=2),
                               resident=resident, unit=resident.residencies[0].unit)
    ticket.resolved_at = now - timedelta(days=1)
    ticket.due_at = now - timedelta(days=1, hours=6)  # fixed, not from the working calendar: the same on any day of the week
    ticket.feedback_at = ticket.due_at + timedelta(hours=5) if late else ticket.created_at + timedelta(hours=1)
    ticket.rated_at, ticket.rating, ticket.status = now - timedelta(hours=1), rating, TicketStatus.CLOSED
    db.session.commit()
    return ticket


def test_dashboard_links_to_the_late_tickets_and_the_committee_sees_no_one(client, make_user):
    resident = make_user()
    staff = make_user(role=Role.STAFF)
    _closed_ticket(resident, staff)  # on time: not among the late
    late = _closed_ticket(resident, staff, late=True, rating=2)
    today = date.today()
    client.login(staff)
    page = client.get(f"/figures/?start={today - timedelta(days=30)}&end={today}").get_data(as_text=True)
    assert text_of(page, "#figure-timeliness strong") == "50.0%"  # one of two on time
    assert texts_of(page, "#figure-timeliness small")[0] == "2 条中有 1 条在时限内反馈结果 · 目标 90%"
    link = element(page, "#figure-timeliness a").get("href")
    late_page = client.get(link).get_data(as_text=True)
    assert texts_of(late_page, "#register-rows tbody td:first-child a") == [late.number]
    committee = PortalClient(client.app)
    committee.login(make_user(role=Role.COMMITTEE))
    board = committee.get(f"/figures/?start={today - timedelta(days=30)}&end={today}").get_data(as_text=True)
    assert text_of(board, "#figure-timeliness strong") == "50.0%" and "/tickets/" not in board and resident.name not in board


def test_report_pdf_holds_the_figures_in_chinese_and_the_committee_reads_only_published_reports(client, make_user, tmp_path):
    resident = make_user()
    staff = make_user(role=Role.STAFF)
    _closed_ticket(resident, staff)
    today = date.today()
    client.login(staff)
    assert client.post("/figures/reports", {"title": "2026年下半年服务沟通评估报告", "period_start": str(today - timedelta(days=30)),
                                            "period_end": str(today), "problems": "夜间报修响应偏慢，原因是值班人手不足。"}).status_code == 302
    report = db.session.scalar(select(Report))
    committee = PortalClient(client.app)
    committee.login(make_user(role=Role.COMMITTEE))
    assert committee.get(f"/figures/reports/{report.id}").status_code == 404
    assert client.post(f"/figures/reports/{report.id}", {"action": "publish"}).status_code == 302
    assert committee.get(f"/figures/reports/{report.id}").status_code == 200
    pdf = committee.get(f"/figures/reports/{report.id}/report.pdf")
    if shutil.which("pdftotext"):
        text = _pdf_text(pdf.data, tmp_path).replace(" ", "")
        assert "服务指标" in text and "100.0%" in text and "夜间报修响应偏慢" in text and "满意度" in text


def test_a_measure_is_verified_before_and_after_and_revised_when_missed(client, make_user):
    resident = make_user()
    staff = make_user(role=Role.STAFF)
    earlier = _closed_ticket(resident, staff)  # on time, before the measure: the figure before is 100%
    for name in ("created_at", "due_at", "feedback_at", "resolved_at", "rated_at"):
        setattr(earlier, name, getattr(earlier, name) - timedelta(days=10))
    _closed_ticket(resident, staff, late=True)  # late, while the measure runs: the figure after is 0%
    client.login(staff)
    from portal.i18n import to_local

    today = to_local(utcnow()).date()  # the community's day, as staff enter dates
    assert client.post("/figures/measures", {"problem": "反馈超时", "goal": "按时反馈率提升到95%", "figure": "timeliness", "target": "95",
                                             "department_id": "0", "owner_id": str(staff.id), "starts_on": str(today - timedelta(days=5)),
                                             "deadline": str(today + timedelta(days=30)), "steps": "增加值班"}).status_code == 302
    measure = db.session.scalar(select(Measure))
    assert (measure.before_value, measure.after_value, measure.status) == (1.0, None, MeasureStatus.PLANNED)
    assert client.post(f"/figures/measures/{measure.id}", {"action": "verify"}).status_code == 302
    db.session.expire_all()
    measure = db.session.get(Measure, measure.id)
    assert (measure.before_value, measure.after_value, measure.status) == (1.0, 0.0, MeasureStatus.MISSED)
    page = client.get(f"/figures/measures/{measure.id}")
    assert text_of(page, ".due-box p") == "改进前: 100.0% · 改进后: 0.0% · 未达标"
    assert text_of(page, "p.tags .tag-status") == "未达标"
    assert client.post(f"/figures/measures/{measure.id}", {"action": "revise", "problem": "反馈超时", "goal": "再试", "figure": "timeliness",
                                                           "target": "90", "department_id": "0", "owner_id": str(staff.id),
                                                           "starts_on": str(today), "deadline": str(today + timedelta(days=60)),
                                                           "steps": "x"}).status_code == 302
    db.session.expire_all()
    revised = db.session.scalar(select(Measure).where(Measure.revision_of_id == measure.id))
    assert revised is not None and db.session.get(Measure, measure.id).status == MeasureStatus.REVISED
    assert (revised.before_value, revised.target, revised.status) == (0.5, 0.9, MeasureStatus.PLANNED)  # both tickets now lie before it
    listed = client.get("/figures/measures")
    assert [t.rsplit(" · ", 1)[1] for t in texts_of(listed, "ul.tickets .meta")] == ["计划中", "已修订"]


def test_published_figures_reach_residents_and_the_lobby_screens(client, make_user, make_building):
    staff = make_user(role=Role.STAFF)
    client.login(staff)
    assert client.post("/figures/publish").status_code == 302
    assert db.session.scalar(select(PublishedFigures)) is not None
    resident = PortalClient(client.app)
    resident.login(make_user())
    assert resident.get("/figures/published").status_code == 200
    assert resident.get("/figures/").status_code == 404
    screen = kiosk.create(make_building("8号楼"), "大堂", "landscape", 12, 30, None, None, utcnow())
    db.session.commit()
    assert "服务数据" in text_of(client.get(f"/kiosk/{screen.secret}/slides"), ".kind-figures h1")


def test_a_head_sees_their_departments_figures_only(client, make_user):
    dept = Department(name="工程维修部")
    db.session.add(dept)
    db.session.commit()
    head = make_user(role=Role.HEAD, department_id=dept.id)
    client.login(head)
    page = client.get("/figures/?department=999").get_data(as_text=True)
    assert text_of(page, "main > p.hint") == "本部门服务指标：工程维修部"  # their own department, whatever was asked
