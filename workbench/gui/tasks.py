"""One-shot background tasks (read a data file, export a model) on their own QThread.

`run_task(fn, *args)` returns a `Task` whose `sig_succeeded(result)` or `sig_failed(message)`
arrives in the GUI thread. Running tasks are kept alive here until their thread ends, so a
panel closed mid-task never destroys a running QThread; `wait_for_tasks()` joins them.

At start-up the app holds new tasks (`hold_tasks()`) until the window has been drawn
(`release_tasks()`): a task's first call imports torch and the exporters, several seconds of
work that holds the interpreter's lock and would otherwise delay the window's first frame.
`after_start(context, fn)` does the same for work on the GUI thread (building a plot, which
imports pyqtgraph): it runs once the window has been drawn, or on the next turn of the event
loop when nothing is held.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, Qt, QThread, QTimer, Signal, Slot

from workbench.gui.messages import describe_error

_RUNNING: set[Task] = set()
_HELD: list[Task] | None = None  # tasks asked for while held, started by release_tasks()
_AFTER_START: list[tuple[QObject, Callable[[], None]]] = []  # GUI-thread calls held with them


class TaskWorker(QObject):
    sig_succeeded = Signal(object)
    sig_failed = Signal(str)
    sig_done = Signal()

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        super().__init__()  # parentless: it is moved to its own QThread
        self._fn = fn
        self._args = args

    @Slot()
    def run(self) -> None:
        try:
            result = self._fn(*self._args)
        except BaseException as exc:  # always report, never leave the GUI waiting
            self.sig_failed.emit(describe_error(exc))
        else:
            self.sig_succeeded.emit(result)
        finally:
            self.sig_done.emit()


class Task(QObject):
    """GUI-side handle of one background call."""

    sig_succeeded = Signal(object)
    sig_failed = Signal(str)
    sig_finished = Signal()  # after succeeded/failed, once the thread has ended

    def __init__(self, fn: Callable[..., Any], *args: Any) -> None:
        super().__init__()
        self._worker = TaskWorker(fn, args)
        self._thread = QThread()
        self._thread.setObjectName(f"workbench-task-{getattr(fn, '__name__', 'task')}")
        self._worker.moveToThread(self._thread)
        self._thread.started.connect(self._worker.run)
        self._worker.sig_succeeded.connect(self._on_worker_succeeded)
        self._worker.sig_failed.connect(self._on_worker_failed)
        self._worker.sig_done.connect(self._thread.quit, Qt.ConnectionType.DirectConnection)
        # No deleteLater for the worker: Python owns it, and a second owner deleting it on the
        # ending thread raced the garbage collector here (a segfault one run in ten).
        self._thread.finished.connect(self._on_thread_finished)

    def start(self) -> Task:
        _RUNNING.add(self)
        if _HELD is not None:
            _HELD.append(self)  # started by release_tasks()
        else:
            self._thread.start()
        return self

    def wait(self) -> None:
        if self in _RUNNING:
            if _HELD is not None and self in _HELD:
                _HELD.remove(self)  # never started: nothing to join
            else:
                self._thread.wait()
            _RUNNING.discard(self)

    @Slot(object)
    def _on_worker_succeeded(self, result: object) -> None:
        self.sig_succeeded.emit(result)

    @Slot(str)
    def _on_worker_failed(self, message: str) -> None:
        self.sig_failed.emit(message)

    @Slot()
    def _on_thread_finished(self) -> None:
        # `finished` is emitted from the thread before it has fully ended: join it, so that
        # dropping the last reference never destroys a QThread that is still running.
        self._thread.wait()
        self.sig_finished.emit()
        _RUNNING.discard(self)


def run_task(fn: Callable[..., Any], *args: Any) -> Task:
    """Start `fn(*args)` on a new thread; connect to the returned task's signals."""
    return Task(fn, *args).start()


def hold_tasks() -> None:
    """Tasks started from now on wait until `release_tasks()` (the app's start-up)."""
    global _HELD
    if _HELD is None:
        _HELD = []


def after_start(context: QObject, fn: Callable[[], None]) -> None:
    """Call `fn()` on the GUI thread after the window's first frame (`release_tasks`), or on
    the next turn of the event loop when nothing is held; never once `context` is deleted."""
    if _HELD is not None:
        _AFTER_START.append((context, fn))
    else:
        QTimer.singleShot(0, context, fn)


def release_tasks(start: bool = True) -> None:
    """Start the held tasks in the order they were asked for (or, with start=False at exit,
    drop them); tasks asked for later start at once. Calling it again does nothing."""
    global _HELD
    held, _HELD = _HELD or [], None
    calls = list(_AFTER_START)
    _AFTER_START.clear()
    for task in held:
        if start:
            task._thread.start()
        else:
            _RUNNING.discard(task)
    for context, fn in calls if start else ():
        if shiboken6.isValid(context):  # a panel closed before the first frame: skip it
            QTimer.singleShot(0, context, fn)


def wait_for_tasks() -> None:
    """Block until every running task's thread has ended (window close, tests)."""
    for task in list(_RUNNING):
        task.wait()
