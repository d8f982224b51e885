"""The company's WeChat official account (服务号) through wechatpy: template messages to followers
who bound their portal account, 客服消息 replies, and web OAuth (snsapi_base) for the binding.

PORTAL_WECHAT_URL=wechat://APPID:APPSECRET@api.weixin.qq.com?token=T&aes_key=K
The whole client honours the host, the token request included (wechatpy 1.8 hard-codes
https://api.weixin.qq.com/cgi-bin/token in fetch_access_token, so it is overridden here).
"""
import threading
from urllib.parse import quote

from portal.notify.channels import Adapter, PermanentError, Receipt, TransientError, first_bytes

TOKEN_ERRORS = {40001, 40014, 42001}  # invalid or expired access token: fetch a new one once and resend
TRANSIENT_CODES = {-1, 45009, 45011, 45047, 45033}  # system busy, API quota and frequency limits
# Template fields by their type prefix: the longest value each takes (类目模板 rules).
FIELD_LIMITS = {"thing": 20, "character_string": 32, "phrase": 5, "number": 32, "letter": 32, "symbol": 5, "amount": 32, "car_number": 8, "name": 10, "phone_number": 17}


def field_limit(key):
    base = key.rstrip("0123456789")
    return FIELD_LIMITS.get(base, 20)


def make_client(endpoint, timeout, redis_url, enterprise=False, key_prefix="portal"):
    """A wechatpy client whose every request, the token's too, goes to the configured host."""
    from wechatpy.session.memorystorage import MemoryStorage

    if enterprise:
        from wechatpy.enterprise import WeChatClient as Base
    else:
        from wechatpy import WeChatClient as Base

    base_url = f"{endpoint.base}/cgi-bin/"

    class Client(Base):
        API_BASE_URL = base_url

        def fetch_access_token(self):
            if enterprise:
                return self._fetch_access_token(url=base_url + "gettoken", params={"corpid": self.corp_id, "corpsecret": self.secret})
            return self._fetch_access_token(url=base_url + "token", params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret})

    storage = MemoryStorage()
    if redis_url:
        import redis
        from wechatpy.session.redisstorage import RedisStorage

        storage = RedisStorage(redis.Redis.from_url(redis_url), prefix=f"{key_prefix}-wechatpy")  # one token for every worker and host
    return Client(endpoint.user, endpoint.password, session=storage, timeout=timeout, auto_retry=False)


def call(client, lock, action):
    """One API call: a token error refreshes the token once and tries again; errors are sorted."""
    import requests
    from wechatpy.exceptions import WeChatClientException

    for attempt in (1, 2):
        try:
            result = action()
        except WeChatClientException as exc:
            code = exc.errcode
            if code is None:  # HTTP error status
                response = getattr(exc, "response", None)
                status = getattr(response, "status_code", "")
                raise TransientError(f"http_{status}", first_bytes(getattr(response, "content", b"") or b"")) from None
            if code in TOKEN_ERRORS and attempt == 1:
                with lock:
                    client.fetch_access_token()
                continue
            if code in TRANSIENT_CODES or code in TOKEN_ERRORS:
                raise TransientError(code, exc.errmsg) from None
            raise PermanentError(code, exc.errmsg) from None
        except requests.RequestException as exc:
            raise TransientError("network", first_bytes(str(exc))) from None
        if not isinstance(result, dict):  # wechatpy hands back the raw response when it is not JSON
            raise TransientError("bad_answer", first_bytes(getattr(result, "content", repr(result))))
        return result
    raise TransientError(42001, "access token refused twice")  # pragma: no cover - the loop returns or raises


