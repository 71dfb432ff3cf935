"""The Playground's predictor, loaded and used on one long-lived thread.

Loading torch and a model takes a second or more, and a tokenizer must not be shared
across threads, so one `PredictorWorker` holds the predictor in its own QThread and the
GUI talks to it with queued signals.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from workbench import engine
from workbench.gui.messages import describe_error

LoadFn = Callable[[str], Any]

# Threads (with their workers) are kept here, not only on the service, so a panel that is
# deleted without shutdown() never destroys a running QThread; shutdown_all() ends them.
_LIVE: dict[QThread, PredictorWorker] = {}


class PredictorWorker(QObject):
    sig_loaded = Signal(str, list)  # source, labels
    sig_predicted = Signal(int, list)  # request id, [{"label", "scores"}] per text
    sig_failed = Signal(str)

    def __init__(self, load_fn: LoadFn = engine.load_predictor) -> None:
        super().__init__()  # parentless: it is moved to its own QThread
        self._load = load_fn
        self._predictor: Any = None

    @Slot(str)
    def load(self, source: str) -> None:
        self._predictor = None
        try:
            self._predictor = self._load(source)
        except BaseException as exc:
            self.sig_failed.emit(describe_error(exc))
        else:
            self.sig_loaded.emit(source, list(self._predictor.labels))

    @Slot(int, list)
    def predict(self, request_id: int, texts: list) -> None:
        if self._predictor is None:
            return  # a failed load was already reported
        try:
            results = self._predictor.predict([str(t) for t in texts])
        except BaseException as exc:
            self.sig_failed.emit(describe_error(exc))
        else:
            self.sig_predicted.emit(request_id, list(results))


class PredictorService(QObject):
    """GUI-side handle: `load(source)`, `predict(texts) -> request id`, `shutdown()`."""

    sig_loaded = Signal(str, list)
    sig_predicted = Signal(int, list)
    sig_failed = Signal(str)
    sig_load_requested = Signal(str)
    sig_predict_requested = Signal(int, list)

    def __init__(self, load_fn: LoadFn | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._load_fn = load_fn or engine.load_predictor
        self._thread: QThread | None = None
        self._worker: PredictorWorker | None = None
        self._next_id = 0

    def _ensure_thread(self) -> None:
        if self._thread is not None:
            return
        self._worker = PredictorWorker(self._load_fn)
        self._thread = QThread()
        self._thread.setObjectName("workbench-predictor")
        self._worker.moveToThread(self._thread)
        self.sig_load_requested.connect(self._worker.load)
        self.sig_predict_requested.connect(self._worker.predict)
        self._worker.sig_loaded.connect(self.sig_loaded)
        self._worker.sig_predicted.connect(self.sig_predicted)
        self._worker.sig_failed.connect(self.sig_failed)
        self._thread.finished.connect(self._worker.deleteLater)
        _LIVE[self._thread] = self._worker
        self._thread.start()

    def load(self, source: str) -> None:
        self._ensure_thread()
        self.sig_load_requested.emit(str(source))

    def predict(self, texts: list[str]) -> int:
        self._ensure_thread()
        self._next_id += 1
        self.sig_predict_requested.emit(self._next_id, list(texts))
        return self._next_id

    def shutdown(self) -> None:
        """Let the current call finish, then end the thread."""
        if self._thread is None:
            return
        _stop_thread(self._thread)
        self._thread = None
        self._worker = None


def _stop_thread(thread: QThread) -> None:
    thread.quit()
    thread.wait()
    _LIVE.pop(thread, None)


def shutdown_all() -> None:
    """End every predictor thread (application exit, tests)."""
    for thread in list(_LIVE):
        _stop_thread(thread)
