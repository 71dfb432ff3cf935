"""The Playground's predictor, loaded and used on one long-lived thread.

Loading torch and a model takes a second or more, and a tokenizer must not be shared
across threads, so one `PredictorWorker` holds the predictor in its own QThread and the
GUI talks to it with queued signals. `sig_loaded` carries a `PredictorInfo` (the task, its
labels and the inputs a prediction takes), so the Playground can offer the right boxes;
`predict` takes a dict of inputs ({"text": [...], "text_pair": [...]}). After loading, the
worker calls the predictor's `warm_up()` (when it has one), so the engine's fast path for
one-sentence predictions is built before `sig_loaded`, not during the first prediction.

Generative models also stream: `generate(prompt, settings)` runs the engine's generator
(over the predictor's own model when it generates, so it is loaded once; else
`engine.load_generator`, on the same thread the first time) and sends each new piece
of text with `sig_piece`, then `sig_generated` with the whole result. `stop_generation()`
sets a flag the generator reads before every token, so it ends within a token. Any object
with `start(prompt, GenerationSettings, should_stop=...)` returning an iterable of text
pieces with `text` and `token_ids` after it (the engine's `Generation`) plugs in: a causal
decoder today, an encoder–decoder the same way.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from workbench import engine
from workbench.gui.messages import describe_error

LoadFn = Callable[[str], Any]
GeneratorLoadFn = Callable[[str], Any]  # source -> an engine Generator (or one like it)

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
    sig_piece = Signal(int, str)  # request id, the next piece of generated text
    sig_generated = Signal(int, dict)  # request id, {text, token_ids, stopped, seconds} or {error}

    def __init__(
        self,
        load_fn: LoadFn = engine.load_predictor,
        generator_fn: GeneratorLoadFn = engine.load_generator,
    ) -> None:
        super().__init__()  # parentless: it is moved to its own QThread
        self._load = load_fn
        self._load_generator = generator_fn
        self._predictor: Any = None
        self._generator: Any = None
        self._source = ""
        self.current_stop: threading.Event | None = None  # set by shutdown_all too

    @Slot(str)
    def load(self, source: str) -> None:
        self._predictor = None
        self._generator = None  # loaded again, for this source, at the first generate
        self._source = source
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
                self._warm_up()
                self.sig_loaded.emit(info)

    def _warm_up(self) -> None:
        """The predictor's fast path, built now rather than in the user's first prediction
        (engine.Predictor.warm_up). Only a speed-up: if it fails, predictions still run (and
        report their own errors)."""
        warm_up = getattr(self._predictor, "warm_up", None)
        if callable(warm_up):
            try:
                warm_up()
            except Exception:  # noqa: BLE001 - the model is loaded; predict says what is wrong
                pass

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

    def _shared_generator(self) -> Any:
        """A generator over the predictor's own model when that model generates (a causal-LM
        or seq2seq run): the weights are loaded once, not once more for generating. None for
        a classifier, or a predictor that is not the engine's: `generator_fn` loads one."""
        from workbench.engine.generation.generate import Generator
        from workbench.engine.trained import TrainedModel

        trained = getattr(self._predictor, "trained", None)
        return Generator.from_trained(trained) if isinstance(trained, TrainedModel) else None

    @Slot(int, str, object, object)
    def generate(
        self, request_id: int, prompt: str, settings: object, stop: threading.Event
    ) -> None:
        """Stream the continuation of `prompt`; `settings` are GenerationSettings' fields."""
        from workbench.engine.generation.generate import GenerationSettings

        start = time.perf_counter()
        self.current_stop = stop
        try:
            if self._predictor is None:
                raise RuntimeError("no model is loaded")  # a failed load was reported
            if self._generator is None:
                self._generator = self._shared_generator() or self._load_generator(self._source)
            chosen = GenerationSettings(**dict(settings))  # type: ignore[call-overload]
            generation = self._generator.start(prompt, chosen, should_stop=stop.is_set)
            for piece in generation:
                self.sig_piece.emit(request_id, str(piece))
        except BaseException as exc:
            self.sig_generated.emit(request_id, {"error": describe_error(exc)})
        else:
            result = {
                "text": str(generation.text),
                "token_ids": [int(t) for t in generation.token_ids],
                "stopped": stop.is_set(),
                "seconds": time.perf_counter() - start,
            }
            self.sig_generated.emit(request_id, result)


