"""make bench: the portal against a bare Flask hello world, same gunicorn settings, same run.

Prints one line per measured page, `ratio <name> <rps of the page / rps of hello world measured just before it>`, and the
SQL statement count per page. See bench/README.md.
"""
import argparse
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

RESIDENT = "13800000001"
STAFF = "kefu"
PASSWORD = "demo1234"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(url, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except Exception:
            time.sleep(0.2)
    raise SystemExit(f"server at {url} did not come up")


def gunicorn(app_spec, port, env, workers, chdir=ROOT):
    cmd = [
        os.path.join(os.path.dirname(sys.executable), "gunicorn"),
        "-w", str(workers), "-k", "sync", "-b", f"127.0.0.1:{port}",
        "--log-level", "warning", "--chdir", chdir, app_spec,
    ]
    return subprocess.Popen(cmd, env=env, start_new_session=True)


def stop(proc):
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
    except Exception:
        os.killpg(proc.pid, signal.SIGKILL)


def wrk(url, seconds, connections, headers=()):
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for h in headers:
        cmd += ["-H", h]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return rps, int(non2xx.group(1)) if non2xx else 0, out


def login_cookie(base, identifier=RESIDENT):
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(base + "/auth/login").read().decode()
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    data = urllib.parse.urlencode({"csrf_token": token, "identifier": identifier, "password": PASSWORD, "next": ""}).encode()
    opener.open(base + "/auth/login", data)
    body = opener.open(base + "/notices/").read().decode()
    assert "公告" in body, f"login for the benchmark failed ({identifier})"
    return "; ".join(f"{c.name}={c.value}" for c in jar)


def prepare_database(path, scale):
    from flask_migrate import upgrade

    from portal import create_app
    from portal.extensions import db
    from portal.services import demo

    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}", "SECRET_KEY": "bench"})
    logging.getLogger("alembic").setLevel(logging.WARNING)
    with app.app_context():
        upgrade()
        demo.seed(scale=scale)
        from portal.models import Building, utcnow
        from portal.services import kiosk

        building = db.session.scalar(db.select(Building).where(Building.name == "1号楼"))
        app.config["BENCH_KIOSK"] = kiosk.create(building, "大堂", "landscape", 12, 30, None, None, utcnow()).secret
        db.session.commit()
        app.config["BENCH_CONVERSATION"] = open_conversations(200)
    return app


def open_conversations(n):
    """n open chats waiting for customer service (the demo has two); returns the demo resident's."""
    from portal.extensions import db
    from portal.models import Conversation, ConversationStatus, Role, Sender, User, utcnow
    from portal.services import chat

    have = db.session.scalar(db.select(db.func.count(Conversation.id)).where(Conversation.status != ConversationStatus.CLOSED))
    residents = db.session.scalars(db.select(User).where(User.role == Role.RESIDENT, User.phone.like("137%")).limit(max(n - have, 0))).all()
    for person in residents:
        conversation = chat.start(person, person.residencies[0].unit if person.residencies else None, utcnow())
        chat.post(conversation, Sender.RESIDENT, "请问物业费可以按季度交吗？", utcnow())
    db.session.commit()
    mine = db.session.scalar(db.select(User).where(User.phone == RESIDENT))
    return chat.latest_for(mine).id


WECHAT_TOKEN = "benchtoken"
WECHAT_LUA = """
counter = 0
request = function()
  counter = counter + 1
  local body = string.format("<xml><ToUserName><![CDATA[gh_bench]]></ToUserName><FromUserName><![CDATA[o_bench%d]]></FromUserName>"
    .. "<CreateTime>%d</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[电梯又坏了]]></Content>"
    .. "<MsgId>%d%09d</MsgId></xml>", counter % 500, os.time(), math.random(1, 1000000), counter)
  return wrk.format("POST", nil, {["Content-Type"] = "text/xml"}, body)
end
"""


