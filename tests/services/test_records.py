"""Communication records at the service level: adding and searching them, daily outreach against
the target in community time, the head's week, retention (what has expired, what a purge removes
and what it must leave standing) and training history."""
import logging
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import (
    CommRecord,
    Conversation,
    Department,
    RecordKind,
    Role,
    Suggestion,
    SuggestionTopic,
    Ticket,
    TicketEvent,
    TicketStatus,
    TrainingAttendance,
    TrainingMethod,
    TrainingSession,
    TrainingTopic,
)
from portal.services import records, settings, tickets

SHANGHAI = timezone(timedelta(hours=8))
NOW = datetime(2026, 12, 8, 15, 0, tzinfo=SHANGHAI)  # a Tuesday afternoon
CUTOFF = NOW - timedelta(days=365 * 3)  # the default retention: three years


@pytest.fixture
def staff(make_user):
    return make_user(role=Role.STAFF, name="王敏")


def _search(**kw):
    return [r.content for r in db.session.scalars(records.search(**kw).order_by(CommRecord.id))]


def _closed_ticket(staff, resident, closed_at, **kw):
    ticket, _ = tickets.create(category="inquiry", channel="hotline", description="旧诉求", actor=staff, now=closed_at - timedelta(days=1),
                               resident=resident, unit=resident.residencies[0].unit)
    ticket.status, ticket.closed_at = TicketStatus.CLOSED, closed_at
    for key, value in kw.items():
        setattr(ticket, key, value)
    db.session.flush()
    return ticket


# Adding and searching


def test_a_record_is_stored_tidy_with_what_it_concerns(staff, make_user):
    resident = make_user()
    ticket = _closed_ticket(staff, resident, NOW)
    record = records.add("visit", NOW - timedelta(hours=2), "  上门回访  ", staff, NOW, place=" 1号楼 ", participants=" 周杰 ", result=" 满意 ",
                         resident=resident, ticket=ticket)
    assert (record.kind, record.content, record.place, record.participants, record.result) == (RecordKind.VISIT, "上门回访", "1号楼", "周杰", "满意")
    assert (record.staff_id, record.resident_id, record.ticket_id, record.event_id) == (staff.id, resident.id, ticket.id, None)
    assert record.occurred_at == NOW - timedelta(hours=2) and record.created_at == NOW


def test_an_unknown_kind_is_refused(staff):
    with pytest.raises(ValueError):
        records.add("telegram", NOW, "?", staff, NOW)


def test_records_are_searched_by_kind_time_and_words(staff):
    records.add("call", NOW - timedelta(days=2), "物业费咨询", staff, NOW, participants="周杰")
    records.add("forum", NOW - timedelta(days=1), "座谈会", staff, NOW, place="二楼会议室", result="同意增设充电桩")
    records.add("call", NOW, "噪音投诉", staff, NOW)
    assert _search(kind="call") == ["物业费咨询", "噪音投诉"]
    assert _search(since=NOW - timedelta(days=1)) == ["座谈会", "噪音投诉"]
    assert _search(until=NOW - timedelta(days=1)) == ["物业费咨询"]  # until is exclusive
    assert _search(q="周杰") == ["物业费咨询"] and _search(q="会议室") == ["座谈会"] and _search(q="充电桩") == ["座谈会"]
    assert _search(q="投诉", kind="forum") == []


def test_wildcards_typed_in_a_search_are_not_wildcards(staff):
    records.add("call", NOW, "费用50元", staff, NOW)
    records.add("call", NOW, "费用5x0元", staff, NOW)
    assert "费用5x0元" not in _search(q="5_0") and "费用5x0元" not in _search(q="5%0")
    assert _search(q="50") == ["费用50元"]


# Outreach (S4.1.1)


