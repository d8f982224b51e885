"""(b) PostgreSQL restarted under load.

The portal runs on a private PostgreSQL of its own (never the machine's). Eight residents read
the notice board and their requests and post tickets, without pause; in the middle,
`pg_ctl restart -m immediate` cuts every connection and the server goes through crash recovery.
While it is down the portal may only answer with its own 503 page (no 500, no bare error, no
dropped connection); once it is back, the same gunicorn processes answer normally again
(nobody restarts them), and every ticket acknowledged at any time is stored.

    python -m chaos.pg_restart
"""
import http.client
import re
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter

from chaos.common import Browser, Portal, Storm, check, database, portal_app, portal_env, report, residents, run

CLIENTS = 8
BEFORE = 3.0  # seconds of load before the restart
AFTER = 6.0  # seconds of load after the server is back
RECOVERY = 3.0  # the last seconds of which every request must succeed
PORTAL_PAGE = re.compile(r'<html lang="[^"]+">')  # the portal's own 500 page; Werkzeug's and gunicorn's bare ones have not


def scenario():
    with tempfile.TemporaryDirectory(prefix="portal-chaos-") as folder, database("postgresql", folder) as (url, server):
        with portal_app(url):
            phones = residents(CLIENTS)
        portal = Portal(portal_env(url), f"{folder}/gunicorn.log", workers=4).start()
        master = portal.proc.pid
        clients = []
        for phone in phones:
            browser = Browser(portal.url, timeout=30)
            browser.login(phone)
            form = browser.get("/tickets/new").body
            clients.append((browser, re.search(r'name="unit_id"[^>]*>\s*<option[^>]*value="(\d+)"', form).group(1), browser.token()))
        outcomes, lock, turn = [], threading.Lock(), Counter()

        def act(i):
            browser, unit, token = clients[i]
            turn[i] += 1
            description = ""
            started = time.monotonic()
            try:
                if turn[i] % 3 == 0:
                    description = f"重启报修 {i}-{uuid.uuid4().hex[:8]}"
                    answer = browser.request("POST", "/tickets/new", {"csrf_token": token, "category": "repair", "unit_id": unit,
                                                                      "description": description, "idempotency_key": uuid.uuid4().hex})
                else:
                    answer = browser.get("/notices/" if turn[i] % 3 == 1 else "/tickets/")
                kind = str(answer.status) if answer.status != 500 else f"500 {'portal' if PORTAL_PAGE.search(answer.body) else 'bare'}"
            except (OSError, http.client.HTTPException) as exc:
                kind = f"no answer ({type(exc).__name__})"
            with lock:
                outcomes.append((started, time.monotonic(), kind, description))
            if kind.startswith("503"):
                time.sleep(0.05)

        with Storm(CLIENTS, act):
            time.sleep(BEFORE)
            down = time.monotonic()
            server.restart()  # returns when the server accepts connections again
            up = time.monotonic()
            time.sleep(AFTER)
        end = time.monotonic()
        still_running = portal.running and portal.proc.pid == master
        portal.stop()
        _count(url, outcomes, down, up, end, still_running)


def _count(url, outcomes, down, up, end, still_running):
    from sqlalchemy import select

    from portal.extensions import db
    from portal.models import Ticket

    with portal_app(url):
        stored = set(db.session.scalars(select(Ticket.description).where(Ticket.description.like("重启报修 %"))))
    during = Counter(kind for started, finished, kind, _d in outcomes if finished >= down and started <= up)
    after = Counter(kind for started, _f, kind, _d in outcomes if started > up)
    last = Counter(kind for started, _f, kind, _d in outcomes if started > end - RECOVERY)
    first_good = min((started for started, _f, kind, _d in outcomes if started > up and kind[0] in "23"), default=None)
    acknowledged = {d for _s, _f, kind, d in outcomes if d and kind[0] in "23"}
    report("PostgreSQL restarted (-m immediate) under load", {
        "requests": len(outcomes), "down for": f"{up - down:.1f} s",
        "answers while down": dict(sorted(during.items())), "answers after": dict(sorted(after.items())),
        "first success after": "never" if first_good is None else f"{first_good - up:.2f} s",
        "tickets acknowledged": len(acknowledged), "acknowledged but missing": len(acknowledged - stored),
        "gunicorn restarted": "no" if still_running else "yes",
    })
    errors = {kind: n for kind, n in (during + after).items() if not (kind[0] in "23" or kind == "503")}
    check(sum(during.values()) > 0, "no request met the restart")
    check(not errors, f"while PostgreSQL was down or coming back the portal answered otherwise than with its 503 page: {errors}")
    check(still_running, "gunicorn did not survive the database restart")
    check(last and set(last) <= {"200", "302"}, f"not recovered in the last {RECOVERY:.0f} s: {dict(last)}")
    check(acknowledged <= stored, f"acknowledged but not stored: {sorted(acknowledged - stored)[:5]}")


if __name__ == "__main__":
    sys.exit(run(scenario, sys.argv[1:]))
