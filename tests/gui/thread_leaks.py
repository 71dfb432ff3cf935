"""Which threads a GUI test left behind (a module of its own, not conftest: every test folder
has a `conftest`, so importing from "conftest" would find another folder's)."""

from __future__ import annotations

import threading
import time

from PySide6.QtCore import QCoreApplication, QThread


def _qthread_running(thread: QThread) -> bool:
    try:
        return thread.isRunning()
    except RuntimeError:  # its C++ object was deleted: it had ended
        return False


def leaked_threads(started, before: set, grace_s: float) -> list[str]:
    """The QThreads in `started` still running and the Python threads not in `before` (a set
    of Thread objects) still
    alive after up to `grace_s` seconds of processing events."""
    deadline = time.monotonic() + grace_s
    while True:
        running = [t for t in list(started) if _qthread_running(t)]
        alive = [
            t
            for t in threading.enumerate()
            # a _DummyThread is a foreign (Qt) thread Python once saw: the QThread check has it
            if t not in before and t.is_alive() and not isinstance(t, threading._DummyThread)
        ]
        if (not running and not alive) or time.monotonic() > deadline:
            break
        QCoreApplication.processEvents()
        time.sleep(0.02)
    return [t.objectName() or type(t).__name__ for t in running] + [t.name for t in alive]
