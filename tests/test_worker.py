"""A worker round: each part in its own unit of work, and a part that fails stops none of the others."""
import pytest

from portal.extensions import db
from portal.models import Role


def test_a_failing_part_is_reported_and_the_rest_of_the_round_still_runs(app, make_user, monkeypatch, caplog):
    from portal.services import events, tickets
    from portal.worker import RoundFailed, run_round

    make_user(role=Role.STAFF)
    reminded = []

    def broken(now):
        raise RuntimeError("a complaint without its formal reply")

    monkeypatch.setattr(tickets, "close_unrated", broken)
    monkeypatch.setattr(events, "remind_due", lambda now: reminded.append(now) or 2)
    with pytest.raises(RoundFailed) as failed:
        run_round()
    assert [name for name, _exc in failed.value.failures] == ["closing"]
    assert "a complaint without its formal reply" in str(failed.value)
    assert len(reminded) == 1  # the part after the broken one ran
    assert "worker: closing failed" in caplog.text
    db.session.remove()
    monkeypatch.setattr(tickets, "close_unrated", lambda now: 0)
    counts = run_round()  # and the next round is whole again
    assert counts["reminded"] == 2 and counts["closed"] == 0
