"""A loopback HTTP stand-in for the portal's notification providers.

One ``ThreadingHTTPServer`` on 127.0.0.1 answers the way these providers' documented APIs
answer, so the portal's adapters can be exercised through the providers' *real* SDKs
(alibabacloud-dysmsapi20170525 / -dyvmsapi20170525, tencentcloud-sdk-python-sms / -vms,
wechatpy) pointed at it.  Pure standard library; nothing leaves the machine.

Endpoints (all on one host:port)
--------------------------------
* Aliyun RPC, V3 signature (``POST /?<params>`` with ``x-acs-action``): ``SendSms``
  (dysmsapi 2017-05-25) and ``SingleCallByTts`` (dyvmsapi 2017-05-25).
* Tencent Cloud API 3.0, TC3-HMAC-SHA256 (``POST /`` with ``X-TC-Action``): ``SendSms``
  (sms 2021-01-11) and ``SendTtsVoice`` (vms 2020-09-02).
* WeChat official account: ``GET /cgi-bin/token``, ``POST /cgi-bin/message/template/send``,
  ``POST /cgi-bin/message/custom/send``, ``GET /connect/oauth2/authorize`` (browser, 302),
  ``GET /sns/oauth2/access_token``.
* WeCom (企业微信): ``GET /cgi-bin/gettoken``, ``POST /cgi-bin/message/send``; group robot
  ``POST /cgi-bin/webhook/send?key=KEY``.

Sources read (stored copies, searched 2026-12)
----------------------------------------------
Aliyun
  * "V3版本请求体&签名机制" https://help.aliyun.com/zh/sdk/product-overview/v3-request-structure-and-signature
    (also .../resource-management/common-parameters, .../functioncompute/fc/developer-reference/signature-mechanism):
    CanonicalRequest = METHOD\\nCanonicalURI\\nCanonicalQueryString\\nCanonicalHeaders\\nSignedHeaders\\nHashedRequestPayload;
    RPC CanonicalURI is "/"; query params sorted by name (then value), RFC 3986 encoded (space %20, * %2A, ~ kept);
    CanonicalHeaders = every x-acs-*, host, content-type header present, lower-cased name, trimmed value,
    sorted, "name:value\\n"; all common headers except Authorization must be signed;
    HashedRequestPayload = hex sha256(body) (= x-acs-content-sha256);
    StringToSign = "ACS3-HMAC-SHA256\\n" + hex sha256(CanonicalRequest); Signature = hex HMAC-SHA256(secret, StringToSign);
    x-acs-date ISO 8601 UTC, within 15 minutes; x-acs-signature-nonce against replay.
    Auth error answers as seen in SDK/issue traffic: SignatureDoesNotMatch HTTP 400, InvalidAccessKeyId.NotFound
    HTTP 404 "Specified access key is not found.", SignatureNonceUsed, InvalidTimeStamp.Expired (400).
  * "国内消息API错误码" https://help.aliyun.com/document_detail/101346.html (codes and messages used below:
    isv.MOBILE_NUMBER_ILLEGAL 手机号码格式错误, isv.SMS_TEMPLATE_ILLEGAL 该账号下找不到对应模板,
    isv.SMS_SIGNATURE_ILLEGAL 该账号下找不到对应签名, isv.BUSINESS_LIMIT_CONTROL 触发云通信流控限制
    (real minute-level message "触发分钟级流控Permits:1"), isv.PARAM_LENGTH_LIMIT 参数超过长度限制,
    isv.TEMPLATE_MISSING_PARAMETERS 模板变量中存在未赋值变量, isv.INVALID_JSON_PARAM 参数格式错误，请修改为字符串值,
    isv.PARAM_NOT_SUPPORT_URL 变量不支持传入URL, isv.MOBILE_COUNT_OVER_LIMIT (max 1000 numbers),
    isp.SYSTEM_ERROR 系统出现错误，请重新调用); business errors are HTTP 200.
  * "长变量短信发送与字符限制是什么?" https://help.aliyun.com/zh/document_detail/3041859.html:
    a template variable defaults to at most **35 characters**; whole SMS (sign + text + values) at most 500.
  * "TemplateRule&TemplateContent参数填写示例" https://help.aliyun.com/document_detail/2806243.html
    (验证码 variables 4-6 digits/letters -> isv.TEMPLATE_PARAMS_ILLEGAL otherwise; phone_number2 <= 15 chars, ...).
  * "短信发送规则" https://help.aliyun.com/knowledge_detail/44335.html (en: .../sms/user-guide/message-rules):
    length = sign (with 【】) + text <= 500; billed 1 per 70 characters, 67 per part above 70; default flow
    control (mainland only): 验证码 same sign + number 1/min, 5/h, 10/day; 通知 same sign + template + number
    50/24 h; over it isv.BUSINESS_LIMIT_CONTROL ("触发分钟级流控Permits:1" / "触发小时级流控Permits:5" /
    "触发天级流控Permits:10" as the API words it).
  * SendSms PhoneNumbers: "+/+86/0086/86 or no prefix" 11-digit mainland numbers, comma-separated, <= 1000.
  * Voice: "API错误码" https://help.aliyun.com/document_detail/178344.html and
    https://help.aliyun.com/zh/vms/the-error-code-list (isv.TTS_TEMPLATE_ILLEGAL TTS模板不合法,
    isv.DISPLAY_NUMBER_ILLEGAL 号显不合法, isv.MOBILE_NUMBER_ILLEGAL 号码格式非法, isv.BUSINESS_LIMIT_CONTROL,
    isv.TEMPLATE_MISSING_PARAMETERS, isv.PARAM_LENGTH_LIMIT); throttle per called number 1/min, 5/h, 20/24h.
Tencent Cloud
  * "签名方法 v3" https://cloud.tencent.com/document/api/382/52072 (en: tencentcloud.com/document/api/382/40474,
    "Signature v3"): CanonicalRequest = METHOD\\n/\\nquery ("" for POST)\\ncontent-type:..\\nhost:..\\n\\n
    content-type;host\\nhex sha256(payload); StringToSign = "TC3-HMAC-SHA256\\n" + X-TC-Timestamp + "\\n" +
    "DATE/SERVICE/tc3_request\\n" + hex sha256(CanonicalRequest); key = HMAC(HMAC(HMAC("TC3"+SecretKey, DATE),
    SERVICE), "tc3_request"); DATE is the UTC date of the timestamp; timestamp within 5 minutes.
  * Common errors https://cloud.tencent.com/document/api/382/52075 (AuthFailure.SignatureFailure,
    AuthFailure.SecretIdNotFound, AuthFailure.SignatureExpire, AuthFailure.InvalidAuthorization, ...).
  * SendSms https://cloud.tencent.com/document/api/382/55981, its error codes
    https://cloud.tencent.com/document/api/382/59177 (mirrored in tencentcloud/sms/v20210111/errorcodes.py):
    <= 200 numbers (LimitExceeded.PhoneNumberCountLimit), E.164, domestic 0086/86/bare 11 digits accepted;
    a domestic template cannot go to +852/+853/+886/... (UnsupportedOperation.ChineseMainlandTemplateToGlobalPhone),
    mixed batches refused (UnsupportedOperation.ContainDomesticAndInternationalPhoneNumber);
    TemplateParameterLengthLimit: "对于长期未使用的账号及2024年1月25日后开通新账号默认最长支持6个字符，
    您的账号具体可支持字符长度以控制台显示为准"; FailedOperation.TemplateParamSetNotMatchApprovedTemplate
    (parameter count differs); 验证码 templates take 0-6 digits only (TemplateParameterFormatError).
  * "正文模板审核标准" https://cloud.tencent.com/document/product/382/39023 (tencentcloud.com/.../382/40659):
    whole SMS incl. signature and values <= 500 characters; no URLs in variables.
  * Default frequency policy https://cloud.tencent.com/document/faq/382/13303: same number + same content
    1 per 30 s; same number 2 per natural day (company-adjustable, so opt-in here).
  * Length rule (announcement 382/34671 and the domestic rule): non-English SMS billed 1 per 70 characters,
    67 per part above 70 (used for ``Fee`` when the template text is known, else Fee 1).
  * SendTtsVoice https://cloud.tencent.com/document/api/1128/51558 (voice content <= 350 chars, PlayTimes <= 3),
    errors in tencentcloud/vms/v20200902/errorcodes.py.
WeChat
  * getAccessToken https://developers.weixin.qq.com/doc/service/api/base/api_getaccesstoken (7200 s;
    40013 invalid appid; 40125 invalid appsecret; 40002 grant_type) and "获取普通 AccessToken" (a new token
    supersedes the old one, both valid for 5 more minutes, then 40001).
  * sendTemplateMessage https://developers.weixin.qq.com/doc/service/api/notify/template/api_sendtemplatemessage
    and its 类目模板 parameter table (Template_Message_Interface.html#类目模板消息): thing <= 20 chars;
    number <= 32 digits (decimal allowed); letter <= 32 letters; symbol <= 5 symbols; character_string <= 32
    digits/letters/symbols (no Chinese); time = 24 h time (date allowed, "~" ranges); date = 年月日 or - / .
    (time allowed, "~" ranges); amount = 1 currency sign + <= 10 digits (decimals, trailing 元);
    phone_number <= 17 digits/symbols; car_number <= 8, first/last may be Chinese; name <= 10 汉字 or <= 20
    letters/symbols; phrase <= 5 汉字; const <= 20. Community answers from WeChat staff: 类目模板 fields that
    break the rule answer 47003 "argument invalid! data.<key>.value invalid"; 历史模板 (keyword1...) fields
    over 20 characters are folded, not refused.  43004 require subscribe, 40003 invalid openid,
    40037 invalid template_id, 45009 reach max api daily quota limit.
  * Customer-service messages https://developers.weixin.qq.com/doc/service/api/customer/message/api_sendcustommessage
    and Customer_Service_Messages.html: only after an interaction; user message -> 5 messages / 48 h;
    menu click, follow, QR scan -> 3 messages / 1 minute; otherwise 45015 "response out of time limit or
    subscription is canceled"; quota used up -> 45047 "out of response count limit".
  * Web OAuth (网页授权): code single-use (40163 code been used) and expires after 5 minutes (40029 invalid code).
WeCom
  * 获取access_token https://developer.work.weixin.qq.com/document/path/91039 (7200 s, may be invalidated early).
  * 发送应用消息 https://developer.work.weixin.qq.com/document/path/90236: invaliduser/invalidparty/invalidtag
    (userids lower-cased), all invalid -> 81013; text content <= 2048 bytes (truncated); textcard title <= 128 bytes,
    description <= 512 bytes (both *truncated*, not refused), url <= 2048 bytes, btntxt <= 4 chars (truncated);
    per app per member 30/min and 1000/h, excess silently dropped; response_code only for interactive cards.
  * 群机器人配置说明 (消息推送): text content <= 2048 bytes, markdown content <= 4096 bytes (40058
    "markdown.content exceed max length 4096"), 20 messages/minute per robot (45009), unknown key 93000
    "invalid webhook url".

Not confirmed (behaviour chosen, see the report): the exact English Message strings Tencent puts in
SendStatusSet for IncorrectPhoneNumber / SignatureIncorrectOrUnapproved (doc text used elsewhere);
whether TemplateParamSetNotMatchApprovedTemplate comes per number (chosen) or as a request error, and
whether UnsupportedOperation.* come as request errors (chosen) or per number; the HTTP status of Aliyun
``Missing<Param>`` errors (400 chosen) and of IncompleteSignature; Aliyun voice variable length limits
(none enforced unless a template declares them); WeCom answers for an over-long textcard url / app
markdown (40058 chosen); the length limit of WeChat customer-service text; exact errmsg wording of
WeChat/WeCom errors beyond the codes (real ones carry " rid: ..." / ", hint: [...]" suffixes, imitated).

Using it::

    with Providers() as p:
        p.approve_template("aliyun_sms", "SMS_100", ["no"], content="您的报修单${no}已受理")
        p.approve_template("tencent_sms", "2001", {"1": 12}, content="您的报修单{1}已受理")
        p.approve_template("wechat", "TPL", ["character_string1", "thing2"])
        p.follow("o_1", interacted_at=time.time()); p.add_member("zhangsan"); p.add_robot("key-1")
        settings = p.urls()            # aliyun / aliyun_voice / tencent / tencent_voice / wechat / wecom / wecom_robot
        p.fail("tencent_sms", "timeout"); p.timeout_seconds = 2
        ... exercise the adapters ...
        p.messages("aliyun_sms"), p.requests("wechat"), p.tokens_issued("wecom")

A failure set with ``fail()`` is used up by the next matching request whatever else that request gets wrong.

Test-only knobs: ``advance(seconds)`` moves the stand-in's clock (token expiry, OAuth codes, 48 h
windows, frequency windows) - signature timestamps are always checked against the real clock.
Per-number frequency limits (Aliyun/Tencent/WeCom member) are the providers' *default console
policies* and are off unless ``enforce_frequency_limits(service)``; the robot's 20/minute is always on.
"""
from __future__ import annotations

