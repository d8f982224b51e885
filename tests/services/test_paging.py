"""Emergencies reach a person: the duty rota, paging until acknowledged (with the clock moving),
the one-tap link, urgency changes, the honest call record and the emergency response figure."""
import threading
from datetime import date, datetime, time, timedelta, timezone

import pytest
import time_machine
from sqlalchemy import func, select

from portal.database import unit_of_work
from portal.extensions import db
from portal.models import Channel, Delivery, DeliveryStatus, Department, EventKind, Page, Role, User
from portal.services import duty, paging, settings, tickets
from portal.services.tickets import TicketError
from tests.markup import rows_of, text_of, texts_of

SHANGHAI = timezone(timedelta(hours=8))
T0 = datetime(2026, 12, 8, 3, 0, tzinfo=SHANGHAI)  # 03:00 on a Tuesday night


@pytest.fixture
def crew(make_user):
    """工程维修部 with a night shift held by 张强 (deputy 李师傅), and the duty manager 陈立."""
    engineering, desk = Department(name="工程维修部"), Department(name="客服中心")
    db.session.add_all([engineering, desk])
    db.session.commit()

    class Crew:
        dept = engineering
        head = make_user(role=Role.HEAD, name="张强", department_id=engineering.id, phone="13900000003", wecom_userid="ZhangQiang")
        deputy = make_user(role=Role.WORKER, name="李师傅", department_id=engineering.id, phone="13900000007", wecom_userid="LiShifu")
        manager = make_user(role=Role.ADMIN, name="陈立", phone="13900000009", wecom_userid="ChenLi")
        kefu = make_user(role=Role.STAFF, name="王敏", department_id=desk.id, phone="13900000001", wecom_userid="WangMin")
        resident = make_user(name="周杰", sms_consent_at=T0)

    for department, primary, deputy in ((engineering, Crew.head, Crew.deputy), (desk, Crew.kefu, None), (None, Crew.manager, None)):
        day = duty.add_shift(department, "白班", time(8), time(20))
        night = duty.add_shift(department, "夜班", time(20), time(8))
        for weekday in range(7):
            duty.set_pattern(day, weekday, primary, deputy)
            duty.set_pattern(night, weekday, primary, deputy)
    settings.update({"route.repair": engineering.id, "desk_department": desk.id}, None)
    db.session.commit()
    return Crew


def _emergency(crew, now=T0, transfer=True):
    ticket, _ = tickets.create(category="repair", channel="hotline", description="3号楼电梯困人", actor=crew.kefu, now=now,
                               resident=crew.resident, unit=crew.resident.residencies[0].unit, is_urgent=True)
    if transfer:
        tickets.transfer(ticket, crew.dept, [], crew.kefu, now)
    db.session.commit()
    return ticket


def _rounds(ticket):
    """{round: sorted names} of the pages sent so far."""
    found = {}
    for page in db.session.scalars(select(Page).where(Page.ticket_id == ticket.id).order_by(Page.id)):
        found.setdefault(page.round, []).append(page.user.name)
    return {k: sorted(v) for k, v in found.items()}


def test_the_rota_says_who_is_on_duty_at_any_hour_with_night_shifts_and_changes(crew):
    rota = duty.Rota(T0)
    assert rota.on_duty(crew.dept.id, T0).primary.name == "张强"  # 03:00: Monday's night shift
    assert rota.on_duty(crew.dept.id, T0).shift.name == "夜班" and rota.on_duty(crew.dept.id, T0).day == date(2026, 12, 7)
    assert rota.on_duty(crew.dept.id, T0.replace(hour=9)).shift.name == "白班"
    night = next(s for s in rota.of(crew.dept.id) if s.name == "夜班")
    duty.change_day(night, date(2026, 12, 7), crew.deputy, crew.head, "调班", crew.kefu, T0)
    db.session.commit()
    assert duty.Rota(T0).on_duty(crew.dept.id, T0).primary.name == "李师傅"
    assert duty.Rota(T0).on_duty(None, T0).primary.name == "陈立"


