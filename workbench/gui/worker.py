"""Training off the GUI thread.

`TrainingWorker` is a parentless QObject moved to a QThread; it calls the engine's `train`
and puts every event into a `queue.SimpleQueue`. `TrainingRunner` lives in the GUI thread,
drains that queue on a timer and re-emits each event as a typed signal, so the GUI's cost
is bounded by the timer, not by steps per second, and no point is dropped. The worker
catches everything and always ends with a `RunFinished`, so the GUI never waits forever.

A checkpoint or model that cannot be saved (a full or read-only disk) does not end the run:
the engine keeps the model in memory and the worker asks the GUI (`sig_save_failed`, a
`SaveQuestion`) whether to save again, elsewhere, or not at all, waiting for the answer.
"""

from __future__ import annotations

import ctypes
import functools
import queue
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt, QThread, QTimer, Signal, Slot

from workbench import applog, engine
from workbench.engine import saving
from workbench.engine.events import (
    EvalFinished,
    Notice,
    Progress,
    RunFinished,
    RunStarted,
    StepLogged,
    StepSkipped,
)
from workbench.gui.messages import describe_error

TrainFn = Callable[..., Any]

MESSAGES = {
    "no_finish": "the training ended without reporting a result (this is a bug in Workbench)",
    "already_running": "a run is already in progress",
}

ANSWER_POLL_S = 0.2  # how often a waiting save looks whether the run was abandoned
ABORT_WAIT_S = 10.0  # an abort waits this long for a write in progress to be undone


class SaveQuestion:
    """A failed save waiting for the user: `failure` (engine SaveFailure) says what, where
    and how much; `answer(...)` (from any thread, once) lets the engine go on. The answer is
    "retry", a folder to save the run in instead, or None (do not save)."""

    def __init__(self, failure: Any) -> None:
        self.failure = failure
        self._answers: queue.SimpleQueue = queue.SimpleQueue()
        self.answered = threading.Event()

    def answer(self, value: Any) -> None:
        if not self.answered.is_set():
            self.answered.set()
            self._answers.put(value)

    def wait(self, abandoned: threading.Event) -> Any:
        """The answer, or None once the run is abandoned (the app is closing)."""
        while True:
            try:
                return self._answers.get(timeout=ANSWER_POLL_S)
            except queue.Empty:
                if abandoned.is_set():
                    return None


def all_gpus_train_fn(processes: int) -> TrainFn:
    """A train function that runs on `processes` GPUs: torchrun in a subprocess, whose run's
    metrics.jsonl is followed (engine/training/launch.py)."""
    from workbench.engine.training import launch

    return functools.partial(launch.train_on_gpus, processes=processes)


class TrainingWorker(QObject):
    """Calls `train_fn(config, on_event=..., should_stop=...)` in the thread it is moved to."""

    sig_finished = Signal()

    def __init__(
        self,
        config: Any,
        events: queue.SimpleQueue,
        stop: threading.Event,
        train_fn: TrainFn = engine.train,
        abandoned: threading.Event | None = None,
    ) -> None:
        super().__init__()  # parentless: it is moved to its own QThread
        self._config = config
        self._events = events
        self._stop = stop
        self._train = train_fn
        self._abandoned = abandoned or threading.Event()
        self.ident: int | None = None
        self.run_dir = ""  # once RunStarted named it

    def _ask_to_save(self, failure: Any) -> Any:
        """The engine's on_save_failed handler, in this thread: ask the GUI and wait."""
        question = SaveQuestion(failure)
        applog.logger.warning(
            "could not save the %s of %s in %s: %s", failure.what, failure.run_dir,
            failure.folder, failure.error,
        )  # fmt: skip
        self._events.put(question)
        answer = question.wait(self._abandoned)
        applog.logger.info("save of %s answered: %r", failure.run_dir, answer)
        return answer

    @Slot()
    def run(self) -> None:
        self.ident = threading.get_ident()  # for abort(): an interrupt raised in this thread
        finished = False
        run_dir = ""

        def on_event(event: Any) -> None:
            nonlocal finished, run_dir
            if isinstance(event, RunStarted):
                run_dir = self.run_dir = event.run_dir
            if isinstance(event, RunFinished):
                finished = True
            applog.log_event(event)  # started, finished, stopped, failed: the app log
            self._events.put(event)

        try:
            # This thread's runs keep a model that could not be saved and ask what to do.
            saving.on_save_failed.set(self._ask_to_save)
            self._train(self._config, on_event=on_event, should_stop=self._stop.is_set)
        except BaseException as exc:  # the GUI must always get a final event
            applog.log_exception("the training thread", exc)
            if finished:
                self._events.put(Notice(f"after the run finished: {describe_error(exc)}"))
            else:
                failed = RunFinished(status="failed", run_dir=run_dir, error=describe_error(exc))
                applog.log_event(failed)
                self._events.put(failed)
        else:
            if not finished:
                failed = RunFinished(status="failed", run_dir=run_dir, error=MESSAGES["no_finish"])
                applog.log_event(failed)
                self._events.put(failed)
        finally:
            self.sig_finished.emit()