def wechat_query():
    import hashlib
    import secrets

    timestamp, nonce = str(int(time.time())), secrets.token_hex(5)
    signature = hashlib.sha1("".join(sorted([WECHAT_TOKEN, timestamp, nonce])).encode()).hexdigest()
    return f"signature={signature}&timestamp={timestamp}&nonce={nonce}"


def cpu_seconds(pid):
    """CPU time (user + system) of a process and its children, from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = [pid]
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid:
                    pids.append(int(entry))
            except OSError:
                continue
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except OSError:
            continue
    return total


def statement_count(app, url, identifier=RESIDENT):
    """SQL statements for one page view: (cold, with empty caches; warm, the steady state)."""
    from sqlalchemy import event

    from portal import cache
    from portal.extensions import db

    with app.app_context():
        engine = db.engine
    client = app.test_client()  # requests outside any app context: each gets a fresh `g`, as in production
    page = client.get("/auth/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    client.post("/auth/login", data={"csrf_token": token, "identifier": identifier, "password": PASSWORD})
    client.get(url)
    statements = []
    listener = lambda *a: a[2].startswith(("BEGIN", "SAVEPOINT", "RELEASE")) or statements.append(a[2])  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        cache.clear()
        client.get(url)
        cold = len(statements)
        client.get(url)  # (the view after emptied caches learns the session's person: the steady state's statement names them)
        statements.clear()
        client.get(url)
        warm = len(statements)
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    return cold, warm


RARE_TERMS = 9  # words of the demo's RARE list, each in a handful of the 100,000 tickets
COMMON_TERMS = ["漏水", "尽快", "师傅", "昨天晚上", "楼道", "谢谢", "电梯", "垃圾", "噪音", "请问", "建议"]


def search_latency(app, base, cookie):
    """The register's first page searched for a rare and for a common term, as customer service:
    the median of several GETs over HTTP, timed by the client. Each GET asks for a different word,
    so that none is answered from the kept page of an earlier one: each is a search."""
    from sqlalchemy import func, select

    from portal.extensions import db
    from portal.models import Ticket
    from portal.search import matches
    from portal.services import demo

    with app.app_context():
        found = {q: db.session.scalar(select(func.count(Ticket.id)).where(matches(Ticket, q))) for q in demo.RARE + COMMON_TERMS}
    rare = [q for q in demo.RARE if 0 < found[q] <= 20][:RARE_TERMS]
    common = [q for q in COMMON_TERMS if found[q] >= 2000]

    def get(q):
        request = urllib.request.Request(f"{base}/tickets/?q={urllib.parse.quote(q)}", headers={"Cookie": cookie})
        started = time.perf_counter()
        with urllib.request.urlopen(request) as response:
            body = response.read().decode()
        elapsed = (time.perf_counter() - started) * 1000
        if q in found and len(re.findall(r'<tr(?: class="overdue")?>\s*<td><a href=', body)) != min(found[q], 30):
            raise SystemExit(f"the register searched for {q} did not show its first page of {found[q]} tickets")
        return elapsed

    get("水管")  # warm up the search path (not measured, not one of the terms)
    for name, terms in (("search_rare_ms", rare), ("search_common_ms", common)):
        times = sorted(get(q) for q in terms)
        counts = sorted(found[q] for q in terms)
        print(f"latency {name} {times[len(times) // 2]:.1f} (median of {len(times)} searches, each a different word "
              f"in {counts[0]:,} to {counts[-1]:,} of the tickets)")


def dashboard_after_write(app, base, cookie, url, repeats=7):
    """The dashboard's first view after a ticket write, as the head of customer service sees it:
    a progress note on this month's newest ticket committed, then the page GET over HTTP, timed
    by the client (the median of several)."""
    from sqlalchemy import select

    from portal.extensions import db
    from portal.models import OPEN_STATUSES, Ticket, User, utcnow
    from portal.services import tickets

    times = []
    for i in range(repeats):
        with app.app_context():
            ticket = db.session.scalar(select(Ticket).where(Ticket.status.in_(OPEN_STATUSES)).order_by(Ticket.id.desc()).limit(1))
            staff = db.session.scalar(select(User).where(User.username == STAFF))
            tickets.progress(ticket, f"材料已到，第{i + 1}次跟进", None, staff, utcnow())
            db.session.commit()
        request = urllib.request.Request(base + url, headers={"Cookie": cookie})
        started = time.perf_counter()
        with urllib.request.urlopen(request) as response:
            response.read()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    print(f"latency dashboard_after_write_ms {times[len(times) // 2]:.1f} (median of {repeats}: a ticket written, then the "
          f"figures over a year, first view)")


def _year_dashboard():
    from datetime import date, timedelta

    today = date.today()
    return f"/figures/?start={today - timedelta(days=365)}&end={today}"


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=int, default=1, help="seed-demo --scale (10,000 notices per step)")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--night-speed", type=float, default=10.0, help="the bad night's clock runs this many times faster than real time")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install wrk; make bench installs it as root)")

    workdir = tempfile.mkdtemp(prefix="portal-bench-")
    db_path = os.path.join(workdir, "bench.db")
    print(f"preparing the database (--scale {args.scale}) in {workdir} ...", flush=True)
    app = prepare_database(db_path, args.scale)
    env = dict(os.environ, PORTAL_DATABASE_URL=f"sqlite:///{db_path}", PORTAL_SECRET_KEY="bench", PYTHONPATH=ROOT,
               PORTAL_WECHAT_URL=f"wechat+http://wxbench:secret@127.0.0.1:9?token={WECHAT_TOKEN}")
    env.pop("PORTAL_REDIS_URL", None)
    hello_port, portal_port = free_port(), free_port()
    hello = gunicorn("hello:app", hello_port, env, args.workers, chdir=os.path.join(ROOT, "bench"))
    portal = gunicorn("portal:create_app()", portal_port, env, args.workers)
    try:
        wait_up(f"http://127.0.0.1:{hello_port}/")
        wait_up(f"http://127.0.0.1:{portal_port}/healthz")
        base = f"http://127.0.0.1:{portal_port}"
        cookies = {who: login_cookie(base, who) for who in (RESIDENT, STAFF)}
        pages = [
            ("notice_board", "/notices/", RESIDENT),  # goal 0.25
            ("ticket_register", "/tickets/", STAFF),  # goal 0.20: the staff register's first page
            ("resident_tickets", "/tickets/", RESIDENT),  # goal 0.25: a resident's own list
            ("events", "/events/", RESIDENT),  # goal 0.25: the resident events page
            ("dashboard", _year_dashboard(), STAFF),  # goal 0.05: the figures over a year of data
        ]
        # warm up both
        wrk(f"http://127.0.0.1:{hello_port}/", 2, args.connections)
        for _name, path, who in pages:
            wrk(base + path, 2, args.connections, [f"Cookie: {cookies[who]}"])
        def hello_beside(name):
            """Hello world measured right before a line: on a shared machine whose load moves
            within seconds, each ratio compares two neighbouring measurements."""
            rps, _, _ = wrk(f"http://127.0.0.1:{hello_port}/", args.seconds, args.connections)
            print(f"hello_world_rps {rps:.0f} (beside {name})")
            return rps

        for name, path, who in pages:
            hello_rps = hello_beside(name)
            rps, errors, _ = wrk(base + path, args.seconds, args.connections, [f"Cookie: {cookies[who]}"])
            if errors:
                raise SystemExit(f"{name} answered {errors} non-2xx responses under load")
            print(f"{name}_rps {rps:.0f}")
            print(f"ratio {name} {rps / hello_rps:.3f}")
        for name, path, who in pages:
            cold, warm = statement_count(app, path, who)
            print(f"statements {name} {warm} (cold caches: {cold})")
        search_latency(app, base, cookies[STAFF])
        dashboard_after_write(app, base, cookies[STAFF], _year_dashboard())

        # The lobby screen: the page itself, and a poll that finds nothing new (304).
        secret = app.config["BENCH_KIOSK"]
        kiosk_page = f"{base}/kiosk/{secret}"
        etag = urllib.request.urlopen(f"{kiosk_page}/slides").headers["ETag"]
        poll = [f"If-None-Match: {etag}"]
        wrk(kiosk_page, 2, args.connections)
        wrk(f"{kiosk_page}/slides", 2, args.connections, poll)
        hello_rps = hello_beside("kiosk_page")
        rps, errors, _ = wrk(kiosk_page, args.seconds, args.connections)
        print(f"kiosk_page_rps {rps:.0f}")
        print(f"ratio kiosk_page {rps / hello_rps:.3f}")
        hello_rps = hello_beside("kiosk_poll_304")
        before = cpu_seconds(portal.pid)
        started = time.monotonic()
        rps, _, out = wrk(f"{kiosk_page}/slides", args.seconds, args.connections, poll)
        elapsed = time.monotonic() - started
        used = cpu_seconds(portal.pid) - before
        try:
            urllib.request.urlopen(urllib.request.Request(f"{kiosk_page}/slides", headers={"If-None-Match": etag}))
            raise SystemExit("the kiosk poll did not answer 304")
        except urllib.error.HTTPError as answer:
            if answer.code != 304:
                raise SystemExit(f"the kiosk poll answered {answer.code}") from None
        if "Non-2xx" in out:
            raise SystemExit("the kiosk poll answered errors under load")
        print(f"kiosk_poll_304_rps {rps:.0f}")
        print(f"ratio kiosk_poll_304 {rps / hello_rps:.3f}")
        per_poll = used / (rps * elapsed)
        screens = 500 / 30  # 500 screens polling every 30 seconds
        print(f"kiosk_500_screens_cpu {100 * screens * per_poll:.2f}% of one core ({per_poll * 1000:.3f} ms CPU per 304 poll)")

        # The bell: a poll that finds nothing new for a signed-in resident (304, before Flask).
        bell = f"{base}/notifications/bell"
        request = urllib.request.Request(bell, headers={"Cookie": cookies[RESIDENT]})
        tag = urllib.request.urlopen(request).headers["ETag"]
        headers = [f"Cookie: {cookies[RESIDENT]}", f"If-None-Match: {tag}"]
        wrk(bell, 2, args.connections, headers)
        hello_rps = hello_beside("notifications_poll_304")
        rps, errors, _ = wrk(bell, args.seconds, args.connections, headers)
        check = urllib.request.Request(bell, headers={"Cookie": cookies[RESIDENT], "If-None-Match": tag})
        try:
            urllib.request.urlopen(check)
            raise SystemExit("the bell poll did not answer 304")
        except urllib.error.HTTPError as answer:
            if answer.code != 304:
                raise SystemExit(f"the bell poll answered {answer.code}") from None
        print(f"notifications_poll_304_rps {rps:.0f}")
        print(f"ratio notifications_poll_304 {rps / hello_rps:.3f}")

        # The chat: a resident's conversation poll that finds nothing new (304), with 200 open conversations.
        poll = f"{base}/chat/{app.config['BENCH_CONVERSATION']}/messages"
        request = urllib.request.Request(poll, headers={"Cookie": cookies[RESIDENT], "HX-Request": "true"})
        tag = urllib.request.urlopen(request).headers["ETag"]
        headers = [f"Cookie: {cookies[RESIDENT]}", f"If-None-Match: {tag}", "HX-Request: true"]
        wrk(poll, 2, args.connections, headers)
        hello_rps = hello_beside("chat_poll_304")
        rps, _, _ = wrk(poll, args.seconds, args.connections, headers)
        try:
            urllib.request.urlopen(urllib.request.Request(poll, headers={"Cookie": cookies[RESIDENT], "HX-Request": "true", "If-None-Match": tag}))
            raise SystemExit("the chat poll did not answer 304")
        except urllib.error.HTTPError as answer:
            if answer.code != 304:
                raise SystemExit(f"the chat poll answered {answer.code}") from None
        print(f"chat_poll_304_rps {rps:.0f}")
        print(f"ratio chat_poll_304 {rps / hello_rps:.3f}")

        # WeChat's callback: signed plaintext text messages, each with its own MsgId.
        script = os.path.join(workdir, "wechat.lua")
        with open(script, "w") as f:
            f.write(WECHAT_LUA)
        callback = f"{base}/wechat/callback?{wechat_query()}"
        out = subprocess.run(["wrk", "-t2", f"-c{args.connections}", f"-d{args.seconds}s", "-s", script, callback],
                             capture_output=True, text=True, check=True).stdout
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
        errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
        if errors:
            raise SystemExit(f"the WeChat callback answered {errors.group(1)} errors under load")
        print(f"rate wechat_callback {rps:.0f} (signed plaintext text messages per second)")
    finally:
        stop(hello)
        stop(portal)
    try:
        notification_bench(app, args)
        bad_night(app, args)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def notification_bench(app, args, residents=10_000):
    """Publishing an emergency notice to 10,000 residents against publishing an ordinary one (both
    write one fan-out job: the worker does the rest), the worker's fan-out, and one worker's SMS
    delivery rate through the providers' stand-in (tests/standins/providers.py)."""
    from datetime import timedelta

    from sqlalchemy import func, insert, select

    from portal.extensions import db
    from portal.models import Channel, Delivery, DeliveryStatus, Notice, Role, User, utcnow
    from portal.notify import delivery, fanout, kinds
    from portal.notify.admin import aliyun_template
    from portal.services import notices, settings
    from tests.standins.providers import Providers

    with Providers() as standin, app.app_context():
        app.config.update(SMS_URL=standin.urls()["aliyun"], CHANNEL_TIMEOUT=10)
        app.extensions.pop("portal_channels", None)
        with app.test_request_context("/"):
            codes = {}
            for i, kind in enumerate(kinds.KINDS.values()):
                codes[f"sms_template.{kind.name}"] = f"SMS_{800000 + i}"
                standin.approve_template("aliyun_sms", f"SMS_{800000 + i}", list(kind.sms_params), content=aliyun_template(kind, "zh_Hans"))
        settings.update(codes, None)
        have = db.session.scalar(select(func.count(User.id)).where(User.role == Role.RESIDENT))
        now = utcnow()
        if have < residents:  # top up the benchmark community to 10,000 residents, every one with SMS consent
            db.session.execute(insert(User), [
                {"phone": f"135{i:08d}", "name": f"住户{i}", "role": Role.RESIDENT, "password_hash": "", "language": "zh_Hans",
                 "sms_consent_at": now, "is_active": True, "created_at": now}
                for i in range(residents - have)
            ])
        db.session.execute(User.__table__.update().where(User.role == Role.RESIDENT).values(sms_consent_at=now))
        db.session.commit()
        count = db.session.scalar(select(func.count(User.id)).where(User.role == Role.RESIDENT))
        author = db.session.scalar(select(User).where(User.role == Role.STAFF).limit(1))

        def publish(category):
            started = time.perf_counter()
            notice = Notice()
            notices.save(notice, title="燃气管道抢修" if category == "emergency" else "电梯年检", body="请注意安全。", category=category,
                         community_wide=True, buildings=[], publish_at=utcnow() - timedelta(seconds=1), expires_at=None,
                         is_pinned=False, actor=author, now=utcnow())
            db.session.commit()
            return time.perf_counter() - started

        for _ in range(2):  # warm up
            publish("news")
        ordinary = sorted(publish("news") for _ in range(5))[2]
        emergency = sorted(publish("emergency") for _ in range(5))[2]
        print(f"publish_ordinary_ms {ordinary * 1000:.1f}")
        print(f"publish_emergency_ms {emergency * 1000:.1f} (to {count} residents)")
        print(f"ratio emergency_publish_cost {emergency / ordinary:.2f}")
        # the worker's side: one emergency fanned out, then delivered
        db.session.execute(Delivery.__table__.delete())
        from portal.models import Notification, NotifyJob

        db.session.execute(Notification.__table__.delete())
        db.session.execute(NotifyJob.__table__.delete())
        db.session.commit()
        publish("emergency")
        started = time.perf_counter()
        told = 0
        while True:
            n = fanout.run_jobs(utcnow())
            told += n
            if not n:
                break
        print(f"fanout_emergency_s {time.perf_counter() - started:.2f} ({told} residents told)")
        target = 2000
        started = time.perf_counter()
        sent = 0
        while sent < target:
            result = delivery.deliver_due(limit=200)
            if not result:
                break
            sent += result.sent
        elapsed = time.perf_counter() - started
        delivered = db.session.scalar(select(func.count(Delivery.id)).where(Delivery.channel == Channel.SMS, Delivery.status == DeliveryStatus.SENT))
        received = len(standin.messages("aliyun_sms"))
        if received != delivered:
            raise SystemExit(f"the stand-in received {received} SMS for {delivered} deliveries")
        print(f"rate sms_delivery {sent / elapsed:.0f} (messages per second, one worker, {sent} SMS through the Aliyun SDK)")


