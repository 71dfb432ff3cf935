"""The assembled window with fake engine functions: train, stop, fail, close."""

from __future__ import annotations

import threading
import time

import pytest
from gui_fakes import FakeTrain, eval_metrics, fake_load_predictor
from PySide6.QtCore import QByteArray, Qt

from workbench.engine.events import RunFinished, RunStarted, StepLogged
from workbench.gui import settings as ui_settings
from workbench.gui.main_window import MainWindow
from workbench.gui.panels.train import TrainPanel


@pytest.fixture
def errors(monkeypatch):
    shown: list[tuple[str, str]] = []
    monkeypatch.setattr(
        TrainPanel,
        "show_error",
        staticmethod(lambda parent, title, text: shown.append((title, text))),
    )
    return shown


def make_window(qtbot, small_csv, train_fn, tmp_path) -> MainWindow:
    run_dir = tmp_path / "run"
    (run_dir / "model").mkdir(parents=True, exist_ok=True)
    train_fn.run_dir = str(run_dir)
    window = MainWindow(
        data_path=small_csv, train_fn=train_fn, load_predictor_fn=fake_load_predictor
    )
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: window.data_panel.frame() is not None, timeout=10_000)
    return window


def test_train_fills_curves_evaluation_and_playground(qtbot, small_csv, tmp_path, errors):
    fake = FakeTrain(steps=20)
    window = make_window(qtbot, small_csv, fake, tmp_path)
    window.show_page("train")
    panel = window.train_panel
    with qtbot.waitSignal(window.runner.sig_run_finished, timeout=10_000):
        qtbot.mouseClick(panel.train_button, Qt.MouseButton.LeftButton)
    config = fake.configs[0]
    assert config.data == str(small_csv) and config.label_column == "label"
    assert config.model == "default" and config.task == "text-classification"
    qtbot.waitUntil(lambda: panel.plot.drawn_counts()["train_loss"] == 20)
    assert panel.plot.drawn_counts()["eval_accuracy"] == 4 + 0
    assert panel.progress.value() == panel.progress.maximum() == 20
    assert panel.train_button.isEnabled() and not panel.stop_button.isEnabled()
    assert window.evaluate_panel.card_values["accuracy"].text() == "85.0%"
    assert window.evaluate_panel.matrix.model.count(0, 1) == 2
    assert window.export_panel.run_dir == fake.run_dir
    qtbot.waitUntil(window.playground_panel.is_ready, timeout=10_000)
    assert errors == []


def test_buttons_follow_the_run_and_stop_works(qtbot, small_csv, tmp_path, errors):
    fake = FakeTrain(steps=5, wait_for_stop=True)
    window = make_window(qtbot, small_csv, fake, tmp_path)
    panel = window.train_panel
    assert panel.train_button.isEnabled() and not panel.stop_button.isEnabled()
    with qtbot.waitSignal(window.runner.sig_step_logged, timeout=10_000):
        qtbot.mouseClick(panel.train_button, Qt.MouseButton.LeftButton)
    assert not panel.train_button.isEnabled() and panel.stop_button.isEnabled()
    with qtbot.waitSignal(window.runner.sig_run_finished, timeout=10_000) as blocker:
        qtbot.mouseClick(panel.stop_button, Qt.MouseButton.LeftButton)
    assert blocker.args[0].status == "stopped"
    assert panel.train_button.isEnabled() and not panel.stop_button.isEnabled()
    assert errors == []


def test_a_failed_run_shows_the_error_and_the_gui_stays_usable(qtbot, small_csv, tmp_path, errors):
    fake = FakeTrain(steps=10, raise_at=3)
    window = make_window(qtbot, small_csv, fake, tmp_path)
    with qtbot.waitSignal(window.runner.sig_run_finished, timeout=10_000):
        qtbot.mouseClick(window.train_panel.train_button, Qt.MouseButton.LeftButton)
    [(title, message)] = errors
    assert title == "Training failed"
    # Then where the details are, when the run's log.txt or the app log exists.
    assert message.split("\n\nDetails: ")[0] == "RuntimeError: CUDA out of memory"
    assert "CUDA out of memory" in window.train_panel.status_label.text()
    assert not window.playground_panel.is_ready() and window.export_panel.run_dir == ""
    fake.raise_at = None
    with qtbot.waitSignal(window.runner.sig_run_finished, timeout=10_000) as blocker:
        qtbot.mouseClick(window.train_panel.train_button, Qt.MouseButton.LeftButton)
    assert blocker.args[0].status == "completed"