import copy
import hashlib
import hmac
import io
import json
import math
import re
import secrets
import socket
import socketserver
import struct
import threading
import time
import uuid
from collections import deque
from datetime import UTC, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

__all__ = ["Providers"]

SERVICES = ("aliyun_sms", "aliyun_voice", "tencent_sms", "tencent_voice", "wechat", "wecom", "wecom_robot")
TRANSPORT_MODES = ("unavailable", "html", "garbage", "timeout", "reset")
_BUSINESS_MODES = {
    "aliyun_sms": ("rate_limit", "invalid_number", "template_rejected", "throttled"),
    "aliyun_voice": ("rate_limit", "invalid_number", "template_rejected", "throttled"),
    "tencent_sms": ("rate_limit", "invalid_number", "template_rejected", "throttled"),
    "tencent_voice": ("rate_limit", "invalid_number", "template_rejected", "throttled"),
    "wechat": ("rate_limit", "token_expired", "not_following", "invalid_number", "template_rejected"),
    "wecom": ("rate_limit", "token_expired", "invalid_number"),
    "wecom_robot": ("rate_limit",),
}
_ROUTES = {
    ("GET", "/cgi-bin/token"): ("wechat", "token", "token"),
    ("POST", "/cgi-bin/message/template/send"): ("wechat", "template_send", "send"),
    ("POST", "/cgi-bin/message/custom/send"): ("wechat", "custom_send", "send"),
    ("GET", "/connect/oauth2/authorize"): ("wechat", "oauth_authorize", "oauth"),
    ("GET", "/sns/oauth2/access_token"): ("wechat", "oauth_access_token", "oauth"),
    ("GET", "/cgi-bin/gettoken"): ("wecom", "gettoken", "token"),
    ("POST", "/cgi-bin/message/send"): ("wecom", "message_send", "send"),
    ("POST", "/cgi-bin/webhook/send"): ("wecom_robot", "webhook_send", "send"),
}
_CHINA = timezone(timedelta(hours=8))
_HAN = re.compile(r"[\u3400-\u9fff]")
_URL = re.compile(r"(?i)(?:https?://|www\.)")

_ALIYUN_CT = "application/json;charset=utf-8"
_TENCENT_CT = "application/json"
_WECHAT_CT = "application/json; encoding=utf-8"
_WECOM_CT = "application/json; charset=UTF-8"

_ACS3 = re.compile(r"^(\S+)\s+Credential=([^,]*),\s*SignedHeaders=([^,]*),\s*Signature=([0-9A-Fa-f]*)$")
_TC3 = re.compile(
    r"^(\S+)\s+Credential=([^/,\s]+)/(\d{4}-\d{2}-\d{2})/([^/,\s]+)/tc3_request,\s*"
    r"SignedHeaders=([^,\s]+),\s*Signature=([0-9A-Fa-f]+)$"
)

# Tencent: E.164 country codes this stand-in knows, with the national number pattern.
_TC_COUNTRIES = sorted(
    [
        ("86", "CN", r"1[3-9]\d{9}"),
        ("852", "HK", r"[4-9]\d{7}"),
        ("853", "MO", r"6\d{7}"),
        ("886", "TW", r"9\d{8}"),
        ("1", "US", r"[2-9]\d{9}"),
        ("65", "SG", r"[89]\d{7}"),
        ("60", "MY", r"1\d{8,9}"),
        ("81", "JP", r"[789]0\d{8}"),
        ("44", "GB", r"7\d{9}"),
        ("61", "AU", r"4\d{8}"),
    ],
    key=lambda c: -len(c[0]),
)

# Messages Tencent puts in SendStatusSet (English, as the API returns them; see module docstring).
_TC_STATUS_MESSAGES = {
    "Ok": "send success",
    "LimitExceeded.PhoneNumberThirtySecondLimit": (
        "the number of SMS messages sent from a single mobile number within 30 seconds exceeds the upper limit"),
    "LimitExceeded.PhoneNumberDailyLimit": (
        "the number of sms messages sent from a single mobile number every day exceeds the upper limit"),
    "FailedOperation.TemplateIncorrectOrUnapproved": (
        "template is not approved or request content does not match the approved template content"),
    "InvalidParameterValue.IncorrectPhoneNumber": "incorrect number format",
    "FailedOperation.SignatureIncorrectOrUnapproved": "signature format is incorrect or signature is not approved",
    "FailedOperation.TemplateParamSetNotMatchApprovedTemplate": (
        "请求内容与审核通过的模板内容不匹配。请检查请求中模板参数的个数是否与申请的模板一致。"),
    "InvalidParameterValue.TemplateParameterLengthLimit": "单个模板变量字符数超过规定的限制数。",
    "InvalidParameterValue.TemplateParameterFormatError": (
        "验证码模板参数格式错误，验证码类模板，模板变量只能传入0 - 6位（包括6位）纯数字。"),
    "InvalidParameterValue.ProhibitedUseUrlInTemplateParameter": "禁止在模板变量中使用 URL。",
    "InvalidParameterValue.ContentLengthLimit": "请求的短信内容太长。",
}

# WeChat 类目模板 parameter kinds (prefix of the data key, e.g. "thing1", "character_string02").
_WX_KINDS = {"thing", "short_thing", "number", "letter", "symbol", "character_string", "time", "date", "amount",
             "phone_number", "car_number", "name", "phrase", "const", "enum"}
_D = r"(?:\d{4}年\d{1,2}月\d{1,2}日|\d{4}年\d{1,2}月|\d{1,2}月\d{1,2}日|\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{4}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2})"
_T = r"(?:[01]?\d|2[0-3]):[0-5]\d(?::[0-5]\d)?"
_WX_DATE = re.compile(rf"{_D}(?:\s*{_T})?(?:\s*~\s*(?:{_D}(?:\s*{_T})?|{_T}))?")
_WX_TIME = re.compile(rf"(?:{_D}\s*)?{_T}(?:\s*~\s*(?:{_D}\s*)?{_T})?")
_WX_SYMBOL = r"[^\u3400-\u9fffA-Za-z0-9\s]"


def _sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def _pct(value: str) -> str:
    """RFC 3986 percent-encoding (unreserved A-Z a-z 0-9 - _ . ~ kept), UTF-8."""
    return quote(value, safe="~")


def _truncate_bytes(text: str, limit: int) -> str:
    raw = text.encode("utf-8")
    return text if len(raw) <= limit else raw[:limit].decode("utf-8", "ignore")


def _digits(n: int) -> str:
    return str(secrets.randbelow(9) + 1) + "".join(str(secrets.randbelow(10)) for _ in range(n - 1))


class _Reply:
    __slots__ = ("body", "code", "ctype", "headers", "kind", "message", "status")

    def __init__(self, status=200, body=b"", ctype="application/json", code=None, message=None, headers=(), kind=None):
        self.status, self.body, self.ctype = status, body, ctype
        self.code, self.message, self.headers, self.kind = code, message, list(headers), kind


