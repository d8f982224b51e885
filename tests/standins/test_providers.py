"""The provider stand-in, driven only through the providers' real SDKs (and requests for the robot)."""
import json
import threading
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from alibabacloud_dysmsapi20170525 import models as sms_models
from alibabacloud_dysmsapi20170525.client import Client as AliyunSms
from alibabacloud_dyvmsapi20170525 import models as vms_models
from alibabacloud_dyvmsapi20170525.client import Client as AliyunVms
from alibabacloud_tea_openapi import models as open_api_models
from darabonba.exceptions import UnretryableException
from tencentcloud.common import credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import (
    TencentCloudSDKException,
)
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.sms.v20210111 import models as tc_sms_models
from tencentcloud.sms.v20210111.sms_client import SmsClient
from tencentcloud.vms.v20200902 import models as tc_vms_models
from tencentcloud.vms.v20200902.vms_client import VmsClient
from wechatpy import WeChatClient
from wechatpy.enterprise import WeChatClient as WeComClient
from wechatpy.exceptions import (
    APILimitedException,
    WeChatClientException,
    WeChatOAuthException,
)
from wechatpy.oauth import WeChatOAuth

from tests.standins.providers import Providers

PHONE = "13800000001"


# ---- SDK clients pointed at the stand-in -----------------------------------------------------------
class StandInWeChat(WeChatClient):
    def __init__(self, providers, secret=None, **kwargs):
        self._standin = providers.base_url
        super().__init__(providers.WECHAT_APPID, secret or providers.WECHAT_SECRET, **kwargs)
        self.API_BASE_URL = providers.base_url + "/cgi-bin/"

    def fetch_access_token(self):
        return self._fetch_access_token(
            url=self._standin + "/cgi-bin/token",
            params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
        )


class StandInWeCom(WeComClient):
    def __init__(self, providers, corp_id=None, secret=None, **kwargs):
        self._standin = providers.base_url
        super().__init__(corp_id or providers.WECOM_CORPID, secret or providers.WECOM_SECRET, **kwargs)
        self.API_BASE_URL = providers.base_url + "/cgi-bin/"

    def fetch_access_token(self):
        return self._fetch_access_token(
            url=self._standin + "/cgi-bin/gettoken", params={"corpid": self.corp_id, "corpsecret": self.secret}
        )


class StandInOAuth(WeChatOAuth):
    def __init__(self, providers, redirect_uri, **kwargs):
        super().__init__(providers.WECHAT_APPID, providers.WECHAT_SECRET, redirect_uri, **kwargs)
        self.API_BASE_URL = providers.base_url + "/"
        self.OAUTH_BASE_URL = providers.base_url + "/connect/"


@pytest.fixture
def providers():
    with Providers() as p:
        p.timeout_seconds = 1.0
        yield p


@pytest.fixture
def closing():
    """Collects requests sessions of SDK clients and closes them (no ResourceWarning under -W error)."""
    sessions = []
    yield sessions.append
    for s in sessions:
        s.close()


def aliyun_config(p, secret=None, key_id=None, **kw):
    return open_api_models.Config(access_key_id=key_id or p.ALIYUN_KEY_ID,
                                  access_key_secret=secret or p.ALIYUN_KEY_SECRET,
                                  endpoint=p.address, protocol="http", **kw)


def aliyun_send(client, p, numbers=PHONE, template="SMS_100", params=None, sign=None):
    return client.send_sms(sms_models.SendSmsRequest(
        phone_numbers=numbers, sign_name=sign or p.SMS_SIGN, template_code=template,
        template_param=None if params is None else json.dumps(params, ensure_ascii=False)))


@pytest.fixture
def aliyun(providers):
    providers.approve_template("aliyun_sms", "SMS_100", ["no", "status"], content="您的报修单${no}已${status}。")
    return AliyunSms(aliyun_config(providers, read_timeout=300, connect_timeout=1000))


def tencent_profile(p, timeout=5):
    return ClientProfile(httpProfile=HttpProfile(endpoint=p.address, protocol="http", reqTimeout=timeout))


def tencent_sms(p, closing, key=None, secret_id=None, timeout=5):
    c = SmsClient(credential.Credential(secret_id or p.TENCENT_SECRET_ID, key or p.TENCENT_SECRET_KEY),
                  "ap-guangzhou", tencent_profile(p, timeout))
    closing(c.request.conn._session)
    return c


def tencent_send(client, p, numbers=("+86" + PHONE,), template="2001", params=("BX-1",), sign=None, context=None):
    req = tc_sms_models.SendSmsRequest()
    req.SmsSdkAppId = p.TENCENT_SMS_APP
    req.SignName = p.SMS_SIGN if sign is None else sign
    req.TemplateId = template
    req.TemplateParamSet = list(params)
    req.PhoneNumberSet = list(numbers)
    if context:
        req.SessionContext = context
    return client.SendSms(req)