WORKER_INTERVAL = 5.0  # seconds: `flask worker`'s default --interval


def bad_night(app, args, emergencies=100, spread_minutes=10, tail_minutes=12):
    """A bad night: 100 emergencies over 10 minutes, each paged through the providers' stand-in
    (SMS and 企业微信) until acknowledged, some never. The worker's own code runs in a loop on a
    clock `--night-speed` times faster than real time (each round's processing time counts that
    many times over, so the lateness printed is an upper bound). Prints the 95th percentile of how
    late pages went out against their schedule, and checks that every emergency was acknowledged
    or escalated on schedule."""
    import random
    from datetime import timedelta

    from sqlalchemy import select

    from portal.database import begin_write
    from portal.extensions import db
    from portal.models import Delivery, DeliveryStatus, Page, Role, Ticket, User, utcnow
    from portal.notify import delivery
    from portal.services import paging, settings, tickets

    rng = random.Random(7)
    speed = args.night_speed
    with app.app_context():
        from tests.standins.providers import Providers

        standin = Providers().start()
        try:
            app.config.update(SMS_URL=standin.urls()["aliyun"], WECOM_URL=standin.urls()["wecom"], CHANNEL_TIMEOUT=10)
            app.extensions.pop("portal_channels", None)
            from portal.notify import kinds
            from portal.notify.admin import aliyun_template

            with app.test_request_context("/"):
                for i, kind in enumerate(kinds.KINDS.values()):
                    standin.approve_template("aliyun_sms", f"SMS_{900000 + i}", list(kind.sms_params), content=aliyun_template(kind, "zh_Hans"))
                    settings.update({f"sms_template.{kind.name}": f"SMS_{900000 + i}"}, None)
            for userid in db.session.scalars(select(User.wecom_userid).where(User.wecom_userid.is_not(None))):
                standin.add_member(userid)
            db.session.commit()
            repeat = timedelta(minutes=settings.get("page_repeat_minutes"))
            escalate = timedelta(minutes=settings.get("page_escalate_minutes"))
            kefu = db.session.scalar(select(User).where(User.username == "kefu"))
            residents = db.session.scalars(select(User).where(User.role == Role.RESIDENT).limit(emergencies)).all()
            head = db.session.scalar(select(User).where(User.username == "gongcheng"))
            start_real = time.monotonic()
            start_sim = utcnow()

            def clock():
                return start_sim + timedelta(seconds=(time.monotonic() - start_real) * speed)

            arrivals = sorted(rng.uniform(0, spread_minutes * 60) for _ in range(emergencies))
            acks = {}  # ticket id -> sim time to acknowledge (a third never)
            made, pending = [], list(arrivals)
            end = start_sim + timedelta(minutes=spread_minutes + tail_minutes)
            while clock() < end:
                now = clock()
                while pending and start_sim + timedelta(seconds=pending[0]) <= now:
                    pending.pop(0)
                    person = residents[len(made) % len(residents)]
                    unit = person.residencies[0].unit if person.residencies else None
                    begin_write(db.session)  # as a request would: the paging workers write meanwhile
                    ticket, _ = tickets.create(category="repair", channel="hotline", description="夜间紧急报修", actor=kefu, now=now,
                                               resident=person, unit=unit, is_urgent=True)
                    db.session.commit()
                    made.append(ticket.id)
                    if rng.random() < 0.67:
                        acks[ticket.id] = now + timedelta(minutes=rng.uniform(1, 14))
                for ticket_id, when in list(acks.items()):
                    if when <= now:
                        begin_write(db.session)
                        ticket = db.session.get(Ticket, ticket_id)
                        if ticket.acknowledged_at is None:
                            paging.acknowledge(ticket, head, now, "link")
                            db.session.commit()
                        del acks[ticket_id]
                paging.due(clock())
                db.session.commit()
                while delivery.deliver_due(now=clock()).sent >= 200:
                    pass
                time.sleep(WORKER_INTERVAL / speed)  # as `flask worker` sleeps between rounds
            # how late each page went out: its first delivery against the page's schedule
            late = []
            pages = db.session.scalars(select(Page).where(Page.ticket_id.in_(made))).all()
            for page in pages:
                sent = db.session.scalars(select(Delivery.sent_at).where(
                    Delivery.kind == "ticket_page", Delivery.user_id == page.user_id, Delivery.ticket_id == page.ticket_id,
                    Delivery.dedupe_key.like(f"ticket_page:ticket{page.ticket_id}:r{page.round}:%"), Delivery.status == DeliveryStatus.SENT,
                )).all()
                if sent:
                    late.append(max((min(sent) - page.due_at).total_seconds(), 0.0))
            late.sort()
            p95 = late[int(len(late) * 0.95) - 1] if late else float("nan")
            # on schedule: every round due before the acknowledgement (or the end) was paged, none after it,
            # and the chain grew to the deputy and the duty manager on time
            problems = off_schedule(db.session.scalars(select(Ticket).where(Ticket.id.in_(made))).all(), pages, end, repeat, escalate)
            acknowledged = sum(1 for t in db.session.scalars(select(Ticket).where(Ticket.id.in_(made))) if t.acknowledged_at)
            print(f"bad_night {len(made)} emergencies over {spread_minutes} minutes, {acknowledged} acknowledged, {len(pages)} pages, "
                  f"{len(standin.messages('aliyun_sms'))} SMS and {len(standin.messages('wecom'))} 企业微信 messages at the stand-in")
            print(f"latency pages_late_p95_s {p95:.1f} (clock at {speed:g}x: at most {p95 / speed:.1f} s of real time)")
            if problems:
                raise SystemExit(f"{problems} rounds were missing, at the wrong level or after the acknowledgement")
            print("bad_night every emergency was acknowledged or escalated on schedule")
        finally:
            standin.stop()


def off_schedule(tickets, pages, end, repeat, escalate):
    """How many of the bad night's rounds were missing, after the acknowledgement, or at a level
    before its time."""
    from datetime import timedelta

    problems = 0
    by_ticket = {}
    for page in pages:
        by_ticket.setdefault(page.ticket_id, []).append(page)
    for ticket in tickets:
        mine = by_ticket.get(ticket.id, [])
        # a round due within a worker interval before the acknowledgement may rightly never go
        answered = ticket.acknowledged_at - timedelta(seconds=2 * WORKER_INTERVAL) if ticket.acknowledged_at else end
        until = min(answered, end - repeat)
        due_rounds = {k for k in range(ticket.page_round + 1) if ticket.paging_since + k * repeat < until}
        if not due_rounds <= {p.round for p in mine}:
            problems += 1
        if ticket.acknowledged_at and any(p.due_at > ticket.acknowledged_at for p in mine):
            problems += 1
        problems += sum(1 for p in mine if p.level > min(2, int(p.round * repeat / escalate)))  # someone paged before their time
    return problems


if __name__ == "__main__":
    main()