def test_todays_outreach_counts_proactive_calls_and_visits_in_community_time(staff, make_user):
    other = make_user(role=Role.STAFF)
    midnight = datetime(2026, 12, 8, 0, 0, tzinfo=SHANGHAI)
    records.add("outreach_call", midnight + timedelta(minutes=10), "回访", staff, NOW)  # 16:10 UTC the day before: still today here
    records.add("outreach_visit", NOW - timedelta(hours=1), "走访", staff, NOW)
    records.add("call", NOW, "来电", staff, NOW)  # not outreach
    records.add("outreach_call", midnight - timedelta(minutes=1), "昨晚", staff, NOW)  # yesterday
    records.add("outreach_call", NOW, "同事的", other, NOW)
    assert records.outreach_today(staff, NOW) == (2, 5)
    settings.update({"outreach_daily_target": 8}, None)
    assert records.outreach_today(staff, NOW) == (2, 8)


def test_a_day_runs_from_local_midnight_to_midnight(app):
    start, end = records.day_bounds(date(2026, 12, 8))
    assert start == datetime(2026, 12, 7, 16, 0, tzinfo=timezone.utc) and end - start == timedelta(days=1)


def test_the_week_shows_each_staff_members_outreach_per_day(staff, make_user):
    dept = Department(name="客服中心")
    db.session.add(dept)
    db.session.commit()
    li = make_user(role=Role.STAFF, name="李娜", department_id=dept.id)
    zhao = make_user(role=Role.WORKER, name="赵芳", department_id=dept.id)
    make_user(role=Role.STAFF, name="离职", department_id=dept.id, is_active=False)
    make_user(name="住户")
    for days_ago in (0, 0, 6):
        records.add("outreach_call", NOW - timedelta(days=days_ago), "回访", li, NOW)
    records.add("outreach_visit", NOW - timedelta(days=7), "上周", li, NOW)  # before the week
    records.add("outreach_visit", NOW - timedelta(days=3), "走访", staff, NOW)  # another department
    table, days = records.outreach_week(dept.id, NOW)
    assert days[0] == date(2026, 12, 2) and days[-1] == date(2026, 12, 8) and len(days) == 7
    assert {u.name: counts for u, counts in table.items()} == {"李娜": [1, 0, 0, 0, 0, 0, 2], "赵芳": [0] * 7}
    everyone, _days = records.outreach_week(None, NOW)
    assert {u.name for u in everyone} == {"王敏", "李娜", "赵芳"}
    assert {u.name: c for u, c in everyone.items()}["王敏"] == [0, 0, 0, 1, 0, 0, 0]
    assert zhao in table


# Retention (S3.6)


def test_what_has_expired_is_older_than_the_retention_years_unless_on_legal_hold(staff, make_user):
    old = records.add("call", CUTOFF - timedelta(seconds=1), "旧", staff, NOW)
    held = records.add("call", CUTOFF - timedelta(days=30), "保全", staff, NOW)
    held.legal_hold = True
    records.add("call", CUTOFF + timedelta(seconds=1), "刚好未过期", staff, NOW)
    resident = make_user()
    gone = _closed_ticket(staff, resident, CUTOFF - timedelta(days=1))
    _closed_ticket(staff, resident, CUTOFF - timedelta(days=1), legal_hold=True)
    _closed_ticket(staff, resident, CUTOFF + timedelta(days=1))
    still_open, _ = tickets.create(category="repair", channel="hotline", description="一直没修", actor=staff, now=CUTOFF - timedelta(days=400),
                                   resident=resident, unit=resident.residencies[0].unit)
    cutoff, expired_records, expired_tickets = records.expired(NOW)
    assert cutoff == CUTOFF
    assert expired_records == [old] and expired_tickets == [gone]
    assert still_open not in expired_tickets  # open tickets are never purged, however old
    settings.update({"records_retention_years": 10}, None)
    assert records.expired(NOW)[1:] == ([], [])


