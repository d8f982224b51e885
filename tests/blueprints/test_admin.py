from decimal import Decimal
from io import BytesIO

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Building, Department, Residency, Role, SettingChange, Unit, User
from portal.services import settings
from tests.markup import element, rows_of, text_of, texts_of


@pytest.fixture
def admin_client(client, make_user):
    client.login(make_user(role=Role.ADMIN))
    return client


@pytest.mark.parametrize("role", [Role.RESIDENT, Role.STAFF, Role.HEAD, Role.WORKER, Role.COMMITTEE])
def test_admin_pages_answer_404_to_everyone_else(client, make_user, role):
    client.login(make_user(role=role))
    for url in ("/admin/", "/admin/people", "/admin/settings", "/admin/buildings", "/admin/people/import"):
        assert client.get(url).status_code == 404, url
    assert client.post("/admin/departments", {"name": "黑客部"}).status_code == 404


def test_create_and_deactivate_a_building_with_units(admin_client):
    assert admin_client.post("/admin/buildings/new", {"name": "7号楼", "address": "东区", "is_active": "y"}).status_code == 302
    building = db.session.scalar(select(Building).where(Building.name == "7号楼"))
    assert building.is_active is True
    assert admin_client.post(f"/admin/buildings/{building.id}/units", {"number": "1-101"}).status_code == 302
    duplicate = admin_client.post(f"/admin/buildings/{building.id}/units", {"number": "1-101"}, follow_redirects=True)
    assert texts_of(duplicate, "main .flash-error") == ["该楼栋已有此房号。"]  # refused
    assert db.session.scalar(select(func.count(Unit.id)).where(Unit.building_id == building.id)) == 1
    assert admin_client.post(f"/admin/buildings/{building.id}", {"name": "7号楼", "address": "东区"}).status_code == 302
    db.session.expire_all()
    assert db.session.get(Building, building.id).is_active is False


def test_duplicate_building_name_is_a_clear_error(admin_client, make_building):
    make_building("1号楼")
    response = admin_client.post("/admin/buildings/new", {"name": "1号楼", "is_active": "y"})
    assert response.status_code == 422 and text_of(response, "#name-error") == "该名称已被使用。"
    assert db.session.scalar(select(func.count(Building.id))) == 1


def test_departments(admin_client):
    assert admin_client.post("/admin/departments", {"name": "工程维修部", "is_active": "y"}).status_code == 302
    dept = db.session.scalar(select(Department))
    assert (dept.name, dept.is_active) == ("工程维修部", True)
    assert admin_client.post(f"/admin/departments/{dept.id}", {"name": "工程部"}).status_code == 302
    db.session.expire_all()
    dept = db.session.get(Department, dept.id)
    assert dept.name == "工程部" and dept.is_active is False


def test_create_person_with_two_units_then_reset_password(admin_client, make_building):
    make_building("1号楼", units=3)
    response = admin_client.post(
        "/admin/people/new",
        {"name": "周杰", "phone": "138-0000-9999", "role": "resident", "department_id": "0", "language": "zh_Hans",
         "units": "1号楼 1-101\n1号楼 1-102", "is_active": "y"},
    )
    assert response.status_code == 302
    user = db.session.scalar(select(User).where(User.name == "周杰"))
    assert user.phone == "13800009999"
    assert sorted(r.unit.number for r in user.residencies) == ["1-101", "1-102"]
    old_hash = user.password_hash
    reset = admin_client.post(f"/admin/people/{user.id}/reset-password", follow_redirects=True)
    shown = texts_of(reset, "main .flash-success")
    assert len(shown) == 1 and shown[0].startswith("周杰 的新临时密码：") and shown[0].endswith("（仅显示一次）。")
    password = shown[0].removeprefix("周杰 的新临时密码：").removesuffix("（仅显示一次）。")
    db.session.expire_all()
    assert db.session.get(User, user.id).password_hash != old_hash and db.session.get(User, user.id).check_password(password)


def test_person_with_unknown_building_keeps_the_form(admin_client):
    response = admin_client.post(
        "/admin/people/new",
        {"name": "周杰", "phone": "13800009999", "role": "resident", "department_id": "0", "language": "zh_Hans", "units": "9号楼 1-101"},
    )
    assert response.status_code == 422
    assert element(response, "textarea#units").text == "9号楼 1-101" and element(response, "input#name").get("value") == "周杰"
    assert text_of(response, "#units-error") == "第 1 行：没有名为“9号楼”的楼栋。"
    assert db.session.scalar(select(func.count(User.id)).where(User.name == "周杰")) == 0