def test_the_admin_sees_every_department_or_hour_with_nobody_on_duty(crew, client, make_user):
    lonely = Department(name="绿化部")
    db.session.add(lonely)
    night = next(s for s in duty.Rota(T0).of(crew.dept.id) if s.name == "夜班")
    duty.set_pattern(night, 2, None, None)  # Wednesday night uncovered
    db.session.commit()
    gaps = duty.Rota(T0).gaps(duty.departments(), T0)
    assert sorted({d.name if d is not None else None for d, _f, _u in gaps}, key=str) == ["工程维修部", "绿化部"]  # Wednesday night, and a department with no rota at all
    wednesday = [(f, u) for d, f, u in gaps if d is not None and d.id == crew.dept.id]
    assert wednesday and wednesday[0][0].hour == 20 and (wednesday[0][1] - wednesday[0][0]) == timedelta(hours=12)
    client.login(make_user(role=Role.ADMIN))
    page = client.get("/admin/").get_data(as_text=True)
    warning = text_of(page, "main p.flash-error:has(a[href='/duty/'])")
    assert warning.startswith("无人值班: ") and "绿化部 " in warning and "工程维修部 " in warning


def test_heads_edit_only_their_own_department_and_residents_see_no_rota(crew, client, make_user):
    client.login(crew.head)
    assert client.get(f"/duty/{crew.dept.id}").status_code == 200
    other = Department(name="秩序维护部")
    db.session.add(other)
    db.session.commit()
    assert client.post(f"/duty/{other.id}", {"action": "shift", "shift-name": "白班", "shift-starts": "08:00", "shift-ends": "20:00"}).status_code == 404
    assert client.get("/duty/99999999999").status_code == 404
    client.logout()
    client.login(crew.resident)
    assert client.get("/duty/").status_code == 404 and client.get(f"/duty/{crew.dept.id}").status_code == 404


def test_a_staff_member_adds_a_shift_and_sets_the_pattern_and_a_swap(crew, client):
    client.login(crew.kefu)
    bad = client.post(f"/duty/{crew.dept.id}", {"action": "shift", "shift-name": "中班", "shift-starts": "12:00", "shift-ends": "12:00"})
    assert bad.status_code == 422 and texts_of(bad, "main .flash-error, p.error") == ["班次的开始时间和结束时间不能相同。"]
    assert client.post(f"/duty/{crew.dept.id}", {"action": "shift", "shift-name": "中班", "shift-starts": "12:00", "shift-ends": "16:00"}).status_code == 302
    shift = db.session.scalar(select(duty.Shift).where(duty.Shift.name == "中班"))
    form = {"action": "pattern", f"p-{shift.id}-0": str(crew.deputy.id), f"d-{shift.id}-0": str(crew.head.id)}
    assert client.post(f"/duty/{crew.dept.id}", form).status_code == 302
    db.session.refresh(shift)
    assert shift.pattern[0].primary_id == crew.deputy.id and shift.pattern[0].deputy_id == crew.head.id
    same = {"action": "pattern", f"p-{shift.id}-1": str(crew.head.id), f"d-{shift.id}-1": str(crew.head.id)}
    response = client.post(f"/duty/{crew.dept.id}", same)
    assert response.status_code == 422 and texts_of(response, "form p.error") == ["副班须由其他人担任。"]
    db.session.refresh(shift)
    held = [(p.weekday, p.primary_id, p.deputy_id) for p in shift.pattern if p.primary_id or p.deputy_id]
    assert held == [(0, crew.deputy.id, crew.head.id)]  # Tuesday's pair was not kept
    from portal.i18n import to_local
    from portal.models import utcnow

    day = to_local(utcnow()).date() + timedelta(days=6)  # within the coming two weeks the page shows, whenever the test runs
    swap = {"action": "change", "change-shift_id": str(shift.id), "change-day": day.isoformat(), "change-primary_id": str(crew.head.id),
            "change-deputy_id": "0", "change-reason": "请假"}
    assert client.post(f"/duty/{crew.dept.id}", swap).status_code == 302
    page = client.get(f"/duty/{crew.dept.id}").get_data(as_text=True)
    headers = texts_of(page, "section.card table.rota thead th")
    (changed,) = [row for row in rows_of(page, "section.card table.rota tbody tr") if row[0].startswith(f"{day:%m-%d} ")]
    assert changed[headers.index("中班 12:00–16:00")] == "张强 请假"