def test_a_purge_removes_exactly_what_expired_with_the_tickets_timeline_and_logs_each(staff, make_user, caplog):
    old = records.add("call", CUTOFF - timedelta(days=1), "旧", staff, NOW)
    kept = records.add("call", NOW, "新", staff, NOW)
    resident = make_user()
    gone = _closed_ticket(staff, resident, CUTOFF - timedelta(days=1))
    gone_id, gone_number, old_id = gone.id, gone.number, old.id
    db.session.commit()
    with caplog.at_level(logging.INFO, logger="portal.services.records"):
        _cutoff, purged_records, purged_tickets = records.purge(NOW)
    db.session.commit()
    assert [r.id for r in purged_records] == [old_id] and [t.number for t in purged_tickets] == [gone_number]
    assert db.session.scalars(select(CommRecord.id)).all() == [kept.id]
    assert db.session.get(Ticket, gone_id) is None
    assert db.session.scalar(select(func.count(TicketEvent.id)).where(TicketEvent.ticket_id == gone_id)) == 0
    assert f"purged communication record {old_id}" in caplog.text and f"purged ticket {gone_number}" in caplog.text


def test_a_purged_ticket_leaves_what_refers_to_it_standing(staff, make_user):
    """A suggestion, a chat conversation or a newer record may point at an old closed ticket: the
    ticket goes, they stay, no longer linked (the purge must not fail on them)."""
    resident = make_user()
    gone = _closed_ticket(staff, resident, CUTOFF - timedelta(days=1))
    suggestion = Suggestion(author_id=resident.id, topic=SuggestionTopic.OTHER, title="旧建议", body="…", ticket_id=gone.id, created_at=CUTOFF)
    conversation = Conversation(resident_id=resident.id, ticket_id=gone.id, created_at=CUTOFF)
    db.session.add_all([suggestion, conversation])
    newer = records.add("visit", NOW - timedelta(days=1), "回访旧诉求", staff, NOW, ticket=gone)
    db.session.commit()
    gone_id = gone.id
    records.purge(NOW)
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(Ticket, gone_id) is None
    assert db.session.get(Suggestion, suggestion.id).ticket_id is None
    assert db.session.get(Conversation, conversation.id).ticket_id is None
    assert db.session.get(CommRecord, newer.id).ticket_id is None


def test_an_old_hotline_calls_record_is_purged_and_the_call_kept(staff):
    from portal.models import Call

    record = records.add("call", CUTOFF - timedelta(days=1), "热线来电", staff, NOW)
    call = Call(call_id="pbx-1", caller="13800000001", state="ended", ringing_at=CUTOFF - timedelta(days=1), record_id=record.id)
    db.session.add(call)
    db.session.commit()
    record_id = record.id
    _cutoff, purged, _tickets = records.purge(NOW)
    db.session.commit()
    db.session.expire_all()
    assert [r.id for r in purged] == [record_id] and db.session.get(CommRecord, record_id) is None
    assert db.session.get(Call, call.id).record_id is None


def test_nothing_to_purge_is_fine(staff):
    records.add("call", NOW, "新", staff, NOW)
    _cutoff, purged_records, purged_tickets = records.purge(NOW)
    assert purged_records == [] and purged_tickets == []
    assert db.session.scalar(select(func.count(CommRecord.id))) == 1


# Training (S6.2)


def test_training_history_lists_the_sessions_attended_newest_first_with_scores(staff, make_user):
    colleague = make_user(role=Role.STAFF)
    first = TrainingSession(title="沟通技巧", topic=TrainingTopic.COMMUNICATION, method=TrainingMethod.INTERNAL, held_on=date(2026, 3, 1), trainer="陈立")
    second = TrainingSession(title="投诉处理案例", topic=TrainingTopic.PROBLEM_HANDLING, method=TrainingMethod.CASE_STUDY, held_on=date(2026, 9, 1),
                             trainer="外聘讲师")
    missed = TrainingSession(title="业务知识", topic=TrainingTopic.BUSINESS, method=TrainingMethod.EXTERNAL, held_on=date(2026, 6, 1), trainer="x")
    first.attendees.append(TrainingAttendance(user_id=staff.id, score=88))
    second.attendees.append(TrainingAttendance(user_id=staff.id, score=None))
    missed.attendees.append(TrainingAttendance(user_id=colleague.id, score=70))
    db.session.add_all([first, second, missed])
    db.session.commit()
    assert [(s.title, score) for s, score in records.training_history(staff)] == [("投诉处理案例", None), ("沟通技巧", 88)]