def _csv(text, encoding="utf-8"):
    return {"file": (BytesIO(text.encode(encoding)), "residents.csv")}


def test_import_residents_all_or_nothing(admin_client, make_building):
    make_building("1号楼", units=0)
    bad = "name,phone,building,unit,email,language\n张三,13811112222,1号楼,1-101,zs@example.com,zh_Hans\n李四,abc,9号楼,1-102,not-an-email,fr\n"
    response = admin_client.post("/admin/people/import", _csv(bad), content_type="multipart/form-data")
    assert response.status_code == 422
    assert text_of(response, ".error-list h2") == "未导入任何数据。请更正以下各行："
    assert texts_of(response, ".error-list li") == [  # every fault of the bad line; the good line is not imported either
        "第 3 行: 请输入内地手机号码：以 13 至 19 开头的 11 位数字。; 没有名为“9号楼”的楼栋; 电子邮箱无效; 语言须为 zh_Hans 或 en"]
    assert db.session.scalar(select(func.count(User.id)).where(User.role == Role.RESIDENT)) == 0
    good = "姓名,手机,楼栋,房号,邮箱,语言\n张三,13811112222,1号楼,1-101,zs@example.com,zh_Hans\n张三,13811112222,1号楼,1-102,,\n李四,13811113333,1号楼,1-103,,en\n"
    response = admin_client.post("/admin/people/import", _csv(good, "gb18030"), content_type="multipart/form-data")
    assert response.status_code == 200 and text_of(response, "main section.card h2") == "已新建 2 位住户，更新 0 位。"
    assert [row[:2] for row in rows_of(response, "main section.card tbody tr")] == [["张三", "13811112222"], ["李四", "13811113333"]]
    zhang = db.session.scalar(select(User).where(User.phone == "13811112222"))
    assert len(zhang.residencies) == 2 and zhang.email == "zs@example.com"
    assert db.session.scalar(select(User.language).where(User.phone == "13811113333")) == "en"
    assert db.session.scalar(select(func.count(Residency.id))) == 3


def test_settings_are_validated_and_their_history_kept(admin_client, app):
    values = {key: d.default for key, d in settings.DEFINITIONS.items()}
    values["emergency_response_minutes"] = "abc"
    values["hotline"] = "0571-12345678"
    response = admin_client.post("/admin/settings", values)
    assert response.status_code == 422
    assert element(response, "input#s-hotline").get("value") == "0571-12345678"  # nothing typed is lost
    assert element(response, "input#s-emergency_response_minutes").get("value") == "abc"
    assert texts_of(response, "form .field.has-error p.error") == ["请输入整数。"]
    assert text_of(response, ".field:has(#s-emergency_response_minutes) p.error") == "请输入整数。"
    assert settings.get("hotline") == "400-800-1234"
    values["emergency_response_minutes"] = "20"
    assert admin_client.post("/admin/settings", values).status_code == 302
    assert settings.get("emergency_response_minutes") == 20
    assert settings.get("hotline") == "0571-12345678"
    changes = db.session.scalars(select(SettingChange).order_by(SettingChange.key)).all()
    assert [(c.key, c.old_value, c.new_value) for c in changes] == [
        ("emergency_response_minutes", 30, 20),
        ("hotline", "400-800-1234", "0571-12345678"),
    ]
    assert changes[0].changed_by.role == Role.ADMIN
    page = admin_client.get("/admin/settings").get_data(as_text=True)
    assert element(page, "input#s-hotline").get("value") == "0571-12345678"
    assert sorted(row[3:] for row in rows_of(page, "main section.card tbody tr")) == [["30", "20"], ["400-800-1234", "0571-12345678"]]  # before, after


def test_on_duty_phone_per_department(admin_client):
    dept = Department(name="工程维修部")
    db.session.add(dept)
    db.session.commit()
    values = {key: d.default for key, d in settings.DEFINITIONS.items()}
    values[f"duty_phone.{dept.id}"] = "13900001111"
    assert admin_client.post("/admin/settings", values).status_code == 302
    assert settings.get(f"duty_phone.{dept.id}") == "13900001111"