@pytest.fixture
def tencent(providers, closing):
    providers.approve_template("tencent_sms", "2001", {"1": 12}, content="您的报修单{1}已受理。")
    return tencent_sms(providers, closing)


@pytest.fixture
def wechat(providers, closing):
    providers.approve_template("wechat", "TPL_REPAIR", ["character_string1", "thing2", "time3", "phrase4"],
                               content="单号：{{character_string1.DATA}}\n事项：{{thing2.DATA}}")
    providers.follow("o_follower")
    client = StandInWeChat(providers, timeout=5)
    closing(client._http)
    return client


def repair_data(**over):
    data = {"character_string1": "BX-20261204-001", "thing2": "厨房水管漏水", "time3": "2026年12月4日 15:01",
            "phrase4": "已派单"}
    data.update(over)
    return {k: {"value": v} for k, v in data.items()}


@pytest.fixture
def wecom(providers, closing):
    providers.add_member("ZhangSan")
    providers.add_member("lisi")
    client = StandInWeCom(providers, timeout=5)
    closing(client._http)
    return client


@pytest.fixture
def http(closing):
    s = requests.Session()
    closing(s)
    return s


# ---- Aliyun SMS ------------------------------------------------------------------------------------
def test_aliyun_sms_correct_signature_is_accepted_and_recorded(providers, aliyun):
    r = aliyun_send(aliyun, providers, params={"no": "BX 1+*~/", "status": "受理"})
    assert r.status_code == 200
    assert r.body.code == "OK" and r.body.message == "OK"
    assert r.body.biz_id.endswith("^0") and r.body.request_id
    [m] = providers.messages("aliyun_sms")
    assert m["to"] == PHONE and m["template"] == "SMS_100" and m["sign"] == "阳光物业"
    assert m["params"] == {"no": "BX 1+*~/", "status": "受理"}
    assert m["text"] == "【阳光物业】您的报修单BX 1+*~/已受理。"
    assert m["id"] == r.body.biz_id
    assert providers.requests("aliyun_sms")[-1]["code"] == "OK"


def test_aliyun_sms_several_numbers_one_bizid(providers, aliyun):
    r = aliyun_send(aliyun, providers, numbers="13800000001,+8613900000002", params={"no": "1", "status": "完成"})
    assert r.body.code == "OK"
    assert [m["to"] for m in providers.messages("aliyun_sms")] == ["13800000001", "13900000002"]
    assert {m["id"] for m in providers.messages("aliyun_sms")} == {r.body.biz_id}


def test_aliyun_sms_wrong_secret_is_refused(providers):
    providers.approve_template("aliyun_sms", "SMS_100", [])
    client = AliyunSms(aliyun_config(providers, secret="not-the-secret"))
    with pytest.raises(Exception) as err:
        aliyun_send(client, providers)
    assert err.value.code == "SignatureDoesNotMatch"
    assert err.value.data["statusCode"] == 400
    assert err.value.data["HostId"] == "dysmsapi.aliyuncs.com"
    assert providers.messages("aliyun_sms") == []


def test_aliyun_sms_unknown_access_key(providers):
    client = AliyunSms(aliyun_config(providers, key_id="LTAI5tSomebodyElse00000"))
    with pytest.raises(Exception) as err:
        aliyun_send(client, providers)
    assert err.value.code == "InvalidAccessKeyId.NotFound"
    assert err.value.data["statusCode"] == 404


@pytest.mark.parametrize("kwargs, code", [
    ({"numbers": "1380000000"}, "isv.MOBILE_NUMBER_ILLEGAL"),
    ({"numbers": "+85291234567"}, "isv.MOBILE_NUMBER_ILLEGAL"),
    ({"template": "SMS_404"}, "isv.SMS_TEMPLATE_ILLEGAL"),
    ({"sign": "别人家物业"}, "isv.SMS_SIGNATURE_ILLEGAL"),
    ({"params": {"no": "BX-1"}}, "isv.TEMPLATE_MISSING_PARAMETERS"),
    ({"params": {"no": "X" * 36, "status": "受理"}}, "isv.PARAM_LENGTH_LIMIT"),
    ({"params": {"no": 12, "status": "受理"}}, "isv.INVALID_JSON_PARAM"),
    ({"params": {"no": "http://evil.example", "status": "受理"}}, "isv.PARAM_NOT_SUPPORT_URL"),
])
def test_aliyun_sms_business_errors_are_http_200(providers, aliyun, kwargs, code):
    kwargs.setdefault("params", {"no": "BX-1", "status": "受理"})
    r = aliyun_send(aliyun, providers, **kwargs)
    assert r.status_code == 200 and r.body.code == code and r.body.message
    assert providers.messages("aliyun_sms") == []


def test_aliyun_sms_35_characters_is_the_default_variable_limit(providers, aliyun):
    assert aliyun_send(aliyun, providers, params={"no": "X" * 35, "status": "受理"}).body.code == "OK"


