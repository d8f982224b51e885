"""The portal's Flask class: Flask, with one cost every request pays made once per function."""
import weakref

from flask import Flask


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
