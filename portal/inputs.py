"""One rule for what comes in from outside, the same on SQLite and PostgreSQL.

Text holds no control characters: C0 controls other than tab and line feed, DEL and unpaired
surrogates are refused by every form (portal/forms.py gives every field the rule) and by the
routes (the converters below: no such page), and CRLF or a lone CR from a browser's textarea is
a line feed. What only reads (a query string: a search, a filter) and what nobody can correct
(WeChat's messages, the telephone system's events) and whatever a model is given are cleaned
instead, saying so where someone reads it (`clean`; hooks.query_without_controls; database.py).

Whole numbers fit the database's integer (PostgreSQL's `integer`, the type of every id): an id
in a path outside 1..2^31-1 matches no route (404 before any query), a query-string number
outside its range names what cannot exist (404), and a form's number outside it is a field error.
"""
import re

from flask import abort, request
from flask_babel import lazy_gettext as _l
from werkzeug.routing import IntegerConverter, UnicodeConverter

INT_MIN, INT_MAX = -(2**31), 2**31 - 1
# Tab (09), line feed (0a) and carriage return (0d, a line end: see `newlines`) are allowed.
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_LINE_ENDS = re.compile("\r\n?")
_CONTROL_BYTES = re.compile(b"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # never part of a multi-byte UTF-8 character
_WHOLE = re.compile(r"-?[0-9]+")
# A field's error when it held control characters; the form shows the text again without them.
CONTROL_ERROR = _l("Must not contain control characters: they were removed. Check the text and send it again.")


def newlines(text):
    """Line ends as line feeds: browsers send a textarea's as CRLF."""
    return _LINE_ENDS.sub("\n", text) if "\r" in text else text


def has_controls(text):
    return CONTROL.search(text) is not None


def clean(text):
    """The text without control characters and with line feeds for line ends."""
    return CONTROL.sub("", newlines(text))


def without_controls(data):
    """Bytes (UTF-8, an XML message) or text without control characters: XML may not hold them."""
    if isinstance(data, bytes):
        return _CONTROL_BYTES.sub(b"", data)
    return CONTROL.sub("", data)


def whole_number(raw, lo=0, hi=INT_MAX):
    """`raw` (a string) as an int if it is a whole number from `lo` to `hi`, else None."""
    raw = (raw or "").strip()
    if not _WHOLE.fullmatch(raw) or len(raw) > 20:
        return None
    value = int(raw)
    return value if lo <= value <= hi else None


def int_arg(name, default=None, lo=0, hi=INT_MAX):
    """A whole number from the query string. Absent, empty or not a number: `default` (a mistyped
    filter is no filter). A number outside lo..hi names a page that cannot exist: 404."""
    raw = request.args.get(name, "").strip()
    if not _WHOLE.fullmatch(raw):
        return default
    if len(raw) > 20 or not lo <= int(raw) <= hi:
        abort(404)
    return int(raw)


class IdConverter(IntegerConverter):
    """`<int:...>` in a route: ids from 1 to 2^31-1; anything else matches no route (404)."""

    def __init__(self, map, fixed_digits=0, min=1, max=INT_MAX, signed=False):
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


class TextConverter(UnicodeConverter):
    """A route's text segment (`<key>`, `<secret>`): no control characters, else no route (404)."""

    def __init__(self, map, minlength=1, maxlength=None, length=None):
        super().__init__(map, minlength=minlength, maxlength=maxlength, length=length)
        self.regex = self.regex.replace("[^/]", "[^/\\x00-\\x1f\\x7f]")


def register(app):
    """Before any route is added: ids and text segments of paths."""
    app.url_map.converters.update(default=TextConverter, string=TextConverter, int=IdConverter)
