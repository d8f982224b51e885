"""Channels: one adapter per provider behind one interface, each built from a URL in the environment.

    PORTAL_MAIL_URL    smtp://host:port, smtps://user:pass@host:465, smtp+starttls://user:pass@host:587
    PORTAL_SMS_URL     aliyun://KEY_ID:KEY_SECRET@dysmsapi.aliyuncs.com?sign=签名
                       tencent://SECRET_ID:SECRET_KEY@sms.tencentcloudapi.com?app=SDKAPPID&sign=签名&region=ap-guangzhou
    PORTAL_WECHAT_URL  wechat://APPID:APPSECRET@api.weixin.qq.com?token=T&aes_key=K
    PORTAL_WECOM_URL   wecom://CORPID:SECRET@qyapi.weixin.qq.com?agent=AGENTID

A `+http` suffix on the scheme (`aliyun+http://id:secret@127.0.0.1:5490?sign=X`) speaks plain HTTP
to that host and port (a local stand-in or a private gateway); without it, HTTPS to the named host.
Unset, a channel writes what it would send to the log.

Adapters translate and nothing else: no database, no retries, no decisions. `send(message)`
returns a Receipt with the provider's id or raises TransientError (try again later) or
PermanentError (never again; the next channel in the person's order is tried), each carrying the
provider's code and message. The worker decides what happens next.
"""
import abc
import logging
import threading
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

log = logging.getLogger("portal.notify")

VARIABLES = {
    "email": "PORTAL_MAIL_URL",
    "sms": "PORTAL_SMS_URL",
    "wechat": "PORTAL_WECHAT_URL",
    "wecom": "PORTAL_WECOM_URL",
    "wecom_robot": "PORTAL_WECOM_URL",
    "voice": "PORTAL_VOICE_URL",
}
CONFIG_KEYS = {"email": "MAIL_URL", "sms": "SMS_URL", "wechat": "WECHAT_URL", "wecom": "WECOM_URL", "wecom_robot": "WECOM_URL", "voice": "VOICE_URL"}
SCHEMES = {
    "email": ("smtp", "smtps", "smtp+starttls"),
    "sms": ("aliyun", "tencent"),
    "wechat": ("wechat",),
    "wecom": ("wecom",),
    "wecom_robot": ("wecom",),
    "voice": ("aliyun", "tencent"),
}


@dataclass
class Message:
    """What one delivery says, in the form each channel needs; adapters take what they use."""

    channel: str
    address: str
    kind: str = ""
    subject: str = ""
    body: str = ""
    url: str = ""
    template: str = ""  # SMS template code, WeChat template id, TTS template
    template_intl: str = ""  # SMS to +852/+853/+886 (Tencent approves these templates separately)
    params: list = field(default_factory=list)  # [[name, value], ...] in the template's order
    fields: dict = field(default_factory=dict)  # WeChat template data: {"thing1": "..."}
    reference: str = ""  # our delivery id, passed as OutId / SessionContext where the provider keeps one
    urgent: bool = False
    custom: bool = False  # WeChat: a 客服消息 (text) instead of a template message


@dataclass
class Receipt:
    provider_id: str
    detail: str = ""


class ChannelError(Exception):
    def __init__(self, code, message):
        super().__init__(f"{code}: {message}")
        self.code = str(code or "")[:64]
        self.message = str(message or "")[:2000]


class TransientError(ChannelError):
    """Try again later: network, timeout, HTTP 5xx, rate limits, an answer that is not the API's."""


class PermanentError(ChannelError):
    """Never again on this channel: invalid number, template rejected, not following ..."""


class ConfigError(SystemExit):
    """A malformed channel URL: stops every command with one line naming the variable."""


@dataclass(frozen=True)
class Endpoint:
    scheme: str  # without +http
    plain_http: bool
    user: str
    password: str
    host: str
    port: int | None
    query: dict

    @property
    def netloc(self):
        return f"{self.host}:{self.port}" if self.port else self.host

    @property
    def base(self):
        return f"{'http' if self.plain_http else 'https'}://{self.netloc}"

    def param(self, name, default=""):
        return self.query.get(name, default)


def parse(channel, url):
    """The URL of `channel`'s variable, checked; raises ConfigError naming the variable."""
    variable = VARIABLES[channel]
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"{variable}: not a valid URL ({exc}).") from None
    scheme = parts.scheme.lower()
    plain_http = scheme.endswith("+http")
    if plain_http:
        scheme = scheme[: -len("+http")]
    if scheme not in SCHEMES[channel]:
        raise ConfigError(f"{variable}: unknown scheme {parts.scheme!r}; use one of {', '.join(s + '://' for s in SCHEMES[channel])}.")
    if not parts.hostname:
        raise ConfigError(f"{variable}: the URL names no host.")
    query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    endpoint = Endpoint(scheme, plain_http, unquote(parts.username or ""), unquote(parts.password or ""), parts.hostname, port, query)
    _require(channel, endpoint, variable)
    return endpoint