class _Req:
    __slots__ = ("body", "client", "headers", "method", "path", "query", "query_raw")

    def __init__(self, method, path, query_raw, headers, body, client):
        self.method, self.path, self.query_raw, self.headers, self.body, self.client = (
            method, path, query_raw, headers, body, client)
        self.query = dict(parse_qsl(query_raw, keep_blank_values=True))

    def json(self):
        try:
            data = json.loads(self.body.decode("utf-8") or "null")
        except (UnicodeDecodeError, ValueError):
            return None
        return data if isinstance(data, dict) else None


class _Template:
    def __init__(self, variables, limits, content, kind, international):
        self.variables, self.limits, self.content = variables, limits, content
        self.kind, self.international = kind, international


class _Token:
    __slots__ = ("expired", "expires_at", "superseded_at", "value")

    def __init__(self, value, expires_at):
        self.value, self.expires_at, self.expired, self.superseded_at = value, expires_at, False, None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "stand-in"
    sys_version = ""

    def setup(self):
        super().setup()
        self.server.providers._track(self.connection, True)

    def finish(self):
        try:
            super().finish()
        finally:
            self.server.providers._track(self.connection, False)

    def do_GET(self):
        self.server.providers._handle(self)

    do_POST = do_GET

    def log_message(self, format, *args):
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128

    def server_bind(self):
        socketserver.TCPServer.server_bind(self)  # skip HTTPServer's getfqdn() lookup
        self.server_name, self.server_port = self.server_address[:2]

    def handle_error(self, request, client_address):
        pass  # dropped connections are part of the game here


class _NullWriter(io.RawIOBase):
    def writable(self):
        return True

    def write(self, b):
        return len(b)


