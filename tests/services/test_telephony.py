"""The hotline's caller screen at the service level: signed events, the caller recognised, a call
ringing, answered and ended (in any order, any number of times), the communication record it
leaves, what the screen lists and what it tells of the caller."""
import hashlib
import hmac
from datetime import datetime, timedelta, timezone

import pytest
from flask_babel import force_locale
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Call, CommRecord, RecordKind, Role, TicketStatus
from portal.services import records, telephony, tickets
from portal.services.telephony import TelephonyError

NOW = datetime(2026, 12, 8, 2, 0, tzinfo=timezone.utc)


@pytest.fixture(autouse=True)
def english(app):
    with force_locale("en"):
        yield


@pytest.fixture
def desk(make_user):
    class Desk:
        kefu = make_user(role=Role.STAFF, name="王敏", phone_extension="8001")
        kefu2 = make_user(role=Role.STAFF, name="李娜", phone_extension="8002")
        resident = make_user(name="周杰", phone="13800000001")

    return Desk


def _event(kind, call_id="call-1", at=NOW, **kw):
    return telephony.handle({"event": kind, "call_id": call_id, "at": at.isoformat(), **kw}, NOW + timedelta(minutes=30))


def _records():
    return db.session.scalars(select(CommRecord).order_by(CommRecord.id)).all()


def test_a_signature_is_an_hmac_of_the_raw_body_with_the_shared_secret():
    body = b'{"event":"ringing"}'
    good = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert telephony.verify(body, good, "s3cret")
    assert telephony.verify(body, good.upper().replace("SHA256=", "sha256="), "s3cret")  # hex in capitals is the same signature
    assert not telephony.verify(body + b" ", good, "s3cret")
    assert not telephony.verify(body, good, "other")
    assert not telephony.verify(body, good[len("sha256="):], "s3cret")  # the prefix is required
    assert not telephony.verify(body, None, "s3cret") and not telephony.verify(body, good, "")


def test_a_ringing_call_recognises_the_resident_by_their_number(desk):
    call = _event("ringing", caller="+86 138-0000-0001", line="400-800-1234")
    assert call.state == "ringing" and call.resident_id == desk.resident.id and call.line == "400-800-1234"
    assert call.ringing_at == NOW and call.answered_at is None


def test_staff_inactive_residents_and_strangers_are_not_recognised(desk, make_user):
    make_user(role=Role.STAFF, phone="13900000009")
    gone = make_user(phone="13800000002", is_active=False)
    assert _event("ringing", "c1", caller="13900000009").resident_id is None
    assert _event("ringing", "c2", caller=gone.phone).resident_id is None
    stranger = _event("ringing", "c3", caller="02112345678")
    assert stranger.resident_id is None and stranger.caller == "02112345678"


def test_an_event_needs_a_known_kind_and_a_call_id(desk):
    with pytest.raises(TelephonyError):
        telephony.handle({"event": "hangup", "call_id": "x"}, NOW)
    with pytest.raises(TelephonyError):
        telephony.handle({"event": "ringing", "call_id": "  "}, NOW)
    assert db.session.scalar(select(func.count(Call.id))) == 0


def test_event_times_as_unix_seconds_or_iso_and_never_in_the_future(desk):
    assert telephony.handle({"event": "ringing", "call_id": "a", "at": NOW.timestamp()}, NOW + timedelta(hours=1)).ringing_at == NOW
    assert telephony.handle({"event": "ringing", "call_id": "b", "at": str(int(NOW.timestamp()))}, NOW + timedelta(hours=1)).ringing_at == NOW
    assert telephony.handle({"event": "ringing", "call_id": "c", "at": "2026-12-08T02:00:00Z"}, NOW + timedelta(hours=1)).ringing_at == NOW
    assert telephony.handle({"event": "ringing", "call_id": "d", "at": "2026-12-08T02:00:00"}, NOW + timedelta(hours=1)).ringing_at == NOW  # UTC
    assert telephony.handle({"event": "ringing", "call_id": "e"}, NOW).ringing_at == NOW  # no time: now
    future = telephony.handle({"event": "ringing", "call_id": "f", "at": "2030-01-01T00:00:00Z"}, NOW)
    assert future.ringing_at == NOW + timedelta(minutes=1)  # a PBX clock running fast is held back
    with pytest.raises(TelephonyError, match="bad time"):
        telephony.handle({"event": "ringing", "call_id": "g", "at": "yesterday"}, NOW)


def test_an_answered_call_that_ends_is_a_record_with_its_duration_and_the_agent(desk):
    _event("ringing", caller="13800000001", line="400-800-1234")
    call = _event("answered", at=NOW + timedelta(seconds=10), agent="8002")
    assert call.state == "answered" and call.answered_at == NOW + timedelta(seconds=10) and call.agent == "8002"
    call = _event("ended", at=NOW + timedelta(minutes=3, seconds=15))
    assert call.state == "ended" and call.duration_seconds == 185
    (record,) = _records()
    assert call.record_id == record.id
    assert (record.kind, record.staff_id, record.resident_id, record.occurred_at) == (RecordKind.CALL, desk.kefu2.id, desk.resident.id, NOW)
    assert record.content == "Hotline call from 13800000001 on 400-800-1234, 3 min 5 s." and record.participants == "周杰"
    assert record.place == "400-800-1234"