class TokenAdapter(Adapter):
    """An adapter over a wechatpy client made once per process, its access token cached until it
    expires (in Redis when PORTAL_REDIS_URL is set, so every worker and host shares one)."""

    enterprise = False

    def __init__(self, endpoint, timeout, redis_url=None, key_prefix="portal"):
        self.endpoint = endpoint
        self.timeout = timeout
        self.redis_url = redis_url
        self.key_prefix = key_prefix
        self._client = None
        self._lock = threading.RLock()

    def client(self):
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = make_client(self.endpoint, self.timeout, self.redis_url, enterprise=self.enterprise,
                                               key_prefix=self.key_prefix)
        return self._client

    def _token(self):
        """The cached token, fetched when missing or expiring (never per message)."""
        try:
            with self._lock:
                return self.client().access_token
        except Exception as exc:
            raise _token_error(exc) from None

    def check(self):
        with self._lock:
            try:
                result = self.client().fetch_access_token()
            except Exception as exc:
                raise _token_error(exc) from None
        return f"access_token fetched, expires in {result.get('expires_in')} s"


class WeChatOfficialAccount(TokenAdapter):
    channel = "wechat"
    provider = "wechat"

    def __init__(self, endpoint, timeout, redis_url=None, key_prefix="portal"):
        super().__init__(endpoint, timeout, redis_url, key_prefix)
        self.appid = endpoint.user
        self.token = endpoint.param("token")
        self.aes_key = endpoint.param("aes_key")

    def send(self, message):
        """A template message (`message.template` is the template id set for the kind), or a
        客服消息 within WeChat's 48 hours when `message.custom`."""
        if message.custom:
            return self.send_text(message.address, message.body)
        if not message.template:
            raise PermanentError("no_template", "No WeChat template id is set for this kind (Administration → Channels).")
        self._token()
        data = {key: {"value": value} for key, value in message.fields.items()}
        result = call(self.client(), self._lock, lambda: self.client().message.send_template(message.address, message.template, data, url=message.url or None))
        return Receipt(str(result.get("msgid", "")))

    def send_text(self, openid, text):
        """A 客服消息 within WeChat's 48 hours after the follower last wrote (45015 after that:
        permanent, so the next channel takes over)."""
        self._token()
        call(self.client(), self._lock, lambda: self.client().message.send_text(openid, text))
        return Receipt(f"custom:{openid}")

    def authorize_url(self, redirect_uri, state):
        """Where the account's menu sends a follower: WeChat asks nothing (snsapi_base) and comes back with a code."""
        host = self.endpoint.base.replace("api.weixin.qq.com", "open.weixin.qq.com")
        return (f"{host}/connect/oauth2/authorize?appid={self.appid}&redirect_uri={quote(redirect_uri, safe='')}"
                f"&response_type=code&scope=snsapi_base&state={quote(state, safe='')}#wechat_redirect")

    def openid_for_code(self, code):
        """The follower's openid for an OAuth code (a code works once, for five minutes)."""
        import requests

        try:
            response = requests.get(f"{self.endpoint.base}/sns/oauth2/access_token", timeout=self.timeout, params={
                "appid": self.appid, "secret": self.endpoint.password, "code": code, "grant_type": "authorization_code",
            })
            result = response.json()
        except ValueError:
            raise TransientError("bad_answer", first_bytes(response.content)) from None
        except requests.RequestException as exc:
            raise TransientError("network", first_bytes(str(exc))) from None
        if result.get("errcode"):
            raise PermanentError(result["errcode"], result.get("errmsg", ""))
        return result["openid"]

    def describe(self):
        return f"WeChat official account {self.appid} at {self.endpoint.base}"


def _token_error(exc):
    from wechatpy.exceptions import WeChatClientException

    if isinstance(exc, WeChatClientException) and exc.errcode is not None:
        if exc.errcode in TRANSIENT_CODES:
            return TransientError(exc.errcode, exc.errmsg)
        return PermanentError(exc.errcode, exc.errmsg)  # 40013 invalid appid, 40125 invalid secret, 40164 IP not whitelisted
    if isinstance(exc, WeChatClientException):
        response = getattr(exc, "response", None)
        return TransientError(f"http_{getattr(response, 'status_code', '')}", first_bytes(getattr(response, "content", b"") or b""))
    if isinstance(exc, ValueError):
        return TransientError("bad_answer", first_bytes(str(exc)))
    return TransientError("network", first_bytes(str(exc)))
