"""The email channel through the outbox against a real SMTP server (aiosmtpd) on loopback, including an outage."""
import socket
from datetime import timedelta
from email import message_from_bytes

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from portal.extensions import db
from portal.models import Channel, Delivery, DeliveryStatus, utcnow
from portal.notify import delivery


class Collector:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp(app):
    port = _free_port()
    handler = Collector()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    app.config["MAIL_URL"] = f"smtp://127.0.0.1:{port}"
    yield controller, handler
    try:
        controller.stop()
    except AssertionError:
        pass  # already stopped by the test


def _enqueue(n):
    for i in range(n):
        db.session.add(Delivery(dedupe_key=f"test:{i}", channel=Channel.EMAIL, kind="notice_published", address=f"r{i}@example.com",
                                subject=f"【公告】停水通知 {i}", body="正文\n联系人：客服中心 王敏"))
    db.session.commit()


def test_worker_delivers_the_outbox_to_smtp(app, smtp):
    controller, handler = smtp
    controller.start()
    _enqueue(3)
    result = delivery.deliver_due()
    assert (result.sent, result.retried, result.failed) == (3, 0, 0)
    assert sorted(m["To"] for m in handler.messages) == ["r0@example.com", "r1@example.com", "r2@example.com"]
    subject = handler.messages[0]["Subject"]
    from email.header import decode_header, make_header

    assert "停水通知" in str(make_header(decode_header(subject)))
    assert all(m.status == DeliveryStatus.SENT and m.provider_id for m in db.session.scalars(select(Delivery)))


def test_nothing_is_lost_during_an_outage_and_everything_arrives_exactly_once(app, smtp):
    controller, handler = smtp
    _enqueue(5)  # the mail server is down
    result = delivery.deliver_due()
    assert (result.sent, result.retried) == (0, 5)
    rows = db.session.scalars(select(Delivery)).all()
    assert all(r.status == DeliveryStatus.PENDING and r.attempts == 1 and r.last_error for r in rows)
    assert all(len(r.attempt_log) == 1 and r.attempt_log[0].outcome == "transient" for r in rows)
    # backoff: not retried at once
    assert not delivery.deliver_due()
    controller.start()
    later = utcnow() + timedelta(minutes=5)
    assert delivery.deliver_due(now=later).sent == 5
    assert not delivery.deliver_due(now=later + timedelta(hours=1))
    assert sorted(m["To"] for m in handler.messages) == [f"r{i}@example.com" for i in range(5)]


def test_a_claimed_message_is_not_sent_by_a_second_worker(app, smtp):
    controller, handler = smtp
    controller.start()
    _enqueue(1)
    row = db.session.scalar(select(Delivery))
    row.claimed_until = utcnow() + timedelta(minutes=5)
    db.session.commit()
    assert not delivery.deliver_due()
    assert handler.messages == []


def test_backoff_grows_and_is_capped():
    assert delivery.backoff(1) < delivery.backoff(2) < delivery.backoff(3)
    assert delivery.backoff(30) == timedelta(hours=1)
    assert delivery.backoff(30, urgent=True) == timedelta(minutes=1)
