"""People and places at the service level: units typed as text, a person's units, password resets,
and the residents' CSV import (every row checked, all rows or none)."""
from decimal import Decimal

import pytest
from flask_babel import force_locale
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Channel, ConsentRecord, Residency, Role, Unit, User, UserSession
from portal.services import auth, people

HEADER = "name,phone,building,unit,email,language\n"


@pytest.fixture(autouse=True)
def english(app):
    """Messages in English, so that the tests can read them."""
    with force_locale("en"):
        yield


@pytest.fixture
def building(make_building):
    return make_building("1号楼", units=1)  # has 1-101


def _import(text, encoding="utf-8"):
    return people.import_residents(text.encode(encoding))


def _residents():
    return db.session.scalars(select(User).where(User.role == Role.RESIDENT).order_by(User.id)).all()


def _errors(result):
    return [(n, str(message)) for n, message in result.errors]


# parse_units, set_units, normalise_phone, reset_password


def test_units_typed_one_per_line_are_found_or_created_in_known_buildings(building):
    units, errors = people.parse_units("1号楼 1-101\n\n  1号楼 2-301  \n", {"1号楼": building})
    assert errors == []
    assert [u.number for u in units] == ["1-101", "2-301"]
    assert units[0].id == building.units[0].id  # the existing unit, not a copy
    db.session.flush()
    assert db.session.scalar(select(func.count(Unit.id)).where(Unit.building_id == building.id)) == 2


def test_units_in_unknown_buildings_or_without_a_number_are_errors_by_line(building):
    units, errors = people.parse_units("1号楼 1-101\n9号楼 1-101\n1号楼\n", {"1号楼": building})
    assert len(units) == 1
    assert [str(e) for e in errors] == [
        "Line 2: there is no building called 9号楼.",
        "Line 3: write the building, a space, then the unit number.",
    ]


def test_set_units_adds_the_new_and_removes_the_units_no_longer_held(make_building, make_user):
    b = make_building("2号楼", units=3)
    person = make_user(units=[b.units[0], b.units[1]])
    people.set_units(person, [b.units[1], b.units[2]])
    db.session.commit()
    db.session.expire_all()
    person = db.session.get(User, person.id)
    assert sorted(r.unit.number for r in person.residencies) == ["1-102", "1-103"]
    assert db.session.scalar(select(func.count(Residency.id))) == 2  # the dropped residency is deleted, not orphaned


def test_set_units_with_a_unit_created_in_the_same_request(make_building, make_user):
    b = make_building("3号楼", units=1)
    person = make_user(units=[b.units[0]])
    new = people.unit_in(b, "9-901")
    people.set_units(person, [b.units[0], new])
    db.session.flush()
    assert sorted(r.unit.number for r in person.residencies) == ["1-101", "9-901"]


def test_phone_numbers_lose_spaces_and_dashes():
    assert people.normalise_phone(" 138-0000 9999 ") == "13800009999"
    assert people.normalise_phone(None) == ""


def test_a_password_reset_gives_a_new_temporary_password_and_signs_out_every_browser(make_user):
    person = make_user()
    auth.start_session(person)
    auth.start_session(person)
    db.session.commit()
    password = people.reset_password(person)
    db.session.commit()
    assert len(password) >= 8 and person.check_password(password)
    assert not person.check_password("secret-pass-1")
    assert db.session.scalar(select(func.count()).select_from(UserSession).where(UserSession.user_id == person.id)) == 0
    assert people.reset_password(person) != password


# The residents' import


def test_a_good_file_creates_residents_with_units_and_temporary_passwords(building):
    result = _import(HEADER + "张三,13811112222,1号楼,1-101,ZS@Example.com,zh_Hans\n李四,13811113333,1号楼,2-201,,en\n")
    assert result.errors == [] and result.updated == []
    assert [(u.name, u.phone) for u, _ in result.created] == [("张三", "13811112222"), ("李四", "13811113333")]
    for user, password in result.created:
        assert user.role == Role.RESIDENT and user.check_password(password)
    zhang, li = _residents()
    assert zhang.email == "ZS@example.com"  # the domain normalised
    assert li.email is None and li.language == "en" and zhang.language == "zh_Hans"
    assert [r.unit.label for r in zhang.residencies] == ["1号楼 1-101"]
    assert [r.unit.label for r in li.residencies] == ["1号楼 2-201"]  # a unit the building did not list yet is created
    assert zhang.residencies[0].unit_id == building.units[0].id


def test_chinese_headers_in_any_order_and_a_gb18030_file(building):
    text = "房号,手机号,姓名,楼号,语言\n1-101,13811112222,张三,1号楼,英文\n"
    result = _import(text, "gb18030")
    assert result.errors == []
    (user, _), = result.created
    assert (user.name, user.phone, user.language) == ("张三", "13811112222", "en")


def test_a_utf8_file_with_a_byte_order_mark_and_capitalised_headers(building):
    result = people.import_residents(("\ufeffName, Phone ,Building,Unit\n张三,13811112222,1号楼,1-101\n").encode())
    assert result.errors == [] and len(result.created) == 1