def test_without_acknowledgement_the_head_is_paged_at_0_5_10_then_the_deputy_then_the_manager(crew):
    ticket = _emergency(crew)
    for minutes in (1, 4, 5, 9, 10, 15, 20, 25):
        with time_machine.travel(T0 + timedelta(minutes=minutes, seconds=1), tick=False):
            paging.due(T0 + timedelta(minutes=minutes, seconds=1))
            db.session.commit()
    rounds = _rounds(ticket)
    assert rounds[0] == sorted(["张强", "王敏"])  # registered before the transfer: the desk too
    assert rounds[1] == ["张强"]
    assert rounds[2] == sorted(["张强", "李师傅"]) and rounds[3] == sorted(["张强", "李师傅"])
    assert rounds[4] == sorted(["张强", "李师傅", "陈立"])
    assert len(rounds) == 6  # 0, 5, 10, 15, 20 and 25 minutes
    pages = db.session.scalars(select(Page).where(Page.ticket_id == ticket.id)).all()
    assert sorted({(p.round, p.due_at) for p in pages}) == [(r, T0 + timedelta(minutes=5 * r)) for r in range(6)]
    sms = db.session.scalars(select(Delivery).where(Delivery.kind == "ticket_page", Delivery.channel == Channel.SMS)).all()
    wecom = db.session.scalars(select(Delivery).where(Delivery.kind == "ticket_page", Delivery.channel == Channel.WECOM)).all()
    assert len(sms) == len(pages) == len(wecom) and all(d.is_urgent for d in sms)
    paged = [e for e in ticket.events if e.kind == EventKind.PAGED]
    assert len(paged) == 6 and paged[2].data["level"] == 1 and paged[4].data["level"] == 2


def test_an_acknowledgement_stops_all_paging_and_records_who_and_when(crew):
    ticket = _emergency(crew)
    paging.due(T0 + timedelta(minutes=5))
    page = db.session.scalar(select(Page).where(Page.ticket_id == ticket.id, Page.round == 1))
    paging.acknowledge(ticket, crew.head, T0 + timedelta(minutes=6), "link", page=page)
    db.session.commit()
    for minutes in (10, 15, 30):
        paging.due(T0 + timedelta(minutes=minutes))
    db.session.commit()
    assert set(_rounds(ticket)) == {0, 1}
    assert ticket.acknowledged_at == T0 + timedelta(minutes=6) and ticket.acknowledged_by_id == crew.head.id and ticket.acknowledged_via == "link"
    ack = [e for e in ticket.events if e.kind == EventKind.ACKNOWLEDGED][0]
    assert not ack.is_internal  # the resident's timeline shows 已受理
    with pytest.raises(paging.PagingError):
        paging.acknowledge(ticket, crew.deputy, T0 + timedelta(minutes=7), "button")


def test_before_a_transfer_the_desk_and_the_routed_departments_head_are_paged(crew):
    ticket = _emergency(crew, transfer=False)
    assert _rounds(ticket)[0] == ["张强", "王敏"]


def test_two_workers_never_send_the_same_page_twice(concurrent_app):
    from portal.models import Building, Residency, Unit

    with concurrent_app.app_context():
        dept = Department(name="工程维修部")
        building = Building(name="1号楼", units=[Unit(number="1-101")])
        db.session.add_all([dept, building])
        db.session.flush()
        head = User(name="张强", username="head-x", role=Role.HEAD, department_id=dept.id, phone="13900000003")
        kefu = User(name="王敏", username="kefu-x", role=Role.STAFF)
        resident = User(name="周杰", phone="13800000001", role=Role.RESIDENT)
        resident.residencies.append(Residency(unit=building.units[0]))
        db.session.add_all([head, kefu, resident])
        db.session.flush()
        shift = duty.add_shift(dept, "全天", time(0), time(0, 0) if False else time(23, 59))
        for weekday in range(7):
            duty.set_pattern(shift, weekday, head, None)
        db.session.commit()
        made = []
        for i in range(10):
            ticket, _ = tickets.create(category="repair", channel="hotline", description=f"紧急{i}", actor=kefu, now=T0, resident=resident,
                                       unit=building.units[0], is_urgent=True)
            tickets.transfer(ticket, dept, [], kefu, T0)
            made.append(ticket.id)
        db.session.commit()
        db.session.remove()
    errors = []

    def work():
        try:
            with concurrent_app.app_context():
                for minutes in (5, 10):
                    with unit_of_work():  # as the worker's round runs it
                        paging.due(T0 + timedelta(minutes=minutes, seconds=1))
                db.session.remove()
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    with concurrent_app.app_context():
        per_round = db.session.execute(select(Page.ticket_id, Page.round, func.count(Page.id)).group_by(Page.ticket_id, Page.round)).all()
        assert all(n == 1 for _t, _r, n in per_round)
        assert sorted({r for _t, r, _n in per_round}) == [0, 1, 2]
        deliveries = db.session.scalar(select(func.count(Delivery.id)).where(Delivery.kind == "ticket_page", Delivery.channel == Channel.SMS))
        heads = db.session.scalar(select(func.count(Page.id)).where(Page.user_id == db.session.scalar(select(User.id).where(User.username == "head-x"))))
        assert heads == 20 and deliveries == heads  # rounds 1 and 2 page the head (round 0, before the transfer, the desk): each once
        db.session.remove()


