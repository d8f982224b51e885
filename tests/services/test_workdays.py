"""The working calendar: due times in working hours across the National Day holiday and a make-up
working Saturday, a year the package does not know, and the administrator's own year."""
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import Role, Ticket, TicketChannel, TicketEvent, utcnow
from portal.services import settings, tickets, workdays
from tests.markup import element, text_of, texts_of

SHANGHAI = timezone(timedelta(hours=8))


def at(*args):
    return datetime(*args, tzinfo=SHANGHAI)


@pytest.fixture(autouse=True)
def _app(app):
    """Every test here needs the app (settings, the entered years)."""
    return app


def test_working_hours_skip_the_national_day_week():
    # Wednesday 30 September 2026, 16:30: one working hour left that day; 1 to 7 October are holidays
    assert workdays.add_working_hours(at(2026, 9, 30, 16, 30), 3) == at(2026, 10, 8, 10, 30)
    assert workdays.working_seconds_between(at(2026, 9, 30, 16, 30), at(2026, 10, 8, 10, 30)) == 3 * 3600


def test_a_make_up_working_saturday_counts():
    assert workdays.is_workday(date(2026, 10, 10))  # 调休: Saturday is a working day
    assert not workdays.is_workday(date(2026, 10, 11))
    # Friday 9 October 17:00 + 2 working hours: half an hour on Friday, the rest on the Saturday
    assert workdays.add_working_hours(at(2026, 10, 9, 17, 0), 2) == at(2026, 10, 10, 10, 0)


def test_a_year_the_package_does_not_know_falls_back_to_weekdays_and_the_admin_hears_of_it(client, make_user):
    assert workdays.source(2027) == workdays.WEEKDAYS
    assert workdays.is_workday(date(2027, 1, 4)) and not workdays.is_workday(date(2027, 1, 2))
    client.login(make_user(role=Role.ADMIN))
    home = client.get("/admin/").get_data(as_text=True)
    assert text_of(home, "main p.flash-error:has(a[href='/admin/calendar?year=2027'])") == (
        "尚无 2027 年的工作日历：处理时限暂按周一至周五计算。 录入该年的法定节假日和调休上班日")


def test_the_administrator_enters_next_years_holidays(client, make_user):
    client.login(make_user(role=Role.ADMIN))
    bad = client.post("/admin/calendar", {"year": "2027", "days": "2027-01-01 元旦\nsoon 春节\n2026-12-31 跨年"})
    assert bad.status_code == 422 and element(bad, "textarea#days").text == "2027-01-01 元旦\nsoon 春节\n2026-12-31 跨年"  # what was typed is kept
    # each line's fault, under the one element the box names (ids are unique)
    assert texts_of(bad, "#days-error p.error") == ["第 2 行不是 2027 年的日期：soon 春节", "第 3 行不是 2027 年的日期：2026-12-31 跨年"]
    assert element(bad, "textarea#days").get("aria-describedby") == "days-error"
    assert workdays.source(2027) == workdays.WEEKDAYS
    good = client.post("/admin/calendar", {"year": "2027", "days": "2027-01-01 元旦\n2027-02-06 春节\n2027-02-07 补班\n"})
    assert good.status_code == 302
    assert workdays.source(2027) == workdays.ENTERED
    assert not workdays.is_workday(date(2027, 1, 1)) and workdays.is_workday(date(2027, 2, 7)) and workdays.is_workday(date(2027, 1, 4))
    assert element(client.get("/admin/calendar?year=2027"), "textarea#days").text.splitlines() == ["2027-01-01 元旦", "2027-02-06 春节", "2027-02-07 补班"]
    assert client.get("/admin/calendar?year=99999").status_code == 404


def test_ordinary_due_times_use_the_working_clock_and_emergencies_the_wall_clock(make_user):
    resident = make_user()
    settings.update({"due_hours.repair.normal": 9, "due_hours.repair.urgent": 2}, None)
    db.session.commit()
    ordinary, _ = tickets.create(category="repair", channel="online", description="门锁坏了", actor=resident, now=at(2026, 9, 30, 17, 0),
                                 resident=resident, unit=resident.residencies[0].unit)
    urgent, _ = tickets.create(category="repair", channel="online", description="燃气味", actor=resident, now=at(2026, 9, 30, 17, 0),
                               resident=resident, unit=resident.residencies[0].unit, is_urgent=True)
    db.session.commit()
    assert ordinary.due_at == at(2026, 10, 8, 17, 0)  # half an hour on 30 September, eight and a half on 8 October
    assert urgent.due_at == at(2026, 9, 30, 19, 0)