def test_aliyun_sms_frequency_policy_when_enforced(providers, aliyun):
    providers.enforce_frequency_limits("aliyun_sms")
    providers.approve_template("aliyun_sms", "SMS_CODE", ["code"], kind="code")
    assert aliyun_send(aliyun, providers, template="SMS_CODE", params={"code": "1234"}).body.code == "OK"
    second = aliyun_send(aliyun, providers, template="SMS_CODE", params={"code": "5678"}).body
    assert (second.code, second.message) == ("isv.BUSINESS_LIMIT_CONTROL", "触发分钟级流控Permits:1")
    providers.advance(61)
    assert aliyun_send(aliyun, providers, template="SMS_CODE", params={"code": "5678"}).body.code == "OK"
    assert aliyun_send(aliyun, providers, template="SMS_CODE", params={"code": "56"}).body.code == (
        "isv.TEMPLATE_PARAMS_ILLEGAL")
    for _ in range(50):  # notices: 50 a day for the same sign, template and number
        assert aliyun_send(aliyun, providers, params={"no": "1", "status": "受理"}).body.code == "OK"
    assert aliyun_send(aliyun, providers, params={"no": "1", "status": "受理"}).body.code == "isv.BUSINESS_LIMIT_CONTROL"


# ---- Aliyun voice ----------------------------------------------------------------------------------
def test_aliyun_voice_single_call_by_tts(providers):
    providers.approve_template("aliyun_voice", "TTS_200", ["no"], content="您有新的报修单${no}")
    client = AliyunVms(aliyun_config(providers))

    def call(show=providers.ALIYUN_SHOW_NUMBER, code="TTS_200", number=PHONE):
        return client.single_call_by_tts(vms_models.SingleCallByTtsRequest(
            called_number=number, called_show_number=show, tts_code=code, tts_param=json.dumps({"no": "BX-9"})))

    r = call()
    assert r.body.code == "OK" and "^" in r.body.call_id
    [m] = providers.messages("aliyun_voice")
    assert (m["to"], m["id"], m["text"]) == (PHONE, r.body.call_id, "您有新的报修单BX-9")
    assert call(show="01000000000").body.code == "isv.DISPLAY_NUMBER_ILLEGAL"
    assert call(code="TTS_404").body.code == "isv.TTS_TEMPLATE_ILLEGAL"
    assert call(number="12345").body.code == "isv.MOBILE_NUMBER_ILLEGAL"
    providers.fail("aliyun_voice", "rate_limit")
    assert call().body.code == "isv.BUSINESS_LIMIT_CONTROL"


# ---- Tencent SMS -----------------------------------------------------------------------------------
def test_tencent_sms_correct_signature_is_accepted(providers, tencent):
    r = tencent_send(tencent, providers, numbers=("+86" + PHONE, "13900000002"), context="ticket-7")
    assert [s.Code for s in r.SendStatusSet] == ["Ok", "Ok"]
    first = r.SendStatusSet[0]
    assert (first.PhoneNumber, first.Fee, first.IsoCode, first.Message) == ("+86" + PHONE, 1, "CN", "send success")
    assert first.SessionContext == "ticket-7" and ":" in first.SerialNo
    assert r.SendStatusSet[1].PhoneNumber == "+8613900000002"
    msgs = providers.messages("tencent_sms")
    assert [m["to"] for m in msgs] == ["+8613800000001", "+8613900000002"]
    assert msgs[0]["params"] == ["BX-1"] and msgs[0]["text"] == "【阳光物业】您的报修单BX-1已受理。"
    assert msgs[0]["id"] == first.SerialNo


def test_tencent_sms_wrong_secret_is_refused(providers, tencent, closing):
    bad = tencent_sms(providers, closing, key="not-the-key")
    with pytest.raises(TencentCloudSDKException) as err:
        tencent_send(bad, providers)
    assert err.value.get_code() == "AuthFailure.SignatureFailure"
    assert err.value.get_request_id()
    stranger = tencent_sms(providers, closing, secret_id="AKIDsomebodyelse")
    with pytest.raises(TencentCloudSDKException) as err:
        tencent_send(stranger, providers)
    assert err.value.get_code() == "AuthFailure.SecretIdNotFound"
    assert providers.messages("tencent_sms") == []


def test_tencent_sms_per_number_failures(providers, tencent):
    r = tencent_send(tencent, providers, numbers=("+86123", "+8613800000003"))
    codes = {s.PhoneNumber: s.Code for s in r.SendStatusSet}
    assert codes == {"+86123": "InvalidParameterValue.IncorrectPhoneNumber", "+8613800000003": "Ok"}
    bad = next(s for s in r.SendStatusSet if s.Code != "Ok")
    assert bad.Fee == 0 and bad.SerialNo == ""
    assert len(providers.messages("tencent_sms")) == 1


