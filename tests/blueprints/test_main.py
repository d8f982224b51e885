import re
from datetime import datetime, timedelta
from unittest import mock

from sqlalchemy.exc import OperationalError

from portal.extensions import db
from portal.i18n import from_local, to_local
from portal.models import Role, utcnow
from portal.services import records
from tests.markup import element, elements, text_of


def test_healthz_answers_200_with_the_database_reachable(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json["status"] == "ok"


def test_healthz_answers_503_when_the_database_is_unreachable(client):
    with mock.patch.object(db.session, "execute", side_effect=OperationalError("SELECT 1", {}, Exception("down"))):
        response = client.get("/healthz")
    assert response.status_code == 503


def test_pages_carry_security_headers(client):
    response = client.get("/auth/login")
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_session_cookie_is_httponly_and_samesite(client, make_user):
    user = make_user()
    response = client.login(user)
    cookie = response.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_interface_is_chinese_by_default_and_english_on_request(client):
    chinese = client.get("/auth/login")
    assert element(chinese, "html").get("lang") == "zh-CN" and text_of(chinese, "h1") == "登录"
    assert client.post("/language", {"lang": "en", "next": "/auth/login"}).status_code == 302
    english = client.get("/auth/login")
    assert element(english, "html").get("lang") == "en" and text_of(english, "h1") == "Sign in"


def test_language_choice_is_remembered_per_user(client, make_user):
    user = make_user()
    client.login(user)
    assert client.post("/language", {"lang": "en", "next": "/"}).status_code == 302
    db.session.refresh(user)
    assert user.language == "en"
    other = client.__class__(client.app)
    other.login(user)
    assert text_of(other.get("/notices/"), "h1") == "Notice board"


def test_unknown_page_is_a_friendly_404_in_chinese(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert text_of(response, "main h1") == "404" and text_of(response, "main section h1 + p") == "该页面不存在，或您无权查看。"


def test_post_without_csrf_token_is_refused(client, make_user):
    user = make_user()
    client.login(user)
    response = client.post("/language", {"lang": "en"}, csrf=False)
    assert response.status_code == 400


def test_staff_home_shows_for_back_office(client, make_user):
    staff = make_user(role=Role.STAFF)
    client.login(staff)
    response = client.get("/")
    assert response.status_code == 200
    assert text_of(response, "h1") == f"{staff.name}，您好"


def test_resident_home_is_the_notice_board(client, make_user):
    client.login(make_user())
    response = client.get("/")
    assert response.status_code == 302 and response.headers["Location"].endswith("/notices/")


def test_first_load_of_a_resident_page_is_under_100_kb_gzipped(client, make_user, make_notice):
    import gzip
    import re as _re

    for i in range(30):
        make_notice(title=f"公告标题比较长的一条通知第{i}号")
    client.login(make_user())
    page = client.get("/notices/")
    total = len(gzip.compress(page.data))
    for asset in _re.findall(r'(?:href|src)="(/static/[^"]+)"', page.get_data(as_text=True)):
        response = client.get(asset)
        assert response.status_code == 200, asset
        total += len(gzip.compress(response.data))
        response.close()
    assert total < 100 * 1024


def test_htmx_post_needs_the_csrf_header(client, make_user, make_notice):
    notice = make_notice()
    client.login(make_user())
    refused = client.post(f"/notices/{notice.id}/questions", {"body": "问"}, headers={"HX-Request": "true"}, csrf=False)
    assert refused.status_code == 400
    accepted = client.post(
        f"/notices/{notice.id}/questions", {"body": "问"}, headers={"HX-Request": "true", "X-CSRFToken": client.csrf_token()}, csrf=False
    )
    assert accepted.status_code == 200 and [e.text for e in elements(accepted, ".question > p.text")] == ["问"]


# What the policy repeats, on the staff home


def _week_first(day):
    return day - timedelta(days=day.weekday())


def test_the_staff_home_names_each_missing_week_month_and_quarter_and_links_to_set_it_right(client, make_user):
    today = to_local(utcnow()).date()
    started = _week_first(today) - timedelta(weeks=3)  # the portal began on a Monday three weeks ago
    staff = make_user(role=Role.STAFF, created_at=from_local(datetime.combine(started, datetime.min.time())))
    for weeks_back in (1, 3):  # meetings filed for two of the four weeks (this one and two weeks ago missing)
        monday = _week_first(today) - timedelta(weeks=weeks_back)
        records.add("coordination", from_local(datetime.combine(monday, datetime.min.time()) + timedelta(hours=9)), "周例会", staff, utcnow())
    db.session.commit()
    client.login(staff)
    page = client.get("/").get_data(as_text=True)
    weeks = re.findall(r'<li class="gap" data-what="coordination" data-first="([0-9-]+)" data-last="([0-9-]+)">', page)
    this, two_back = _week_first(today), _week_first(today) - timedelta(weeks=2)
    assert weeks == [(this.isoformat(), (this + timedelta(days=6)).isoformat()),
                     (two_back.isoformat(), (two_back + timedelta(days=6)).isoformat())]
    past = page.split(f'data-first="{two_back.isoformat()}"')[1].split("</li>")[0]
    assert f'href="/records/new?kind=coordination&amp;at={two_back.isoformat()}T09:00"' in past and "没有部门工作协调会（周例会）记录" in past
    current = page.split(f'data-what="coordination" data-first="{this.isoformat()}"')[1].split("</li>")[0]
    assert 'href="/records/new?kind=coordination"' in current and "本周尚无" in current
    months = re.findall(r'data-what="activity" data-first="([0-9-]+)"', page)
    assert months[0] == today.replace(day=1).isoformat() and months[-1] == started.replace(day=1).isoformat()
    assert 'href="/events/new?kind=activity"' in page and 'href="/events/new?kind=forum"' in page
    form = client.get(f"/records/new?kind=coordination&at={two_back.isoformat()}T09:00").get_data(as_text=True)
    assert f'value="{two_back.isoformat()}T09:00"' in form and '<option selected value="coordination">' in form
    assert '<option selected value="forum">' in client.get("/events/new?kind=forum").get_data(as_text=True)


def test_the_staff_home_lists_training_plan_gaps_for_a_heads_department_only(client, make_user):
    from portal.models import Department
    from portal.services import training

    works, desk = Department(name="工程维修部"), Department(name="客服中心")
    db.session.add_all([works, desk])
    db.session.commit()
    head = make_user(role=Role.HEAD, department_id=works.id)
    make_user(role=Role.WORKER, department_id=works.id, name="李师傅")
    last_month = (to_local(utcnow()).date().replace(day=1) - timedelta(days=1))
    mine = training.save_item(None, year=last_month.year, month=last_month.month, title="维修标准", topic="business", method="coaching",
                              goal="", department_id=works.id, people=[], actor=head)
    theirs = training.save_item(None, year=last_month.year, month=last_month.month, title="电话礼仪", topic="communication",
                                method="internal", goal="", department_id=desk.id, people=[], actor=head)
    db.session.commit()
    client.login(head)
    page = client.get("/").get_data(as_text=True)
    gaps = page.split('id="training-gaps"')[1].split("</section>")[0]
    assert f'data-item="{mine.id}"' in gaps and f'data-item="{theirs.id}"' not in gaps
    assert f'href="/records/training?plan={mine.id}#record-session"' in gaps
    admin = client.__class__(client.app)
    admin.login(make_user(role=Role.ADMIN))
    assert f'data-item="{theirs.id}"' in admin.get("/").get_data(as_text=True)


def test_other_staff_see_no_policy_warnings(client, make_user):
    make_user(role=Role.ADMIN, created_at=utcnow() - timedelta(days=60))
    client.login(make_user(role=Role.WORKER))
    page = client.get("/").get_data(as_text=True)
    assert 'id="policy-gaps"' not in page and 'id="training-gaps"' not in page
    office = client.__class__(client.app)
    office.login(make_user(role=Role.STAFF, created_at=utcnow() - timedelta(days=60)))
    assert elements(office.get("/"), "#policy-gaps li.gap")  # the same community's gaps, which the office is shown


def test_the_staff_homes_statement_count_does_not_grow_with_meetings_events_and_plan_items(client, make_user):
    from sqlalchemy import event as sa_event

    from portal.models import Department, Event, EventType
    from portal.services import training

    desk = Department(name="客服中心")
    db.session.add(desk)
    db.session.commit()
    staff = make_user(role=Role.STAFF, department_id=desk.id, created_at=utcnow() - timedelta(days=400))
    client.login(staff)

    def add(n, offset):
        for i in range(n):
            at = utcnow() - timedelta(days=7 * (i + offset) + 1)
            records.add("coordination", at, "周例会", staff, at)
            db.session.add(Event(kind=EventType.ACTIVITY, title="活动", starts_at=at, ends_at=at + timedelta(hours=2), created_by_id=staff.id))
            first = to_local(at).date()
            training.save_item(None, year=first.year, month=first.month, title="培训", topic="service", method="internal", goal="",
                               department_id=desk.id, people=[staff], actor=staff)
        db.session.commit()

    def count():
        seen = []
        listener = lambda *a: a[2].startswith(("BEGIN", "SAVEPOINT", "RELEASE", "ROLLBACK")) or seen.append(a[2])  # noqa: E731
        sa_event.listen(db.engine, "before_cursor_execute", listener)
        try:
            assert client.get("/").status_code == 200
        finally:
            sa_event.remove(db.engine, "before_cursor_execute", listener)
        return len(seen)

    add(2, 0)
    count()  # the first request of a session reads what later ones find kept (settings, names)
    few = count()
    add(20, 2)
    assert count() == few
