"""The Playground's predictor, loaded and used on one long-lived thread.

Loading torch and a model takes a second or more, and a tokenizer must not be shared
across threads, so one `PredictorWorker` holds the predictor in its own QThread and the
GUI talks to it with queued signals. `sig_loaded` carries a `PredictorInfo` (the task, its
labels and the inputs a prediction takes), so the Playground can offer the right boxes;
`predict` takes a dict of inputs ({"text": [...], "text_pair": [...]}).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from workbench import engine
from workbench.gui.messages import describe_error

LoadFn = Callable[[str], Any]

# Threads (with their workers) are kept here, not only on the service, so a panel that is
# deleted without shutdown() never destroys a running QThread; shutdown_all() ends them.
_LIVE: dict[QThread, PredictorWorker] = {}

DEFAULT_TASK = "text-classification"
INPUT_KEYWORDS = {"text_pair": "text_pairs", "context": "contexts"}  # Predictor.predict's names


@dataclass(frozen=True)
class PredictorInfo:
    """What the Playground needs to know about a loaded model, read on the predictor thread."""

    source: str
    task: str = DEFAULT_TASK
    labels: list[str] = field(default_factory=list)
    inputs: tuple[str, ...] = ("text",)
    mask_token: str | None = None
    threshold: float | None = None


def describe_predictor(source: str, predictor: Any) -> PredictorInfo:
    """The facts of a predictor, with defaults where an older (or fake) one lacks them."""
    inputs = tuple(str(name) for name in (getattr(predictor, "inputs", None) or ("text",)))
    mask_token = None
    tokenizer = getattr(predictor, "tokenizer", None)
    try:
        if tokenizer is not None and tokenizer.mask_id is not None:
            mask_token = tokenizer.id_to_token(tokenizer.mask_id)
    except Exception:  # a tokenizer without a mask: no hint to give
        mask_token = None
    threshold = getattr(predictor, "threshold", None)
    if threshold is None:
        meta = getattr(getattr(predictor, "trained", None), "meta", None)
        threshold = meta.get("threshold") if isinstance(meta, Mapping) else None
    return PredictorInfo(
        source=str(source),
        task=str(getattr(predictor, "task", None) or DEFAULT_TASK),
        labels=[str(label) for label in (getattr(predictor, "labels", None) or [])],
        inputs=inputs or ("text",),
        mask_token=str(mask_token) if mask_token else None,
        threshold=float(threshold) if isinstance(threshold, (int, float)) else None,
    )


def as_inputs(inputs: Mapping[str, Sequence[str]] | Sequence[str]) -> dict[str, list[str]]:
    """{"text": [...], ...}; a plain list of texts is the "text" input."""
    if isinstance(inputs, Mapping):
        return {str(k): [str(t) for t in v] for k, v in inputs.items()}
    return {"text": [str(t) for t in inputs]}


class PredictorWorker(QObject):
    sig_loaded = Signal(object)  # PredictorInfo
    sig_predicted = Signal(int, list)  # request id, one result dict (the task's shape) per text
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
            try:
                info = describe_predictor(source, self._predictor)
            except BaseException as exc:
                self._predictor = None
                self.sig_failed.emit(describe_error(exc))
            else:
                self.sig_loaded.emit(info)

    @Slot(int, object)
    def predict(self, request_id: int, inputs: object) -> None:
        if self._predictor is None:
            return  # a failed load was already reported
        try:
            given = as_inputs(inputs)  # type: ignore[arg-type]
            texts = given.pop("text", [])
            # Only the inputs given are passed, so a predictor that reads texts alone works.
            extra = {INPUT_KEYWORDS.get(k, k): v for k, v in given.items()}
            results = self._predictor.predict(texts, **extra)
        except BaseException as exc:
            self.sig_failed.emit(describe_error(exc))
        else:
            self.sig_predicted.emit(request_id, list(results))


class PredictorService(QObject):
    """GUI-side handle: `load(source)`, `predict(inputs) -> request id`, `shutdown()`."""

    sig_loaded = Signal(object)  # PredictorInfo
    sig_predicted = Signal(int, list)
    sig_failed = Signal(str)
    sig_load_requested = Signal(str)
    sig_predict_requested = Signal(int, object)

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
        # The worker is Python's: it goes when the thread has been joined (see gui/tasks.py).
        _LIVE[self._thread] = self._worker
        self._thread.start()

    def load(self, source: str) -> None:
        self._ensure_thread()
        self.sig_load_requested.emit(str(source))

    def predict(self, inputs: Mapping[str, Sequence[str]] | Sequence[str]) -> int:
        """Ask for predictions of {"text": [...], "text_pair"/"context": [...]}; the results
        come with `sig_predicted(request id, results)`."""
        self._ensure_thread()
        self._next_id += 1
        self.sig_predict_requested.emit(self._next_id, as_inputs(inputs))
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