@pytest.mark.parametrize("kwargs, code", [
    ({"template": "9999"}, "FailedOperation.TemplateIncorrectOrUnapproved"),
    ({"sign": "别人家物业"}, "FailedOperation.SignatureIncorrectOrUnapproved"),
    ({"params": ("BX-1", "extra")}, "FailedOperation.TemplateParamSetNotMatchApprovedTemplate"),
    ({"params": ("BX-20261204-0001",)}, "InvalidParameterValue.TemplateParameterLengthLimit"),
    ({"params": ("www.x.cn",)}, "InvalidParameterValue.ProhibitedUseUrlInTemplateParameter"),
])
def test_tencent_sms_template_checks(providers, tencent, kwargs, code):
    [status] = tencent_send(tencent, providers, **kwargs).SendStatusSet
    assert status.Code == code and status.Fee == 0
    assert providers.messages("tencent_sms") == []


def test_tencent_sms_default_variable_limit_is_six_characters(providers, tencent):
    providers.approve_template("tencent_sms", "2002", ["1"])
    assert tencent_send(tencent, providers, template="2002", params=("123456",)).SendStatusSet[0].Code == "Ok"
    assert (tencent_send(tencent, providers, template="2002", params=("1234567",)).SendStatusSet[0].Code
            == "InvalidParameterValue.TemplateParameterLengthLimit")


def test_tencent_sms_hong_kong_macau_taiwan_need_an_international_template(providers, tencent):
    abroad = ("+85291234567", "+85361234567", "+886912345678")
    with pytest.raises(TencentCloudSDKException) as err:
        tencent_send(tencent, providers, numbers=abroad)
    assert err.value.get_code() == "UnsupportedOperation.ChineseMainlandTemplateToGlobalPhone"
    providers.approve_template("tencent_sms", "3001", {"1": 20}, international=True)
    r = tencent_send(tencent, providers, numbers=abroad, template="3001", sign="")
    assert [(s.Code, s.IsoCode) for s in r.SendStatusSet] == [("Ok", "HK"), ("Ok", "MO"), ("Ok", "TW")]
    with pytest.raises(TencentCloudSDKException) as err:
        tencent_send(tencent, providers, numbers=("+85291234567", "+8613800000001"), template="3001")
    assert err.value.get_code() == "UnsupportedOperation.ContainDomesticAndInternationalPhoneNumber"


def test_tencent_sms_request_level_errors(providers, tencent):
    req = tc_sms_models.SendSmsRequest()
    req.SmsSdkAppId, req.TemplateId, req.PhoneNumberSet = "1400000000", "2001", ["+86" + PHONE]
    with pytest.raises(TencentCloudSDKException) as err:
        tencent.SendSms(req)
    assert err.value.get_code() == "InvalidParameterValue.SdkAppIdNotExist"
    with pytest.raises(TencentCloudSDKException) as err:
        tencent_send(tencent, providers, numbers=[f"+861380000{i:04d}" for i in range(201)])
    assert err.value.get_code() == "LimitExceeded.PhoneNumberCountLimit"


def test_tencent_sms_rate_limit_and_frequency_policy(providers, tencent):
    providers.fail("tencent_sms", "rate_limit")
    [s] = tencent_send(tencent, providers).SendStatusSet
    assert s.Code == "LimitExceeded.PhoneNumberThirtySecondLimit"
    assert tencent_send(tencent, providers).SendStatusSet[0].Code == "Ok"
    providers.reset()
    providers.enforce_frequency_limits("tencent_sms")
    assert tencent_send(tencent, providers).SendStatusSet[0].Code == "Ok"
    assert tencent_send(tencent, providers).SendStatusSet[0].Code == "LimitExceeded.PhoneNumberThirtySecondLimit"
    assert tencent_send(tencent, providers, params=("BX-2",)).SendStatusSet[0].Code == "Ok"
    assert tencent_send(tencent, providers, params=("BX-3",)).SendStatusSet[0].Code == "LimitExceeded.PhoneNumberDailyLimit"


# ---- Tencent voice ---------------------------------------------------------------------------------
def test_tencent_send_tts_voice(providers, closing):
    providers.approve_template("tencent_voice", "4001", ["1"], content="您有新的报修单{1}")
    client = VmsClient(credential.Credential(providers.TENCENT_SECRET_ID, providers.TENCENT_SECRET_KEY),
                       "ap-guangzhou", tencent_profile(providers))
    closing(client.request.conn._session)

    def call(template="4001", number="+86" + PHONE):
        req = tc_vms_models.SendTtsVoiceRequest()
        req.TemplateId, req.TemplateParamSet, req.CalledNumber = template, ["BX-1"], number
        req.VoiceSdkAppid, req.PlayTimes, req.SessionContext = providers.TENCENT_VOICE_APP, 2, "t-1"
        return client.SendTtsVoice(req)

    r = call()
    assert r.SendStatus.CallId and r.SendStatus.SessionContext == "t-1"
    [m] = providers.messages("tencent_voice")
    assert (m["to"], m["id"], m["text"]) == ("+86" + PHONE, r.SendStatus.CallId, "您有新的报修单BX-1")
    with pytest.raises(TencentCloudSDKException) as err:
        call(template="4404")
    assert err.value.get_code() == "FailedOperation.TemplateIncorrectOrUnapproved"
    with pytest.raises(TencentCloudSDKException) as err:
        call(number="+85291234567")
    assert err.value.get_code() == "InvalidParameterValue.CalledNumberVerifyFail"


