"""(a) kill -9 of the portal during a storm of ticket POSTs.

16 residents post tickets as fast as the portal answers, through gunicorn with 4 workers; twice
during the storm the master and every worker are killed with SIGKILL, and the portal is started
again on the same port while the writers keep going. Afterwards: every ticket whose POST was
answered 2xx/3xx is stored (with the id its answer named), and no ticket number is given twice.

    python -m chaos.kill_storm sqlite|postgresql
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

WRITERS = 16
KILLS = 2
CALM = 3.0  # seconds of storm before each kill, and after the last restart
DOWN = 1.0  # seconds between the kill and the restart


def scenario(kind="sqlite"):
    with tempfile.TemporaryDirectory(prefix="portal-chaos-") as folder, database(kind, folder) as (url, _server):
        with portal_app(url):
            phones = residents(WRITERS)
        portal = Portal(portal_env(url), f"{folder}/gunicorn.log", workers=4).start()
        writers = []
        for phone in phones:
            browser = Browser(portal.url, timeout=30)
            browser.login(phone)
            form = browser.get("/tickets/new").body
            writers.append((browser, re.search(r'name="unit_id"[^>]*>\s*<option[^>]*value="(\d+)"', form).group(1), browser.token()))
        outcomes, lock = [], threading.Lock()

        def post(i):
            browser, unit, token = writers[i]
            description = f"风暴报修 {i}-{uuid.uuid4().hex[:8]}"
            try:
                answer = browser.request("POST", "/tickets/new", {"csrf_token": token, "category": "repair", "unit_id": unit,
                                                                  "description": description, "idempotency_key": uuid.uuid4().hex})
                outcome = (description, answer.status, answer.location)
            except ConnectionRefusedError:
                outcome = (description, "refused", "")
                time.sleep(0.05)  # the portal is down: try again in a moment, as a phone would
            except (OSError, http.client.HTTPException):
                outcome = (description, "cut off", "")  # in flight when the portal was killed
            with lock:
                outcomes.append(outcome)

        with Storm(WRITERS, post):
            for _ in range(KILLS):
                time.sleep(CALM)
                portal.kill()
                time.sleep(DOWN)
                portal.start()
            time.sleep(CALM)
        portal.stop()
        _count(kind, url, outcomes)


def _count(kind, url, outcomes):
    from sqlalchemy import func, select

    from portal.extensions import db
    from portal.models import Ticket

    with portal_app(url):
        stored = dict(db.session.execute(select(Ticket.description, Ticket.id).where(Ticket.description.like("风暴报修 %"))).all())
        repeated = db.session.execute(select(Ticket.number).group_by(Ticket.number).having(func.count(Ticket.id) > 1)).scalars().all()
    acknowledged = {d: location for d, status, location in outcomes if isinstance(status, int) and 200 <= status < 400}
    missing = [d for d in acknowledged if d not in stored]
    misplaced = [d for d, location in acknowledged.items() if d in stored and not location.endswith(f"/tickets/{stored[d]}")]
    statuses = Counter(str(status) for _d, status, _l in outcomes)
    report(f"kill -9 during a {WRITERS}-writer ticket storm on {kind}", {
        "kills": KILLS, "posted": len(outcomes), "acknowledged": len(acknowledged), "stored": len(stored),
        "stored without an answer (in flight at a kill)": len(set(stored) - set(acknowledged)),
        "acknowledged but missing": len(missing), "answered with another ticket": len(misplaced),
        "numbers repeated": len(repeated), "answers": dict(sorted(statuses.items())),
    })
    check(acknowledged, "no POST was acknowledged: the storm did not reach the portal")
    check(not missing, f"acknowledged but not stored: {missing[:5]}")
    check(not misplaced, f"acknowledged with the id of another ticket: {misplaced[:5]}")
    check(not repeated, f"ticket numbers given twice: {repeated[:5]}")
    check(statuses["cut off"] + statuses["refused"] > 0, "no request went unanswered: the portal was not killed during the storm")


if __name__ == "__main__":
    sys.exit(run(scenario, sys.argv[1:]))