def test_the_link_in_a_page_acknowledges_once_for_the_person_paged(crew, client, make_user):
    ticket = _emergency(crew)
    page = db.session.scalar(select(Page).where(Page.ticket_id == ticket.id))
    link = paging.ack_path(page)
    assert len(link) <= 24  # fits one SMS
    client.login(crew.head)
    opened = client.get(link, follow_redirects=True)
    assert opened.status_code == 200 and ticket.number in opened.get_data(as_text=True)
    target = client.get(link).headers["Location"]
    assert client.post(target).status_code == 302
    db.session.refresh(ticket)
    assert ticket.acknowledged_at is not None and ticket.next_page_at is None
    db.session.refresh(page)
    assert page.used_at is not None
    again = client.get(target)
    assert again.status_code == 200 and "已受理" in again.get_data(as_text=True) or "Already acknowledged" in again.get_data(as_text=True)
    client.logout()
    client.login(crew.deputy)
    assert client.get(target).status_code == 404  # not theirs
    assert client.get(target.rsplit("/", 1)[0] + "/aaaaaaaaaaaa").status_code == 404


def test_the_link_expires_after_24_hours(crew, client, app):
    app.config["STAFF_IDLE_MINUTES"] = 30 * 24 * 60  # the clock jumps days ahead: the idle timeout would sign the head out first
    ticket = _emergency(crew)
    page = db.session.scalar(select(Page).where(Page.ticket_id == ticket.id))
    client.login(crew.head)
    target = client.get(paging.ack_path(page)).headers["Location"]
    with time_machine.travel(page.created_at + timedelta(hours=25), tick=False):
        assert client.get(target).status_code == 404


def test_the_ticket_page_shows_who_is_on_duty_and_the_buttons(crew, client):
    ticket = _emergency(crew)
    client.login(crew.kefu)
    with time_machine.travel(T0 + timedelta(minutes=2), tick=False):
        page = client.get(f"/tickets/{ticket.id}").get_data(as_text=True)
    on_duty = text_of(page, "#emergency p:has(a[href='tel:13900000003'])")
    assert on_duty.startswith("当前值班 (工程维修部): 张强 13900000003")
    assert text_of(page, f"#emergency form[action='/tickets/{ticket.id}/acknowledge'] button") == "确认受理"
    with time_machine.travel(T0 + timedelta(minutes=3), tick=False):
        assert client.post(f"/tickets/{ticket.id}/on-site").status_code == 302
    db.session.refresh(ticket)
    assert ticket.on_site_at == T0 + timedelta(minutes=3) and ticket.acknowledged_via == "on_site" and ticket.next_page_at is None


def test_a_head_paged_on_wecom_while_sms_is_down_is_still_paged(standin, crew):
    from portal.notify import delivery

    standin.add_member("ZhangQiang")
    standin.fail("aliyun_sms", "unavailable", times=None)
    _emergency(crew)
    delivery.deliver_due(now=T0 + timedelta(seconds=5))
    db.session.expire_all()
    wecom = db.session.scalar(select(Delivery).where(Delivery.kind == "ticket_page", Delivery.channel == Channel.WECOM))
    sms = db.session.scalar(select(Delivery).where(Delivery.kind == "ticket_page", Delivery.channel == Channel.SMS))
    assert wecom.status == DeliveryStatus.SENT and sms.status == DeliveryStatus.PENDING and sms.attempts == 1
    pages = [m for m in standin.messages("wecom") if "/go/a" in m["url"]]  # (the transfer told him too)
    assert [m["to"] for m in pages].count("ZhangQiang") == 1


def test_a_voice_call_reads_the_emergency_where_one_is_configured(standin, crew, app):
    from portal.notify import delivery
    from tests.conftest import approve_everything

    app.config["VOICE_URL"] = standin.urls()["aliyun_voice"]
    app.extensions.pop("portal_channels", None)
    approve_everything(standin, app)
    ticket = _emergency(crew)
    delivery.deliver_due(now=T0 + timedelta(seconds=5))
    db.session.expire_all()
    call = db.session.scalar(select(Delivery).where(Delivery.kind == "ticket_page", Delivery.channel == Channel.VOICE,
                                                    Delivery.user_id == crew.head.id))
    assert call is not None and call.status == DeliveryStatus.SENT and call.provider_id
    spoken = {m["to"]: m for m in standin.messages("aliyun_voice")}["13900000003"]
    assert spoken["params"] == {"number": ticket.number, "where": "1号楼 1-101"} and spoken["id"] == call.provider_id


