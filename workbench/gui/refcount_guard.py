"""A guard against a reference leak in PySide6 6.12 on Python 3.11.

There, every `SignalInstance.emit()` called from Python drops one reference to `True`
(emissions from C++, such as a button's `clicked`, do not). Python 3.11's `True` is an
ordinary object with a few thousand references, so after a few thousand emits (pyqtgraph
emits several per plot update; the Train page's plot refreshes ten times a second) the
interpreter aborts with "Fatal Python error: bool_dealloc". From Python 3.12 on, `True` is
immortal and the leak is harmless. Reproduce with:

    class O(QObject): s = Signal()
    o = O(); n = sys.getrefcount(True); o.s.emit(); assert sys.getrefcount(True) == n - 1

`protect_true()` gives `True` a reserve of references it can never run out of. It is a
workaround, not a fix: pinning a PySide6 without the leak is the real one.
"""

from __future__ import annotations

import ctypes
import sys

RESERVE = 1 << 40  # a trillion emits

_protected = False


def needs_guard() -> bool:
    """Whether `True` can be freed by miscounted references (CPython before 3.12)."""
    return (
        sys.implementation.name == "cpython"
        and sys.version_info < (3, 12)
        and not hasattr(sys, "getobjects")  # a Py_TRACE_REFS build has another layout
    )


def protect_true() -> bool:
    """Add RESERVE references to `True` once per process; returns whether it did so."""
    global _protected
    if _protected or not needs_guard():
        return False
    # ob_refcnt is the first field of every object in a release build of CPython 3.11.
    ctypes.c_ssize_t.from_address(id(True)).value += RESERVE
    _protected = True
    return True
