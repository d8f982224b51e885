"""The portal's Flask class: Flask, with costs every request pays made smaller."""
import weakref

from flask import Flask
from werkzeug.datastructures import ImmutableMultiDict


class Args(ImmutableMultiDict):
    """A query string's or a form's values. Werkzeug's get() finds a missing key by raising and
    catching a BadRequestKeyError, an exception made for a 400 page; pages ask for many keys
    that are absent (filters, cursors), so absence is checked first."""

    def get(self, key, default=None, type=None):  # noqa: A002 - werkzeug's signature
        if key not in self:
            return default
        return super().get(key, default, type)


def with_args(request_class):
    """`request_class` (Flask's, or the one an extension put in its place: htmx-flask's) keeping
    the query string, forms and cookies in Args."""
    return type(request_class.__name__, (request_class,), {"parameter_storage_class": Args, "dict_storage_class": Args})


class Portal(Flask):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._sync = weakref.WeakKeyDictionary()

    def ensure_sync(self, func):
        """Flask asks this of every hook and view on every request, and the answer (is it a
        coroutine function?) never changes for a function: asked once each."""
        try:
            return self._sync[func]
        except (KeyError, TypeError):
            pass
        found = super().ensure_sync(func)
        try:
            self._sync[func] = found
        except TypeError:  # not weakly referable: simply not remembered
            pass
        return found
