"""Per-worker caches stay coherent: a write committed anywhere is seen on the next request."""
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from portal import cache
from portal.extensions import db
from portal.models import CacheVersion, Notice, Setting, UserSession


def _elsewhere():
    """A session of its own, as another worker or host would have."""
    return Session(db.engine)


def test_a_notice_edited_by_another_worker_shows_on_the_next_request(client, make_user, make_notice):
    notice = make_notice(title="旧标题")
    client.login(make_user())
    assert "旧标题" in client.get("/notices/").get_data(as_text=True)
    with _elsewhere() as other:
        other.get(Notice, notice.id).title = "新标题"
        other.commit()
    page = client.get("/notices/").get_data(as_text=True)
    assert "新标题" in page and "旧标题" not in page


def test_a_session_ended_by_another_worker_is_refused_at_once(client, make_user):
    resident = make_user()
    client.login(resident)
    assert client.get("/notices/").status_code == 200
    with _elsewhere() as other:
        other.execute(delete(UserSession).where(UserSession.user_id == resident.id))
        cache.bump(cache.PEOPLE, other)
        other.commit()
    assert client.get("/notices/").status_code == 302


def test_a_setting_changed_elsewhere_reaches_every_page(client, make_user):
    client.login(make_user())
    assert "400-800-1234" in client.get("/notices/").get_data(as_text=True)
    with _elsewhere() as other:
        other.add(Setting(key="hotline", value="0571-88880000"))
        other.commit()
    assert "0571-88880000" in client.get("/notices/").get_data(as_text=True)


def test_versions_move_once_per_transaction_and_not_on_rollback(app, make_notice):
    make_notice()
    before = db.session.scalar(select(CacheVersion.version).where(CacheVersion.key == cache.NOTICES))
    with _elsewhere() as other:
        for i in range(3):
            other.add(Notice(title=f"n{i}", author_id=1, body="", body_html=""))
            other.flush()
        other.commit()
        other.add(Notice(title="rolled back", author_id=1, body="", body_html=""))
        other.flush()
        other.rollback()
    after = db.session.scalar(select(CacheVersion.version).where(CacheVersion.key == cache.NOTICES))
    assert after == before + 1