def test_bad_settings_open_a_dialog_and_nothing_starts(qtbot, small_csv, tmp_path, errors):
    fake = FakeTrain()
    window = make_window(qtbot, small_csv, fake, tmp_path)
    window.hyperparams_panel.editors["learning_rate"].setText("fast")
    qtbot.mouseClick(window.train_panel.train_button, Qt.MouseButton.LeftButton)
    assert errors and errors[0][0] == "Cannot start training"
    assert "Learning rate must be a number" in errors[0][1]
    assert not window.runner.is_running() and fake.configs == []


def test_a_data_problem_blocks_training(qtbot, small_csv, tmp_path, errors):
    fake = FakeTrain()
    window = make_window(qtbot, small_csv, fake, tmp_path)
    window.data_panel.label_combo.setCurrentText("text")
    qtbot.mouseClick(window.train_panel.train_button, Qt.MouseButton.LeftButton)
    assert errors and "different columns" in errors[0][1]
    assert fake.configs == []


def test_closing_during_a_run_stops_it_and_joins_the_thread(qtbot, small_csv, tmp_path, errors):
    fake = FakeTrain(steps=5, wait_for_stop=True)
    window = make_window(qtbot, small_csv, fake, tmp_path)
    with qtbot.waitSignal(window.runner.sig_step_logged, timeout=10_000):
        qtbot.mouseClick(window.train_panel.train_button, Qt.MouseButton.LeftButton)
    ended: list[bool] = []
    window.runner._thread.finished.connect(lambda: ended.append(True))
    assert not window.close()  # the run is asked to stop; the window goes at once
    assert not window.isVisible()
    qtbot.waitUntil(lambda: window.closed, timeout=10_000)
    assert ended == [True] and not window.runner.is_running()
    assert errors == []


class SlowStopTrain:
    """Steps of 0.2 s; after Stop, 1.5 s of final evaluation and saving, as the engine does."""

    def __init__(self) -> None:
        self.run_dir = ""
        self.stop_seen_at: float | None = None
        self.finished_at: float | None = None

    def __call__(self, config, on_event, should_stop):
        on_event(RunStarted(self.run_dir, 1000, 100, 10, ["a", "b"], "cpu", "fp32"))
        step = 0
        while not should_stop():
            step += 1
            threading.Event().wait(0.2)  # one slow optimizer step (in the worker thread)
            on_event(StepLogged(step, 1000, step / 100, 1.0, 1e-4, 10.0, 0.2 * step, 100.0))
        self.stop_seen_at = time.perf_counter()
        threading.Event().wait(1.5)  # the final evaluation and saving of a stopped run
        self.finished_at = time.perf_counter()
        on_event(RunFinished("stopped", self.run_dir, eval_metrics()))


def test_closing_during_a_slow_run_never_blocks_the_window(qtbot, small_csv, tmp_path, errors):
    fake = SlowStopTrain()
    window = make_window(qtbot, small_csv, fake, tmp_path)
    with qtbot.waitSignal(window.runner.sig_step_logged, timeout=10_000):
        qtbot.mouseClick(window.train_panel.train_button, Qt.MouseButton.LeftButton)
    ended: list[bool] = []
    window.runner._thread.finished.connect(lambda: ended.append(True))
    started = time.perf_counter()
    assert not window.close()
    returned = time.perf_counter() - started
    assert returned < 0.5, f"close() blocked the GUI thread for {returned:.2f} s"
    assert not window.isVisible()
    qtbot.waitUntil(lambda: window.closed, timeout=15_000)
    assert fake.stop_seen_at is not None and fake.stop_seen_at - started < 1.0  # one step
    assert fake.finished_at is not None and ended == [True]
    assert not window.runner.is_running()
    assert errors == []