def test_every_policy_x_has_a_setting_with_a_default():
    for key in ("records_retention_years", "outreach_daily_target", "emergency_response_minutes", "forum_notice_days",
                "forum_min_hours", "activity_min_hours", "unrated_close_days", "hotline", "contact_person"):
        assert settings.DEFINITIONS[key].default not in (None, "")
    for category in settings.TICKET_CATEGORIES:
        for urgency in ("normal", "urgent"):
            assert settings.DEFINITIONS[f"due_hours.{category}.{urgency}"].default > 0


def test_people_search(admin_client, make_user):
    found = make_user(name="欧阳锋")
    make_user(name="黄药师")
    page = admin_client.get("/admin/people?q=欧阳").get_data(as_text=True)
    assert rows_of(page, "main table tbody tr") == [["欧阳锋", found.phone, "", "业主/住户", "是"]]


def test_the_administrator_records_a_units_floor_area_and_that_the_developer_still_holds_it(admin_client, make_building):
    building = make_building("1号楼", units=2)
    unit = building.units[0]
    page = admin_client.get(f"/admin/buildings/{building.id}").get_data(as_text=True)
    assert text_of(page, "#area-summary") == "有 2 户在用房屋未登记专有部分面积：登记前无法统计业主共同决定的表决结果。"
    response = admin_client.post(f"/admin/units/{unit.id}", {"number": "1-101", "area": "89.5㎡", "is_unsold": "y", "is_active": "y"})
    assert response.status_code == 302
    db.session.expire_all()
    unit = db.session.get(Unit, unit.id)
    assert (unit.area, unit.is_unsold) == (Decimal("89.50"), True)
    assert element(admin_client.get(f"/admin/units/{unit.id}"), "input#area").get("value") == "89.50"
    page = admin_client.get(f"/admin/buildings/{building.id}").get_data(as_text=True)
    assert texts_of(page, ".unit-grid li") == ["1-101 89.50 m² · 未售", "1-102 无面积"]
    assert text_of(page, "#area-summary").startswith("有 1 户在用房屋未登记专有部分面积")
    assert admin_client.post(f"/admin/units/{unit.id}", {"number": "1-101", "area": "", "is_active": "y"}).status_code == 302
    db.session.expire_all()
    assert db.session.get(Unit, unit.id).area is None  # emptied: not recorded


@pytest.mark.parametrize("typed", ["abc", "-3", "0", "89.555", "100000", "八十九"])
def test_a_floor_area_that_is_not_one_is_a_field_error_that_keeps_what_was_typed(admin_client, make_building, typed):
    building = make_building("1号楼", units=1)
    unit = building.units[0]
    unit.area = Decimal("80")
    db.session.commit()
    response = admin_client.post(f"/admin/units/{unit.id}", {"number": "1-109", "area": typed, "is_active": "y"})
    assert response.status_code == 422
    assert text_of(response, "#area-error") == "请填写以平方米计的面积：大于 0、不超过 99999.99、最多两位小数，如 89.56。"
    assert element(response, "input#area").get("value") == typed and element(response, "input#number").get("value") == "1-109"
    db.session.expire_all()
    assert (db.session.get(Unit, unit.id).area, db.session.get(Unit, unit.id).number) == (Decimal("80.00"), "1-101")


def test_the_residents_import_reads_an_area_column_and_refuses_bad_areas_by_line(admin_client, make_building):
    make_building("1号楼", units=0)
    bad = "姓名,手机,楼栋,房号,面积\n张三,13811112222,1号楼,1-101,89.56\n李四,13811113333,1号楼,1-102,九十\n"
    response = admin_client.post("/admin/people/import", _csv(bad), content_type="multipart/form-data")
    assert response.status_code == 422
    assert texts_of(response, ".error-list li") == ["第 3 行: 面积须为平方米数，如 89.56"]
    assert db.session.scalar(select(func.count(Unit.id))) == 0
    good = "姓名,手机,楼栋,房号,面积\n张三,13811112222,1号楼,1-101,89.56\n李四,13811113333,1号楼,1-102,120㎡\n"
    assert admin_client.post("/admin/people/import", _csv(good), content_type="multipart/form-data").status_code == 200
    assert dict(db.session.execute(select(Unit.number, Unit.area)).all()) == {"1-101": Decimal("89.56"), "1-102": Decimal("120.00")}
