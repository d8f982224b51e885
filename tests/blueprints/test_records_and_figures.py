import re
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
    client.post("/records/new", {"kind": "coordination", "content": "周例会：讨论电梯维保", "participants": "各部门负责人"})
    bad = client.post("/records/new", {"kind": "call", "content": "x", "ticket_number": "BX-1999-0001"})
    assert bad.status_code == 422
    record = db.session.scalar(select(CommRecord).where(CommRecord.kind == RecordKind.VISIT))
    assert record.resident_id == resident.id
    page = client.get("/records/?q=漏水").get_data(as_text=True)
    assert "走访了解漏水情况" in page and "周例会" not in page
    assert "周例会" in client.get("/records/?kind=coordination").get_data(as_text=True)
    csv_text = client.get("/records/export.csv?q=漏水").get_data(as_text=True)
    assert "走访了解漏水情况" in csv_text and "周例会" not in csv_text
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
    assert first.count("卫生间漏水管已修好") == 50 and "漏了一点" not in first
    older = re.search(r'href="(/records/\?[^"]*before=\d+[^"]*)"', first).group(1).replace("&amp;", "&")
    assert "回访49" in first and "回访50" not in first and "q=" in older  # newest first by when, though filed oldest last
    second = client.get(older).get_data(as_text=True)
    assert second.count("卫生间漏水管已修好") == 5 and "回访50" in second and "回访54" in second and "回访49" not in second
    for q in ('"', "*", "NEAR(漏水", "'", "%", "x" * 300, "。", "%00"):
        assert client.get(f"/records/?q={q}").status_code == 200, q
        assert client.get(f"/records/export.csv?q={q}").status_code == 200, q


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
    app.test_cli_runner().invoke(args=["purge-expired"])
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
    assert "3 / 5" in client.get("/").get_data(as_text=True)
    head = PortalClient(client.app)
    head.login(make_user(role=Role.HEAD, department_id=dept.id))
    page = head.get("/records/outreach").get_data(as_text=True)
    assert "李娜" in page and ">3<" in page


def test_training_sessions_scores_and_history(client, make_user):
    staff = make_user(role=Role.STAFF, name="王敏")
    client.login(staff)
    client.post("/records/training", {"title": "投诉处理技巧", "topic": "problem_handling", "method": "case_study", "held_on": "2026-10-10",
                                      "trainer": "外部讲师", "attendees": str(staff.id)})
    session_row = db.session.scalar(select(TrainingSession))
    attendance = session_row.attendees[0]
    assert client.post(f"/records/training/{session_row.id}", {f"score-{attendance.id}": "101"}).status_code == 422
    client.post(f"/records/training/{session_row.id}", {f"score-{attendance.id}": "88"})
    page = client.get(f"/records/training/people/{staff.id}").get_data(as_text=True)
    assert "投诉处理技巧" in page and "88" in page


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
    on_time = _closed_ticket(resident, staff)
    late = _closed_ticket(resident, staff, late=True, rating=2)
    today = date.today()
    client.login(staff)
    page = client.get(f"/figures/?start={today - timedelta(days=30)}&end={today}").get_data(as_text=True)
    assert "50.0%" in page  # one of two on time
    link = page.split('id="figure-timeliness"')[1].split('href="')[1].split('"')[0].replace("&amp;", "&")
    late_page = client.get(link).get_data(as_text=True)
    assert late.number in late_page and on_time.number not in late_page
    committee = PortalClient(client.app)
    committee.login(make_user(role=Role.COMMITTEE))
    board = committee.get(f"/figures/?start={today - timedelta(days=30)}&end={today}").get_data(as_text=True)
    assert "50.0%" in board and "/tickets/" not in board and resident.name not in board


def test_report_pdf_holds_the_figures_in_chinese_and_the_committee_reads_only_published_reports(client, make_user, tmp_path):
    resident = make_user()
    staff = make_user(role=Role.STAFF)
    _closed_ticket(resident, staff)
    today = date.today()
    client.login(staff)
    client.post("/figures/reports", {"title": "2026年下半年服务沟通评估报告", "period_start": str(today - timedelta(days=30)),
                                     "period_end": str(today), "problems": "夜间报修响应偏慢，原因是值班人手不足。"})
    report = db.session.scalar(select(Report))
    committee = PortalClient(client.app)
    committee.login(make_user(role=Role.COMMITTEE))
    assert committee.get(f"/figures/reports/{report.id}").status_code == 404
    client.post(f"/figures/reports/{report.id}", {"action": "publish"})
    assert committee.get(f"/figures/reports/{report.id}").status_code == 200
    pdf = committee.get(f"/figures/reports/{report.id}/report.pdf")
    if shutil.which("pdftotext"):
        text = _pdf_text(pdf.data, tmp_path).replace(" ", "")
        assert "服务指标" in text and "100.0%" in text and "夜间报修响应偏慢" in text and "满意度" in text


def test_a_measure_is_verified_before_and_after_and_revised_when_missed(client, make_user):
    resident = make_user()
    staff = make_user(role=Role.STAFF)
    _closed_ticket(resident, staff, late=True)
    client.login(staff)
    today = date.today()
    client.post("/figures/measures", {"problem": "反馈超时", "goal": "按时反馈率提升到95%", "figure": "timeliness", "target": "95",
                                      "department_id": "0", "owner_id": str(staff.id), "starts_on": str(today - timedelta(days=5)),
                                      "deadline": str(today + timedelta(days=30)), "steps": "增加值班"})
    measure = db.session.scalar(select(Measure))
    client.post(f"/figures/measures/{measure.id}", {"action": "verify"})
    db.session.expire_all()
    measure = db.session.get(Measure, measure.id)
    assert measure.after_value == 0.0 and measure.status == MeasureStatus.MISSED
    client.post(f"/figures/measures/{measure.id}", {"action": "revise", "problem": "反馈超时", "goal": "再试", "figure": "timeliness",
                                                    "target": "90", "department_id": "0", "owner_id": str(staff.id),
                                                    "starts_on": str(today), "deadline": str(today + timedelta(days=60)), "steps": "x"})
    db.session.expire_all()
    revised = db.session.scalar(select(Measure).where(Measure.revision_of_id == measure.id))
    assert revised is not None and db.session.get(Measure, measure.id).status == MeasureStatus.REVISED


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
    assert "服务数据" in client.get(f"/kiosk/{screen.secret}/slides").get_data(as_text=True)


def test_a_head_sees_their_departments_figures_only(client, make_user):
    dept = Department(name="工程维修部")
    db.session.add(dept)
    db.session.commit()
    head = make_user(role=Role.HEAD, department_id=dept.id)
    client.login(head)
    page = client.get("/figures/?department=999").get_data(as_text=True)
    assert "工程维修部" in page