class Providers:
    """The stand-in.  ``with Providers() as p: ...`` or ``p = Providers().start()``."""

    # ---- fixed test credentials -------------------------------------------------------------
    ALIYUN_KEY_ID = "LTAI5tStandInKey0000001A"
    ALIYUN_KEY_SECRET = "StandInAliyunSecret00000000000x"
    ALIYUN_SHOW_NUMBER = "057128801234"          # 被叫显号 bought for voice calls
    TENCENT_SECRET_ID = "AKIDStandIn000000000000000000000000"
    TENCENT_SECRET_KEY = "StandInTencentSecretKey000000000"
    TENCENT_SMS_APP = "1400123456"
    TENCENT_VOICE_APP = "1400654321"
    WECHAT_APPID = "wx5a1b2c3d4e5f6a7b"
    WECHAT_SECRET = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
    WECHAT_TOKEN = "standintoken"                 # 服务器配置 Token (message push)
    WECHAT_AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # EncodingAESKey, 43 chars
    WECOM_CORPID = "ww1a2b3c4d5e6f7a8b"
    WECOM_SECRET = "StandInWeComAgentSecret0000000000000000000"
    WECOM_AGENT = 1000002
    WECOM_ROBOT_KEY = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"   # a robot added by default
    SMS_SIGN = "阳光物业"

    # ---- documented limits (see module docstring) -----------------------------------------------
    ALIYUN_PARAM_MAX = 35            # default per-variable length, Aliyun SMS
    ALIYUN_SMS_MAX = 500             # whole SMS incl. sign
    ALIYUN_MAX_NUMBERS = 1000
    TENCENT_PARAM_MAX = 6            # default per-variable length for accounts opened after 2024-01-25
    TENCENT_SMS_MAX = 500
    TENCENT_MAX_NUMBERS = 200
    TENCENT_VOICE_MAX = 350
    TOKEN_TTL = 7200
    OAUTH_CODE_TTL = 300
    WECHAT_TOKEN_OVERLAP = 300
    ROBOT_PER_MINUTE = 20

    def __init__(self, host="127.0.0.1", port=0):
        self.host, self.port = host, port
        self.timeout_seconds = 30.0
        self._lock = threading.RLock()
        self._stop_event = threading.Event()
        self._server = None
        self._thread = None
        self._conns = set()
        self._offset = 0.0
        # configuration (survives reset())
        self._templates = {s: {} for s in ("aliyun_sms", "aliyun_voice", "tencent_sms", "tencent_voice", "wechat")}
        self._signs = {"aliyun_sms": {self.SMS_SIGN}, "tencent_sms": {self.SMS_SIGN}}
        self._show_numbers = {self.ALIYUN_SHOW_NUMBER}
        self._members = {}          # lower-case userid -> userid
        self._robots = {self.WECOM_ROBOT_KEY}
        self._followers = {}        # openid -> {"following": bool, "interactions": [[kind, at, used]]}
        self._authorize_as = None
        self._freq = set()
        self._tokens = {"wechat": {}, "wecom": {}}
        self._oauth_codes = {}
        self._oauth_tokens = {}
        self._nonces = {}
        self._clear_history()

    def _clear_history(self):
        self._messages = {s: [] for s in SERVICES}
        self._requests = {s: [] for s in SERVICES}
        self._failures = {s: [] for s in SERVICES}
        self._delays = {}
        self._issued = {"wechat": 0, "wecom": 0}
        self._history = {}          # frequency windows: key -> deque[timestamps]

    # ---- lifecycle -----------------------------------------------------------------------------
    def start(self) -> Providers:
        if self._server is not None:
            return self
        self._stop_event.clear()
        server = _Server((self.host, self.port), _Handler)
        server.providers = self
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01},
                                        name=f"providers-standin-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        server, self._server = self._server, None
        if server is None:
            return
        self._stop_event.set()
        server.shutdown()
        server.server_close()
        with self._lock:
            conns = list(self._conns)
            self._conns.clear()
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"http://{self.address}"

    def urls(self) -> dict:
        q = lambda s: quote(str(s), safe="")
        a = self.address
        aliyun = f"aliyun+http://{q(self.ALIYUN_KEY_ID)}:{q(self.ALIYUN_KEY_SECRET)}@{a}"
        tencent = f"tencent+http://{q(self.TENCENT_SECRET_ID)}:{q(self.TENCENT_SECRET_KEY)}@{a}"
        return {
            "aliyun": f"{aliyun}?sign={q(self.SMS_SIGN)}",
            "aliyun_voice": f"{aliyun}?show={q(self.ALIYUN_SHOW_NUMBER)}",
            "tencent": f"{tencent}?app={self.TENCENT_SMS_APP}&sign={q(self.SMS_SIGN)}&region=ap-guangzhou",
            "tencent_voice": f"{tencent}?app={self.TENCENT_VOICE_APP}&region=ap-guangzhou",
            "wechat": f"wechat+http://{q(self.WECHAT_APPID)}:{q(self.WECHAT_SECRET)}@{a}"
                      f"?token={q(self.WECHAT_TOKEN)}&aes_key={q(self.WECHAT_AES_KEY)}",
            "wecom": f"wecom+http://{q(self.WECOM_CORPID)}:{q(self.WECOM_SECRET)}@{a}?agent={self.WECOM_AGENT}",
            "wecom_robot": self.robot_url(self.WECOM_ROBOT_KEY),
        }

    def robot_url(self, key) -> str:
        return f"{self.base_url}/cgi-bin/webhook/send?key={quote(key, safe='')}"

    # ---- clock -----------------------------------------------------------------------------------
    def now(self) -> float:
        return time.time() + self._offset

    def advance(self, seconds: float):
        """Move the stand-in's clock forward (tokens, OAuth codes, 48 h windows, frequency windows)."""
        with self._lock:
            self._offset += float(seconds)

    # ---- what providers know ---------------------------------------------------------------------
    def approve_template(self, service, code, variables=(), *, content=None, kind="notice", international=False):
        """An approved template.

        ``variables``: names (Aliyun: TemplateParam keys; Tencent: one entry per {n}; WeChat: data keys such as
        "thing1", "time2" whose prefix picks the 类目模板 rule) or a dict name -> max length (None = the
        provider's default rule).  ``content`` (optional) is the approved text, e.g. "您的报修单${no}已受理"
        (Aliyun), "您的报修单{1}已受理" (Tencent), "单号：{{character_string1.DATA}}" (WeChat); with it the
        stand-in renders ``text`` and checks whole-message limits.  ``kind="code"`` marks a verification-code
        template; ``international=True`` a Tencent 国际/港澳台 template.
        """
        if service not in self._templates:
            raise ValueError(f"templates are not a {service} concept")
        if isinstance(variables, int):
            variables = [str(i + 1) for i in range(variables)]
        if isinstance(variables, dict):
            names, limits = list(variables), dict(variables)
        else:
            names = list(variables)
            limits = {n: None for n in names}
        with self._lock:
            self._templates[service][str(code)] = _Template(names, limits, content, kind, bool(international))

    def approve_sign(self, service, name):
        with self._lock:
            self._signs.setdefault(service, set()).add(name)

    def add_member(self, userid):
        with self._lock:
            self._members[str(userid).lower()] = str(userid)

    def add_robot(self, key):
        with self._lock:
            self._robots.add(str(key))

    def follow(self, openid, following=True, interacted_at=None):
        """A WeChat follower.  ``interacted_at``: when the follower last *sent a message* (opens the
        documented 5 messages / 48 h customer-service window).  Following alone opens no window here."""
        with self._lock:
            f = self._followers.setdefault(openid, {"following": True, "interactions": []})
            f["following"] = bool(following)
            if interacted_at is not None:
                f["interactions"].append(["message", float(interacted_at), 0])

    def interact(self, openid, kind="message", at=None):
        """Record an interaction: "message" (5 msgs / 48 h) or "menu"/"follow"/"scan" (3 msgs / 1 min)."""
        if kind not in ("message", "menu", "follow", "scan"):
            raise ValueError(kind)
        with self._lock:
            f = self._followers.setdefault(openid, {"following": True, "interactions": []})
            f["interactions"].append([kind, self.now() if at is None else float(at), 0])

    def authorize_as(self, openid):
        """Who the browser is in the following /connect/oauth2/authorize requests (None: not in WeChat)."""
        with self._lock:
            self._authorize_as = openid

    def oauth_code(self, openid, scope="snsapi_base") -> str:
        with self._lock:
            return self._new_code(openid, scope)

    def enforce_frequency_limits(self, service, enabled=True):
        """Switch on the provider's default per-number frequency policy for ``service``."""
        if service not in ("aliyun_sms", "aliyun_voice", "tencent_sms", "wecom"):
            raise ValueError(f"no per-number frequency policy modelled for {service}")
        with self._lock:
            (self._freq.add if enabled else self._freq.discard)(service)

    # ---- failures --------------------------------------------------------------------------------
    def fail(self, service, mode, times=1, on="send"):
        """Make the next ``times`` matching requests fail (``times=None``: until ``heal()``).

        ``on``: "send" (message APIs; default), "token" (token endpoints), "oauth", or "any".
        """
        if service not in SERVICES:
            raise ValueError(f"unknown service {service!r}")
        if mode not in TRANSPORT_MODES and mode not in _BUSINESS_MODES[service]:
            raise ValueError(f"mode {mode!r} does not apply to {service}")
        if on not in ("send", "token", "oauth", "any"):
            raise ValueError(on)
        if times is not None and times < 1:
            raise ValueError("times must be >= 1 or None")
        with self._lock:
            self._failures[service].append({"mode": mode, "left": times, "on": on})

    def heal(self, service=None):
        with self._lock:
            for s in ([service] if service else SERVICES):
                self._failures[s] = []
                self._delays.pop(s, None)

    def delay(self, service, seconds):
        if service not in SERVICES:
            raise ValueError(service)
        with self._lock:
            if seconds:
                self._delays[service] = float(seconds)
            else:
                self._delays.pop(service, None)

    def expire_tokens(self, service):
        if service not in self._tokens:
            raise ValueError(f"{service} issues no access tokens")
        with self._lock:
            for t in self._tokens[service].values():
                t.expired = True

    # ---- what happened ---------------------------------------------------------------------------
    def messages(self, service) -> list:
        with self._lock:
            return copy.deepcopy(self._messages[service])

    def requests(self, service) -> list:
        with self._lock:
            return [dict(r) for r in self._requests[service]]

    def tokens_issued(self, service) -> int:
        with self._lock:
            return self._issued.get(service, 0)

    def reset(self):
        """Forget messages, requests, failures, delays and counters (templates, members, tokens stay)."""
        with self._lock:
            self._clear_history()

    # =============================================================================================
    # HTTP plumbing
    # =============================================================================================
    def _track(self, conn, add):
        with self._lock:
            (self._conns.add if add else self._conns.discard)(conn)

    def _handle(self, h):
        parts = urlsplit(h.path)
        try:
            length = int(h.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        body = h.rfile.read(length) if length > 0 else b""
        req = _Req(h.command, parts.path or "/", parts.query, h.headers, body, h.client_address[0])
        service, action, category = self._route(req)
        if service is None:
            self._write(h, _Reply(404, b"<html><body><h1>404 Not Found</h1></body></html>", "text/html",
                                  code="NotFound"))
            return
        with self._lock:
            delay = self._delays.get(service)
        if delay:
            self._stop_event.wait(delay)
        mode = self._take_failure(service, action, category)
        if mode in TRANSPORT_MODES:
            reply = self._transport(service, mode)
        else:
            try:
                reply = getattr(self, "_ep_" + service)(req, action, mode)
            except Exception as exc:  # noqa: BLE001 - a bug in the stand-in must still answer something
                reply = _Reply(500, json.dumps({"error": repr(exc)}).encode(), "application/json",
                               code="StandInError", message=repr(exc))
        self._record_request(service, action, reply)
        if reply.kind == "timeout":
            self._stop_event.wait(self.timeout_seconds)
        self._write(h, reply)

    def _route(self, req):
        p, m = req.path, req.method
        if p == "/" and m in ("POST", "GET"):
            acs = req.headers.get("x-acs-action")
            if acs:
                return ("aliyun_voice" if acs == "SingleCallByTts" else "aliyun_sms"), acs, "send"
            tc = req.headers.get("X-TC-Action")
            if tc:
                return ("tencent_voice" if tc == "SendTtsVoice" else "tencent_sms"), tc, "send"
            return None, None, None
        route = _ROUTES.get((m, p))
        return route if route else (None, None, None)

    def _take_failure(self, service, action, category):
        with self._lock:
            for f in self._failures[service]:
                if f["on"] != "any" and f["on"] != category:
                    continue
                if f["mode"] == "template_rejected" and action == "custom_send":
                    continue
                if f["left"] is not None:
                    f["left"] -= 1
                    if f["left"] <= 0:
                        self._failures[service].remove(f)
                return f["mode"]
        return None

    def _transport(self, service, mode):
        server = "Tengine" if service.startswith("aliyun") else "nginx"
        if mode == "unavailable":
            page = (f"<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n"
                    f"<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n<hr><center>{server}</center>\r\n"
                    f"</body>\r\n</html>\r\n").encode()
            return _Reply(503, page, "text/html", code="unavailable", message="503 Service Temporarily Unavailable")
        if mode == "html":
            page = ("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>访问受限</title></head><body>"
                    "<h1>访问受限</h1><p>您的请求已被安全策略拦截，请稍后再试。</p></body></html>").encode()
            return _Reply(200, page, "text/html; charset=utf-8", code="html", message="HTML page")
        if mode == "garbage":
            ctype = {"aliyun_sms": _ALIYUN_CT, "aliyun_voice": _ALIYUN_CT, "tencent_sms": _TENCENT_CT,
                     "tencent_voice": _TENCENT_CT, "wechat": _WECHAT_CT}.get(service, _WECOM_CT)
            return _Reply(200, b"\x1f\x8b\x08\x00\xde\xad{\"Code\":\x00\xff<<garbage", ctype, code="garbage",
                          message="not JSON")
        if mode == "timeout":
            return _Reply(None, code="timeout", message="held then dropped", kind="timeout")
        return _Reply(None, code="reset", message="connection reset", kind="reset")

    def _write(self, h, reply):
        if reply.kind == "timeout":
            h.close_connection = True
            return
        if reply.kind == "reset":
            h.close_connection = True
            try:
                h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                h.rfile.close()
                h.wfile.close()
                h.rfile, h.wfile = io.BytesIO(), _NullWriter()
                h.connection.close()
            except OSError:
                pass
            return
        try:
            h.send_response(reply.status)
            h.send_header("Content-Type", reply.ctype)
            h.send_header("Content-Length", str(len(reply.body)))
            for k, v in reply.headers:
                h.send_header(k, v)
            h._headers_buffer.append(b"\r\n")
            h._headers_buffer.append(reply.body)
            h.flush_headers()
        except OSError:
            h.close_connection = True

    def _record_request(self, service, action, reply):
        with self._lock:
            self._requests[service].append({"action": action, "http_status": reply.status, "code": reply.code,
                                            "message": reply.message, "at": self.now()})

    def _record(self, service, **msg):
        msg.setdefault("url", None)
        msg.setdefault("sign", None)
        msg.setdefault("text", None)
        msg["at"] = self.now()
        self._messages[service].append(msg)

    @staticmethod
    def _json(status, obj, ctype, code, message, headers=()):
        return _Reply(status, json.dumps(obj, ensure_ascii=False).encode("utf-8"), ctype, code, message, headers)

    def _freq_check(self, key, windows, now):
        """``windows``: [(seconds, limit, outcome)]; returns the outcome of the first full window."""
        hist = self._history.get(key)
        if hist is None:
            return None
        for seconds, limit, outcome in windows:
            if sum(1 for t in hist if now - t < seconds) >= limit:
                return outcome
        return None

    def _freq_note(self, key, now, keep=86400 * 2):
        hist = self._history.setdefault(key, deque())
        hist.append(now)
        while hist and now - hist[0] > keep:
            hist.popleft()

    # =============================================================================================
    # Aliyun (RPC, V3 signature)
    # =============================================================================================
    def _acs3_verify(self, req):
        """None if the V3 signature is right, else (http_status, code, message)."""
        incomplete = (400, "IncompleteSignature", "The request signature does not conform to Aliyun standards.")
        m = _ACS3.match((req.headers.get("Authorization") or "").strip())
        if not m or m.group(1) != "ACS3-HMAC-SHA256":
            return incomplete
        key_id, signed, signature = m.group(2).strip(), m.group(3), m.group(4).lower()
        if key_id != self.ALIYUN_KEY_ID:
            return 404, "InvalidAccessKeyId.NotFound", "Specified access key is not found."
        signed_list = sorted({s.strip().lower() for s in signed.split(";") if s.strip()})
        present = {k.lower() for k in req.headers}
        must = {k for k in present if k.startswith("x-acs-")} | ({"host", "content-type"} & present)
        required = {"host", "x-acs-action", "x-acs-version", "x-acs-date", "x-acs-content-sha256"}
        if not required <= set(signed_list) or not must <= set(signed_list) or not set(signed_list) <= present:
            return incomplete
        try:
            stamp = datetime.strptime(req.headers.get("x-acs-date", ""), "%Y-%m-%dT%H:%M:%SZ")
        except ValueError:
            return 400, "InvalidTimeStamp.Format", "Specified time stamp or date value is not well formatted."
        if abs(time.time() - stamp.replace(tzinfo=UTC).timestamp()) > 900:
            return 400, "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired."
        pairs = sorted(parse_qsl(req.query_raw, keep_blank_values=True))
        canonical_query = "&".join(f"{_pct(k)}={_pct(v)}" for k, v in pairs)
        canonical_uri = "/".join(_pct(unquote(seg)) for seg in req.path.split("/")) or "/"
        canonical_headers = "".join(
            f"{name}:{','.join(sorted(v.strip() for v in req.headers.get_all(name, [])))}\n" for name in signed_list)
        canonical = "\n".join([req.method.upper(), canonical_uri, canonical_query, canonical_headers,
                               ";".join(signed_list), _sha256_hex(req.body)])
        string_to_sign = "ACS3-HMAC-SHA256\n" + _sha256_hex(canonical.encode("utf-8"))
        expected = hmac.new(self.ALIYUN_KEY_SECRET.encode(), string_to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature):
            return (400, "SignatureDoesNotMatch",
                    f"Specified signature does not match our calculation. server string to sign is:{string_to_sign}")
        nonce = req.headers.get("x-acs-signature-nonce")
        if nonce:
            now = time.time()
            with self._lock:
                if len(self._nonces) > 50000:
                    self._nonces = {n: t for n, t in self._nonces.items() if now - t < 900}
                if nonce in self._nonces and now - self._nonces[nonce] < 900:
                    return 400, "SignatureNonceUsed", "Specified signature nonce was used already."
                self._nonces[nonce] = now
        return None

    def _aliyun(self, req, service, action, mode):
        rid = str(uuid.uuid4()).upper()
        product, host_id = (("Dysmsapi", "dysmsapi.aliyuncs.com") if service == "aliyun_sms"
                            else ("Dyvmsapi", "dyvmsapi.aliyuncs.com"))

        def error(status, code, message):
            return self._json(status, {
                "RequestId": rid, "Message": message,
                "Recommend": f"https://api.aliyun.com/troubleshoot?q={code}&product={product}&requestId={rid}",
                "HostId": host_id, "Code": code}, _ALIYUN_CT, code, message)

        def biz(code, message, **extra):
            return self._json(200, {"RequestId": rid, "Message": message, "Code": code, **extra},
                              _ALIYUN_CT, code, message)

        problem = self._acs3_verify(req)
        if problem:
            return error(*problem)
        expected = "SendSms" if service == "aliyun_sms" else "SingleCallByTts"
        if service == "aliyun_sms" and action == "QuerySmsSign":  # what a key check may ask: sends nothing
            sign = dict(req.query).get("SignName", "")
            with self._lock:
                known = sign in self._signs.get("aliyun_sms", set())
            if not known:
                return biz("isv.SMS_SIGN_ILLEGAL", "签名不存在")
            return biz("OK", "OK", SignName=sign, SignStatus=1, Reason="无", CreateDate="2026-01-05 10:00:00")
        if action != expected:
            return error(404, "InvalidAction.NotFound", "Specified api is not found, please check your url and method.")
        if req.headers.get("x-acs-version") != "2017-05-25":
            return error(400, "InvalidVersion", "Specified parameter Version is not valid.")
        if mode == "throttled":
            return error(400, "Throttling.User", "Request was denied due to user flow control.")
        params = dict(req.query)
        ctype = (req.headers.get("Content-Type") or "").lower()
        if req.body and "x-www-form-urlencoded" in ctype:
            params.update(parse_qsl(req.body.decode("utf-8", "replace"), keep_blank_values=True))
        if service == "aliyun_sms":
            return self._aliyun_sms(params, mode, error, biz)
        return self._aliyun_voice(params, mode, error, biz)

    def _aliyun_params(self, tpl, raw, default_max, codes):
        """Checks TemplateParam/TtsParam JSON against an approved template -> (problem, values)."""
        missing, length = codes
        if raw in (None, ""):
            values = {}
        else:
            try:
                values = json.loads(raw)
            except ValueError:
                return ("isv.INVALID_JSON_PARAM", "参数格式错误，请修改为字符串值"), None
            if not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values()):
                return ("isv.INVALID_JSON_PARAM", "参数格式错误，请修改为字符串值"), None
        for name in tpl.variables:
            if not values.get(name):
                return missing, None
        for name in tpl.variables:
            limit = tpl.limits.get(name) or default_max
            if limit is not None and len(values[name]) > limit:
                return length, None
            if _URL.search(values[name]):
                return ("isv.PARAM_NOT_SUPPORT_URL", "变量不支持传入URL"), None
        return None, values

    @staticmethod
    def _render(content, values, style):
        if content is None:
            return None
        if style == "aliyun":
            return re.sub(r"\$\{(\w+)\}", lambda m: str(values.get(m.group(1), m.group(0))), content)
        if style == "tencent":
            return re.sub(r"\{(\d+)\}", lambda m: (values[int(m.group(1)) - 1] if 0 < int(m.group(1)) <= len(values)
                                                  else m.group(0)), content)
        return re.sub(r"\{\{(\w+)\.DATA\}\}", lambda m: str(values.get(m.group(1), "")), content)

    def _aliyun_sms(self, params, mode, error, biz):
        for name in ("PhoneNumbers", "SignName", "TemplateCode"):
            if not params.get(name):
                return error(400, f"Missing{name}", f"{name} is mandatory for this action.")
        if mode == "rate_limit":
            return biz("isv.BUSINESS_LIMIT_CONTROL", "触发分钟级流控Permits:1")
        if mode == "invalid_number":
            return biz("isv.MOBILE_NUMBER_ILLEGAL", "手机号码格式错误")
        if mode == "template_rejected":
            return biz("isv.SMS_TEMPLATE_ILLEGAL", "该账号下找不到对应模板")
        numbers = [n.strip() for n in params["PhoneNumbers"].split(",") if n.strip()]
        if len(numbers) > self.ALIYUN_MAX_NUMBERS:
            return biz("isv.MOBILE_COUNT_OVER_LIMIT", "手机号码数量超过限制，最多支持1000条")
        normalized = []
        for n in numbers:
            m = re.fullmatch(r"(?:\+86|\+|0086|86)?(1[3-9]\d{9})", n)
            if not m:
                return biz("isv.MOBILE_NUMBER_ILLEGAL", "手机号码格式错误")
            normalized.append(m.group(1))
        sign, code = params["SignName"], params["TemplateCode"]
        with self._lock:
            sign_ok = sign in self._signs.get("aliyun_sms", ())
            tpl = self._templates["aliyun_sms"].get(code)
        if not sign_ok:
            return biz("isv.SMS_SIGNATURE_ILLEGAL", "该账号下找不到对应签名")
        if tpl is None:
            return biz("isv.SMS_TEMPLATE_ILLEGAL", "该账号下找不到对应模板")
        problem, values = self._aliyun_params(
            tpl, params.get("TemplateParam"), self.ALIYUN_PARAM_MAX,
            (("isv.TEMPLATE_MISSING_PARAMETERS", "模板变量中存在未赋值变量"),
             ("isv.PARAM_LENGTH_LIMIT", "参数超过长度限制")))
        if problem:
            return biz(*problem)
        if tpl.kind == "code" and not all(re.fullmatch(r"[A-Za-z0-9]{4,6}", values[n]) for n in tpl.variables):
            return biz("isv.TEMPLATE_PARAMS_ILLEGAL", "传入的变量内容和实际申请模板时变量所选择的属性类型不配")
        text = self._render(tpl.content, values, "aliyun")
        if text is not None:
            text = f"【{sign}】{text}"
            if len(text) > self.ALIYUN_SMS_MAX:
                return biz("isv.PARAM_LENGTH_LIMIT", "参数超过长度限制")
        now = self.now()
        with self._lock:
            if "aliyun_sms" in self._freq:
                # 验证码: same sign + number 1/min, 5/h, 10/day; 通知: same sign + template + number 50/24 h
                if tpl.kind == "code":
                    windows = [(60, 1, "触发分钟级流控Permits:1"), (3600, 5, "触发小时级流控Permits:5"),
                               (86400, 10, "触发天级流控Permits:10")]
                    keys = [("aliyun_sms", n, sign) for n in normalized]
                else:
                    windows = [(86400, 50, "触发天级流控Permits:50")]
                    keys = [("aliyun_sms", n, sign, code) for n in normalized]
                for key in keys:
                    hit = self._freq_check(key, windows, now)
                    if hit:
                        return biz("isv.BUSINESS_LIMIT_CONTROL", hit)
                for key in keys:
                    self._freq_note(key, now)
            biz_id = f"{_digits(18)}^0"
            for n in normalized:
                self._record("aliyun_sms", to=n, template=code, params=values, sign=sign, text=text, id=biz_id,
                             out_id=params.get("OutId"))
        return biz("OK", "OK", BizId=biz_id)

    def _aliyun_voice(self, params, mode, error, biz):
        for name in ("CalledShowNumber", "CalledNumber", "TtsCode"):
            if not params.get(name):
                return error(400, f"Missing{name}", f"{name} is mandatory for this action.")
        if mode == "rate_limit":
            return biz("isv.BUSINESS_LIMIT_CONTROL", "触发业务流控限制")
        if mode == "invalid_number":
            return biz("isv.MOBILE_NUMBER_ILLEGAL", "号码格式非法")
        if mode == "template_rejected":
            return biz("isv.TTS_TEMPLATE_ILLEGAL", "TTS模板不合法")
        called = params["CalledNumber"].strip()
        if not re.fullmatch(r"1[3-9]\d{9}|0\d{9,11}", called):
            return biz("isv.MOBILE_NUMBER_ILLEGAL", "号码格式非法")
        with self._lock:
            show_ok = params["CalledShowNumber"].strip() in self._show_numbers
            tpl = self._templates["aliyun_voice"].get(params["TtsCode"])
        if not show_ok:
            return biz("isv.DISPLAY_NUMBER_ILLEGAL", "号显不合法")
        if tpl is None:
            return biz("isv.TTS_TEMPLATE_ILLEGAL", "TTS模板不合法")
        problem, values = self._aliyun_params(
            tpl, params.get("TtsParam"), None,
            (("isv.TEMPLATE_MISSING_PARAMETERS", "文本转语音模板参数缺失"), ("isv.PARAM_LENGTH_LIMIT", "参数长度受限")))
        if problem:
            return biz(*problem)
        play = params.get("PlayTimes")
        if play not in (None, "") and (not play.isdigit() or not 1 <= int(play) <= 3):
            return biz("isv.INVALID_PARAMETERS", "参数异常")
        now = self.now()
        with self._lock:
            if "aliyun_voice" in self._freq:
                hit = self._freq_check(("aliyun_voice", called),
                                       [(60, 1, "触发业务流控限制"), (3600, 5, "触发业务流控限制"),
                                        (86400, 20, "触发业务流控限制")], now)
                if hit:
                    return biz("isv.BUSINESS_LIMIT_CONTROL", hit)
                self._freq_note(("aliyun_voice", called), now)
            call_id = f"{_digits(12)}^{_digits(12)}"
            self._record("aliyun_voice", to=called, template=params["TtsCode"], params=values,
                         text=self._render(tpl.content, values, "aliyun"), id=call_id,
                         show=params["CalledShowNumber"], out_id=params.get("OutId"))
        return biz("OK", "OK", CallId=call_id)

    def _ep_aliyun_sms(self, req, action, mode):
        return self._aliyun(req, "aliyun_sms", action, mode)

    def _ep_aliyun_voice(self, req, action, mode):
        return self._aliyun(req, "aliyun_voice", action, mode)

    # =============================================================================================
    # Tencent Cloud API 3.0 (TC3-HMAC-SHA256)
    # =============================================================================================
    def _tc3_verify(self, req, expected_service):
        """None if the TC3 signature is right, else (code, message)."""
        m = _TC3.match((req.headers.get("Authorization") or "").strip())
        if not m or m.group(1) != "TC3-HMAC-SHA256":
            return "AuthFailure.InvalidAuthorization", "Authorization in the request header is invalid."
        secret_id, date, service, signed, signature = m.group(2), m.group(3), m.group(4), m.group(5), m.group(6)
        if secret_id != self.TENCENT_SECRET_ID:
            return ("AuthFailure.SecretIdNotFound",
                    ("Key does not exist. Check if the key has been deleted or disabled in the console, and if not, "
                     "check if the key is correctly entered. Note that whitespaces should not exist before or after "
                     "the key."))
        try:
            stamp = int(req.headers.get("X-TC-Timestamp", ""))
        except ValueError:
            return "AuthFailure.InvalidAuthorization", "Authorization in the request header is invalid."
        if abs(time.time() - stamp) > 300:
            return ("AuthFailure.SignatureExpire",
                    ("Signature expired. Timestamp and server time cannot differ by more than five minutes. "
                     "Please ensure your current local time matches the standard time."))
        names = [n.strip().lower() for n in signed.split(";")]
        if "content-type" not in names or "host" not in names or names != sorted(names):
            return "AuthFailure.InvalidAuthorization", "Authorization in the request header is invalid."
        canonical_headers = "".join(f"{n}:{(req.headers.get(n) or '').strip().lower()}\n" for n in names)
        canonical_query = "" if req.method == "POST" else req.query_raw
        payload = b"UNSIGNED-PAYLOAD" if req.headers.get("X-TC-Content-SHA256") == "UNSIGNED-PAYLOAD" else req.body
        canonical = "\n".join([req.method, req.path, canonical_query, canonical_headers, ";".join(names),
                               _sha256_hex(payload)])
        scope = f"{date}/{service}/tc3_request"
        string_to_sign = f"TC3-HMAC-SHA256\n{stamp}\n{scope}\n{_sha256_hex(canonical.encode('utf-8'))}"
        key = _hmac(_hmac(_hmac(("TC3" + self.TENCENT_SECRET_KEY).encode(), date), service), "tc3_request")
        expected = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
        utc_date = datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d")
        if (not hmac.compare_digest(expected, signature.lower()) or date != utc_date
                or (expected_service and service != expected_service)):
            return ("AuthFailure.SignatureFailure",
                    "The provided credentials could not be validated. Please check your signature is correct.")
        return None

    def _tencent(self, req, service, action, mode):
        rid = str(uuid.uuid4())

        def error(code, message):
            return self._json(200, {"Response": {"Error": {"Code": code, "Message": message}, "RequestId": rid}},
                              _TENCENT_CT, code, message)

        expected_action, product, version = (("SendSms", "sms", "2021-01-11") if service == "tencent_sms"
                                             else ("SendTtsVoice", "vms", "2020-09-02"))
        problem = self._tc3_verify(req, product if action in (expected_action, "DescribeSmsSignList") else None)
        if problem:
            return error(*problem)
        if service == "tencent_sms" and action == "DescribeSmsSignList":  # a key check: sends nothing
            body = req.json() or {}
            return self._json(200, {"Response": {"DescribeSignListStatusSet": [
                {"SignId": i, "International": body.get("International", 0), "StatusCode": 0, "ReviewReply": "", "SignName": self.SMS_SIGN,
                 "CreateTime": 1767600000, "QualificationId": 1, "SmsSignType": 1} for i in body.get("SignIdSet") or []],
                "RequestId": rid}}, _TENCENT_CT, "Ok", "")
        if action != expected_action:
            return error("InvalidAction", "接口不存在。")
        if req.headers.get("X-TC-Version") != version:
            return error("NoSuchVersion", "接口版本不存在。")
        region = req.headers.get("X-TC-Region")
        if not region:
            return error("MissingParameter", "缺少参数错误。")
        if region not in ("ap-guangzhou", "ap-beijing", "ap-nanjing"):
            return error("UnsupportedRegion", "接口不支持所传地域。")
        if mode == "throttled":
            return error("RequestLimitExceeded", "请求的次数超过了频率限制。")
        body = req.json()
        if body is None:
            return error("FailedOperation.JsonParseFail", "解析请求包体时候失败。")
        if service == "tencent_sms":
            return self._tencent_sms(body, mode, error, rid)
        return self._tencent_voice(body, mode, error, rid)

    @staticmethod
    def _tc_phone(raw):
        s = str(raw).strip().replace(" ", "").replace("-", "")
        if re.fullmatch(r"1[3-9]\d{9}", s):
            s = "+86" + s
        elif s.startswith("0086"):
            s = "+86" + s[4:]
        elif re.fullmatch(r"861[3-9]\d{9}", s):
            s = "+" + s
        if not s.startswith("+"):
            return s, "", False
        for cc, iso, pattern in _TC_COUNTRIES:
            if s[1:].startswith(cc):
                return s, iso, bool(re.fullmatch(pattern, s[1 + len(cc):]))
        return s, "", False

    def _tencent_sms(self, p, mode, error, rid):
        app = p.get("SmsSdkAppId")
        if not app:
            return error("MissingParameter", "缺少参数错误。")
        if str(app) != self.TENCENT_SMS_APP:
            return error("InvalidParameterValue.SdkAppIdNotExist", "SdkAppId 不存在。")
        phones = p.get("PhoneNumberSet") or []
        if not isinstance(phones, list) or not phones:
            return error("MissingParameter.EmptyPhoneNumberSet", "传入的号码列表为空，请确认您的参数中是否传入号码。")
        if len(phones) > self.TENCENT_MAX_NUMBERS:
            return error("LimitExceeded.PhoneNumberCountLimit",
                         "调用接口单次提交的手机号个数超过200个，请遵守 API 接口输入参数描述。")
        template_id = p.get("TemplateId")
        if not template_id:
            return error("MissingParameter", "缺少参数错误。")
        params = [str(v) for v in (p.get("TemplateParamSet") or [])]
        sign = p.get("SignName")
        context = p.get("SessionContext") or ""
        parsed = [self._tc_phone(n) for n in phones]
        domestic = any(ok and iso == "CN" for _, iso, ok in parsed)
        abroad = any(ok and iso != "CN" for _, iso, ok in parsed)
        if domestic and abroad:
            return error("UnsupportedOperation.ContainDomesticAndInternationalPhoneNumber",
                         "群发请求里既有国内手机号也有国际手机号。")
        with self._lock:
            tpl = self._templates["tencent_sms"].get(str(template_id))
            sign_ok = sign in self._signs.get("tencent_sms", ())
        if tpl is not None and mode != "template_rejected":
            if not tpl.international and abroad:
                return error("UnsupportedOperation.ChineseMainlandTemplateToGlobalPhone",
                             "国内短信模板不支持发送国际/港澳台手机号。发送国际/港澳台手机号请使用国际/港澳台短信正文模板。")
            if tpl.international and domestic:
                return error("UnsupportedOperation.GlobalTemplateToChineseMainlandPhone",
                             "国际/港澳台短信模板不支持发送国内手机号。发送国内手机号请使用国内短信正文模板。")
        # one verdict for the template, applied to every well-formed number
        verdict, text = None, None
        if mode == "rate_limit":
            verdict = "LimitExceeded.PhoneNumberThirtySecondLimit"
        elif mode == "template_rejected" or tpl is None:
            verdict = "FailedOperation.TemplateIncorrectOrUnapproved"
        elif (domestic or sign) and not sign_ok:
            verdict = "FailedOperation.SignatureIncorrectOrUnapproved"
        elif len(params) != len(tpl.variables):
            verdict = "FailedOperation.TemplateParamSetNotMatchApprovedTemplate"
        elif tpl.kind == "code" and not all(re.fullmatch(r"\d{0,6}", v) for v in params):
            verdict = "InvalidParameterValue.TemplateParameterFormatError"
        elif any(len(v) > (tpl.limits.get(n) or self.TENCENT_PARAM_MAX or len(v))
                 for n, v in zip(tpl.variables, params)):
            verdict = "InvalidParameterValue.TemplateParameterLengthLimit"
        elif any(_URL.search(v) for v in params):
            verdict = "InvalidParameterValue.ProhibitedUseUrlInTemplateParameter"
        else:
            text = self._render(tpl.content, params, "tencent")
            if text is not None and sign:
                text = f"【{sign}】{text}"
            if text is not None and len(text) > self.TENCENT_SMS_MAX:
                verdict, text = "InvalidParameterValue.ContentLengthLimit", None
        now = self.now()
        statuses = []
        with self._lock:
            for e164, iso, ok in parsed:
                code = verdict
                if mode == "invalid_number" or not ok:
                    code = "InvalidParameterValue.IncorrectPhoneNumber"
                if code is None and "tencent_sms" in self._freq:
                    day = datetime.fromtimestamp(now, _CHINA).date().isoformat()
                    if self._freq_check(("tencent_sms", e164, template_id, tuple(params)),
                                        [(30, 1, 1)], now):
                        code = "LimitExceeded.PhoneNumberThirtySecondLimit"
                    elif len(self._history.get(("tencent_sms_day", e164, day), ())) >= 2:
                        code = "LimitExceeded.PhoneNumberDailyLimit"
                    else:
                        self._freq_note(("tencent_sms", e164, template_id, tuple(params)), now)
                        self._freq_note(("tencent_sms_day", e164, day), now)
                if code is None:
                    fee = 1
                    if text is not None and iso == "CN":
                        fee = 1 if len(text) <= 70 else math.ceil(len(text) / 67)
                    serial = f"{_digits(4)}:{_digits(30)}"
                    statuses.append({"SerialNo": serial, "PhoneNumber": e164, "Fee": fee, "SessionContext": context,
                                     "Code": "Ok", "Message": "send success", "IsoCode": iso})
                    self._record("tencent_sms", to=e164, template=str(template_id), params=list(params), sign=sign,
                                 text=text, id=serial, iso_code=iso, session_context=context)
                else:
                    statuses.append({"SerialNo": "", "PhoneNumber": e164, "Fee": 0, "SessionContext": context,
                                     "Code": code, "Message": _TC_STATUS_MESSAGES[code], "IsoCode": iso})
        first_bad = next((s for s in statuses if s["Code"] != "Ok"), None)
        code = first_bad["Code"] if first_bad else "Ok"
        reply = self._json(200, {"Response": {"SendStatusSet": statuses, "RequestId": rid}}, _TENCENT_CT, code,
                           first_bad["Message"] if first_bad else "send success")
        return reply

    def _tencent_voice(self, p, mode, error, rid):
        app = p.get("VoiceSdkAppid")
        if not app or not p.get("CalledNumber") or not p.get("TemplateId"):
            return error("MissingParameter", "缺少参数错误。")
        if str(app) != self.TENCENT_VOICE_APP:
            return error("InvalidParameterValue.SdkAppidNotExist", "SDK AppID 不存在。")
        if mode == "rate_limit":
            return error("LimitExceeded.DeliveryFrequencyLimit",
                         "下发语音消息时命中频率限制策略，如需申请不受频率限制的测试号码或更改限制策略，请联系我们。")
        e164, iso, ok = self._tc_phone(p["CalledNumber"])
        if mode == "invalid_number" or not ok or iso != "CN":
            return error("InvalidParameterValue.CalledNumberVerifyFail", "被叫手机号码格式校验失败。")
        params = [str(v) for v in (p.get("TemplateParamSet") or [])]
        with self._lock:
            tpl = self._templates["tencent_voice"].get(str(p["TemplateId"]))
        if mode == "template_rejected" or tpl is None or len(params) != len(tpl.variables):
            return error("FailedOperation.TemplateIncorrectOrUnapproved",
                         "模板未审核或请求的内容与审核通过的模板内容不匹配，请参见1014错误详解。")
        text = self._render(tpl.content, params, "tencent")
        too_long = any(tpl.limits.get(n) and len(v) > tpl.limits[n] for n, v in zip(tpl.variables, params))
        if too_long or len(text if text is not None else "".join(params)) > self.TENCENT_VOICE_MAX:
            return error("InvalidParameterValue.ContentLengthLimit",
                         "语音模板中单个变量长度超过限制，如需调整限制，请联系我们。")
        play = p.get("PlayTimes")
        if play is not None and (not isinstance(play, int) or not 1 <= play <= 3):
            return error("FailedOperation.InvalidParameters", "无效参数，请核查发送的请求参数是否为对应 API 所需参数。")
        context = p.get("SessionContext") or ""
        call_id = str(uuid.uuid4())
        with self._lock:
            self._record("tencent_voice", to=e164, template=str(p["TemplateId"]), params=params, text=text,
                         id=call_id, session_context=context)
        return self._json(200, {"Response": {"SendStatus": {"CallId": call_id, "SessionContext": context},
                                             "RequestId": rid}}, _TENCENT_CT, "Ok", "")

    def _ep_tencent_sms(self, req, action, mode):
        return self._tencent(req, "tencent_sms", action, mode)

    def _ep_tencent_voice(self, req, action, mode):
        return self._tencent(req, "tencent_voice", action, mode)

    # =============================================================================================
    # WeChat official account
    # =============================================================================================
    @staticmethod
    def _rid():
        return f"{secrets.token_hex(4)}-{secrets.token_hex(4)}-{secrets.token_hex(4)}"

    def _wx(self, errcode, errmsg, **extra):
        if errcode:
            errmsg = f"{errmsg} rid: {self._rid()}"
        return self._json(200, {"errcode": errcode, "errmsg": errmsg, **extra}, _WECHAT_CT, errcode, errmsg)

    def _mint(self, service):
        value = secrets.token_urlsafe(96)
        now = self.now()
        with self._lock:
            if service == "wechat":
                for t in self._tokens[service].values():
                    if t.superseded_at is None:
                        t.superseded_at = now
            self._tokens[service][value] = _Token(value, now + self.TOKEN_TTL)
            self._issued[service] += 1
        return value

    def _check_token(self, service, value):
        if not value:
            return 41001, "access_token missing"
        now = self.now()
        with self._lock:
            t = self._tokens[service].get(value)
            if t is None:
                return 40014, "invalid access_token"
            if t.expired or now >= t.expires_at:
                return 42001, "access_token expired"
            if t.superseded_at is not None and now > t.superseded_at + self.WECHAT_TOKEN_OVERLAP:
                return 40001, "invalid credential, access_token is invalid or not latest"
        return None

    def _expire(self, service, value):
        with self._lock:
            t = self._tokens[service].get(value)
            if t is not None:
                t.expired = True

    def _ep_wechat(self, req, action, mode):
        if action == "token":
            q = req.query
            if q.get("grant_type") != "client_credential":
                return self._wx(40002, "invalid grant_type")
            if q.get("appid") != self.WECHAT_APPID:
                return self._wx(40013, "invalid appid")
            if q.get("secret") != self.WECHAT_SECRET:
                return self._wx(40125, "invalid appsecret")
            if mode == "rate_limit":
                return self._wx(45009, "reach max api daily quota limit")
            token = self._mint("wechat")
            return self._json(200, {"access_token": token, "expires_in": self.TOKEN_TTL}, _WECHAT_CT, 0, "ok")
        if action == "oauth_authorize":
            return self._wx_authorize(req)
        if action == "oauth_access_token":
            return self._wx_oauth_token(req)
        token = req.query.get("access_token")
        problem = self._check_token("wechat", token)
        if problem:
            return self._wx(*problem)
        if mode == "token_expired":
            self._expire("wechat", token)
            return self._wx(42001, "access_token expired")
        data = req.json()
        if data is None:
            return self._wx(47001, "data format error")
        if mode == "rate_limit":
            return self._wx(45009, "reach max api daily quota limit")
        touser = data.get("touser")
        with self._lock:
            follower = copy.deepcopy(self._followers.get(touser))
        if mode == "invalid_number" or follower is None:
            return self._wx(40003, "invalid openid")
        if action == "template_send":
            return self._wx_template(data, touser, follower, mode)
        return self._wx_custom(data, touser, follower, mode)

    @staticmethod
    def _wx_value_ok(kind, v):
        if any(ord(c) < 32 for c in v):
            return False
        n = len(v)
        if kind == "thing":
            return n <= 20
        if kind == "short_thing":
            return n <= 5
        if kind == "number":
            return n <= 32 and re.fullmatch(r"\d+(?:\.\d+)?", v) is not None
        if kind == "letter":
            return n <= 32 and re.fullmatch(r"[A-Za-z]+", v) is not None
        if kind == "symbol":
            return n <= 5 and re.fullmatch(_WX_SYMBOL + "+", v) is not None
        if kind == "character_string":
            return n <= 32 and re.fullmatch(r"[\x20-\x7e]+", v) is not None
        if kind == "time":
            return _WX_TIME.fullmatch(v) is not None
        if kind == "date":
            return _WX_DATE.fullmatch(v) is not None
        if kind == "amount":
            return re.fullmatch(r"[¥￥$€£]?\d{1,10}(?:\.\d+)?元?", v) is not None
        if kind == "phone_number":
            return n <= 17 and re.fullmatch(r"[0-9+\-() ]+", v) is not None
        if kind == "car_number":
            return n <= 8 and re.fullmatch(r"[\u3400-\u9fffA-Za-z0-9][A-Za-z0-9]*[\u3400-\u9fffA-Za-z0-9]?", v) is not None
        if kind == "name":
            if _HAN.search(v):
                return n <= 10 and re.fullmatch(r"[\u3400-\u9fffA-Za-z·•]+", v) is not None
            return n <= 20 and re.fullmatch(r"[^\d\u3400-\u9fff]+", v) is not None
        if kind == "phrase":
            return n <= 5 and re.fullmatch(r"[\u3400-\u9fff]+", v) is not None
        if kind == "const":
            return n <= 20
        return True

    def _wx_template(self, data, touser, follower, mode):
        template_id = data.get("template_id")
        with self._lock:
            tpl = self._templates["wechat"].get(str(template_id))
        if mode == "template_rejected" or tpl is None:
            return self._wx(40037, "invalid template_id")
        if mode == "not_following" or not follower["following"]:
            return self._wx(43004, "require subscribe")
        tdata = data.get("data") if isinstance(data.get("data"), dict) else {}
        values = {}
        for key in tpl.variables:
            item = tdata.get(key)
            raw = item.get("value") if isinstance(item, dict) else None
            value = "" if raw is None else str(raw)
            values[key] = value
            m = re.fullmatch(r"([a-z_]+?)(\d+)", key)
            kind = m.group(1) if m and m.group(1) in _WX_KINDS else None
            if kind is None:
                continue  # 历史模板: long values are folded by the client, not refused
            if value == "":
                return self._wx(47003, f"argument invalid! data.{key}.value is empty")
            limit = tpl.limits.get(key)
            if not self._wx_value_ok(kind, value) or (limit is not None and len(value) > limit):
                return self._wx(47003, f"argument invalid! data.{key}.value invalid")
        msgid = int(_digits(19))
        with self._lock:
            self._record("wechat", to=touser, template=str(template_id), params=copy.deepcopy(data.get("data")),
                         text=self._render(tpl.content, values, "wechat"), url=data.get("url"), id=msgid,
                         kind="template", miniprogram=data.get("miniprogram"))
        return self._wx(0, "ok", msgid=msgid)

    def _wx_custom(self, data, touser, follower, mode):
        msgtype = data.get("msgtype")
        body = data.get(msgtype) if isinstance(data.get(msgtype), dict) else None
        if not msgtype or body is None:
            return self._wx(47001, "data format error")
        if msgtype == "text" and not body.get("content"):
            return self._wx(44004, "empty content")
        if mode == "not_following" or not follower["following"]:
            return self._wx(45015, "response out of time limit or subscription is canceled")
        now = self.now()
        with self._lock:
            f = self._followers[touser]
            valid = [i for i in f["interactions"]
                     if 0 <= now - i[1] <= (48 * 3600 if i[0] == "message" else 60)]
            if not valid:
                return self._wx(45015, "response out of time limit or subscription is canceled")
            open_windows = [i for i in valid if i[2] < (5 if i[0] == "message" else 3)]
            if not open_windows:
                return self._wx(45047, "out of response count limit")
            window = max(open_windows, key=lambda i: i[1])
            window[2] += 1
            self._record("wechat", to=touser, template=msgtype, params=copy.deepcopy(body),
                         text=body.get("content") if msgtype == "text" else None, id=None, kind="custom")
        return self._wx(0, "ok")

    def _new_code(self, openid, scope):
        code = secrets.token_hex(16)
        self._oauth_codes[code] = {"openid": openid, "scope": scope, "at": self.now(), "used": False}
        return code

    @staticmethod
    def _page(title, text):
        body = (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{title}</title></head>"
                f"<body><div class=\"weui-msg\"><h2>{text}</h2></div></body></html>").encode()
        return _Reply(200, body, "text/html; charset=utf-8", code="page", message=text)

    def _wx_authorize(self, req):
        q = req.query
        if q.get("appid") != self.WECHAT_APPID or not q.get("redirect_uri"):
            return self._page("微信网页授权", "参数错误")
        if q.get("response_type") != "code":
            return self._page("微信网页授权", "参数错误")
        scope = q.get("scope", "")
        if scope not in ("snsapi_base", "snsapi_userinfo"):
            return self._page("微信网页授权", "scope参数错误或没有scope权限")
        with self._lock:
            openid = self._authorize_as
            if openid is None:
                return self._page("微信网页授权", "请在微信客户端打开链接")
            code = self._new_code(openid, scope)
        redirect = q["redirect_uri"]
        location = redirect + ("&" if "?" in redirect else "?") + urlencode({"code": code, "state": q.get("state", "")})
        return _Reply(302, b"", "text/html", code="302", message="redirect", headers=[("Location", location)])

    def _wx_oauth_token(self, req):
        q = req.query
        if q.get("grant_type") != "authorization_code":
            return self._wx(40002, "invalid grant_type")
        if q.get("appid") != self.WECHAT_APPID:
            return self._wx(40013, "invalid appid")
        if q.get("secret") != self.WECHAT_SECRET:
            return self._wx(40125, "invalid appsecret")
        now = self.now()
        with self._lock:
            c = self._oauth_codes.get(q.get("code", ""))
            if c is None or now - c["at"] > self.OAUTH_CODE_TTL:
                return self._wx(40029, "invalid code")
            if c["used"]:
                return self._wx(40163, "code been used")
            c["used"] = True
            access, refresh = secrets.token_urlsafe(64), secrets.token_urlsafe(64)
            self._oauth_tokens[access] = c["openid"]
        return self._json(200, {"access_token": access, "expires_in": self.TOKEN_TTL, "refresh_token": refresh,
                                "openid": c["openid"], "scope": c["scope"]}, _WECHAT_CT, 0, "ok")

    # =============================================================================================
    # WeCom (企业微信) and its group robots
    # =============================================================================================
    def _wc(self, errcode, errmsg, client="127.0.0.1", **extra):
        if errcode:
            errmsg = (f"{errmsg}, hint: [{int(time.time())}{_digits(6)}], from ip: {client}, "
                      f"more info at https://open.work.weixin.qq.com/devtool/query?e={errcode}")
        return self._json(200, {"errcode": errcode, "errmsg": errmsg, **extra}, _WECOM_CT, errcode, errmsg)

    def _ep_wecom(self, req, action, mode):
        ip = req.client
        if action == "gettoken":
            if req.query.get("corpid") != self.WECOM_CORPID:
                return self._wc(40013, "invalid corpid", ip)
            if req.query.get("corpsecret") != self.WECOM_SECRET:
                return self._wc(40001, "invalid credential", ip)
            if mode == "rate_limit":
                return self._wc(45009, "api freq out of limit", ip)
            token = self._mint("wecom")
            return self._json(200, {"errcode": 0, "errmsg": "ok", "access_token": token,
                                    "expires_in": self.TOKEN_TTL}, _WECOM_CT, 0, "ok")
        token = req.query.get("access_token")
        problem = self._check_token("wecom", token)
        if problem:
            return self._wc(*problem, ip)
        if mode == "token_expired":
            self._expire("wecom", token)
            return self._wc(42001, "access_token expired", ip)
        data = req.json()
        if data is None:
            return self._wc(47001, "data format error", ip)
        if str(data.get("agentid")) != str(self.WECOM_AGENT):
            return self._wc(40056, "invalid agentid", ip)
        if mode == "rate_limit":
            return self._wc(45009, "api freq out of limit", ip)
        msgtype = data.get("msgtype")
        body = data.get(msgtype) if isinstance(data.get(msgtype), dict) else None
        if msgtype not in ("text", "textcard", "markdown") or body is None:
            return self._wc(40008, "invalid message type", ip)
        sent = dict(body)
        if msgtype == "text":
            if not body.get("content"):
                return self._wc(44004, "empty content", ip)
            sent["content"] = _truncate_bytes(str(body["content"]), 2048)
            text, url = sent["content"], None
        elif msgtype == "markdown":
            if not body.get("content"):
                return self._wc(44004, "empty content", ip)
            if len(str(body["content"]).encode()) > 2048:
                return self._wc(40058, "markdown.content exceed max length 2048. invalid Request Parameter", ip)
            text, url = str(body["content"]), None
        else:
            if not body.get("title") or not body.get("description") or not body.get("url"):
                return self._wc(40058, "textcard title, description and url are required. invalid Request Parameter",
                                ip)
            if len(str(body["url"]).encode()) > 2048:
                return self._wc(40058, "textcard.url exceed max length 2048. invalid Request Parameter", ip)
            sent["title"] = _truncate_bytes(str(body["title"]), 128)
            sent["description"] = _truncate_bytes(str(body["description"]), 512)
            sent["btntxt"] = str(body.get("btntxt") or "详情")[:4]
            text, url = f"{sent['title']}\n{sent['description']}", str(body["url"])
        wanted = [u for u in str(data.get("touser") or "").split("|") if u.strip()]
        with self._lock:
            members = dict(self._members)
        if "@all" in wanted:
            valid, invalid = list(members.values()), []
        else:
            valid = [members[u.strip().lower()] for u in wanted if u.strip().lower() in members]
            invalid = [u.strip().lower() for u in wanted if u.strip().lower() not in members]
        if mode == "invalid_number":
            valid, invalid = [], [u.strip().lower() for u in wanted]
        parties = [x for x in str(data.get("toparty") or "").split("|") if x.strip()]
        tags = [x for x in str(data.get("totag") or "").split("|") if x.strip()]
        extra = {"invaliduser": "|".join(invalid), "invalidparty": "|".join(parties), "invalidtag": "|".join(tags),
                 "unlicenseduser": ""}
        if not valid:
            return self._wc(81013, "user & party & tag all invalid", ip, **extra)
        msgid = secrets.token_urlsafe(48)
        now = self.now()
        with self._lock:
            for userid in dict.fromkeys(valid):
                if "wecom" in self._freq:
                    key = ("wecom", userid.lower())
                    if self._freq_check(key, [(60, 30, 1), (3600, 1000, 1)], now):
                        continue  # documented: "超过部分会被丢弃不下发" - silently dropped
                    self._freq_note(key, now)
                self._record("wecom", to=userid, template=msgtype, params=copy.deepcopy(body), text=text, url=url,
                             id=msgid, title=sent.get("title"))
        return self._wc(0, "ok", ip, **extra, msgid=msgid)

    def _ep_wecom_robot(self, req, action, mode):
        ip = req.client
        key = req.query.get("key", "")
        with self._lock:
            known = key in self._robots
        if not known:
            return self._wc(93000, "invalid webhook url", ip)
        if mode == "rate_limit":
            return self._wc(45009, "api freq out of limit", ip)
        data = req.json()
        if data is None:
            return self._wc(47001, "data format error", ip)
        msgtype = data.get("msgtype")
        body = data.get(msgtype) if isinstance(data.get(msgtype), dict) else None
        if msgtype not in ("text", "markdown", "markdown_v2", "image", "news", "file", "voice", "template_card") \
                or body is None:
            return self._wc(40008, "invalid message type", ip)
        text = None
        if msgtype in ("text", "markdown", "markdown_v2"):
            content = str(body.get("content") or "")
            if not content:
                return self._wc(44004, "empty content", ip)
            limit = 2048 if msgtype == "text" else 4096
            if len(content.encode("utf-8")) > limit:
                return self._wc(40058, f"{msgtype}.content exceed max length {limit}. invalid Request Parameter", ip)
            text = content
        now = self.now()
        with self._lock:
            hits = self._history.setdefault(("wecom_robot", key), deque())
            while hits and now - hits[0] >= 60:
                hits.popleft()
            if len(hits) >= self.ROBOT_PER_MINUTE:
                return self._wc(45009, "api freq out of limit", ip)
            hits.append(now)
            self._record("wecom_robot", to=key, template=msgtype, params=copy.deepcopy(body), text=text, id=None)
        return self._wc(0, "ok", ip)