# ---- WeChat official account -----------------------------------------------------------------------
def test_wechat_template_message(providers, wechat):
    res = wechat.message.send_template("o_follower", "TPL_REPAIR", repair_data(), url="https://portal.test/t/1")
    assert res["errcode"] == 0 and res["errmsg"] == "ok" and isinstance(res["msgid"], int)
    [m] = providers.messages("wechat")
    assert m["to"] == "o_follower" and m["template"] == "TPL_REPAIR" and m["url"] == "https://portal.test/t/1"
    assert m["params"]["thing2"] == {"value": "厨房水管漏水"}
    assert m["text"] == "单号：BX-20261204-001\n事项：厨房水管漏水"
    assert m["id"] == res["msgid"]
    assert providers.tokens_issued("wechat") == 1


@pytest.mark.parametrize("touser, template, data, errcode", [
    ("o_stranger", "TPL_REPAIR", repair_data(), 40003),
    ("o_follower", "TPL_NOPE", repair_data(), 40037),
    ("o_follower", "TPL_REPAIR", repair_data(thing2="一" * 21), 47003),
    ("o_follower", "TPL_REPAIR", repair_data(character_string1="单号" + "1" * 10), 47003),
    ("o_follower", "TPL_REPAIR", repair_data(character_string1="X" * 33), 47003),
    ("o_follower", "TPL_REPAIR", repair_data(phrase4="已派单处理中"), 47003),
    ("o_follower", "TPL_REPAIR", repair_data(time3="下午三点"), 47003),
])
def test_wechat_template_errors(providers, wechat, touser, template, data, errcode):
    with pytest.raises(WeChatClientException) as err:
        wechat.message.send_template(touser, template, data)
    assert err.value.errcode == errcode
    assert providers.messages("wechat") == []


def test_wechat_template_to_a_non_follower_is_43004(providers, wechat):
    providers.follow("o_left", following=False)
    with pytest.raises(WeChatClientException) as err:
        wechat.message.send_template("o_left", "TPL_REPAIR", repair_data())
    assert err.value.errcode == 43004 and "require subscribe" in err.value.errmsg
    providers.fail("wechat", "not_following")
    with pytest.raises(WeChatClientException) as err:
        wechat.message.send_template("o_follower", "TPL_REPAIR", repair_data())
    assert err.value.errcode == 43004


def test_wechat_historical_template_folds_instead_of_refusing(providers, wechat):
    providers.approve_template("wechat", "TPL_OLD", ["first", "keyword1", "remark"])
    data = {"first": {"value": "报修进度"}, "keyword1": {"value": "很" * 30}, "remark": {"value": ""}}
    assert wechat.message.send_template("o_follower", "TPL_OLD", data)["errcode"] == 0


def test_wechat_42001_then_a_refreshed_token_works(providers, wechat):
    wechat.message.send_template("o_follower", "TPL_REPAIR", repair_data())
    providers.fail("wechat", "token_expired")
    res = wechat.message.send_template("o_follower", "TPL_REPAIR", repair_data())
    assert res["errcode"] == 0
    assert providers.tokens_issued("wechat") == 2
    codes = [r["code"] for r in providers.requests("wechat")]
    assert codes == [0, 0, 42001, 0, 0]  # token, send, 42001, new token, send
    assert len(providers.messages("wechat")) == 2


def test_wechat_expire_tokens(providers, wechat):
    wechat.message.send_template("o_follower", "TPL_REPAIR", repair_data())
    providers.expire_tokens("wechat")
    assert wechat.message.send_template("o_follower", "TPL_REPAIR", repair_data())["errcode"] == 0
    assert 42001 in [r["code"] for r in providers.requests("wechat")]
    assert providers.tokens_issued("wechat") == 2
    providers.advance(7201)  # the documented 7200 s lifetime
    assert wechat.message.send_template("o_follower", "TPL_REPAIR", repair_data())["errcode"] == 0
    assert providers.tokens_issued("wechat") == 3


def test_wechat_unknown_token_is_40014(providers, wechat):
    wechat.session.set(wechat.access_token_key, "made-up-token")
    wechat.expires_at = None  # "user provided" token, as wechatpy treats it
    assert wechat.message.send_template("o_follower", "TPL_REPAIR", repair_data())["errcode"] == 0
    assert [r["code"] for r in providers.requests("wechat")][:2] == [40014, 0]