class TrainingRunner(QObject):
    """Starts and stops runs; turns the worker's events into signals in the GUI thread."""

    sig_run_started = Signal(object)  # RunStarted
    sig_step_logged = Signal(object)  # StepLogged
    sig_step_skipped = Signal(object)  # StepSkipped: a non-finite step, not applied
    sig_eval_finished = Signal(object)  # EvalFinished
    sig_notice = Signal(object)  # Notice
    sig_progress = Signal(object)  # Progress: reading / tokenising a big file
    sig_save_failed = Signal(object)  # SaveQuestion: the disk is full; answer it to go on
    sig_run_finished = Signal(object)  # RunFinished; emitted after the thread has ended
    sig_running_changed = Signal(bool)

    DRAIN_INTERVAL_MS = 100

    def __init__(self, train_fn: TrainFn | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._train_fn = train_fn or engine.train
        self._events: queue.SimpleQueue = queue.SimpleQueue()
        self._stop = threading.Event()
        self._abandoned = threading.Event()
        self.save_question: SaveQuestion | None = None  # a failed save waiting for the user
        self._thread: QThread | None = None
        self._worker: TrainingWorker | None = None
        self._pending_finish: RunFinished | None = None
        self._running = False
        self._timer = QTimer(self)
        self._timer.setInterval(self.DRAIN_INTERVAL_MS)
        self._timer.timeout.connect(self._on_timer_timeout)
        self._signals = {
            RunStarted: self.sig_run_started,
            StepLogged: self.sig_step_logged,
            StepSkipped: self.sig_step_skipped,
            EvalFinished: self.sig_eval_finished,
            Notice: self.sig_notice,
            Progress: self.sig_progress,
        }

    def is_running(self) -> bool:
        return self._running

    def save_pending(self) -> bool:
        """A failed save waits for the user's answer (Save again / elsewhere / not)."""
        return self.save_question is not None and not self.save_question.answered.is_set()

    def start(self, config: Any, train_fn: TrainFn | None = None) -> None:
        """`train_fn`: this run's instead of the runner's (all GPUs through torchrun)."""
        if self._running:
            raise RuntimeError(MESSAGES["already_running"])
        self._events = queue.SimpleQueue()
        self._stop = threading.Event()
        self._abandoned = threading.Event()
        self.save_question = None
        self._pending_finish = None
        worker = TrainingWorker(
            config, self._events, self._stop, train_fn or self._train_fn, self._abandoned
        )
        thread = QThread()
        thread.setObjectName("workbench-training")
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        # Direct: quit must work while the GUI thread is blocked in shutdown()'s wait().
        worker.sig_finished.connect(thread.quit, Qt.ConnectionType.DirectConnection)
        # The worker is Python's: it goes when the thread has been joined (see gui/tasks.py).
        thread.finished.connect(self._on_thread_finished)
        self._worker, self._thread = worker, thread
        self._running = True
        self.sig_running_changed.emit(True)
        self._timer.start()
        thread.start()

    def stop(self) -> None:
        """Ask the engine to stop after the current step; RunFinished follows."""
        self._stop.set()

    def abandon(self) -> None:
        """Stop, and give up a save that waits for space (the app is closing): the run ends
        with what is on disk (its last complete checkpoint)."""
        self._stop.set()
        self._abandoned.set()
        if self.save_question is not None:
            self.save_question.answer(None)

    def abort(self, timeout_s: float = ABORT_WAIT_S) -> tuple[bool, str]:
        """Abort at once (a second Ctrl+C or SIGTERM): a KeyboardInterrupt is raised in the
        training thread, as Ctrl+C does in the CLI, so every write in progress is undone by
        its own cleanup (staging folders and temporary files are removed; finished files are
        complete, since every write is atomic). Waits up to `timeout_s` for the thread.
        Returns (whether the thread ended, the run folder or "")."""
        self.abandon()
        worker, thread = self._worker, self._thread
        if worker is None or thread is None:
            return True, ""
        if worker.ident is not None:
            ctypes.pythonapi.PyThreadState_SetAsyncExc(
                ctypes.c_ulong(worker.ident), ctypes.py_object(KeyboardInterrupt)
            )
        ended = thread.wait(int(timeout_s * 1000))
        return bool(ended), worker.run_dir

    def shutdown(self) -> None:
        """Stop the run and wait for its thread (closing the window during a run)."""
        if self._thread is None:
            return
        self.abandon()
        self._thread.wait()
        self._thread.deleteLater()
        self._thread = None
        self._worker = None
        self._timer.stop()
        self._pending_finish = None
        self._running = False  # no signals: the window that listens is closing

    @Slot()
    def _on_timer_timeout(self) -> None:
        self._drain()

    @Slot()
    def _on_thread_finished(self) -> None:
        if self._thread is None:
            return
        self._thread.wait()
        self._thread.deleteLater()
        self._thread = None
        self._worker = None
        self._drain()

    def _drain(self) -> None:
        while True:
            try:
                event = self._events.get_nowait()
            except queue.Empty:
                break
            if isinstance(event, RunFinished):
                self._pending_finish = event
                continue
            if isinstance(event, SaveQuestion):
                self.save_question = event
                if self._abandoned.is_set():
                    event.answer(None)
                else:
                    self.sig_save_failed.emit(event)
                continue
            signal = self._signals.get(type(event))
            if signal is not None:  # events this GUI does not draw yet are skipped
                signal.emit(event)
        if self._pending_finish is not None and self._thread is None:
            finish, self._pending_finish = self._pending_finish, None
            self._timer.stop()
            self._running = False
            self.sig_running_changed.emit(False)
            self.sig_run_finished.emit(finish)
