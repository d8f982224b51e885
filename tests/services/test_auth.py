"""Sign-in at the service level: finding the person, the password check, failed-login limits per
account and per address (and their end), server-side sessions and what ends them."""
from datetime import datetime, timedelta, timezone

import time_machine
from sqlalchemy import func, select, update

from portal.extensions import db
from portal.models import Role, User, UserSession
from portal.services import auth
from tests.conftest import PASSWORD

T0 = datetime(2026, 12, 8, 2, 0, tzinfo=timezone.utc)


def _sessions(user):
    return db.session.scalar(select(func.count()).select_from(UserSession).where(UserSession.user_id == user.id))


def test_a_person_is_found_by_phone_or_username_without_surrounding_spaces(make_user):
    resident = make_user(phone="13800001111")
    staff = make_user(role=Role.STAFF, username="kefu")
    assert auth.find_user(" 13800001111 ") is resident
    assert auth.find_user("kefu") is staff
    assert auth.find_user("nobody") is None
    assert auth.find_user("   ") is None


def test_authenticate_needs_the_right_password_and_an_active_account(make_user):
    resident = make_user()
    assert auth.authenticate(resident.phone, PASSWORD) is resident
    assert auth.authenticate(resident.phone, "wrong") is None
    assert auth.authenticate("13999999999", PASSWORD) is None
    resident.is_active = False
    db.session.commit()
    assert auth.authenticate(resident.phone, PASSWORD) is None


def test_an_account_without_a_password_cannot_sign_in(make_user):
    person = make_user()
    person.password_hash = ""
    db.session.commit()
    assert auth.authenticate(person.phone, "") is None


def test_five_failures_lock_the_account_whatever_the_address_and_case(app):
    assert app.config["LOGIN_LIMIT"] == "5 per 15 minutes"
    for n in range(5):
        assert not auth.is_locked_out("Kefu", f"10.0.0.{n}")
        auth.record_failure("Kefu", f"10.0.0.{n}")
    assert auth.is_locked_out(" kefu ", "192.168.1.1")  # the account, from anywhere
    assert not auth.is_locked_out("someone-else", "192.168.1.1")


def test_five_failures_from_one_address_lock_that_address_for_every_account(app):
    for n in range(5):
        auth.record_failure(f"user{n}", "10.0.0.9")
    assert auth.is_locked_out("user-new", "10.0.0.9")
    assert not auth.is_locked_out("user-new", "10.0.0.10")


def test_a_request_without_an_address_is_counted_under_one_key(app):
    for _ in range(5):
        auth.record_failure("a", None)
    assert auth.is_locked_out("b", "")


def test_the_lockout_ends_when_the_window_has_passed(app):
    from limits import storage, strategies

    # In memory, whose windows follow the (travelling) clock; Redis expires keys on its own clock.
    app.extensions["login_limits"] = strategies.FixedWindowRateLimiter(storage.storage_from_string("memory://"))
    with time_machine.travel(T0, tick=False) as clock:
        for _ in range(5):
            auth.record_failure("kefu", "10.0.0.1")
        assert auth.is_locked_out("kefu", "10.0.0.2")
        clock.shift(timedelta(minutes=14))
        assert auth.is_locked_out("kefu", "10.0.0.2")
        clock.shift(timedelta(minutes=2))
        assert not auth.is_locked_out("kefu", "10.0.0.2")


def test_a_session_is_a_random_token_that_loads_its_person(make_user):
    resident = make_user(name="周杰")
    first, second = auth.start_session(resident), auth.start_session(resident)
    db.session.commit()
    assert first != second and len(first) >= 40
    assert resident.session_token == second
    principal = auth.load(first)
    assert principal.id == resident.id and principal.name == "周杰" and principal.role == Role.RESIDENT
    assert principal.get_id() == first and principal.is_authenticated
    assert principal.is_resident and not principal.is_staff_side
    assert principal.check_password(PASSWORD) and not principal.check_password("wrong")
    assert _sessions(resident) == 2


def test_an_unknown_or_ended_session_loads_nobody(make_user):
    resident = make_user()
    token = auth.start_session(resident)
    db.session.commit()
    assert auth.load(token) is not None
    assert auth.load("not-a-token") is None
    auth.end_session(token)
    db.session.commit()
    assert auth.load(token) is None  # at once, although the signed-in person is cached
    assert _sessions(resident) == 0


def test_a_deactivated_person_is_signed_out_on_the_next_request(make_user):
    staff = make_user(role=Role.STAFF)
    token = auth.start_session(staff)
    db.session.commit()
    assert auth.load(token).is_staff_side
    staff.is_active = False
    db.session.commit()
    assert auth.load(token) is None


def test_the_signed_in_person_is_cached_until_people_change(make_user):
    resident = make_user(name="周杰")
    token = auth.start_session(resident)
    db.session.commit()
    assert auth.load(token).name == "周杰"
    # a Core UPDATE bypasses the ORM's cache bump: the cached snapshot is still served
    db.session.execute(update(User).where(User.id == resident.id).values(name="周杰伦"))
    db.session.commit()
    assert auth.load(token).name == "周杰"
    db.session.expire_all()
    resident = db.session.get(User, resident.id)
    resident.email = "z@example.com"  # any ORM change to a person bumps the version
    db.session.commit()
    assert auth.load(token).name == "周杰伦"


def test_ending_all_sessions_can_keep_the_current_browser(make_user):
    resident, other = make_user(), make_user()
    keep, lose = auth.start_session(resident), auth.start_session(resident)
    theirs = auth.start_session(other)
    db.session.commit()
    auth.end_all_sessions(resident, keep=keep)
    db.session.commit()
    assert auth.load(keep) is not None and auth.load(lose) is None and auth.load(theirs) is not None
    auth.end_all_sessions(resident)
    db.session.commit()
    assert auth.load(keep) is None and _sessions(resident) == 0


def test_a_password_change_sets_the_new_password_and_signs_out_every_other_browser(make_user):
    resident = make_user()
    here, phone = auth.start_session(resident), auth.start_session(resident)
    db.session.commit()
    auth.change_password(resident, "new-password-9", keep_token=here)
    db.session.commit()
    assert auth.authenticate(resident.phone, "new-password-9") is resident
    assert auth.authenticate(resident.phone, PASSWORD) is None
    assert auth.load(here) is not None and auth.load(phone) is None