def test_wechat_wrong_credentials(providers, closing):
    client = StandInWeChat(providers, secret="not-the-secret")
    closing(client._http)
    with pytest.raises(WeChatClientException) as err:
        client.fetch_access_token()
    assert err.value.errcode == 40125
    client = StandInWeChat(providers)
    client.appid = "wx0000000000000000"
    closing(client._http)
    with pytest.raises(WeChatClientException) as err:
        client.fetch_access_token()
    assert err.value.errcode == 40013


def test_wechat_rate_limit_is_45009(providers, wechat):
    providers.fail("wechat", "rate_limit")
    with pytest.raises(APILimitedException) as err:
        wechat.message.send_template("o_follower", "TPL_REPAIR", repair_data())
    assert err.value.errcode == 45009


def test_wechat_custom_message_needs_a_recent_interaction(providers, wechat):
    with pytest.raises(WeChatClientException) as err:
        wechat.message.send_text("o_follower", "您的报修单已完成")
    assert err.value.errcode == 45015
    providers.follow("o_stale", interacted_at=time.time() - 49 * 3600)
    with pytest.raises(WeChatClientException) as err:
        wechat.message.send_text("o_stale", "您的报修单已完成")
    assert err.value.errcode == 45015
    providers.follow("o_chatty", interacted_at=time.time() - 3600)
    for _ in range(5):
        assert wechat.message.send_text("o_chatty", "您的报修单已完成")["errcode"] == 0
    with pytest.raises(WeChatClientException) as err:
        wechat.message.send_text("o_chatty", "第六条")
    assert err.value.errcode == 45047
    [m, *_] = providers.messages("wechat")
    assert (m["to"], m["template"], m["text"]) == ("o_chatty", "text", "您的报修单已完成")


def test_wechat_oauth_code_works_once(providers, http):
    providers.follow("o_resident")
    providers.authorize_as("o_resident")
    oauth = StandInOAuth(providers, "https://portal.test/wechat/callback?next=/me", state="s-42")
    http_session = oauth._http
    try:
        assert oauth.authorize_url.endswith("#wechat_redirect")
        browser = http.get(oauth.authorize_url, allow_redirects=False)
        assert browser.status_code == 302
        location = urlsplit(browser.headers["Location"])
        assert (location.netloc, location.path) == ("portal.test", "/wechat/callback")
        query = parse_qs(location.query)
        assert query["next"] == ["/me"] and query["state"] == ["s-42"]
        code = query["code"][0]
        res = oauth.fetch_access_token(code)
        assert res["openid"] == "o_resident" and res["scope"] == "snsapi_base" and res["expires_in"] == 7200
        with pytest.raises(WeChatOAuthException) as err:
            oauth.fetch_access_token(code)
        assert err.value.errcode == 40163
        with pytest.raises(WeChatOAuthException) as err:
            oauth.fetch_access_token("no-such-code")
        assert err.value.errcode == 40029
        late = providers.oauth_code("o_resident")
        providers.advance(301)
        with pytest.raises(WeChatOAuthException) as err:
            oauth.fetch_access_token(late)
        assert err.value.errcode == 40029
    finally:
        http_session.close()


def test_wechat_oauth_outside_wechat_shows_a_page(providers, http):
    page = http.get(providers.base_url + "/connect/oauth2/authorize", allow_redirects=False, params={
        "appid": providers.WECHAT_APPID, "redirect_uri": "https://portal.test/cb", "response_type": "code",
        "scope": "snsapi_base", "state": "x"})
    assert page.status_code == 200 and "请在微信客户端打开链接" in page.text


# ---- WeCom -----------------------------------------------------------------------------------------
def test_wecom_textcard_with_one_unknown_member(providers, wecom):
    res = wecom.message.send_text_card(providers.WECOM_AGENT, ["zhangsan", "ghost"], "报修单已派单",
                                       "<div class=\"gray\">2026年12月4日</div>厨房水管漏水", "https://portal.test/t/1")
    assert res["errcode"] == 0 and res["invaliduser"] == "ghost" and res["msgid"]
    assert res["unlicenseduser"] == ""
    [m] = providers.messages("wecom")
    assert (m["to"], m["template"], m["url"], m["id"]) == ("ZhangSan", "textcard", "https://portal.test/t/1",
                                                          res["msgid"])
    assert m["text"].startswith("报修单已派单\n")


def test_wecom_all_recipients_invalid_is_81013(providers, wecom):
    with pytest.raises(WeChatClientException) as err:
        wecom.message.send_text(providers.WECOM_AGENT, ["Ghost", "nobody"], "hello")
    assert err.value.errcode == 81013
    assert err.value.response.json()["invaliduser"] == "ghost|nobody"


