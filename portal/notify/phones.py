"""Mobile numbers: mainland mobiles (1[3-9] and nine digits) everywhere, and Hong Kong, Macau and
Taiwan mobiles where the configured SMS provider sends there (Tencent Cloud does; Aliyun's SendSms
is mainland only)."""
import re

MAINLAND = re.compile(r"1[3-9]\d{9}")
ABROAD = {"852": re.compile(r"[4-9]\d{7}"), "853": re.compile(r"6\d{7}"), "886": re.compile(r"9\d{8}")}


def normalize(raw):
    """'138 0000 0001', '+86 138-0000-0001' -> '13800000001'; '+852 9123 4567' -> '+85291234567';
    anything else -> None."""
    text = re.sub(r"[\s\-()（）]", "", str(raw or ""))
    if text.startswith("00"):
        text = "+" + text[2:]
    if text.startswith("+86") and MAINLAND.fullmatch(text[3:]):
        return text[3:]
    if MAINLAND.fullmatch(text):
        return text
    if text.startswith("+"):
        for code, pattern in ABROAD.items():
            if text[1:].startswith(code) and pattern.fullmatch(text[1 + len(code):]):
                return text
    return None


def is_mainland(number):
    return bool(number) and MAINLAND.fullmatch(number) is not None


def e164(number):
    """The number with its country code: '+8613800000001', '+85291234567'."""
    return number if number.startswith("+") else "+86" + number


def sends_abroad(config):
    """Whether the configured SMS provider reaches +852/+853/+886 (Tencent Cloud does)."""
    url = (config.get("SMS_URL") or "").lower()
    return url.startswith("tencent")


def check(raw, config):
    """(number, None) or (None, why): for forms that take a mobile number."""
    from flask_babel import lazy_gettext as _l

    number = normalize(raw)
    if number is None:
        return None, _l("Enter a mainland mobile number: 11 digits starting with 13 to 19.") if not sends_abroad(config) else _l(
            "Enter a mainland mobile number (11 digits starting with 13 to 19) or a Hong Kong, Macau or Taiwan mobile with +852, +853 or +886."
        )
    if not is_mainland(number) and not sends_abroad(config):
        return None, _l("The SMS provider configured here sends to mainland mobiles only: enter a number of 11 digits starting with 13 to 19.")
    return number, None
