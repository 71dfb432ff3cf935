"""Threads and closing, on the real engine with a tiny model: the leak check itself, twenty
start/stop cycles that leave no thread behind and never freeze the window, and a window
closed mid-run that leaves a run the Runs page offers to resume."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QElapsedTimer, Qt, QThread, QTimer
from thread_leaks import _qthread_running, leaked_threads

from workbench.engine.training.checkpointing import complete_checkpoints, resume_status
from workbench.gui.main_window import MainWindow

TIMEOUT = 180_000  # the first run imports torch in its thread; 60 s was too short on a loaded CPU
SETTINGS = {
    "epochs": 50,  # every run here is stopped: on a loaded CPU one epoch ended before Stop landed
    "batch_size": 8,
    "max_length": 32,
    "eval_every_steps": 0,
    "precision": "fp32",
}


def test_the_leak_check_sees_a_running_qthread_and_a_live_python_thread(no_leaked_threads):
    before = set(threading.enumerate())
    qthread = QThread()
    qthread.setObjectName("left-running")
    qthread.start()  # through the fixture's wrapper
    release = threading.Event()
    python_thread = threading.Thread(target=release.wait, name="left-waiting")
    python_thread.start()
    try:
        assert sorted(leaked_threads(no_leaked_threads, before, 0.1)) == [
            "left-running",
            "left-waiting",
        ]
    finally:
        qthread.quit()
        qthread.wait()
        release.set()
        python_thread.join()
    assert leaked_threads(no_leaked_threads, before, 1.0) == []


@pytest.fixture
def tiny_model(tmp_path) -> Path:
    from model_folders import tiny_bert

    return tiny_bert(tmp_path / "tiny-bert", max_position_embeddings=64)


def _window(qtbot, data: Path, model: Path) -> MainWindow:
    window = MainWindow(data_path=data)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: window.data_panel.frame() is not None, timeout=TIMEOUT)
    with qtbot.waitSignal(window.model_panel.sig_model_changed, timeout=TIMEOUT):
        window.model_panel.set_model(model)
    window.hyperparams_panel.set_values(SETTINGS)
    window.show_page("train")
    return window


def _named(thread: QThread, name: str) -> bool:
    try:
        return thread.objectName() == name
    except RuntimeError:  # deleted: it had ended
        return False


def own_python_threads() -> int:
    """Threads Python started (a _DummyThread stands for a Qt thread that once ran Python
    code; Python never learns that one ended, so they only pile up in its count)."""
    return sum(not isinstance(t, threading._DummyThread) for t in threading.enumerate())


class Lateness:
    """A 10 ms timer in the GUI thread: how late it fires says how long the thread was busy."""

    def __init__(self) -> None:
        self.worst_ms = 0
        self._clock = QElapsedTimer()
        self._timer = QTimer()
        self._timer.setInterval(10)
        self._timer.timeout.connect(self._on_timer_timeout)

    def start(self) -> None:
        self._clock.start()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def _on_timer_timeout(self) -> None:
        self.worst_ms = max(self.worst_ms, self._clock.restart() - 10)


@pytest.mark.slow
def test_twenty_start_stop_cycles_leave_no_thread_and_the_window_responsive(
    qtbot, small_csv, tiny_model, no_leaked_threads
):
    window = _window(qtbot, small_csv, tiny_model)
    train = window.train_panel
    python_threads = own_python_threads()
    before = set(threading.enumerate())
    lateness = Lateness()
    lateness.start()
    statuses = []
    for cycle in range(20):
        # Stop at three moments: while preparing, as the run starts, after its first steps.
        moment = (None, window.runner.sig_run_started, window.runner.sig_step_logged)[cycle % 3]
        with qtbot.waitSignal(window.runner.sig_run_finished, timeout=TIMEOUT) as finished:
            if moment is None:
                qtbot.mouseClick(train.train_button, Qt.MouseButton.LeftButton)
            else:
                with qtbot.waitSignal(moment, timeout=TIMEOUT):
                    qtbot.mouseClick(train.train_button, Qt.MouseButton.LeftButton)
            assert window.runner.is_running()
            qtbot.mouseClick(train.stop_button, Qt.MouseButton.LeftButton)
        statuses.append(finished.args[0].status)
        assert not window.runner.is_running() and train.train_button.isEnabled()
        # Each run's thread was joined before RunFinished reached the window (short tasks,
        # such as re-listing the runs folder, may still be running: they end below).
        training = [t for t in list(no_leaked_threads) if _named(t, "workbench-training")]
        assert not any(_qthread_running(t) for t in training)
    lateness.stop()
    assert statuses == ["stopped"] * 20, [s for s in statuses if s != "stopped"]
    assert own_python_threads() <= python_threads  # no Python thread piled up either
    # Never frozen: the GUI thread was free every few hundred ms during 20 runs, and it
    # answers at once now.
    assert lateness.worst_ms < 2_000, f"the GUI thread was blocked for {lateness.worst_ms} ms"
    answered = []
    started = time.perf_counter()
    QTimer.singleShot(0, lambda: answered.append(time.perf_counter() - started))
    qtbot.waitUntil(lambda: bool(answered), timeout=1_000)
    window.close()  # ends the Playground's predictor thread too
    assert leaked_threads(no_leaked_threads, before, 10.0) == []


@pytest.mark.slow
def test_closing_the_window_mid_run_leaves_a_run_to_resume(qtbot, small_csv, tiny_model):
    window = _window(qtbot, small_csv, tiny_model)
    with qtbot.waitSignal(window.runner.sig_step_logged, timeout=TIMEOUT) as logged:
        qtbot.mouseClick(window.train_panel.train_button, Qt.MouseButton.LeftButton)
    step = logged.args[0].step
    finished: list = []
    window.runner.sig_run_finished.connect(finished.append)
    assert not window.close()  # asked to stop; the window hides at once
    qtbot.waitUntil(lambda: window.closed, timeout=TIMEOUT)
    assert finished and finished[0].status == "stopped", finished
    run_dir = Path(finished[0].run_dir)

    # What the close kept: a complete checkpoint at (or after) the step seen, and the model.
    checkpoints = complete_checkpoints(run_dir)
    assert checkpoints and checkpoints[-1].step >= step
    status = resume_status(run_dir)
    assert status["resumable"], status["reason"]
    assert (run_dir / "model" / "config.json").is_file()

    # The next window (a restart) offers Resume for it on the Runs page, and it continues.
    again = MainWindow(data_path=small_csv)
    qtbot.addWidget(again)
    again.show()
    again.show_page("runs")
    panel = again.runs_panel
    qtbot.waitUntil(lambda: panel.listed_once and not panel.is_listing(), timeout=TIMEOUT)
    rows = [info.path for info in panel.shown_runs()]
    assert str(run_dir) in rows
    rect = panel.table.visualRect(panel.proxy.index(rows.index(str(run_dir)), 0))
    qtbot.mouseClick(panel.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert panel.selected_run().path == str(run_dir)
    assert panel.resume_button.isEnabled()
    assert panel.resume_button.toolTip() == f"resumes from the checkpoint of step {status['step']}"
    with qtbot.waitSignal(again.runner.sig_run_finished, timeout=TIMEOUT) as resumed:
        qtbot.mouseClick(panel.resume_button, Qt.MouseButton.LeftButton)
    assert resumed.args[0].status == "completed", resumed.args[0].error
    assert resumed.args[0].run_dir == str(run_dir)
    again.close()
