"""Tencent Cloud voice messages (VMS 2020-09-02 SendTtsVoice): a call reading a short text, for pages.

PORTAL_VOICE_URL=tencent://SecretId:SecretKey@vms.tencentcloudapi.com?app=VOICESDKAPPID&region=ap-guangzhou
"""
from portal.notify import phones
from portal.notify.channels import Adapter, PermanentError, Receipt, TransientError, first_bytes, shorten
from portal.notify.channels.tencent_sms import TencentSms


class TencentVoice(Adapter):
    channel = "voice"
    provider = "tencent"

    def __init__(self, endpoint, timeout):
        self.endpoint = endpoint
        self.app = endpoint.param("app")
        self.region = endpoint.param("region", "ap-guangzhou")
        self._calls = TencentSms(endpoint, timeout)  # the same TC3 plumbing and error sorting
        self._client = None

    def client(self):
        if self._client is None:
            from tencentcloud.common import credential
            from tencentcloud.common.profile.client_profile import ClientProfile
            from tencentcloud.common.profile.http_profile import HttpProfile
            from tencentcloud.vms.v20200902 import vms_client

            e = self.endpoint
            http = HttpProfile(endpoint=e.netloc, protocol="http" if e.plain_http else "https", reqTimeout=int(self._calls.timeout) or 1)
            profile = ClientProfile(httpProfile=http)
            profile.disable_region_breaker = True
            self._client = vms_client.VmsClient(credential.Credential(e.user, e.password), self.region, profile)
        return self._client

    def send(self, message):
        from tencentcloud.vms.v20200902 import models

        if not message.template:
            raise PermanentError("no_template", "No Tencent voice template id is set for this kind (Administration → Channels).")
        number = phones.normalize(message.address)
        if number is None:
            raise PermanentError("InvalidParameterValue.IncorrectPhoneNumber", f"not a mobile number: {message.address}")
        request = models.SendTtsVoiceRequest()
        request.TemplateId = message.template
        request.CalledNumber = phones.e164(number)
        request.VoiceSdkAppid = self.app
        request.TemplateParamSet = [shorten(value, self._calls.param_max) for _name, value in message.params]
        request.PlayTimes = 3
        request.SessionContext = message.reference or ""
        response = self._calls._call(lambda: self.client().SendTtsVoice(request))
        status = getattr(response, "SendStatus", None)
        if status is None or not getattr(status, "CallId", None):
            raise TransientError("bad_answer", first_bytes(response.to_json_string() if hasattr(response, "to_json_string") else repr(response)))
        return Receipt(status.CallId, getattr(response, "RequestId", "") or "")

    def describe(self):
        return f"Tencent Cloud voice at {self.endpoint.base}, VoiceSdkAppid {self.app}"
