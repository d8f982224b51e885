"""The bell and the notifications list, the account's channels and consent, WeChat binding, the
admin's channels and deliveries pages, the channels commands and the configuration check."""
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal import create_app
from portal.extensions import db
from portal.models import Channel, ConsentRecord, Delivery, DeliveryStatus, Notification, NotificationPref, Role, User, utcnow
from portal.notify import kinds, notify, texts
from portal.notify.channels import ConfigError
from portal.services import tickets
from tests.markup import element, elements, rows_of, text_of, texts_of

NOW = utcnow()


def _notes(user, n=3):
    ticket, _ = tickets.create(category="repair", channel="hotline", description="漏水", actor=None, now=NOW, resident=user,
                               unit=user.residencies[0].unit)
    for i in range(n - 1):
        tickets.progress(ticket, f"进展{i}", None, None, NOW)
    db.session.commit()
    return ticket


def test_every_page_has_a_bell_with_the_unread_count(client, make_user):
    resident = make_user()
    _notes(resident, 3)
    client.login(resident)
    for url in ("/notices/", "/tickets/", "/events/", "/account/"):
        page = client.get(url).get_data(as_text=True)
        bell = re.search(r'<a id="bell"[^>]*>.*?</a>', page, re.S)
        assert bell and '<span class="count">3</span>' in bell.group(0), url