def test_wecom_textcard_title_and_description_are_truncated_to_bytes(providers, wecom):
    title, description = "标题" * 30, "描述" * 100  # 180 and 600 bytes of UTF-8
    wecom.message.send_text_card(providers.WECOM_AGENT, "lisi", title, description, "https://portal.test/x")
    [m] = providers.messages("wecom")
    assert len(m["title"].encode()) <= 128 and m["title"] == "标题" * 21  # 42 characters, 126 bytes
    body = m["text"].split("\n", 1)[1]
    assert len(body.encode()) <= 512 and description.startswith(body)


def test_wecom_42001_then_refresh(providers, wecom):
    assert wecom.message.send_text(providers.WECOM_AGENT, "lisi", "一")["errcode"] == 0
    providers.fail("wecom", "token_expired")
    assert wecom.message.send_text(providers.WECOM_AGENT, "lisi", "二")["errcode"] == 0
    assert providers.tokens_issued("wecom") == 2
    assert [m["text"] for m in providers.messages("wecom")] == ["一", "二"]


def test_wecom_wrong_credentials_and_rate_limit(providers, wecom, closing):
    bad = StandInWeCom(providers, secret="not-the-secret-0123456789")
    closing(bad._http)
    with pytest.raises(WeChatClientException) as err:
        bad.fetch_access_token()
    assert err.value.errcode == 40001
    bad = StandInWeCom(providers, corp_id="ww0000000000000000")
    closing(bad._http)
    with pytest.raises(WeChatClientException) as err:
        bad.fetch_access_token()
    assert err.value.errcode == 40013
    providers.fail("wecom", "rate_limit")
    with pytest.raises(APILimitedException):
        wecom.message.send_text(providers.WECOM_AGENT, "lisi", "hello")


# ---- WeCom group robot -----------------------------------------------------------------------------
def test_wecom_robot(providers, http):
    url = providers.urls()["wecom_robot"]
    res = http.post(url, json={"msgtype": "markdown", "markdown": {"content": "**报修** <font color=\"warning\">1</font>"}})
    assert res.json() == {"errcode": 0, "errmsg": "ok"}
    [m] = providers.messages("wecom_robot")
    assert (m["to"], m["template"], m["text"]) == (providers.WECOM_ROBOT_KEY, "markdown",
                                                   "**报修** <font color=\"warning\">1</font>")
    assert http.post(providers.robot_url("nope"), json={"msgtype": "text", "text": {"content": "x"}}).json()[
        "errcode"] == 93000
    too_long = http.post(url, json={"msgtype": "markdown", "markdown": {"content": "字" * 1366}}).json()
    assert too_long["errcode"] == 40058 and "4096" in too_long["errmsg"]


def test_wecom_robot_twenty_a_minute(providers, http):
    providers.add_robot("robot-2")
    url = providers.robot_url("robot-2")
    codes = [http.post(url, json={"msgtype": "text", "text": {"content": f"#{i}"}}).json()["errcode"]
             for i in range(21)]
    assert codes == [0] * 20 + [45009]
    providers.advance(60)
    assert http.post(url, json={"msgtype": "text", "text": {"content": "again"}}).json()["errcode"] == 0


# ---- failure modes through the SDKs -----------------------------------------------------------------
def test_unavailable_html_and_garbage(providers, tencent, aliyun, wechat):
    providers.fail("tencent_sms", "unavailable")
    with pytest.raises(TencentCloudSDKException) as err:
        tencent_send(tencent, providers)
    assert err.value.get_code() == "ServerNetworkError" and b"503" in err.value.get_message()
    providers.fail("tencent_sms", "html")
    with pytest.raises(TencentCloudSDKException) as err:
        tencent_send(tencent, providers)
    assert err.value.get_code() == "JSONDecodeError"
    providers.fail("tencent_sms", "garbage")
    with pytest.raises(TencentCloudSDKException):
        tencent_send(tencent, providers)
    assert tencent_send(tencent, providers).SendStatusSet[0].Code == "Ok"
    assert [r["http_status"] for r in providers.requests("tencent_sms")] == [503, 200, 200, 200]

    for mode in ("unavailable", "html", "garbage", "timeout", "reset"):
        providers.fail("aliyun_sms", mode)
        with pytest.raises(UnretryableException) as err:
            aliyun_send(aliyun, providers, params={"no": "1", "status": "受理"})
        if mode == "reset":
            assert "Connection reset by peer" in str(err.value)
    assert aliyun_send(aliyun, providers, params={"no": "1", "status": "受理"}).body.code == "OK"

    providers.fail("wechat", "unavailable")
    with pytest.raises(WeChatClientException) as err:
        wechat.message.send_template("o_follower", "TPL_REPAIR", repair_data())
    assert err.value.response.status_code == 503
    providers.fail("wechat", "html")
    res = wechat.message.send_template("o_follower", "TPL_REPAIR", repair_data())
    assert isinstance(res, requests.Response) and "text/html" in res.headers["Content-Type"]  # wechatpy hands it back