def _require(channel, e, variable):
    def need(ok, what):
        if not ok:
            raise ConfigError(f"{variable}: {what}.")

    if channel == "email":
        return
    need(e.user and e.password, "give the key or id and its secret as user:password@ in the URL")
    need(not e.param("param_max") or e.param("param_max").isdigit(), "param_max must be a number of characters")
    if channel == "sms":
        need(e.param("sign"), "give the approved SMS signature as ?sign=")
        if e.scheme == "tencent":
            need(e.param("app").isdigit(), "give the SmsSdkAppId as ?app= (digits)")
    if channel == "voice" and e.scheme == "tencent":
        need(e.param("app").isdigit(), "give the VoiceSdkAppid as ?app= (digits)")
    if channel == "wecom":
        need(e.param("agent").isdigit(), "give the application's AgentId as ?agent= (digits)")
    if channel == "wechat" and e.param("aes_key"):
        need(len(e.param("aes_key")) == 43, "aes_key (EncodingAESKey) must be 43 characters")


def check_config(config):
    """Every configured channel URL parses, or ConfigError (create_app calls this)."""
    for channel, key in CONFIG_KEYS.items():
        url = config.get(key)
        if url:
            parse(channel, url)


class Adapter(abc.ABC):
    """The interface every channel implements."""

    channel = ""
    provider = ""

    @abc.abstractmethod
    def send(self, message):
        """Deliver `message`; returns a Receipt or raises TransientError / PermanentError."""

    def check(self):
        """Talk to the provider without sending anything (fetch a token); returns what it answered."""
        return "nothing to check"

    def describe(self):
        return self.provider


class LogAdapter(Adapter):
    """No provider configured: the message goes to the log, as email always did without PORTAL_MAIL_URL."""

    provider = "log"

    def __init__(self, channel):
        self.channel = channel
        self._count = 0
        self._lock = threading.Lock()

    def send(self, message):
        with self._lock:
            self._count += 1
            n = self._count
        text = message.body or message.subject
        log.info("%s (no %s set, printed instead) to %s: %s%s", self.channel, VARIABLES[self.channel], message.address,
                 f"[{message.template}] " if message.template else "", text)
        return Receipt(f"log-{n}")

    def describe(self):
        return f"log (set {VARIABLES[self.channel]} to send)"


def build(channel, config):
    """The adapter for `channel` from the app's configuration (a LogAdapter when unset)."""
    url = config.get(CONFIG_KEYS[channel])
    if not url:
        return LogAdapter(channel)
    endpoint = parse(channel, url)
    timeout = float(config.get("CHANNEL_TIMEOUT", 10))
    if channel == "email":
        from portal.notify.channels.email import SmtpAdapter

        return SmtpAdapter(url, config["MAIL_FROM"], timeout)
    if channel == "sms" and endpoint.scheme == "aliyun":
        from portal.notify.channels.aliyun_sms import AliyunSms

        return AliyunSms(endpoint, timeout)
    if channel == "sms":
        from portal.notify.channels.tencent_sms import TencentSms

        return TencentSms(endpoint, timeout)
    if channel == "voice" and endpoint.scheme == "aliyun":
        from portal.notify.channels.aliyun_voice import AliyunVoice

        return AliyunVoice(endpoint, timeout)
    if channel == "voice":
        from portal.notify.channels.tencent_voice import TencentVoice

        return TencentVoice(endpoint, timeout)
    if channel == "wechat":
        from portal.notify.channels.wechat import WeChatOfficialAccount

        return WeChatOfficialAccount(endpoint, timeout, config.get("REDIS_URL"), config.get("KEY_PREFIX", "portal"))
    if channel == "wecom":
        from portal.notify.channels.wecom import WeComApp

        return WeComApp(endpoint, timeout, config.get("REDIS_URL"), config.get("KEY_PREFIX", "portal"))
    from portal.notify.channels.wecom import WeComRobot

    return WeComRobot(endpoint, timeout)


class Channels:
    """The adapters of one worker process, created once and reused (tokens cached until they expire)."""

    def __init__(self, config):
        self.config = config
        self._adapters = {}
        self._lock = threading.Lock()

    def get(self, channel):
        channel = str(channel)
        adapter = self._adapters.get(channel)
        if adapter is None:
            with self._lock:
                adapter = self._adapters.get(channel)
                if adapter is None:
                    adapter = self._adapters[channel] = build(channel, self.config)
        return adapter

    def configured(self, channel):
        return bool(self.config.get(CONFIG_KEYS[str(channel)]))


def channels_for(app):
    """The app's Channels, made on first use."""
    found = app.extensions.get("portal_channels")
    if found is None:
        found = app.extensions["portal_channels"] = Channels(app.config)
    return found


def shorten(value, limit):
    """A template parameter cut to what the provider allows, ending in "…" (never rejected there)."""
    value = str(value or "")
    if limit and len(value) > limit:
        return value[: max(limit - 1, 0)] + "…"
    return value


def first_bytes(data, n=200):
    """An unexpected answer, for the log: its first bytes, readable."""
    if isinstance(data, bytes):
        data = data[:n].decode("utf-8", "replace")
    return str(data)[:n]
