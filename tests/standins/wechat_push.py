"""WeChat's side of the callback: what WeChat's servers post to an official account's URL.

Built from the documentation, not from the portal's code or wechatpy: the signature is the SHA1 of
the sorted token, timestamp and nonce ("接入指南"); in safe mode (安全模式) the message is
AES-256-CBC encrypted with the key base64-decoded from the 43-character EncodingAESKey plus "=",
the IV its first 16 bytes, the plaintext 16 random bytes + the message's length (4 bytes, network
order) + the message + the AppID, padded PKCS#7 to 32 bytes, and msg_signature is the SHA1 of the
sorted token, timestamp, nonce and ciphertext ("消息加解密说明")."""
import base64
import hashlib
import os
import secrets
import struct
import time
from urllib.parse import urlencode

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes


def sign(*parts):
    return hashlib.sha1("".join(sorted(str(p) for p in parts)).encode()).hexdigest()


def text_xml(openid, content, msg_id, to="gh_portal", at=None):
    return (f"<xml><ToUserName><![CDATA[{to}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{int(at or time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>")


def image_xml(openid, pic_url, media_id, msg_id, to="gh_portal"):
    return (f"<xml><ToUserName><![CDATA[{to}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[image]]></MsgType><PicUrl><![CDATA[{pic_url}]]></PicUrl>"
            f"<MediaId><![CDATA[{media_id}]]></MediaId><MsgId>{msg_id}</MsgId></xml>")


def location_xml(openid, lat, lng, label, msg_id, to="gh_portal"):
    return (f"<xml><ToUserName><![CDATA[{to}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[location]]></MsgType><Location_X>{lat}</Location_X>"
            f"<Location_Y>{lng}</Location_Y><Scale>15</Scale><Label><![CDATA[{label}]]></Label><MsgId>{msg_id}</MsgId></xml>")


def event_xml(openid, event, key=None, to="gh_portal"):
    extra = f"<EventKey><![CDATA[{key}]]></EventKey>" if key is not None else ""
    return (f"<xml><ToUserName><![CDATA[{to}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[{event}]]></Event>{extra}</xml>")


class WeChatPush:
    """Signs (and in safe mode encrypts) what WeChat would post; returns (path with query, body)."""

    def __init__(self, token, aes_key=None, appid=None, path="/wechat/callback"):
        self.token, self.aes_key, self.appid, self.path = token, aes_key, appid, path

    def check(self, echostr="echo-123", at=None):
        timestamp, nonce = str(int(at or time.time())), secrets.token_hex(5)
        query = {"signature": sign(self.token, timestamp, nonce), "timestamp": timestamp, "nonce": nonce, "echostr": echostr}
        return f"{self.path}?{urlencode(query)}"

    def post(self, xml, encrypt=False, at=None, tamper=False):
        timestamp, nonce = str(int(at or time.time())), secrets.token_hex(5)
        query = {"signature": sign(self.token, timestamp, nonce), "timestamp": timestamp, "nonce": nonce, "openid": "x"}
        body = xml.encode()
        if encrypt:
            ciphertext = self.encrypt(xml)
            query.update(encrypt_type="aes", msg_signature=sign(self.token, timestamp, nonce, ciphertext))
            body = f"<xml><ToUserName><![CDATA[gh_portal]]></ToUserName><Encrypt><![CDATA[{ciphertext}]]></Encrypt></xml>".encode()
        if tamper:
            query["signature" if not encrypt else "msg_signature"] = "0" * 40
        return f"{self.path}?{urlencode(query)}", body

    def _key(self):
        return base64.b64decode(self.aes_key + "=")

    def encrypt(self, text):
        key = self._key()
        raw = os.urandom(16) + struct.pack(">I", len(text.encode())) + text.encode() + self.appid.encode()
        pad = 32 - len(raw) % 32
        raw += bytes([pad]) * pad
        encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
        return base64.b64encode(encryptor.update(raw) + encryptor.finalize()).decode()

    def decrypt(self, ciphertext):
        key = self._key()
        decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
        raw = decryptor.update(base64.b64decode(ciphertext)) + decryptor.finalize()
        raw = raw[: -raw[-1]]
        length = struct.unpack(">I", raw[16:20])[0]
        return raw[20 : 20 + length].decode(), raw[20 + length :].decode()


class PBX:
    """A telephone system posting call events to the portal, signed as the portal documents it."""

    def __init__(self, secret):
        self.secret = secret

    def event(self, kind, call_id, caller="", line="400-800-1234", agent="", at=None):
        import hmac
        import json

        body = json.dumps({"event": kind, "call_id": call_id, "caller": caller, "line": line, "agent": agent,
                           **({"at": at} if at is not None else {})}).encode()
        signature = "sha256=" + hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
        return body, {"X-Portal-Signature": signature, "Content-Type": "application/json"}
