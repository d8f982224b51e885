"""Policy settings at the service level: defaults, each kind's validation, changes with their
history, on-duty phones per department, and labels."""
import pytest
from flask_babel import force_locale
from sqlalchemy import select

from portal.extensions import db
from portal.models import Department, Role, Setting, SettingChange
from portal.services import settings


@pytest.fixture(autouse=True)
def english(app):
    with force_locale("en"):
        yield


@pytest.fixture
def admin(make_user):
    return make_user(role=Role.ADMIN)


def _error(key, raw):
    value, error = settings.validate(key, raw)
    assert value is None
    return str(error)


def test_every_setting_has_its_default_until_changed():
    assert settings.get("emergency_response_minutes") == 30
    assert settings.get("hotline") == "400-800-1234"
    assert settings.get("chat_hours_start") == "08:00"
    assert settings.get("desk_department") == 0
    assert settings.all_values()["records_retention_years"] == 3


def test_an_unknown_setting_is_an_error_but_an_unset_duty_phone_is_empty():
    with pytest.raises(KeyError):
        settings.get("no_such_setting")
    assert settings.get("duty_phone.42") == ""


def test_every_default_passes_its_own_validation():
    for key, definition in settings.DEFINITIONS.items():
        value, error = settings.validate(key, definition.default)
        assert error is None, (key, str(error))
        assert value == definition.default, key


def test_whole_numbers_within_their_range():
    assert settings.validate("emergency_response_minutes", " 20 ") == (20, None)
    assert _error("emergency_response_minutes", "abc") == "Enter a whole number."
    assert _error("emergency_response_minutes", None) == "Enter a whole number."
    assert _error("emergency_response_minutes", "0") == "Enter a number from 1 to 1440."
    assert _error("target_satisfaction", "101") == "Enter a number from 0 to 100."
    assert settings.validate("target_satisfaction", "0") == (0, None)


def test_times_as_hours_and_minutes():
    assert settings.validate("quiet_hours_start", "9:05") == ("09:05", None)
    assert settings.validate("quiet_hours_end", " 23:59 ") == ("23:59", None)
    for bad in ("24:00", "21:60", "9", "晚上九点", ""):
        assert _error("quiet_hours_start", bad).startswith("Enter a time as HH:MM")


def test_a_department_setting_names_an_existing_department_or_none():
    dept = Department(name="客服中心")
    db.session.add(dept)
    db.session.flush()
    assert settings.validate("desk_department", str(dept.id)) == (dept.id, None)
    assert settings.validate("desk_department", "") == (0, None)
    assert settings.validate("desk_department", "0") == (0, None)
    assert _error("desk_department", str(dept.id + 1)) == "Choose a department."
    assert _error("desk_department", "abc") == "Choose a department."


def test_template_codes_are_plain_codes():
    assert settings.validate("sms_template.ticket_registered", " SMS_470001 ") == ("SMS_470001", None)
    assert settings.validate("sms_template.ticket_registered", "") == ("", None)
    assert _error("sms_template.ticket_registered", "SMS 47").startswith("A template code")
    assert _error("wechat_template.ticket_registered", "x" * 65).startswith("A template code")


def test_wechat_fields_are_tidied_key_value_pairs():
    assert settings.validate("wechat_fields.ticket_registered", "thing1=title ,  time2=time,") == ("thing1=title, time2=time", None)
    assert _error("wechat_fields.ticket_registered", "thing1 title").startswith("Write the fields as key=value")
    assert _error("wechat_fields.ticket_registered", "Thing1=title").startswith("Write the fields as key=value")


def test_text_settings_have_a_length_limit():
    assert settings.validate("hotline", " 0571-12345678 ") == ("0571-12345678", None)
    assert _error("hotline", "9" * 101) == "At most 100 characters."
    assert settings.validate("chat_emergency_words", "漏水" * 150) == ("漏水" * 150, None)  # a longer list is allowed
    assert _error("chat_emergency_words", "漏" * 301) == "At most 300 characters."


def test_a_duty_phone_is_a_short_text_and_other_unknown_keys_are_refused():
    assert settings.validate("duty_phone.7", " 13900001111 ") == ("13900001111", None)
    assert _error("duty_phone.7", "1" * 33) == "At most 32 characters."
    assert _error("something_else", "1") == "Unknown setting."


def test_a_change_is_used_at_once_and_its_history_kept(admin):
    changed = settings.update({"emergency_response_minutes": 20, "hotline": "400-800-1234", "forum_notice_days": 10}, admin)
    assert changed == ["emergency_response_minutes", "forum_notice_days"]  # the hotline did not change
    assert settings.get("emergency_response_minutes") == 20  # before the commit, in this transaction
    db.session.commit()
    assert settings.get("forum_notice_days") == 10
    settings.update({"emergency_response_minutes": 15}, admin)
    db.session.commit()
    assert settings.get("emergency_response_minutes") == 15
    rows = db.session.scalars(select(Setting).where(Setting.key == "emergency_response_minutes")).all()
    assert len(rows) == 1  # one row per setting, changed in place
    history = db.session.scalars(select(SettingChange).where(SettingChange.key == "emergency_response_minutes").order_by(SettingChange.id)).all()
    assert [(c.old_value, c.new_value, c.changed_by_id) for c in history] == [(30, 20, admin.id), (20, 15, admin.id)]


def test_changing_nothing_records_nothing(admin):
    assert settings.update({"hotline": "400-800-1234"}, admin) == []
    assert db.session.scalar(select(SettingChange)) is None


def test_a_change_by_the_system_has_no_author():
    settings.update({"hotline": "0571-1"}, None)
    db.session.commit()
    assert db.session.scalar(select(SettingChange)).changed_by_id is None


def test_a_departments_duty_phone_starts_empty_in_the_history(admin):
    settings.update({settings.duty_phone_key(3): "13900001111"}, admin)
    db.session.commit()
    change = db.session.scalar(select(SettingChange))
    assert (change.key, change.old_value, change.new_value) == ("duty_phone.3", "", "13900001111")
    assert settings.get("duty_phone.3") == "13900001111"


def test_duty_phones_are_asked_for_the_active_departments():
    active, closed = Department(name="工程维修部"), Department(name="旧部门", is_active=False)
    db.session.add_all([active, closed])
    db.session.commit()
    assert settings.duty_phone_departments() == [active]


def test_labels_name_the_setting_or_the_department():
    dept = Department(name="秩序维护部")
    db.session.add(dept)
    db.session.commit()
    assert str(settings.label_for("hotline")) == "Service hotline"
    assert settings.label_for(f"duty_phone.{dept.id}") == "On-duty phone: 秩序维护部"
    assert settings.label_for("duty_phone.999") == "On-duty phone: duty_phone.999"
    assert settings.label_for("odd.key") == "odd.key"


def test_due_times_exist_for_every_category_and_urgency():
    for category in settings.TICKET_CATEGORIES:
        normal, urgent = settings.get(f"due_hours.{category}.normal"), settings.get(f"due_hours.{category}.urgent")
        assert normal > 0 and urgent > 0 and urgent <= normal
