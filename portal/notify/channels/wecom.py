"""企业微信 (WeCom) for staff: application messages (a textcard linking to the ticket) to members by
their userid, and a group robot per department for departmental alerts.

PORTAL_WECOM_URL=wecom://CORPID:SECRET@qyapi.weixin.qq.com?agent=AGENTID
A robot is addressed by its webhook key (or its whole webhook URL, from which the key is taken),
set per department on the admin page; it needs no corp secret, only the host.
"""
from urllib.parse import parse_qs, urlsplit

from portal.notify.channels import Adapter, PermanentError, Receipt, TransientError, first_bytes
from portal.notify.channels.wechat import TRANSIENT_CODES, TokenAdapter, call

TITLE_BYTES = 128
DESCRIPTION_BYTES = 512
MARKDOWN_BYTES = 4096


def cut_bytes(text, limit):
    """Text cut to `limit` UTF-8 bytes, ending in "…" when cut."""
    data = (text or "").encode()
    if len(data) <= limit:
        return text or ""
    return data[: limit - 3].decode("utf-8", "ignore") + "…"


class WeComApp(TokenAdapter):
    channel = "wecom"
    provider = "wecom"
    enterprise = True

    def __init__(self, endpoint, timeout, redis_url=None, key_prefix="portal"):
        super().__init__(endpoint, timeout, redis_url, key_prefix)
        self.agent = int(endpoint.param("agent"))

    def send(self, message):
        self._token()
        card = {
            "touser": message.address,
            "msgtype": "textcard",
            "agentid": self.agent,
            "textcard": {
                "title": cut_bytes(message.subject, TITLE_BYTES),
                "description": cut_bytes(message.body, DESCRIPTION_BYTES),
                "url": message.url,
                "btntxt": "详情",
            },
        }
        result = call(self.client(), self._lock, lambda: self.client().post("message/send", data=card))
        if result.get("invaliduser"):
            raise PermanentError(81013, f"not a member the application can reach: {result['invaliduser']}")
        return Receipt(str(result.get("msgid", "")))

    def describe(self):
        return f"企业微信 corp {self.endpoint.user}, application {self.agent}, at {self.endpoint.base}"


def robot_key(address):
    """A robot's webhook key from what the admin typed: the key itself or the whole webhook URL."""
    address = (address or "").strip()
    if "://" in address:
        return (parse_qs(urlsplit(address).query).get("key") or [""])[0]
    return address


class WeComRobot(Adapter):
    channel = "wecom_robot"
    provider = "wecom"

    def __init__(self, endpoint, timeout):
        import requests

        self.endpoint = endpoint
        self.timeout = timeout
        self.http = requests.Session()

    def send(self, message):
        import requests

        key = robot_key(message.address)
        if not key:
            raise PermanentError(93000, "no robot webhook key")
        text = f"**{message.subject}**\n{message.body}" + (f"\n[查看详情]({message.url})" if message.url else "")
        payload = {"msgtype": "markdown", "markdown": {"content": cut_bytes(text, MARKDOWN_BYTES)}}
        try:
            response = self.http.post(f"{self.endpoint.base}/cgi-bin/webhook/send", params={"key": key}, json=payload, timeout=self.timeout)
        except requests.RequestException as exc:
            raise TransientError("network", first_bytes(str(exc))) from None
        if response.status_code >= 500:
            raise TransientError(f"http_{response.status_code}", first_bytes(response.content))
        try:
            result = response.json()
        except ValueError:
            raise TransientError("bad_answer", first_bytes(response.content)) from None
        code = result.get("errcode", 0) if isinstance(result, dict) else None
        if code is None:
            raise TransientError("bad_answer", first_bytes(response.content))
        if code == 0:
            return Receipt("")
        if code in TRANSIENT_CODES:
            raise TransientError(code, result.get("errmsg", ""))
        raise PermanentError(code, result.get("errmsg", ""))

    def check(self):
        return f"robots post to {self.endpoint.base}/cgi-bin/webhook/send (nothing to fetch)"

    def describe(self):
        return f"企业微信 group robots at {self.endpoint.base}"
