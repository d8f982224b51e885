"""The outbox against a real SMTP server (aiosmtpd) on loopback, including an outage."""
import socket
from datetime import timedelta
from email import message_from_bytes

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from portal import mail
from portal.extensions import db
from portal.models import OutboxMessage, OutboxStatus, utcnow


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
        mail.enqueue(f"r{i}@example.com", f"【公告】停水通知 {i}", "正文\n联系人：客服中心 王敏", f"test:{i}")
    db.session.commit()


def test_worker_delivers_the_outbox_to_smtp(app, smtp):
    controller, handler = smtp
    controller.start()
    _enqueue(3)
    sent, failed = mail.deliver_due()
    assert (sent, failed) == (3, 0)
    assert sorted(m["To"] for m in handler.messages) == ["r0@example.com", "r1@example.com", "r2@example.com"]
    subject = handler.messages[0]["Subject"]
    from email.header import decode_header, make_header

    assert "停水通知" in str(make_header(decode_header(subject)))
    assert all(m.status == OutboxStatus.SENT for m in db.session.scalars(select(OutboxMessage)))


def test_nothing_is_lost_during_an_outage_and_everything_arrives_exactly_once(app, smtp):
    controller, handler = smtp
    _enqueue(5)  # the mail server is down
    sent, failed = mail.deliver_due()
    assert (sent, failed) == (0, 5)
    rows = db.session.scalars(select(OutboxMessage)).all()
    assert all(r.status == OutboxStatus.PENDING and r.attempts == 1 and r.last_error for r in rows)
    # backoff: not retried at once
    assert mail.deliver_due() == (0, 0)
    controller.start()
    later = utcnow() + timedelta(minutes=5)
    assert mail.deliver_due(now=later) == (5, 0)
    assert mail.deliver_due(now=later + timedelta(hours=1)) == (0, 0)
    assert sorted(m["To"] for m in handler.messages) == [f"r{i}@example.com" for i in range(5)]


def test_enqueue_is_idempotent_by_key(app):
    mail.enqueue("a@example.com", "s", "b", "same-key")
    db.session.commit()
    assert mail.enqueue("a@example.com", "s", "b", "same-key") is None


def test_a_claimed_message_is_not_sent_by_a_second_worker(app, smtp):
    controller, handler = smtp
    controller.start()
    _enqueue(1)
    row = db.session.scalar(select(OutboxMessage))
    row.claimed_until = utcnow() + timedelta(minutes=5)
    db.session.commit()
    assert mail.deliver_due() == (0, 0)
    assert handler.messages == []


def test_backoff_grows_and_is_capped():
    assert mail.backoff(1) < mail.backoff(2) < mail.backoff(3)
    assert mail.backoff(30) == timedelta(hours=1)