def test_a_missed_call_is_a_record_to_call_back(desk):
    _event("ringing", caller="02112345678", line="400-800-1234")
    call = _event("ended", at=NOW + timedelta(seconds=30))
    assert call.duration_seconds == 0 and call.answered_at is None
    (record,) = _records()
    assert record.content == "Missed hotline call from 02112345678 on 400-800-1234: call back." and record.participants == "02112345678"
    assert record.staff_id == desk.kefu.id  # nobody answered: the first customer-service member


def test_the_person_who_took_the_call_on_the_screen_is_on_the_record(desk):
    call = _event("ringing", caller="13800000001")
    telephony.take(call, desk.kefu2)
    _event("answered", agent="8001")
    _event("ended", at=NOW + timedelta(minutes=1))
    assert _records()[0].staff_id == desk.kefu2.id


def test_repeated_events_change_nothing_more(desk):
    _event("ringing", caller="13800000001")
    _event("ringing", caller="13999999999")  # a retry cannot change the caller
    _event("answered", at=NOW + timedelta(seconds=5))
    _event("answered", at=NOW + timedelta(seconds=50))
    _event("ended", at=NOW + timedelta(seconds=65))
    call = _event("ended", at=NOW + timedelta(minutes=9))
    assert call.caller == "13800000001" and call.answered_at == NOW + timedelta(seconds=5) and call.duration_seconds == 60
    assert len(_records()) == 1 and db.session.scalar(select(func.count(Call.id))) == 1


def test_an_end_without_a_ring_still_records_the_call(desk):
    call = _event("ended", "lost-ring", caller="13800000001")
    assert call.state == "ended" and call.resident_id == desk.resident.id and len(_records()) == 1


def test_a_late_answered_event_does_not_bring_an_ended_call_back_to_the_screen(desk):
    _event("ringing", caller="13800000001")
    _event("ended", at=NOW + timedelta(seconds=40))
    call = _event("answered", at=NOW + timedelta(seconds=5))  # delivered after the end
    assert call.state == "ended"
    assert call not in telephony.screen(NOW + timedelta(minutes=30))


def test_without_any_staff_the_call_is_kept_but_no_record_made(make_user):
    make_user(name="周杰", phone="13800000001")
    call = _event("ringing", caller="13800000001")
    _event("ended", at=NOW + timedelta(seconds=10))
    assert call.state == "ended" and call.record_id is None and _records() == []


def test_the_screen_shows_live_calls_and_those_ended_in_the_last_quarter_hour_newest_first(desk):
    now = NOW + timedelta(hours=1)

    def at(minutes_ago, call_id, end_minutes_ago=None):
        telephony.handle({"event": "ringing", "call_id": call_id, "caller": "1", "at": (now - timedelta(minutes=minutes_ago)).isoformat()}, now)
        if end_minutes_ago is not None:
            telephony.handle({"event": "ended", "call_id": call_id, "at": (now - timedelta(minutes=end_minutes_ago)).isoformat()}, now)

    at(1, "ringing-now")
    at(20, "ended-recently", end_minutes_ago=14)
    at(30, "ended-long-ago", end_minutes_ago=16)
    at(7 * 60, "stale-ringing")  # the PBX never said it ended: gone after six hours
    assert [c.call_id for c in telephony.screen(now)] == ["ringing-now", "ended-recently"]


def test_the_screen_state_changes_with_every_event(desk):
    empty = telephony.state(NOW)
    assert empty == "calls-0"
    telephony.handle({"event": "ringing", "call_id": "x", "caller": "1"}, NOW)
    ringing = telephony.state(NOW)
    telephony.handle({"event": "answered", "call_id": "x"}, NOW + timedelta(seconds=3))
    assert len({empty, ringing, telephony.state(NOW)}) == 3


def test_the_desk_sees_the_callers_open_tickets_and_last_contacts(desk):
    resident = desk.resident
    made = []
    for i in range(6):
        ticket, _ = tickets.create(category="repair", channel="hotline", description=f"第{i}次报修", actor=desk.kefu, now=NOW,
                                   resident=resident, unit=resident.residencies[0].unit)
        made.append(ticket)
    made[5].status = TicketStatus.CLOSED
    for days in (1, 2, 3, 4):
        records.add("call", NOW - timedelta(days=days), f"{days}天前的来电", desk.kefu, NOW, resident=resident)
    call = _event("ringing", caller=resident.phone)
    context = telephony.context_for(call)
    assert [t.id for t in context["tickets"]] == [t.id for t in reversed(made[:5])]  # open ones only, newest first, five at most
    assert [r.content for r in context["records"]] == ["1天前的来电", "2天前的来电", "3天前的来电"]


def test_for_an_unknown_caller_the_desk_sees_tickets_registered_from_that_number(desk):
    ticket, _ = tickets.create(category="complaint", channel="hotline", description="噪音", actor=desk.kefu, now=NOW,
                               caller_name="路人", caller_phone="02112345678")
    call = _event("ringing", caller="02112345678")
    assert telephony.context_for(call) == {"tickets": [ticket], "records": []}
    hidden = _event("ringing", "no-number")
    assert telephony.context_for(hidden) == {"tickets": [], "records": []}