def test_phone_numbers_are_normalised_before_they_are_stored(building):
    result = _import(HEADER + "张三,138 1111 2222,1号楼,1-101,,\n李四,+86 138-1111-3333,1号楼,1-102,,\n")
    assert result.errors == []
    assert [u.phone for u in _residents()] == ["13811112222", "13811113333"]


def test_one_person_on_several_lines_is_one_resident_with_several_units(building):
    result = _import(HEADER + "张三,13811112222,1号楼,1-101,,\n张三,13811112222,1号楼,1-102,,\n张三,13811112222,1号楼,1-101,,\n")
    assert result.errors == [] and len(result.created) == 1 and result.updated == []
    (zhang,) = _residents()
    assert sorted(r.unit.number for r in zhang.residencies) == ["1-101", "1-102"]  # the repeated line adds nothing


def test_an_existing_resident_is_updated_not_created_and_keeps_their_password(building, make_building, make_user):
    other = make_building("2号楼", units=1)
    known = make_user(phone="13811112222", name="张三", units=[building.units[0]])
    result = _import(HEADER + "张三,13811112222,2号楼,1-101,,\n张三,13811112222,1号楼,1-101,,\n")
    db.session.commit()
    assert result.errors == [] and result.created == [] and result.updated == [known]
    assert known.check_password("secret-pass-1")
    assert sorted(r.unit.label for r in known.residencies) == ["1号楼 1-101", "2号楼 1-101"]
    assert other.units[0].id in {r.unit_id for r in known.residencies}
    assert db.session.scalar(select(func.count(User.id))) == 1


def test_every_bad_row_is_reported_by_its_line_and_nothing_is_added(building, make_user):
    make_user(role=Role.STAFF, phone="13900000001")
    text = (
        HEADER
        + "张三,13811112222,1号楼,1-101,,\n"  # line 2: good
        + "\n"  # line 3: blank, skipped but counted
        + ",abc,9号楼,,not-an-email,fr\n"  # line 4: everything wrong
        + "王五,13900000001,1号楼,1-103,,\n"  # line 5: a staff member's phone
        + "张三丰,13811112222,1号楼,1-104,,\n"  # line 6: the phone of line 2 with another name
    )
    result = _import(text)
    errors = _errors(result)
    assert [n for n, _ in errors] == [4, 5, 6]
    line4 = errors[0][1].split("; ")
    assert line4[0] == "a name of 1 to 64 characters is needed"
    assert line4[1].startswith("Enter a mainland mobile number")
    assert line4[2:] == ["there is no building called 9号楼", "a unit number is needed", "the email address is not valid",
                         "the language must be zh_Hans or en"]
    assert errors[1][1] == "this phone number belongs to a staff account"
    assert errors[2][1] == "this phone number appears above with another name"
    assert result.created == [] and result.updated == []
    assert _residents() == []
    assert db.session.scalar(select(func.count(Unit.id))) == 1  # no unit made for the good line either


def test_a_row_shorter_than_the_header_is_missing_those_cells(building):
    result = _import(HEADER + "张三,13811112222,1号楼\n")
    assert _errors(result) == [(2, "a unit number is needed")]


def test_names_and_unit_numbers_have_limits(building):
    result = _import(HEADER + f"{'名' * 65},13811112222,1号楼,1-101,,\n张三,13811113333,1号楼,{'9' * 33},,\n")
    assert _errors(result) == [(2, "a name of 1 to 64 characters is needed"), (3, "a unit number is needed")]
    ok = _import(HEADER + f"{'名' * 64},13811112222,1号楼,{'9' * 32},,\n")
    assert ok.errors == []


def test_an_inactive_building_is_not_a_place_to_import_into(make_building):
    closed = make_building("9号楼", units=0)
    closed.is_active = False
    db.session.commit()
    result = _import(HEADER + "张三,13811112222,9号楼,1-101,,\n")
    assert _errors(result) == [(2, "there is no building called 9号楼")]


@pytest.mark.parametrize("typed, language", [("", "zh_Hans"), ("中文", "zh_Hans"), ("zh-CN", "zh_Hans"), ("English", "en"), ("EN", "en")])
def test_language_aliases(building, typed, language):
    result = _import(HEADER + f"张三,13811112222,1号楼,1-101,,{typed}\n")
    assert result.errors == [] and result.created[0][0].language == language


def test_sms_consent_from_the_registration_form_is_recorded(building):
    text = "name,phone,building,unit,短信同意\n张三,13811112222,1号楼,1-101,是\n李四,13811113333,1号楼,1-102,\n王五,13811114444,1号楼,1-103,Yes\n"
    result = _import(text)
    assert result.errors == []
    zhang, li, wang = _residents()
    assert zhang.sms_consent_at is not None and wang.sms_consent_at is not None and li.sms_consent_at is None
    records = db.session.scalars(select(ConsentRecord).order_by(ConsentRecord.id)).all()
    assert [(r.user_id, r.channel, r.granted) for r in records] == [(zhang.id, Channel.SMS, True), (wang.id, Channel.SMS, True)]
    assert records[0].source == "residents import (registration form)"


