"""One round of `flask worker`: each part in its own unit of work (database.unit_of_work), so that
one failing part (a database restart, a provider down) loses nothing the others did. Any number
of workers may run on any number of hosts; every part claims its rows with row locks."""
from portal.database import unit_of_work
from portal.models import utcnow


def run_round(now=None):
    """Returns a dict of counts for the log. `now` (tests) freezes the clock for the whole round."""
    from portal.notify import delivery, fanout
    from portal.services import chat, consultations, events, notices, paging, surveys, tickets

    def clock():
        return now or utcnow()

    counts = {}
    # SQLite: each part takes the write lock before it reads what it will change
    with unit_of_work():
        counts["paged"] = paging.due(clock())  # emergencies: the next round of the chain (S3.3.2)
    with unit_of_work():
        counts["inbound"] = chat.process_inbound(clock())  # what followers wrote to the official account
    with unit_of_work():
        counts["published"] = notices.publish_due(clock())  # scheduled notices whose time has come
        counts["surveys_opened"] = surveys.open_due(clock())  # questionnaires whose opening time has come
    with unit_of_work():
        counts["escalated"] = tickets.escalate(clock())  # emergencies, due within the hour, overdue (S4.2.1)
    with unit_of_work():
        counts["closed"] = tickets.close_unrated(clock())  # results given long ago and never rated (S3.5.2)
        counts["reminded"] = events.remind_due(clock()) + consultations.remind_closing(clock()) + surveys.remind_closing(clock())
    counts["told"] = fanout.run_jobs(clock())  # audiences: every resident of some buildings (a unit per batch)
    sent = retried = failed = 0
    while True:  # a backlog is sent before the worker sleeps
        result = delivery.deliver_due(now=now)  # claim, send, record: a unit each
        sent, retried, failed = sent + result.sent, retried + result.retried, failed + result.failed
        if result.sent + result.retried + result.failed < 200:
            break
    counts.update(sent=sent, retried=retried, failed=failed)
    return counts