def test_geometry_and_page_are_remembered(qtbot, small_csv, tmp_path):
    window = make_window(qtbot, small_csv, FakeTrain(), tmp_path)
    window.resize(1000, 650)
    window.show_page("hyperparams")
    window.close()
    store = ui_settings.settings()
    assert isinstance(store.value(ui_settings.KEY_GEOMETRY), QByteArray)
    again = MainWindow(train_fn=FakeTrain())
    qtbot.addWidget(again)
    assert again.stack.currentIndex() == 2
    assert again.height() == 650  # the width is clamped to the 800-px offscreen screen
    # With no file given, the last opened data file opens again.
    qtbot.waitUntil(lambda: again.data_panel.path == str(small_csv), timeout=10_000)


def test_first_launch_opens_the_sample_data(qtbot, tmp_path, small_csv, monkeypatch):
    import workbench.gui.main_window as main_window

    monkeypatch.setattr(main_window, "sample_data_path", lambda: small_csv)
    window = MainWindow(train_fn=FakeTrain())
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: window.data_panel.path == str(small_csv), timeout=10_000)
    assert window.model_panel.model_name == "default"
    assert window.model_panel.task() == "text-classification"


def test_the_window_does_not_load_torch(tmp_path):
    """Fast start: torch is loaded by the workers (describing the model imports the families),
    never in the GUI thread while the window is built."""
    import subprocess
    import sys

    code = (
        "import os, sys, threading; os.environ['QT_QPA_PLATFORM'] = 'offscreen'\n"
        "where = []\n"
        "class Hook:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'torch' and not where:\n"
        "            where.append(threading.current_thread() is threading.main_thread())\n"
        "sys.meta_path.insert(0, Hook())\n"
        "from PySide6.QtWidgets import QApplication\n"
        "app = QApplication([])\n"
        "from workbench.gui.main_window import MainWindow\n"
        "from workbench.gui.tasks import wait_for_tasks\n"
        "w = MainWindow(data_path=os.devnull)\n"
        "in_gui_thread = where == [True]\n"
        "wait_for_tasks()\n"
        "print(in_gui_thread)\n"
    )
    env = {
        **__import__("os").environ,
        "WORKBENCH_HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path),
    }
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_app_main_opens_the_given_file_and_returns_when_closed(qtbot, small_csv, monkeypatch):
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from workbench.gui import app as gui_app

    opened = []

    def close_when_loaded() -> None:
        window = next(w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow))
        if window.data_panel.frame() is None:
            QTimer.singleShot(50, close_when_loaded)
            return
        opened.append(window.data_panel.path)
        window.close()

    QTimer.singleShot(0, close_when_loaded)
    assert gui_app.main([str(small_csv)]) == 0
    assert opened == [str(small_csv)]


def test_app_reads_the_data_file_from_the_environment(monkeypatch):
    from workbench.gui import app as gui_app

    monkeypatch.setenv(gui_app.DATA_ENV, "/data/x.csv")
    assert gui_app.parse_args([]).data == "/data/x.csv"
    assert gui_app.parse_args(["/data/y.csv"]).data == "/data/y.csv"


def test_the_light_style_sheet_is_applied_only_on_a_light_palette(qapp):
    from PySide6.QtGui import QColor, QPalette

    from workbench.gui.app import apply_style

    original_palette, original_sheet = qapp.palette(), qapp.styleSheet()
    try:
        light = QPalette(original_palette)
        light.setColor(QPalette.ColorRole.Window, QColor("#f0f0f0"))
        qapp.setPalette(light)
        assert apply_style(qapp) and "QGroupBox" in qapp.styleSheet()
        qapp.setStyleSheet("")
        dark = QPalette(original_palette)
        dark.setColor(QPalette.ColorRole.Window, QColor("#202124"))
        qapp.setPalette(dark)
        assert not apply_style(qapp) and qapp.styleSheet() == ""
    finally:
        qapp.setPalette(original_palette)
        qapp.setStyleSheet(original_sheet)