def test_consent_already_in_force_is_not_recorded_twice(building, make_user):
    from portal.models import utcnow

    known = make_user(phone="13811112222", units=[building.units[0]], sms_consent_at=utcnow())
    result = _import("name,phone,building,unit,sms_consent\n张三,13811112222,1号楼,1-101,1\n")
    assert result.updated == [known]
    assert db.session.scalar(select(func.count(ConsentRecord.id))) == 0


def test_a_hong_kong_mobile_only_where_the_sms_provider_sends_there(app, building):
    line = HEADER + "陈大文,+852 9123 4567,1号楼,1-101,,\n"
    refused = _import(line)
    assert refused.errors[0][0] == 2 and "mainland mobiles only" in str(refused.errors[0][1])
    app.config["SMS_URL"] = "tencent://SECRET_ID:SECRET_KEY@sms.tencentcloudapi.com?app=1400000000&sign=物业"
    accepted = _import(line)
    assert accepted.errors == [] and accepted.created[0][0].phone == "+85291234567"


def test_a_file_that_is_not_text(building):
    assert _errors(people.import_residents(b"\xff\xfe\xff")) == [(0, "The file is not UTF-8 or GB18030 text.")]


def test_an_empty_file_and_a_file_with_only_its_header(building):
    assert _errors(people.import_residents(b"")) == [(0, "The file is empty.")]
    assert _errors(_import(HEADER + "\n , , \n")) == [(0, "The file has no residents in it.")]


def test_the_first_line_must_name_the_required_columns(building):
    result = _import("姓名,电话,email\n张三,13811112222,a@example.com\n")
    ((line, message),) = _errors(result)
    assert line == 1 and message.startswith("Missing columns: building, unit.")
    assert _residents() == []


# Floor areas (专有部分面积): typed by the administrator or imported


@pytest.mark.parametrize("typed, area", [("89.5", "89.50"), (" 89.56 ㎡", "89.56"), ("120平方米", "120.00"), ("75m²", "75.00"),
                                         ("0.01", "0.01"), ("99999.99", "99999.99"), ("", None), ("  ", None)])
def test_a_floor_area_as_typed(typed, area):
    assert people.parse_area(typed) == (None if area is None else Decimal(area), None)


@pytest.mark.parametrize("typed, why", [
    ("abc", "the floor area must be a number of square metres, like 89.56"),
    ("八十", "the floor area must be a number of square metres, like 89.56"),
    ("89,5", "the floor area must be a number of square metres, like 89.56"),
    ("0", "the floor area must be more than 0 and at most 99999.99 m²"),
    ("-3", "the floor area must be more than 0 and at most 99999.99 m²"),
    ("100000", "the floor area must be more than 0 and at most 99999.99 m²"),
    ("NaN", "the floor area must be more than 0 and at most 99999.99 m²"),
    ("Infinity", "the floor area must be more than 0 and at most 99999.99 m²"),
    ("89.555", "the floor area has at most two decimal places"),
])
def test_what_is_not_a_floor_area(typed, why):
    value, problem = people.parse_area(typed)
    assert value is None and str(problem) == why


def test_the_import_records_the_floor_area_of_each_unit_and_leaves_a_blank_one_alone(building):
    building.units[0].area = Decimal("88.00")
    db.session.commit()
    result = _import("name,phone,building,unit,area\n张三,13811112222,1号楼,1-101,\n李四,13811113333,1号楼,1-102,120.5㎡\n"
                     "王五,13811114444,1号楼,1-102,120.50\n")
    assert result.errors == []
    db.session.commit()
    areas = dict(db.session.execute(select(Unit.number, Unit.area)).all())
    assert areas == {"1-101": Decimal("88.00"), "1-102": Decimal("120.50")}


def test_the_import_takes_the_area_under_its_chinese_name_and_replaces_the_one_recorded(building):
    building.units[0].area = Decimal("88.00")
    db.session.commit()
    assert _import("姓名,手机,楼栋,房号,面积\n张三,13811112222,1号楼,1-101,89.56\n").errors == []
    assert db.session.scalar(select(Unit.area)) == Decimal("89.56")


def test_bad_floor_areas_are_reported_by_line_and_nothing_is_imported(building):
    text = ("name,phone,building,unit,area\n"
            "张三,13811112222,1号楼,1-101,89.5\n"
            "李四,13811113333,1号楼,1-102,很大\n"
            "王五,13811114444,1号楼,1-103,-20\n"
            "赵六,13811115555,1号楼,1-101,90\n")  # the unit of line 2, another area
    result = _import(text)
    assert _errors(result) == [(3, "the floor area must be a number of square metres, like 89.56"),
                               (4, "the floor area must be more than 0 and at most 99999.99 m²"),
                               (5, "this unit appears above with another floor area")]
    assert _residents() == [] and db.session.scalar(select(Unit.area)) is None