class PredictorService(QObject):
    """GUI-side handle: `load(source)`, `predict(inputs) -> request id`,
    `generate(prompt, settings) -> request id`, `stop_generation()`, `shutdown()`."""

    sig_loaded = Signal(object)  # PredictorInfo
    sig_predicted = Signal(int, list)
    sig_failed = Signal(str)
    sig_piece = Signal(int, str)
    sig_generated = Signal(int, dict)
    sig_load_requested = Signal(str)
    sig_predict_requested = Signal(int, object)
    sig_generate_requested = Signal(int, str, object, object)

    def __init__(
        self,
        load_fn: LoadFn | None = None,
        parent: QObject | None = None,
        generator_fn: GeneratorLoadFn | None = None,
    ) -> None:
        super().__init__(parent)
        self._load_fn = load_fn or engine.load_predictor
        self._generator_fn = generator_fn or engine.load_generator
        self._thread: QThread | None = None
        self._worker: PredictorWorker | None = None
        self._next_id = 0
        self._stop = threading.Event()

    def _ensure_thread(self) -> None:
        if self._thread is not None:
            return
        self._worker = PredictorWorker(self._load_fn, self._generator_fn)
        self._thread = QThread()
        self._thread.setObjectName("workbench-predictor")
        self._worker.moveToThread(self._thread)
        self.sig_load_requested.connect(self._worker.load)
        self.sig_predict_requested.connect(self._worker.predict)
        self.sig_generate_requested.connect(self._worker.generate)
        self._worker.sig_loaded.connect(self.sig_loaded)
        self._worker.sig_predicted.connect(self.sig_predicted)
        self._worker.sig_failed.connect(self.sig_failed)
        self._worker.sig_piece.connect(self.sig_piece)
        self._worker.sig_generated.connect(self.sig_generated)
        # The worker is Python's: it goes when the thread has been joined (see gui/tasks.py).
        _LIVE[self._thread] = self._worker
        self._thread.start()

    def load(self, source: str) -> None:
        self._ensure_thread()
        self._stop.set()  # a generation of the previous model ends first
        self.sig_load_requested.emit(str(source))

    def predict(self, inputs: Mapping[str, Sequence[str]] | Sequence[str]) -> int:
        """Ask for predictions of {"text": [...], "text_pair"/"context": [...]}; the results
        come with `sig_predicted(request id, results)`."""
        self._ensure_thread()
        self._next_id += 1
        self.sig_predict_requested.emit(self._next_id, as_inputs(inputs))
        return self._next_id

    def generate(self, prompt: str, settings: Mapping[str, Any]) -> int:
        """Stream the continuation of `prompt` (settings: GenerationSettings' fields); the
        pieces come with `sig_piece(request id, text)`, the end with `sig_generated`."""
        self._ensure_thread()
        self._stop.set()  # at most one generation: an older one ends at its next token
        self._stop = threading.Event()
        self._next_id += 1
        self.sig_generate_requested.emit(self._next_id, str(prompt), dict(settings), self._stop)
        return self._next_id

    def stop_generation(self) -> None:
        """End the current generation before its next token (sig_generated follows)."""
        self._stop.set()

    def shutdown(self) -> None:
        """Let the current call finish (a generation stops at its next token), then end the
        thread."""
        self._stop.set()
        if self._thread is None:
            return
        _stop_thread(self._thread)
        self._thread = None
        self._worker = None


def _stop_thread(thread: QThread) -> None:
    worker = _LIVE.get(thread)
    if worker is not None and worker.current_stop is not None:
        worker.current_stop.set()  # a generation ends at its next token
    thread.quit()
    thread.wait()
    _LIVE.pop(thread, None)


def shutdown_all() -> None:
    """End every predictor thread (application exit, tests)."""
    for thread in list(_LIVE):
        _stop_thread(thread)
