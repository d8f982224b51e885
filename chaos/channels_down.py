"""(c) The mail server and each message provider down, and back.

An emergency notice goes out (SMS, WeChat and email to every resident at once) and an unanswered
emergency is escalated to the department heads on 企业微信, while the SMTP server and the SMS,
WeChat and 企业微信 stand-ins (each a server of its own, tests/standins/providers.py) are all
down: nothing answers on their ports. Two `flask worker` processes try, fail and back off;
the servers come back one after the other. Afterwards every message has been delivered, each
exactly once, and each after at least one failed attempt.

    python -m chaos.channels_down
"""
import sys
import tempfile
import time
from collections import Counter
from email import message_from_bytes

from flask import current_app

from chaos.common import Worker, approve_templates, check, database, free_port, portal_app, portal_env, report, run, wait_for
from chaos.common import residents, staff

RESIDENTS = 8
HEADS = 3
KINDS = ("notice_emergency", "ticket_escalated")


class Mailbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


class Smtp:
    """A mail server on a fixed port that can be down (nothing listening) and back."""

    def __init__(self):
        self.port, self.mailbox, self.controller = free_port(), Mailbox(), None

    def start(self):
        from aiosmtpd.controller import Controller

        self.controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self):
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


def scenario():
    from tests.standins.providers import Providers

    # One stand-in per provider, each on its own port: each can be down on its own.
    sms, wechat, wecom = (Providers(port=free_port()) for _ in range(3))
    smtp = Smtp()
    with tempfile.TemporaryDirectory(prefix="portal-chaos-") as folder, database("sqlite", folder) as (url, _server), portal_app(url):
        expected = _prepare(sms, wechat, wecom)
        env = portal_env(url, PORTAL_SMS_URL=sms.urls()["aliyun"], PORTAL_WECHAT_URL=wechat.urls()["wechat"],
                         PORTAL_WECOM_URL=wecom.urls()["wecom"], PORTAL_MAIL_URL=f"smtp://127.0.0.1:{smtp.port}",
                         PORTAL_CHANNEL_TIMEOUT=2)
        workers = [Worker(env, f"{folder}/worker-{n}.log").start(interval=0.5) for n in (1, 2)]
        try:
            wait_for(lambda: _failed_once(expected), 40, "every message tried once while everything is down", interval=0.5)
            came_back = {}
            for name, server in (("email", smtp), ("sms", sms), ("wechat", wechat), ("wecom", wecom)):
                server.start()
                came_back[name] = time.monotonic()
                time.sleep(1.0)
            wait_for(_all_sent, 45, "every message delivered after the servers came back", interval=0.5)
            for worker in workers:
                worker.stop()
            received = {
                "sms": Counter(m["to"] for m in sms.messages("aliyun_sms")),
                "wechat": Counter(m["to"] for m in wechat.messages("wechat")),
                "wecom": Counter(m["to"].lower() for m in wecom.messages("wecom")),
                "email": Counter(m["To"] for m in smtp.mailbox.messages),
            }
        finally:
            for worker in workers:
                worker.stop()
            for server in (smtp, sms, wechat, wecom):
                server.stop()
        _count(expected, received, [w.sent() for w in workers])


def _prepare(sms, wechat, wecom):
    """The people, the templates, the stand-ins' followers and members; an emergency notice for
    the worker to publish and an escalation in the outbox. Returns {channel: {address}}."""
    from portal.extensions import db
    from portal.models import Delivery, Notice, NoticeCategory, NotifyJob, TicketChannel, User, utcnow
    from portal.notify import notify
    from portal.services import tickets

    now, app = utcnow(), current_app._get_current_object()
    phones = residents(RESIDENTS, email_domain="example.com", sms_consent_at=now, wechat_consent_at=now)
    people = db.session.scalars(db.select(User).where(User.phone.in_(phones))).all()
    for person in people:
        person.wechat_openid = f"o_{person.phone}"
        wechat.follow(person.wechat_openid)
    heads = []
    for n in range(HEADS):
        staff(f"head{n}", role="head", wecom_userid=f"Head{n}")
        wecom.add_member(f"Head{n}")
        heads.append(db.session.scalar(db.select(User).where(User.username == f"head{n}")))
    office = db.session.scalar(db.select(User).where(User.username == staff("kefu")))
    for server in (sms, wechat):
        approve_templates(app, server, KINDS)
    ticket, _ = tickets.create(category="repair", channel=TicketChannel.ONLINE, description="3号楼电梯困人", actor=people[0], now=now,
                               resident=people[0], unit=people[0].residencies[0].unit)
    db.session.execute(db.delete(Delivery))  # what registering the ticket queued: not this scenario's
    db.session.execute(db.delete(NotifyJob))
    notify("ticket_escalated", ticket, heads, now=now, extra={"minutes": 15}, context={"minutes": 15})
    db.session.add(Notice(title="燃气管道抢修，请勿使用明火", body="今晚燃气管道抢修。", body_html="<p>今晚燃气管道抢修。</p>",
                          category=NoticeCategory.EMERGENCY, is_community_wide=True, author_id=office.id, publish_at=now))
    db.session.commit()
    return {
        "sms": {p.phone for p in people}, "wechat": {p.wechat_openid for p in people},
        "email": {p.email for p in people}, "wecom": {h.wecom_userid.lower() for h in heads},
    }


def _rows():
    """(channel, address, status, attempts, [outcome of each attempt]) of this scenario's messages, as now committed."""
    from portal.extensions import db
    from portal.models import Delivery

    try:
        return [(row.channel.value, row.address, row.status.value, row.attempts, [a.outcome for a in row.attempt_log])
                for row in db.session.scalars(db.select(Delivery).where(Delivery.kind.in_(KINDS)))]
    finally:
        db.session.remove()


def _failed_once(expected):
    rows = _rows()
    return len(rows) == sum(len(a) for a in expected.values()) and all(attempts >= 1 for *_x, attempts, _log in rows)


def _all_sent():
    rows = _rows()
    return rows and all(status == "sent" for _c, _a, status, _n, _log in rows)


def _count(expected, received, shares):
    rows = _rows()
    counts = {}
    for channel, addresses in sorted(expected.items()):
        mine = [r for r in rows if r[0] == channel]
        counts[channel] = {
            "queued": len(mine), "failed attempts while down": sum(log.count("transient") for *_x, log in mine),
            "delivered": sum(received[channel].values()),
            "delivered twice or more": sum(1 for n in received[channel].values() if n > 1),
        }
    report("SMTP, SMS, WeChat and 企业微信 down, then back", {**counts, "sent by each worker": shares})
    for channel, addresses in expected.items():
        mine = [r for r in rows if r[0] == channel]
        check(all(status == "sent" for _c, _a, status, _n, _l in mine), f"{channel}: not every message sent")
        check(all(log and log[0] == "transient" and log[-1] == "sent" for *_x, log in mine),
              f"{channel}: a message was sent without first failing: the server was not down for it")
        check(received[channel] == Counter({address: 1 for address in addresses}),
              f"{channel}: not each address exactly once: {dict(received[channel])}")


if __name__ == "__main__":
    sys.exit(run(scenario, sys.argv[1:]))
