"""Aliyun voice calls (dyvmsapi 2017-05-25 SingleCallByTts): a call reading a short text, for pages.

PORTAL_VOICE_URL=aliyun://AccessKeyId:AccessKeySecret@dyvmsapi.aliyuncs.com?show=057112345678
The TTS template (approved per company) is set per kind on the admin page; `show` is the number
the called person sees (a number bought for voice notifications).
"""
import json

from portal.notify import phones
from portal.notify.channels import Adapter, PermanentError, Receipt, shorten
from portal.notify.channels.aliyun_sms import PARAM_MAX, AliyunSms, _error


class AliyunVoice(Adapter):
    channel = "voice"
    provider = "aliyun"

    def __init__(self, endpoint, timeout):
        self.endpoint = endpoint
        self.show = endpoint.param("show")
        self._calls = AliyunSms(endpoint, timeout)  # the same signed RPC plumbing, another product
        self._client = None

    def client(self):
        if self._client is None:
            from alibabacloud_dyvmsapi20170525.client import Client
            from alibabacloud_tea_openapi import models as open_api

            e = self.endpoint
            self._client = Client(open_api.Config(
                access_key_id=e.user, access_key_secret=e.password, endpoint=e.netloc, protocol="http" if e.plain_http else "https",
                read_timeout=self._calls.timeout_ms, connect_timeout=min(self._calls.timeout_ms, 5000),
            ))
        return self._client

    def send(self, message):
        from alibabacloud_dyvmsapi20170525 import models

        if not message.template:
            raise PermanentError("no_template", "No Aliyun TTS template code is set for this kind (Administration → Channels).")
        number = phones.normalize(message.address)
        if number is None or not phones.is_mainland(number):
            raise PermanentError("isv.MOBILE_NUMBER_ILLEGAL", f"not a mainland mobile number: {message.address}")
        request = models.SingleCallByTtsRequest(
            called_show_number=self.show or None, called_number=number, tts_code=message.template, play_times=3,
            tts_param=json.dumps({name: shorten(value, PARAM_MAX) for name, value in message.params}, ensure_ascii=False),
            out_id=message.reference or None,
        )
        body = self._calls._call(lambda runtime: self.client().single_call_by_tts_with_options(request, runtime))
        if body.get("Code") == "OK":
            return Receipt(body.get("CallId") or "", body.get("RequestId") or "")
        raise _error(body.get("Code") or "", body.get("Message") or "")

    def describe(self):
        return f"Aliyun voice at {self.endpoint.base}, calling from {self.show or 'the default number'}"