def test_timeout_reset_and_delay(providers, closing, wechat):
    providers.approve_template("tencent_sms", "2001", ["1"])
    quick = tencent_sms(providers, closing, timeout=0.4)
    providers.fail("tencent_sms", "timeout")
    started = time.monotonic()
    with pytest.raises(TencentCloudSDKException) as err:
        tencent_send(quick, providers, params=("1",))
    assert err.value.get_code() == "ClientNetworkError" and time.monotonic() - started < 0.9
    providers.fail("tencent_sms", "reset")
    with pytest.raises(TencentCloudSDKException) as err:
        tencent_send(quick, providers, params=("1",))
    assert err.value.get_code() == "ClientNetworkError"
    assert tencent_send(quick, providers, params=("1",)).SendStatusSet[0].Code == "Ok"

    impatient = StandInWeChat(providers, timeout=0.2)
    closing(impatient._http)
    impatient.fetch_access_token()
    providers.delay("wechat", 0.4)
    with pytest.raises(requests.exceptions.Timeout):
        impatient.message.send_template("o_follower", "TPL_REPAIR", repair_data())
    providers.delay("wechat", 0.1)
    started = time.monotonic()
    assert wechat.message.send_template("o_follower", "TPL_REPAIR", repair_data())["errcode"] == 0
    assert time.monotonic() - started >= 0.1
    providers.heal("wechat")
    providers.fail("wechat", "reset", times=None, on="any")
    for _ in range(2):
        with pytest.raises(requests.exceptions.ConnectionError):
            wechat.message.send_template("o_follower", "TPL_REPAIR", repair_data())
    providers.heal()
    assert wechat.message.send_template("o_follower", "TPL_REPAIR", repair_data())["errcode"] == 0


def test_fail_validates_its_arguments(providers):
    with pytest.raises(ValueError):
        providers.fail("aliyun_sms", "not_following")
    with pytest.raises(ValueError):
        providers.fail("sendgrid", "timeout")
    with pytest.raises(ValueError):
        providers.expire_tokens("tencent_sms")


# ---- configuration, throughput, threads ----------------------------------------------------------------
def test_urls_carry_the_credentials(providers):
    urls = providers.urls()
    aliyun = urlsplit(urls["aliyun"])
    assert aliyun.scheme == "aliyun+http" and aliyun.port == providers.port
    assert (aliyun.username, aliyun.password) == (providers.ALIYUN_KEY_ID, providers.ALIYUN_KEY_SECRET)
    assert parse_qs(aliyun.query)["sign"] == ["阳光物业"]
    assert parse_qs(urlsplit(urls["aliyun_voice"]).query)["show"] == [providers.ALIYUN_SHOW_NUMBER]
    assert parse_qs(urlsplit(urls["tencent"]).query) == {"app": [providers.TENCENT_SMS_APP], "sign": ["阳光物业"],
                                                        "region": ["ap-guangzhou"]}
    assert parse_qs(urlsplit(urls["tencent_voice"]).query)["app"] == [providers.TENCENT_VOICE_APP]
    wechat = urlsplit(urls["wechat"])
    assert wechat.username == providers.WECHAT_APPID and "aes_key" in parse_qs(wechat.query)
    wecom = urlsplit(urls["wecom"])
    assert wecom.username == providers.WECOM_CORPID and parse_qs(wecom.query)["agent"] == [str(providers.WECOM_AGENT)]


def test_keep_alive_throughput(providers, tencent):
    started = time.monotonic()
    for i in range(300):
        assert tencent_send(tencent, providers, params=(f"{i}",)).SendStatusSet[0].Code == "Ok"
    elapsed = time.monotonic() - started
    assert len(providers.messages("tencent_sms")) == 300
    assert elapsed < 3.0, f"300 sends took {elapsed:.2f}s"


def test_concurrent_senders(providers, closing):
    providers.approve_template("tencent_sms", "2001", ["1"])
    clients = [tencent_sms(providers, closing) for _ in range(8)]
    errors = []

    def worker(client, n):
        try:
            for i in range(25):
                tencent_send(client, providers, params=(f"{n}-{i}",))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(c, n)) for n, c in enumerate(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(providers.messages("tencent_sms")) == 200
    assert len({m["id"] for m in providers.messages("tencent_sms")}) == 200


def test_reset_forgets_history_but_keeps_configuration(providers, wechat):
    wechat.message.send_template("o_follower", "TPL_REPAIR", repair_data())
    providers.fail("wechat", "rate_limit", times=None)
    providers.reset()
    assert providers.messages("wechat") == [] and providers.requests("wechat") == []
    assert wechat.message.send_template("o_follower", "TPL_REPAIR", repair_data())["errcode"] == 0
