"""(d) 50 households sign up at the same instant for an event with 10 places.

50 residents, each of their own household, are signed in; at a barrier all 50 POST the sign-up
form at once, through gunicorn with 8 workers. Afterwards exactly 10 households are confirmed
and 40 are on the waitlist, each household once, and every POST was answered.

    python -m chaos.signups sqlite|postgresql
"""
import http.client
import sys
import tempfile
import threading
from collections import Counter
from datetime import timedelta

from chaos.common import Browser, Portal, check, database, portal_app, portal_env, report, residents, run, staff

HOUSEHOLDS = 50
PLACES = 10


def scenario(kind="sqlite"):
    with tempfile.TemporaryDirectory(prefix="portal-chaos-") as folder, database(kind, folder) as (url, _server):
        event_id, phones = _prepare(url)
        portal = Portal(portal_env(url), f"{folder}/gunicorn.log", workers=8).start()  # as many at once as the machine allows
        browsers = []
        for phone in phones:
            browser = Browser(portal.url, timeout=60)
            browser.login(phone)
            browser.get(f"/events/{event_id}")  # the page with the form, and the session's token
            browsers.append(browser)
        barrier, answers = threading.Barrier(HOUSEHOLDS), [None] * HOUSEHOLDS

        def sign_up(i):
            token = browsers[i].token()
            barrier.wait()
            try:
                answers[i] = browsers[i].request("POST", f"/events/{event_id}/signup", {"csrf_token": token, "seats": "1"}).status
            except (OSError, http.client.HTTPException) as exc:
                answers[i] = type(exc).__name__

        threads = [threading.Thread(target=sign_up, args=(i,)) for i in range(HOUSEHOLDS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=90)
        portal.stop()
        _count(kind, url, event_id, answers)


def _prepare(url):
    from portal.extensions import db
    from portal.models import Event, EventType, User, utcnow

    with portal_app(url):
        phones = residents(HOUSEHOLDS)
        organiser = db.session.scalar(db.select(User).where(User.username == staff("kefu")))
        start = utcnow() + timedelta(days=10)
        event = Event(kind=EventType.ACTIVITY, title="中秋游园会", location="中心花园", starts_at=start, ends_at=start + timedelta(hours=2),
                      capacity=PLACES, seats_per_household=1, is_community_wide=True, created_by_id=organiser.id)
        db.session.add(event)
        db.session.commit()
        return event.id, phones


def _count(kind, url, event_id, answers):
    from sqlalchemy import func, select

    from portal.extensions import db
    from portal.models import EventSignup

    with portal_app(url):
        statuses = dict(db.session.execute(select(EventSignup.status, func.count(EventSignup.id))
                                           .where(EventSignup.event_id == event_id).group_by(EventSignup.status)).all())
        households = db.session.scalar(select(func.count(func.distinct(EventSignup.unit_id))).where(EventSignup.event_id == event_id))
        rows = db.session.scalar(select(func.count(EventSignup.id)).where(EventSignup.event_id == event_id))
    confirmed, waitlisted = statuses.get("confirmed", 0), statuses.get("waitlisted", 0)
    report(f"{HOUSEHOLDS} sign-ups at once for {PLACES} places on {kind}", {
        "answers": dict(sorted(Counter(str(a) for a in answers).items())), "confirmed": confirmed, "waitlisted": waitlisted,
        "households signed up": households, "rows": rows,
    })
    check(all(a == 302 for a in answers), f"not every sign-up was answered with the event page: {Counter(map(str, answers))}")
    check(confirmed == PLACES, f"{confirmed} households confirmed for {PLACES} places")
    check(waitlisted == HOUSEHOLDS - PLACES, f"{waitlisted} households on the waitlist, not {HOUSEHOLDS - PLACES}")
    check(rows == households == HOUSEHOLDS, f"{rows} sign-ups for {households} households")


if __name__ == "__main__":
    sys.exit(run(scenario, sys.argv[1:]))
