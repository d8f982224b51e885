"""Email through the outbox: written in the caller's transaction, delivered by the worker.

Delivery claims rows with FOR UPDATE SKIP LOCKED (PostgreSQL) and a conditional claim update
(every database), so any number of workers can run side by side; a failed send is retried with
backoff and nothing is lost while the mail server is down.
"""
import logging
import smtplib
import ssl
from datetime import timedelta
from email.message import EmailMessage
from email.utils import formatdate
from urllib.parse import unquote, urlsplit

from flask import current_app, render_template
from flask_babel import force_locale
from sqlalchemy import or_, select, update

from portal.extensions import db
from portal.models import OutboxMessage, OutboxStatus, utcnow

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 12
CLAIM_SECONDS = 300


def enqueue(to_addr, subject, body, dedupe_key):
    """Adds one email to the outbox unless one with the same key is already there."""
    exists = db.session.scalar(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == dedupe_key))
    if exists:
        return None
    message = OutboxMessage(to_addr=to_addr, subject=subject[:300], body=body, dedupe_key=dedupe_key)
    db.session.add(message)
    return message


def render_email(template, language, **context):
    """Renders templates/email/<template>.txt in the recipient's language; the first line is the subject."""
    with force_locale(language):
        text = render_template(f"email/{template}.txt", **context)
    subject, _, body = text.strip().partition("\n")
    return subject.strip(), body.strip() + "\n"


def backoff(attempts):
    return timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 3600))


def deliver_due(limit=100, now=None):
    """Sends what is due. Returns (sent, failed)."""
    sent = failed = 0
    for message_id in _claim(limit, now or utcnow()):
        message = db.session.get(OutboxMessage, message_id)
        try:
            _send(message)
        except (OSError, smtplib.SMTPException) as exc:
            message.attempts += 1
            message.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            message.claimed_until = None
            if message.attempts >= MAX_ATTEMPTS:
                message.status = OutboxStatus.DEAD
                log.error("outbox %s: giving up after %s attempts: %s", message.id, message.attempts, exc)
            else:
                message.next_attempt_at = utcnow() + backoff(message.attempts)
                log.warning("outbox %s: attempt %s failed: %s", message.id, message.attempts, exc)
            failed += 1
        else:
            message.status = OutboxStatus.SENT
            message.sent_at = utcnow()
            message.attempts += 1
            message.claimed_until = None
            sent += 1
        db.session.commit()
    return sent, failed


def _claim(limit, now):
    ids = db.session.scalars(
        select(OutboxMessage.id)
        .where(
            OutboxMessage.status == OutboxStatus.PENDING,
            OutboxMessage.next_attempt_at <= now,
            or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now),
        )
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    claimed = []
    until = now + timedelta(seconds=CLAIM_SECONDS)
    for message_id in ids:
        result = db.session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.id == message_id,
                OutboxMessage.status == OutboxStatus.PENDING,
                or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now),
            )
            .values(claimed_until=until)
        )
        if result.rowcount == 1:
            claimed.append(message_id)
    db.session.commit()
    return claimed


def _send(message):
    email = EmailMessage()
    email["From"] = current_app.config["MAIL_FROM"]
    email["To"] = message.to_addr
    email["Subject"] = message.subject
    email["Date"] = formatdate(localtime=False)
    email["Message-ID"] = f"<outbox-{message.id}-{message.dedupe_key.replace(':', '.')[:60]}@portal>"
    email.set_content(message.body)
    url = current_app.config.get("MAIL_URL")
    if not url:
        log.info("mail (no PORTAL_MAIL_URL set, printed instead):\n%s", email.as_string())
        return
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps", "smtp+starttls"):
        raise smtplib.SMTPException(f"unsupported mail URL scheme {parts.scheme!r}")
    port = parts.port or (465 if parts.scheme == "smtps" else 25)
    if parts.scheme == "smtps":
        client = smtplib.SMTP_SSL(parts.hostname, port, timeout=20, context=ssl.create_default_context())
    else:
        client = smtplib.SMTP(parts.hostname, port, timeout=20)
    with client:
        if parts.scheme == "smtp+starttls":
            client.starttls(context=ssl.create_default_context())
        if parts.username:
            client.login(unquote(parts.username), unquote(parts.password or ""))
        client.send_message(email)