def test_raising_to_urgent_starts_paging_and_lowering_needs_a_reason(crew, client):
    ticket, _ = tickets.create(category="repair", channel="hotline", description="楼道灯坏了", actor=crew.kefu, now=T0,
                               resident=crew.resident, unit=crew.resident.residencies[0].unit)
    tickets.transfer(ticket, crew.dept, [], crew.kefu, T0)
    db.session.commit()
    ordinary_due = ticket.due_at
    client.login(crew.kefu)
    with time_machine.travel(T0 + timedelta(minutes=1), tick=False):
        assert client.post(f"/tickets/{ticket.id}/urgency", {"urgent": "1", "reason": "发现漏电"}).status_code == 302
    db.session.refresh(ticket)
    assert ticket.is_urgent and ticket.due_at < ordinary_due and ticket.response_due_at == T0 + timedelta(minutes=31)
    assert _rounds(ticket)[0] == ["张强"]  # paging starts at once
    with time_machine.travel(T0 + timedelta(minutes=2), tick=False):
        refused = client.post(f"/tickets/{ticket.id}/urgency", {"urgent": "0", "reason": ""})
        assert refused.status_code == 422
        assert client.post(f"/tickets/{ticket.id}/urgency", {"urgent": "0", "reason": "已断电，无危险"}).status_code == 302
    db.session.refresh(ticket)
    assert not ticket.is_urgent and ticket.next_page_at is None
    kinds = [e.kind for e in ticket.events if e.kind == EventKind.URGENCY_CHANGED]
    assert len(kinds) == 2


def test_the_recorded_call_is_honest(crew):
    ticket = _emergency(crew)
    with pytest.raises(TicketError):
        tickets.record_call(ticket, "张强", T0 + timedelta(minutes=30), crew.kefu, T0 + timedelta(minutes=20))  # in the future
    with pytest.raises(TicketError):
        tickets.record_call(ticket, "张强", T0 - timedelta(hours=1), crew.kefu, T0 + timedelta(minutes=20))  # before registration
    step = tickets.record_call(ticket, "张强", T0 + timedelta(minutes=2), crew.kefu, T0 + timedelta(minutes=20))
    db.session.commit()
    assert step.data["recorded_late"] is True
    assert ticket.acknowledged_at == T0 + timedelta(minutes=2) and ticket.acknowledged_via == "call" and ticket.next_page_at is None


def test_the_emergency_response_figure_counts_acknowledgements_in_time(crew):
    from portal.models import FigureKey
    from portal.services import figures

    fast = _emergency(crew)
    paging.acknowledge(fast, crew.head, T0 + timedelta(minutes=4), "button")
    slow = _emergency(crew)
    paging.acknowledge(slow, crew.head, T0 + timedelta(minutes=45), "button")
    _emergency(crew)  # never acknowledged
    paging.on_site(fast, crew.head, T0 + timedelta(minutes=12))
    db.session.commit()
    result, breakdowns = figures.compute(T0 - timedelta(days=1), T0 + timedelta(days=1))
    emergency = result[FigureKey.EMERGENCY]
    assert (emergency.numerator, emergency.denominator) == (1, 3)
    assert emergency.extra["ack_minutes"] == 24.5 and emergency.extra["on_site_minutes"] == 12.0 and emergency.extra["unacknowledged"] == 1
    assert breakdowns["department"][crew.dept.id][FigureKey.EMERGENCY].extra["ack_minutes"] == 24.5


def test_the_emergency_slip_shows_the_pages_the_acknowledgement_and_the_call(crew, client):
    import shutil
    import subprocess
    import tempfile

    if not shutil.which("pdftotext"):
        pytest.skip("pdftotext not installed")
    ticket = _emergency(crew)
    paging.due(T0 + timedelta(minutes=5))
    paging.acknowledge(ticket, crew.head, T0 + timedelta(minutes=7), "button")
    tickets.record_call(ticket, "张强 13900000003", T0 + timedelta(minutes=1), crew.kefu, T0 + timedelta(minutes=30))
    db.session.commit()
    client.login(crew.kefu)
    with tempfile.NamedTemporaryFile(suffix=".pdf") as f:
        f.write(client.get(f"/tickets/{ticket.id}/emergency.pdf").data)
        f.flush()
        text = subprocess.run(["pdftotext", f.name, "-"], capture_output=True, text=True, check=True).stdout.replace("\n", "")
    assert "第1轮" in text and "第2轮" in text and "张强" in text and "（7 分钟）" in text and "补记" in text
