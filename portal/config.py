"""Defaults only. Secrets and URLs come from the environment (PORTAL_*)."""
import os
from datetime import timedelta


def _env(name, default=None):
    return os.environ.get(f"PORTAL_{name}", default)


class Config:
    SECRET_KEY = _env("SECRET_KEY")  # create_app makes and keeps one in instance/ if unset
    SQLALCHEMY_DATABASE_URI = _env("DATABASE_URL")  # default: SQLite in instance/
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
    SQLALCHEMY_RECORD_QUERIES = False
    DATABASE_CONNECT_TIMEOUT = int(_env("DATABASE_CONNECT_TIMEOUT", "5"))  # seconds (PostgreSQL): an unreachable host fails fast
    RETRY_AFTER_SECONDS = int(_env("RETRY_AFTER_SECONDS", "30"))  # what the 503 page (the database away) asks browsers to wait
    HOTLINE = _env("HOTLINE")  # the hotline the 503 page shows when no process has read the settings yet (default: the policy's)

    MAIL_URL = _env("MAIL_URL")  # smtp://host:port; unset: mail is printed to the log
    MAIL_FROM = _env("MAIL_FROM", "portal@localhost")
    SMS_URL = _env("SMS_URL")  # aliyun://ID:SECRET@dysmsapi.aliyuncs.com?sign=… or tencent://…; unset: logged
    WECHAT_URL = _env("WECHAT_URL")  # wechat://APPID:SECRET@api.weixin.qq.com?token=…&aes_key=…
    WECOM_URL = _env("WECOM_URL")  # wecom://CORPID:SECRET@qyapi.weixin.qq.com?agent=…
    VOICE_URL = _env("VOICE_URL")  # aliyun://…@dyvmsapi.aliyuncs.com?show=… or tencent://…@vms.tencentcloudapi.com?app=…
    CHANNEL_TIMEOUT = float(_env("CHANNEL_TIMEOUT", "10"))  # seconds per provider call
    TELEPHONY_SECRET = _env("TELEPHONY_SECRET")  # the PBX signs its call events with it; unset: they are refused
    REDIS_URL = _env("REDIS_URL")  # shared rate limits across workers
    BASE_URL = _env("BASE_URL", "http://127.0.0.1:5000")  # for links in emails, posters, QR codes
    TIMEZONE = _env("TIMEZONE", "Asia/Shanghai")
    UPLOAD_MAX_BYTES = int(_env("UPLOAD_MAX_BYTES", str(5 * 1024 * 1024)))
    STAFF_IDLE_MINUTES = int(_env("STAFF_IDLE_MINUTES", "30"))
    LOGIN_LIMIT = _env("LOGIN_LIMIT", "5 per 15 minutes")  # failed logins, per account and per address
    SECURE_COOKIES = _env("SECURE_COOKIES", "0") == "1"  # set to 1 behind HTTPS
    PROXY_COUNT = int(_env("PROXY_COUNT", "0"))  # reverse proxies in front: trust their X-Forwarded-*

    MAX_CONTENT_LENGTH = UPLOAD_MAX_BYTES * 4 + 1024 * 1024
    PERMANENT_SESSION_LIFETIME = timedelta(days=30)
    SESSION_REFRESH_EACH_REQUEST = False  # the 30-day cookie is set at sign-in, not re-signed on every page
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    WTF_CSRF_TIME_LIMIT = None
    WTF_CSRF_CHECK_DEFAULT = False  # checked by hooks.csrf_on_writes: the same check, asked of writes only
    WTF_CSRF_SSL_STRICT = False

    BABEL_DEFAULT_LOCALE = "zh_Hans"
    BABEL_DEFAULT_TIMEZONE = TIMEZONE
    LANGUAGES = ("zh_Hans", "en")

    KEY_PREFIX = _env("KEY_PREFIX", "portal")  # of every key kept in Redis: tokens, rate limits, the cache
    RATELIMIT_KEY_PREFIX = _env("RATELIMIT_PREFIX", KEY_PREFIX)
