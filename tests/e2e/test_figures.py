"""A head opens the dashboard for a half year, follows the timeliness figure to the late tickets,
and downloads the evaluation report as a PDF whose text holds the figures in Chinese."""
import shutil
import subprocess
from datetime import datetime, timedelta

import pytest

from portal.extensions import db
from portal.i18n import from_local, to_local
from portal.models import Department, FigureKey, Ticket, TicketCategory, TicketChannel, TicketDepartment, TicketStatus, User, utcnow
from portal.services import figures
from tests.e2e.conftest import sign_in

pytestmark = pytest.mark.e2e


def _tickets(app):
    with app.app_context():
        engineering = db.session.query(Department).filter_by(name="工程维修部").one()
        resident = db.session.query(User).filter_by(phone="13800000001").one()
        start_day, _ = figures.half_year_before(to_local(utcnow()).date())
        base = from_local(datetime.combine(start_day, datetime.min.time())) + timedelta(days=20)
        numbers = []
        for i, late in enumerate((False, False, True)):
            created = base + timedelta(days=i)
            ticket = Ticket(number=f"BX-{created.year}-9{i:03d}", category=TicketCategory.REPAIR, channel=TicketChannel.ONLINE,
                            status=TicketStatus.CLOSED, description=f"第{i}号报修", resident_id=resident.id, caller_name=resident.name,
                            lead_department_id=engineering.id, created_at=created, due_at=created + timedelta(hours=24),
                            resolved_at=created + timedelta(hours=20), rated_at=created + timedelta(hours=40), rating=4,
                            feedback_at=created + timedelta(hours=30 if late else 10),
                            departments=[TicketDepartment(department_id=engineering.id, is_lead=True)])
            db.session.add(ticket)
            numbers.append(ticket.number)
        db.session.commit()
        return numbers


@pytest.mark.skipif(not shutil.which("pdftotext"), reason="pdftotext not installed")
def test_head_follows_timeliness_to_late_tickets_and_downloads_the_report(browser, live, tmp_path):
    on_time_a, on_time_b, late = _tickets(live.app)
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    page = context.new_page()
    sign_in(page, live.url, "gongcheng")
    page.goto(f"{live.url}/figures/")  # the current half year to date
    page.click("#preset-2")  # the previous half year, one tap away
    page.wait_for_load_state()
    with live.app.app_context():  # the department's figure over the demo's history and these three
        engineering = db.session.query(Department).filter_by(name="工程维修部").one()
        result, _ = figures.compute(*figures.period(*figures.half_year_before(to_local(utcnow()).date())), department=engineering.id)
    tile = page.locator("#figure-timeliness")
    late_count = result[FigureKey.TIMELINESS].extra["late"]
    assert tile.locator("strong").inner_text() == f"{result[FigureKey.TIMELINESS].percent}%" and late_count >= 1
    assert tile.locator("a").inner_text() == f"{late_count} 条超时诉求"
    tile.locator("a").click()
    page.wait_for_load_state()
    shown = page.locator("#register-rows tbody td:first-child a").all_inner_texts()
    assert late in shown and on_time_a not in shown and on_time_b not in shown and len(shown) == min(late_count, 30)

    page.goto(f"{live.url}/figures/reports")
    page.fill("input[name=title]", "下半年服务沟通评估报告")
    page.fill("textarea[name=problems]", "个别报修反馈超时，原因是配件等待。")
    page.locator("form button.primary").click()
    page.wait_for_url("**/figures/reports/*")
    link = page.locator('a[href$="/report.pdf"]')
    response = page.request.get(live.url + link.get_attribute("href"))
    assert response.status == 200
    path = tmp_path / "report.pdf"
    path.write_bytes(response.body())
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout.replace(" ", "")
    assert "服务指标" in text and "66.7%" in text and "个别报修反馈超时" in text and "满意度" in text
    context.close()