def test_the_resident_sees_the_due_date_and_time(client, make_user):
    resident = make_user()
    client.login(resident)
    response = client.post("/tickets/new", {"category": "inquiry", "unit_id": str(resident.residencies[0].unit_id), "description": "停车费多少？"},
                           follow_redirects=True)
    ticket = db.session.scalar(select(Ticket))
    due = ticket.due_at.astimezone(SHANGHAI).strftime("%Y/%m/%d %H:%M")
    assert text_of(response, ".due-box time") == due
    assert texts_of(response, "main .flash-success") == [f"已登记，编号 {ticket.number}。我们将于 {due} 前答复您。"]


def test_a_12345_work_order_keeps_its_number_deadline_and_reply(client, make_user):
    staff = make_user(role=Role.STAFF)
    client.login(staff)
    form = {"channel": "hotline_12345", "caller_name": "市民热线转办", "category": "complaint", "description": "反映小区噪音", "unit_id": "0"}
    missing = client.post("/tickets/new", form)
    assert missing.status_code == 422 and element(missing, "textarea#description").text == "反映小区噪音"
    assert text_of(missing, "#gov_order_number-error") == "12345 工单须填写工单编号。"
    form["gov_order_number"] = "HZ20261204-0001"
    assert client.post("/tickets/new", form).status_code == 302
    ticket = db.session.scalar(select(Ticket))
    assert ticket.channel == TicketChannel.GOV_HOTLINE and ticket.gov_order_number == "HZ20261204-0001"
    assert ticket.gov_reply_due_at == workdays.add_working_hours(ticket.created_at, settings.get("gov_reply_hours"))
    numbers = "#register-rows tbody td:first-child"
    assert texts_of(client.get("/tickets/?q=HZ20261204-0001"), numbers) == [f"{ticket.number} 12345 HZ20261204-0001"]
    assert texts_of(client.get("/tickets/?channel=hotline_12345&unreplied=y"), numbers) == [f"{ticket.number} 12345 HZ20261204-0001"]
    home = client.get("/").get_data(as_text=True)
    assert text_of(home, "a.tile[href*='unreplied=y']") == "1 条 12345 工单待回复"
    assert client.post(f"/tickets/{ticket.id}/gov-reply", {"text": "已约谈商户，噪音已停止。"}).status_code == 302
    db.session.refresh(ticket)
    assert ticket.gov_replied_at is not None and ticket.gov_reply == "已约谈商户，噪音已停止。"
    assert texts_of(client.get("/tickets/?channel=hotline_12345&unreplied=y"), "#register-rows tbody td:first-child a") == []


def test_a_12345_work_order_past_the_hotlines_deadline_escalates_like_an_emergency(make_user):
    from portal.models import Department, Page

    dept = Department(name="客服中心")
    db.session.add(dept)
    db.session.commit()
    staff = make_user(role=Role.STAFF, name="王敏", department_id=dept.id, phone="13900000001")
    head = make_user(role=Role.HEAD, name="负责人", department_id=dept.id, phone="13900000002")
    ticket, _ = tickets.create(category="complaint", channel="hotline_12345", description="噪音", actor=staff, now=utcnow(),
                               caller_name="12345", gov_order_number="HZ-1")
    tickets.transfer(ticket, dept, [], staff, utcnow())
    db.session.commit()
    late = ticket.gov_reply_due_at + timedelta(minutes=1)
    tickets.escalate(late)
    db.session.commit()
    assert ticket.page_reason == "gov_overdue" and ticket.next_page_at is not None
    assert [p.user_id for p in db.session.scalars(select(Page).where(Page.ticket_id == ticket.id))] == [head.id]
    escalated = db.session.scalar(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id, TicketEvent.data["reason"].as_string() == "gov_overdue"))
    assert escalated is not None
    tickets.escalate(late + timedelta(hours=1))  # once
    db.session.commit()
    assert db.session.query(TicketEvent).filter(TicketEvent.kind == "escalated").count() == 1
    tickets.gov_reply(ticket, "已回复", staff, late + timedelta(minutes=30))
    db.session.commit()
    assert ticket.next_page_at is None


@pytest.mark.parametrize("start, hours, due", [
    (at(2026, 12, 4, 20, 0), 1, at(2026, 12, 7, 9, 30)),  # Friday evening: Monday morning
    (at(2026, 12, 7, 7, 0), 9, at(2026, 12, 7, 17, 30)),  # before the day starts: the whole day
    (at(2026, 12, 7, 12, 0), 0, at(2026, 12, 7, 12, 0)),
])
def test_working_time_additions(start, hours, due):
    assert workdays.add_working_hours(start, hours) == due
