"""Tencent Cloud SMS (SendSms, API version 2021-01-11) through the official SDK.

PORTAL_SMS_URL=tencent://SecretId:SecretKey@sms.tencentcloudapi.com?app=SDKAPPID&sign=签名&region=ap-guangzhou
SendSms takes SmsSdkAppId, SignName, TemplateId (approved per company, set per kind on the admin
page) and TemplateParamSet, the template's {1}, {2} ... in order. Each number's outcome comes back
in SendStatusSet with its own Code ("Ok" or an error); errors of the whole request raise.
Tencent also sends to Hong Kong, Macau and Taiwan mobiles (+852, +853, +886).
"""
from portal.notify import phones
from portal.notify.channels import Adapter, PermanentError, Receipt, TransientError, first_bytes, shorten

# Characters per variable value. Tencent's default for accounts opened since 2024-01-25 is 6; a
# company applies for its templates with longer variables (其他号码 up to 32): ?param_max= says what
# its templates allow (docs/channels.md).
PARAM_MAX = 12

TRANSIENT_PREFIXES = ("LimitExceeded.", "InternalError", "RequestLimitExceeded", "ResourceUnavailable", "ClientNetworkError", "ServerNetworkError")
TRANSIENT = {
    "FailedOperation.InsufficientBalanceInSmsPackage",  # top up and it goes
    "FailedOperation.FailResolvePacket",
    "FailedOperation.JsonParseFail",
}


class TencentSms(Adapter):
    channel = "sms"
    provider = "tencent"

    def __init__(self, endpoint, timeout):
        self.endpoint = endpoint
        self.app = endpoint.param("app")
        self.sign = endpoint.param("sign")
        self.region = endpoint.param("region", "ap-guangzhou")
        self.param_max = int(endpoint.param("param_max") or PARAM_MAX)
        self.timeout = timeout
        self._client = None

    def client(self):
        if self._client is None:
            from tencentcloud.common import credential
            from tencentcloud.common.profile.client_profile import ClientProfile
            from tencentcloud.common.profile.http_profile import HttpProfile
            from tencentcloud.sms.v20210111 import sms_client

            http = HttpProfile(endpoint=self.endpoint.netloc, protocol="http" if self.endpoint.plain_http else "https", reqTimeout=int(self.timeout) or 1)
            profile = ClientProfile(httpProfile=http)
            profile.disable_region_breaker = True
            self._client = sms_client.SmsClient(credential.Credential(self.endpoint.user, self.endpoint.password), self.region, profile)
        return self._client

    def send(self, message):
        from tencentcloud.sms.v20210111 import models

        if not message.template:
            raise PermanentError("no_template", "No Tencent SMS template id is set for this kind (Administration → Channels).")
        number = phones.normalize(message.address)
        if number is None:
            raise PermanentError("InvalidParameterValue.IncorrectPhoneNumber", f"not a mobile number: {message.address}")
        request = models.SendSmsRequest()
        request.SmsSdkAppId = self.app
        request.SignName = self.sign
        request.TemplateId = message.template if phones.is_mainland(number) else message.template_intl
        if not request.TemplateId:
            raise PermanentError("no_template", "No Tencent SMS template for Hong Kong, Macau and Taiwan is set for this kind.")
        request.TemplateParamSet = [shorten(value, self.param_max) for _name, value in message.params]
        request.PhoneNumberSet = [phones.e164(number)]
        request.SessionContext = message.reference or ""
        response = self._call(lambda: self.client().SendSms(request))
        statuses = getattr(response, "SendStatusSet", None) or []
        if not statuses:
            raise TransientError("bad_answer", first_bytes(response.to_json_string() if hasattr(response, "to_json_string") else repr(response)))
        status = statuses[0]
        if status.Code == "Ok":
            return Receipt(status.SerialNo or "", getattr(response, "RequestId", "") or "")
        raise _error(status.Code or "", status.Message or "")

    def _call(self, action):
        from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

        try:
            return action()
        except TencentCloudSDKException as exc:
            code, text = exc.get_code() or "", exc.get_message() or ""
            if code in ("ClientNetworkError", "ServerNetworkError") or not code:
                raise TransientError(code or "network", first_bytes(text)) from None
            raise _error(code, text) from None
        except ValueError as exc:  # an answer that is not JSON (an HTML error page from a proxy)
            raise TransientError("bad_answer", first_bytes(str(exc))) from None
        except Exception as exc:  # the transport's own exceptions
            raise TransientError("network", first_bytes(str(exc))) from None

    def check(self):
        """DescribeSmsSignList: a signed call that proves the keys work, sending nothing."""
        from tencentcloud.sms.v20210111 import models

        request = models.DescribeSmsSignListRequest()
        request.SignIdSet = [0]
        request.International = 0
        try:
            response = self._call(lambda: self.client().DescribeSmsSignList(request))
        except PermanentError as exc:
            if exc.code.startswith("AuthFailure"):
                raise
            return f"keys accepted ({exc.code})"
        return response.to_json_string()[:300]

    def describe(self):
        return f"Tencent Cloud SMS at {self.endpoint.base}, SmsSdkAppId {self.app}, signature 【{self.sign}】"


def _error(code, message):
    if code in TRANSIENT or code.startswith(TRANSIENT_PREFIXES):
        return TransientError(code, message)
    return PermanentError(code, message)