def test_the_bell_poll_answers_304_before_flask_when_nothing_changed(app, client, make_user):
    resident = make_user()
    client.login(resident)
    first = client.get("/notifications/bell")
    assert first.status_code == 200 and first.headers["ETag"]
    again = client.get("/notifications/bell", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.get_data() == b""
    _notes(resident, 1)
    changed = client.get("/notifications/bell", headers={"If-None-Match": first.headers["ETag"]})
    assert changed.status_code == 200 and '<span class="count">1</span>' in changed.get_data(as_text=True)


def test_the_fast_path_makes_one_statement_and_no_session(app, client, make_user):
    from tests.blueprints.test_tickets import _count

    resident = make_user()
    client.login(resident)
    tag = client.get("/notifications/bell").headers["ETag"]
    assert _count(app, lambda: client.get("/notifications/bell", headers={"If-None-Match": tag})) == 1
    signed_out = app.test_client().get("/notifications/bell", headers={"If-None-Match": tag, "Cookie": "session=forged"})
    assert signed_out.status_code == 286  # htmx stops polling: nobody is signed in


def test_the_list_is_newest_first_paged_and_marks_read(client, make_user):
    resident = make_user()
    _notes(resident, 35)
    client.login(resident)
    page = client.get("/notifications/").get_data(as_text=True)
    ids = [int(i) for i in re.findall(r'id="notification-(\d+)"', page)]
    assert len(ids) == 30 and ids == sorted(ids, reverse=True)
    older = re.search(r'href="/notifications/\?before=(\d+)"', page).group(1)
    rest = [int(i) for i in re.findall(r'id="notification-(\d+)"', client.get(f"/notifications/?before={older}").get_data(as_text=True))]
    assert len(rest) == 5 and max(rest) < min(ids)
    assert "unread" in element(page, f"#notification-{ids[0]}").get("class").split()
    response = client.post(f"/notifications/{ids[0]}/read", headers={"HX-Request": "true"})
    assert response.status_code == 200 and "<html" not in response.get_data(as_text=True)
    assert "unread" not in element(response, f"#notification-{ids[0]}").get("class").split()
    opened = client.post(f"/notifications/{ids[1]}/open")
    assert opened.status_code == 302 and opened.headers["Location"].startswith("/go/t")
    assert db.session.scalar(select(func.count(Notification.id)).where(Notification.read_at.is_(None))) == 33
    assert client.post("/notifications/read-all").status_code == 302
    assert db.session.scalar(select(func.count(Notification.id)).where(Notification.read_at.is_(None))) == 0


def test_someone_elses_notification_is_a_404(client, make_user):
    owner, other = make_user(), make_user()
    _notes(owner, 1)
    note = db.session.scalar(select(Notification))
    client.login(other)
    assert client.post(f"/notifications/{note.id}/read").status_code == 404
    assert client.post(f"/notifications/{note.id}/open").status_code == 404
    listed = client.get("/notifications/")
    assert str(note.title) not in listed.get_data(as_text=True) and not elements(listed, "#notification-list [id^=notification-]")


def test_the_list_poll_is_a_fragment_with_vary(client, make_user):
    resident = make_user()
    client.login(resident)
    response = client.get("/notifications/", headers={"HX-Request": "true"})
    assert "<html" not in response.get_data(as_text=True) and "HX-Request" in response.headers["Vary"]
    again = client.get("/notifications/", headers={"HX-Request": "true", "If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304


def test_short_links_lead_to_the_object_which_checks_who_may_see_it(client, make_user):
    resident, other = make_user(), make_user()
    ticket = _notes(resident, 1)
    client.login(other)
    response = client.get(f"/go/t{ticket.id}")
    assert response.status_code == 302 and response.headers["Location"] == f"/tickets/{ticket.id}"
    assert client.get(f"/go/t{ticket.id}", follow_redirects=True).status_code == 404
    assert client.get("/go/x1").status_code == 404 and client.get("/go/t99999999999999").status_code == 404


def test_a_resident_chooses_channels_per_category_but_cannot_switch_emergencies_off(client, make_user):
    resident = make_user(email="a@example.com")
    client.login(resident)
    page = client.get("/account/").get_data(as_text=True)
    assert [row[0] for row in rows_of(page, "table.channels tbody tr")][-1].startswith("紧急通知")
    data = {"tickets": ["sms"], "notices": [], "events": ["email"], "consultations": ["wechat"], "emergencies": ["email"]}
    response = client.post("/account/channels", data)
    assert response.status_code == 422
    ticked = sorted((box.get("name"), box.get("value")) for box in elements(response, "table.channels input[checked]"))
    assert ticked == sorted((name, value) for name, values in data.items() for value in values)  # what they ticked is kept
    assert texts_of(response, "table.channels p.error") == ["紧急通知不能关闭：请至少保留微信或短信。"]
    assert db.session.scalar(select(func.count()).select_from(NotificationPref)) == 0
    data["emergencies"] = ["sms", "email"]
    assert client.post("/account/channels", data).status_code == 302
    saved = {p.category: p.channels for p in db.session.scalars(select(NotificationPref).where(NotificationPref.user_id == resident.id))}
    assert saved == {"tickets": "sms", "notices": "", "events": "email", "consultations": "wechat", "emergencies": "sms,email"}


def test_consent_is_recorded_with_time_and_source_and_can_be_withdrawn(client, make_user):
    resident = make_user()
    client.login(resident)
    assert client.post("/account/consent", {"channel": "sms", "granted": "1"}).status_code == 302
    db.session.refresh(resident)
    assert resident.sms_consent_at is not None
    assert client.post("/account/consent", {"channel": "sms", "granted": "0"}).status_code == 302
    db.session.refresh(resident)
    assert resident.sms_consent_at is None
    records = db.session.scalars(select(ConsentRecord).where(ConsentRecord.user_id == resident.id).order_by(ConsentRecord.id)).all()
    assert [(r.channel, r.granted, r.source) for r in records] == [(Channel.SMS, True, "account page"), (Channel.SMS, False, "account page")]
    refused = client.post("/account/consent", {"channel": "email", "granted": "1"}, follow_redirects=True)  # refused, nothing recorded
    assert texts_of(refused, "main .flash-error") == ["无法识别该请求，请检查您填写的内容。"]
    assert db.session.scalar(select(func.count(ConsentRecord.id))) == 2


def test_no_sms_without_consent(make_user):
    resident = make_user()
    consenting = make_user(sms_consent_at=NOW)
    for person in (resident, consenting):
        ticket = _notes(person, 1)
        tickets.progress(ticket, "进展", None, None, NOW)
    db.session.commit()
    assert db.session.scalar(select(Delivery.id).where(Delivery.channel == Channel.SMS, Delivery.user_id == resident.id)) is None
    assert db.session.scalar(select(func.count(Delivery.id)).where(Delivery.channel == Channel.SMS, Delivery.user_id == consenting.id)) > 0


def test_binding_wechat_through_oauth_from_the_accounts_menu(standin, client, make_user):
    resident = make_user(name="周杰")
    client.login(resident)
    standin.authorize_as("o_zhoujie_follower")
    start = client.get("/wechat/bind")
    assert start.status_code == 302 and "/connect/oauth2/authorize" in start.headers["Location"] and "snsapi_base" in start.headers["Location"]
    import urllib.parse
    import urllib.request

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        opener.open(start.headers["Location"].split("#")[0])
    except urllib.error.HTTPError as back:  # WeChat answers with a redirect to our callback
        location = back.headers["Location"]
    query = urllib.parse.urlsplit(location).query
    response = client.get(f"/wechat/oauth?{query}")
    assert response.status_code == 302 and response.headers["Location"].endswith("/wechat/confirm")
    page = client.get("/wechat/confirm").get_data(as_text=True)
    assert text_of(page, "main section > p:not(.hint)").startswith("将此微信绑定到 周杰 的")
    assert client.post("/wechat/confirm").status_code == 302
    db.session.refresh(resident)
    assert resident.wechat_openid == "o_zhoujie_follower" and resident.wechat_consent_at is not None
    record = db.session.scalar(select(ConsentRecord).where(ConsentRecord.user_id == resident.id))
    assert record.channel == Channel.WECHAT and record.source == "WeChat binding"
    assert client.get(f"/wechat/oauth?{query}").status_code == 302  # the code works once: nothing more is bound
    assert client.post("/account/wechat/unbind").status_code == 302
    db.session.refresh(resident)
    assert resident.wechat_openid is None and resident.wechat_consent_at is None


def test_a_forged_oauth_state_binds_nothing(standin, client, make_user):
    resident = make_user()
    client.login(resident)
    code = standin.oauth_code("o_intruder")
    response = client.get(f"/wechat/oauth?code={code}&state=forged")
    assert response.status_code == 302 and "/account/" in response.headers["Location"]
    assert client.get("/wechat/confirm").headers["Location"].endswith("/account/")
    db.session.refresh(resident)
    assert resident.wechat_openid is None


def test_the_admin_enters_template_codes_and_sees_each_sms_length(client, make_user):
    client.login(make_user(role=Role.ADMIN))
    page = client.get("/admin/channels").get_data(as_text=True)
    assert "PORTAL_SMS_URL" in page and "ticket_progress" in page and "${number}" in page and "{1}" in page
    from portal.services import settings

    form = {k: settings.get(k) for k, d in settings.DEFINITIONS.items() if d.group in ("channels", "templates")}
    form["sms_template.ticket_progress"] = "SMS 1"  # a space: not a code
    form["quiet_hours_start"] = "25:00"
    response = client.post("/admin/channels", form)
    assert response.status_code == 422
    assert element(response, "input[name='sms_template.ticket_progress']").get("value") == "SMS 1"
    assert element(response, "input[name=quiet_hours_start]").get("value") == "25:00"
    assert len(texts_of(response, "form p.error")) == 2
    assert settings.get("quiet_hours_start") != "25:00" and settings.get("sms_template.ticket_progress") != "SMS 1"
    form.update({"sms_template.ticket_progress": "SMS_123456", "quiet_hours_start": "22:00"})
    assert client.post("/admin/channels", form).status_code == 302
    assert settings.get("sms_template.ticket_progress") == "SMS_123456" and settings.get("quiet_hours_start") == "22:00"


def test_every_kinds_sms_fits_one_segment_with_the_signature(app):
    app.config["BASE_URL"] = "https://portal.example.com"
    with app.test_request_context("/"):
        for kind in kinds.KINDS.values():
            for language in ("zh_Hans", "en"):
                length, text = texts.sms_length(kind, language, "阳光物业")
                assert length <= 70, (kind.name, language, length, text)
                assert "portal.example.com/go/t123456" in text, (kind.name, text)


def test_the_deliveries_page_filters_and_is_for_admins_only(client, make_user):
    resident = make_user(sms_consent_at=NOW, name="吴婷")
    _notes(resident, 2)
    for role in (Role.STAFF, Role.HEAD, Role.RESIDENT):
        client.login(make_user(role=role))
        assert client.get("/admin/deliveries").status_code == 404
        assert client.post(f"/admin/deliveries/{db.session.scalar(select(Delivery.id))}/retry").status_code == 404
        client.logout()
    client.login(make_user(role=Role.ADMIN))
    page = client.get("/admin/deliveries?channel=sms&q=吴婷").get_data(as_text=True)
    shown = [(row[2], row[3], row[4], row[5].split(" ")[0]) for row in rows_of(page, "table.deliveries tbody tr")]  # status, not its time
    # the registration's SMS, still waiting, took the progress in (×2); the progress's own was skipped for it
    assert shown == [("短信", f"吴婷 {resident.phone}", "诉求进展", "未发送"), ("短信", f"吴婷 {resident.phone}", "诉求进展 ×2", "待发送")]
    email = client.get("/admin/deliveries?channel=email")
    assert "吴婷" not in email.get_data(as_text=True) and texts_of(email, "table.deliveries tbody tr") == ["没有符合条件的发送记录。"]


def test_a_department_robot_and_a_staff_wecom_userid_are_set_by_the_admin(client, make_user, app):
    from portal.models import Department

    dept = Department(name="工程维修部")
    db.session.add(dept)
    db.session.commit()
    client.login(make_user(role=Role.ADMIN))
    bad = client.post(f"/admin/departments/{dept.id}", {"name": "工程维修部", "robot_webhook": "not a webhook", "is_active": "y"})
    assert bad.status_code == 422 and element(bad, "input#robot_webhook").get("value") == "not a webhook"
    assert text_of(bad, "#robot_webhook-error") == "请粘贴企业微信中显示的群机器人 Webhook 地址，或其 key。"
    url = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"
    assert client.post(f"/admin/departments/{dept.id}", {"name": "工程维修部", "robot_webhook": url, "is_active": "y"}).status_code == 302
    db.session.refresh(dept)
    assert dept.robot_webhook == url
    staff = make_user(role=Role.STAFF, name="王敏")
    form = {"name": "王敏", "username": staff.username, "phone": "13900000001", "role": "staff", "department_id": "0", "language": "zh_Hans",
            "wecom_userid": "WangMin", "is_active": "y", "units": ""}
    assert client.post(f"/admin/people/{staff.id}", form).status_code == 302
    db.session.refresh(staff)
    assert staff.wecom_userid == "WangMin" and staff.phone == "13900000001"


@pytest.mark.parametrize("phone, ok_aliyun, ok_tencent", [
    ("13800000001", True, True), ("138 0000 0001", True, True), ("+86 138-0000-0001", True, True),
    ("12800000001", False, False), ("1380000000", False, False), ("010-12345678", False, False),
    ("+852 9123 4567", False, True), ("+853 6612 3456", False, True), ("+886 912 345 678", False, True), ("+1 415 555 0100", False, False),
])
def test_mobile_numbers_are_checked_where_they_are_entered(client, make_user, app, phone, ok_aliyun, ok_tencent):
    client.login(make_user(role=Role.ADMIN))
    mainland = "请输入内地手机号码：以 13 至 19 开头的 11 位数字。"
    for url, ok, refusal in (
            ("aliyun://id:secret@dysmsapi.aliyuncs.com?sign=物业", ok_aliyun,
             "当前配置的短信服务商仅支持内地手机号码：请输入以 13 至 19 开头的 11 位号码。" if ok_tencent else mainland),
            ("tencent://id:key@sms.tencentcloudapi.com?app=1400000001&sign=物业", ok_tencent,
             "请输入内地手机号码（以 13 至 19 开头的 11 位数字），或带 +852、+853、+886 的港澳台手机号码。")):
        app.config["SMS_URL"] = url
        form = {"name": "新住户", "phone": phone, "username": "", "role": "resident", "department_id": "0", "language": "zh_Hans",
                "units": "", "is_active": "y"}
        response = client.post("/admin/people/new", form)
        assert (response.status_code == 302) == ok, (url, phone, response.status_code)
        if not ok:
            assert response.status_code == 422 and element(response, "input#phone").get("value") == phone
            assert text_of(response, "#phone-error") == refusal, url
        db.session.rollback()
        db.session.execute(User.__table__.delete().where(User.name == "新住户"))
        db.session.commit()


def test_staff_record_sms_consent_given_on_paper(client, make_user):
    admin = make_user(role=Role.ADMIN)
    resident = make_user(name="老王")
    client.login(admin)
    form = {"name": "老王", "phone": resident.phone, "username": "", "role": "resident", "department_id": "0", "language": "zh_Hans",
            "units": "", "is_active": "y", "sms_consent": "y"}
    assert client.post(f"/admin/people/{resident.id}", form).status_code == 302
    record = db.session.scalar(select(ConsentRecord).where(ConsentRecord.user_id == resident.id))
    assert record.granted and record.recorded_by_id == admin.id and "service centre" in record.source


@pytest.mark.parametrize("variable, url, words", [
    ("SMS_URL", "aliyun://onlyid@dysmsapi.aliyuncs.com?sign=x", "PORTAL_SMS_URL"),
    ("SMS_URL", "smsbao://a:b@example.com", "PORTAL_SMS_URL"),
    ("SMS_URL", "tencent://a:b@sms.tencentcloudapi.com?sign=x", "SmsSdkAppId"),
    ("WECHAT_URL", "wechat://a:b@api.weixin.qq.com?aes_key=short", "PORTAL_WECHAT_URL"),
    ("WECOM_URL", "wecom://a:b@qyapi.weixin.qq.com", "AgentId"),
    ("WECOM_URL", "wecom://a:b@[::1", "PORTAL_WECOM_URL"),
])
def test_a_malformed_channel_url_stops_with_one_line_naming_the_variable(variable, url, words):
    with pytest.raises(ConfigError) as raised:
        create_app({variable: url, "SQLALCHEMY_DATABASE_URI": "sqlite://", "SECRET_KEY": "x"})
    message = str(raised.value)
    assert words in message and "\n" not in message


def test_the_flask_command_prints_one_line_for_a_bad_url(tmp_path):
    import os
    import subprocess
    import sys

    env = dict(os.environ, PORTAL_SMS_URL="aliyun://nosecret@host", PORTAL_DATABASE_URL=f"sqlite:///{tmp_path}/x.db")
    result = subprocess.run([os.path.join(os.path.dirname(sys.executable), "flask"), "--app", "portal", "worker", "--once"],
                            capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode != 0 and "PORTAL_SMS_URL" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def _checked(output):
    """{channel: "ok" or "FAILED"} from what `flask channels check` printed."""
    return dict(re.findall(r"^(\w+) .*\n +(ok|FAILED):", output, re.M))


def test_channels_check_fetches_a_token_from_each_provider(standin, app):
    result = app.test_cli_runner().invoke(args=["channels", "check"])
    assert result.exit_code == 0, result.output
    assert "Aliyun SMS" in result.output and "access_token fetched" in result.output
    assert _checked(result.output) == {"email": "ok", "sms": "ok", "wechat": "ok", "wecom": "ok", "wecom_robot": "ok", "voice": "ok"}
    assert standin.tokens_issued("wechat") == 1 and standin.tokens_issued("wecom") == 1
    standin.fail("wechat", "unavailable", on="token")
    failed = app.test_cli_runner().invoke(args=["channels", "check"])
    assert failed.exit_code == 1 and _checked(failed.output) == {**_checked(result.output), "wechat": "FAILED"}


def test_channels_test_sends_on_every_channel_the_person_has_at_any_hour(standin, app, make_user):
    standin.follow("o_test_person")
    make_user(name="测试", phone="13800001234", sms_consent_at=NOW, wechat_openid="o_test_person", wechat_consent_at=NOW, email=None)
    result = app.test_cli_runner().invoke(args=["channels", "test", "--to", "13800001234"])
    assert result.exit_code == 0, result.output
    assert [line.split()[:3] for line in result.output.splitlines()] == [["wechat", "o_test_person", "sent"], ["sms", "13800001234", "sent"]]
    assert len(standin.messages("aliyun_sms")) == 1 and len(standin.messages("wechat")) == 1
    bare = app.test_cli_runner().invoke(args=["channels", "test", "--to", "13911112222"])
    assert bare.exit_code == 0 and len(standin.messages("aliyun_sms")) == 2
    bad = app.test_cli_runner().invoke(args=["channels", "test", "--to", "12345"])
    assert bad.exit_code == 2


def test_notify_writes_nothing_for_people_it_skips(make_user):
    staff = make_user(role=Role.STAFF)
    gone = make_user(is_active=False)
    ticket = _notes(make_user(), 1)
    assert notify("ticket_assigned", ticket, [staff, gone, None, staff], now=NOW, actor=staff) == []
    assert db.session.scalar(select(func.count(Notification.id)).where(Notification.kind == "ticket_assigned")) == 0


def test_the_same_telling_twice_is_written_once(make_user):
    staff = make_user(role=Role.STAFF, wecom_userid="x")
    ticket = _notes(make_user(), 1)
    notify("ticket_assigned", ticket, [staff], now=NOW, ref="same")
    notify("ticket_assigned", ticket, [staff], now=NOW + timedelta(seconds=1), ref="same")
    db.session.commit()
    assert db.session.scalar(select(func.count(Notification.id)).where(Notification.kind == "ticket_assigned")) == 1
    assert db.session.scalar(select(func.count(Delivery.id)).where(Delivery.kind == "ticket_assigned")) == 1
    assert db.session.scalar(select(Delivery.status).where(Delivery.kind == "ticket_assigned")) == DeliveryStatus.PENDING


def test_the_residents_import_checks_mobiles_and_records_consent_from_the_form(client, make_user, make_building):
    from io import BytesIO

    make_building("1号楼", units=0)
    client.login(make_user(role=Role.ADMIN))

    def upload(text):
        return client.post("/admin/people/import", {"file": (BytesIO(text.encode()), "r.csv")}, content_type="multipart/form-data")

    landline = upload("姓名,手机,楼栋,房号,短信同意\n张三,0571-88886666,1号楼,1-101,是\n")
    assert landline.status_code == 422 and texts_of(landline, ".error-list li") == ["第 2 行: 请输入内地手机号码：以 13 至 19 开头的 11 位数字。"]
    assert upload("姓名,手机,楼栋,房号,短信同意\n张三,138 1111 2222,1号楼,1-101,是\n李四,13811113333,1号楼,1-102,\n").status_code == 200
    zhang = db.session.scalar(select(User).where(User.phone == "13811112222"))
    li = db.session.scalar(select(User).where(User.phone == "13811113333"))
    assert zhang.sms_consent_at is not None and li.sms_consent_at is None
    record = db.session.scalar(select(ConsentRecord).where(ConsentRecord.user_id == zhang.id))
    assert record.source == "residents import (registration form)"
