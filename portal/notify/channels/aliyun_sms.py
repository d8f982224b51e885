"""Aliyun SMS (dysmsapi 2017-05-25 SendSms) through the official SDK.

PORTAL_SMS_URL=aliyun://AccessKeyId:AccessKeySecret@dysmsapi.aliyuncs.com?sign=签名
SendSms takes SignName, TemplateCode (approved per company, set per kind on the admin page) and
TemplateParam, a JSON object of the template's variables. Business errors come back as HTTP 200
with a Code other than OK; codes starting `isp.` are Aliyun's side (retry), `isv.` the caller's.
"""
import json

from portal.notify import phones
from portal.notify.channels import Adapter, PermanentError, Receipt, TransientError, first_bytes, shorten

PARAM_MAX = 35  # characters per variable value in a notification template (Aliyun SMS template rules); ?param_max= overrides

TRANSIENT = {
    "isv.BUSINESS_LIMIT_CONTROL",  # flow control per number (1/min, 5/hour, 10/day by default)
    "isv.DAY_LIMIT_CONTROL",
    "isv.AMOUNT_NOT_ENOUGH",  # account balance: top up and it goes
    "isv.OUT_OF_SERVICE",  # suspended for arrears
    "Throttling.User",
    "Throttling",
    "ServiceUnavailable",
    "InternalError",
}


class AliyunSms(Adapter):
    channel = "sms"
    provider = "aliyun"

    def __init__(self, endpoint, timeout):
        self.endpoint = endpoint
        self.sign = endpoint.param("sign")
        self.param_max = int(endpoint.param("param_max") or PARAM_MAX)
        self.timeout_ms = int(timeout * 1000)
        self._client = None

    def client(self):
        if self._client is None:
            from alibabacloud_dysmsapi20170525.client import Client
            from alibabacloud_tea_openapi import models as open_api

            self._client = Client(open_api.Config(
                access_key_id=self.endpoint.user, access_key_secret=self.endpoint.password,
                endpoint=self.endpoint.netloc, protocol="http" if self.endpoint.plain_http else "https",
                read_timeout=self.timeout_ms, connect_timeout=min(self.timeout_ms, 5000),
            ))
        return self._client

    def send(self, message):
        from alibabacloud_dysmsapi20170525 import models

        if not message.template:
            raise PermanentError("no_template", "No Aliyun SMS template code is set for this kind (Administration → Channels).")
        number = phones.normalize(message.address)
        if number is None or not phones.is_mainland(number):
            raise PermanentError("isv.MOBILE_NUMBER_ILLEGAL", f"not a mainland mobile number: {message.address}")
        params = {name: shorten(value, self.param_max) for name, value in message.params}
        request = models.SendSmsRequest(
            phone_numbers=number, sign_name=self.sign, template_code=message.template,
            template_param=json.dumps(params, ensure_ascii=False), out_id=message.reference or None,
        )
        body = self._call(lambda runtime: self.client().send_sms_with_options(request, runtime))
        code = body.get("Code") or ""
        if code == "OK":
            return Receipt(body.get("BizId") or "", body.get("RequestId") or "")
        raise _error(code, body.get("Message") or "")

    def _call(self, action):
        from alibabacloud_tea_util import models as util_models

        runtime = util_models.RuntimeOptions(read_timeout=self.timeout_ms, connect_timeout=min(self.timeout_ms, 5000), autoretry=False)
        try:
            response = action(runtime)
        except Exception as exc:  # the SDK raises its own and the transport's exceptions alike
            raise _from_exception(exc) from None
        body = response.body.to_map() if response is not None and response.body is not None else None
        if not isinstance(body, dict):
            raise TransientError("bad_answer", first_bytes(repr(body)))
        return body

    def check(self):
        """QuerySmsSign needs no message: a signed call that proves the key works."""
        from alibabacloud_dysmsapi20170525 import models

        body = self._call(lambda runtime: self.client().query_sms_sign_with_options(models.QuerySmsSignRequest(sign_name=self.sign), runtime))
        return json.dumps(body, ensure_ascii=False)[:300]

    def describe(self):
        return f"Aliyun SMS at {self.endpoint.base}, signature 【{self.sign}】"


def _error(code, message):
    if code in TRANSIENT or code.startswith("isp.") or code.startswith("Throttling"):
        return TransientError(code, message)
    return PermanentError(code, message)


def _from_exception(exc):
    """Tea/Darabonba exceptions carry code, message and the HTTP status; anything else is the network."""
    code = getattr(exc, "code", None)
    status = getattr(exc, "status_code", None) or getattr(exc, "statusCode", None)
    message = getattr(exc, "message", None) or str(exc)
    data = getattr(exc, "data", None)
    if isinstance(data, dict):
        status = status or data.get("statusCode")
    if code and isinstance(status, int) and 400 <= status < 500 and not str(code).startswith("Throttling"):
        return PermanentError(code, message)
    if code and not status and "." in str(code):
        return _error(str(code), message)
    text = str(message)
    if "parse the value as json" in text:
        return TransientError("bad_answer", first_bytes(text.split("Value:", 1)[-1].strip(" \"').")))
    return TransientError("network", first_bytes(text))
