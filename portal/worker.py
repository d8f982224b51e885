"""One round of `flask worker`: each part in its own unit of work (database.unit_of_work), so that
one failing part (a database restart, a provider down) loses nothing the others did. Any number
of workers may run on any number of hosts; every part claims its rows with row locks."""
from portal.database import unit_of_work
from portal.models import utcnow


class RoundFailed(Exception):
    """Some parts of a round failed (each logged); the others ran and kept what they did."""

    def __init__(self, failures):
        super().__init__(", ".join(f"{name}: {exc!r}" for name, exc in failures))
        self.failures = failures


def run_round(now=None):
    """Returns a dict of counts for the log. `now` (tests) freezes the clock for the whole round.
    A part that fails (one bad row, the database restarting) is logged and the round goes on to the
    next part, so that nothing stops the outbox; RoundFailed names the failures at the end."""
    from flask import current_app

    from portal.notify import delivery, fanout
    from portal.services import chat, consultations, events, notices, paging, surveys, tickets

    def clock():
        return now or utcnow()

    counts, failures = {}, []

    def part(name, work):
        """One unit of work; SQLite: it takes the write lock before it reads what it will change."""
        try:
            with unit_of_work():
                counts.update(work())
        except Exception as exc:  # noqa: BLE001 - logged and reported at the end of the round
            current_app.logger.exception("worker: %s failed", name)
            failures.append((name, exc))

    part("paging", lambda: {"paged": paging.due(clock())})  # emergencies: the next round of the chain (S3.3.2)
    part("inbound", lambda: {"inbound": chat.process_inbound(clock())})  # what followers wrote to the official account
    part("publishing", lambda: {"published": notices.publish_due(clock()),  # scheduled notices whose time has come
                                "surveys_opened": surveys.open_due(clock())})  # questionnaires whose opening time has come
    part("escalation", lambda: {"escalated": tickets.escalate(clock())})  # emergencies, due within the hour, overdue (S4.2.1)
    part("closing", lambda: {"closed": tickets.close_unrated(clock())})  # results given long ago and never rated (S3.5.2)
    part("reminders", lambda: {"reminded": events.remind_due(clock()) + consultations.remind_closing(clock())
                               + surveys.remind_closing(clock())})
    try:
        counts["told"] = fanout.run_jobs(clock())  # audiences: every resident of some buildings (a unit per batch)
    except Exception as exc:  # noqa: BLE001 - as a part
        current_app.logger.exception("worker: fan-out failed")
        failures.append(("fan-out", exc))
    sent = retried = failed = 0
    while True:  # a backlog is sent before the worker sleeps
        result = delivery.deliver_due(now=now)  # claim, send, record: a unit each
        sent, retried, failed = sent + result.sent, retried + result.retried, failed + result.failed
        if result.sent + result.retried + result.failed < 200:
            break
    counts.update(sent=sent, retried=retried, failed=failed)
    if failures:
        raise RoundFailed(failures)
    return counts
