"""Unexpected exceptions in the GUI: a dialog naming the app log, the traceback in that log,
and the app going on (never a silent exit)."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox, QPushButton

from workbench import applog
from workbench.gui import app as gui_app
from workbench.gui import crash


@pytest.fixture
def shown(monkeypatch):
    """The dialogs the reporter would show, as (title, text, details), without blocking."""
    dialogs: list[tuple[str, str, str]] = []

    def record(parent, title, text, details):
        dialogs.append((title, text, details))

    monkeypatch.setattr(crash.CrashReporter, "show_dialog", staticmethod(record))
    return dialogs


@pytest.fixture
def reporter(tmp_path):
    log = applog.setup(tmp_path / "logs")
    assert log == tmp_path / "logs" / "workbench.log"
    reporter = crash.install()
    yield reporter
    reporter.uninstall()
    applog.shutdown()


def _log_text(tmp_path) -> str:
    return (tmp_path / "logs" / "workbench.log").read_text(encoding="utf-8")


def _parse_the_unparseable() -> None:
    raise ValueError("the slot broke")


@pytest.mark.qt_no_exception_capture
def test_a_slot_that_raises_shows_a_dialog_and_logs_the_traceback(qtbot, tmp_path, shown, reporter):
    button = QPushButton("break")
    qtbot.addWidget(button)
    button.clicked.connect(_parse_the_unparseable)
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)

    assert len(shown) == 1
    title, text, details = shown[0]
    assert title == crash.MESSAGES["title"]
    assert "ValueError: the slot broke" in text
    assert str(tmp_path / "logs" / "workbench.log") in text  # where to find the details
    assert "_parse_the_unparseable" in details
    log = _log_text(tmp_path)
    assert "Traceback (most recent call last)" in log
    assert "_parse_the_unparseable" in log and "ValueError: the slot broke" in log
    # The app goes on: the button still works (and still reports).
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert len(shown) == 2


@pytest.mark.qt_no_exception_capture
def test_an_exception_in_a_python_thread_reaches_the_dialog_in_the_gui_thread(
    qtbot, tmp_path, shown, reporter
):
    gui_thread = threading.current_thread()
    seen_in: list[threading.Thread] = []
    original = crash.CrashReporter._on_crashed

    def spy(self, message, details):
        seen_in.append(threading.current_thread())
        original(self, message, details)

    def work() -> None:
        raise OSError("disk on fire")

    crash.CrashReporter._on_crashed = spy  # restored below
    try:
        thread = threading.Thread(target=work, name="reader")
        thread.start()
        thread.join(5)
        qtbot.waitUntil(lambda: len(shown) == 1, timeout=5_000)
    finally:
        crash.CrashReporter._on_crashed = original
    assert "OSError: disk on fire" in shown[0][1]
    assert seen_in == [gui_thread]  # never a widget made in another thread
    log = _log_text(tmp_path)
    assert "unexpected error in thread reader" in log and "disk on fire" in log


@pytest.mark.qt_no_exception_capture
def test_errors_while_the_dialog_is_open_are_counted_into_it(qtbot, tmp_path, reporter):
    def raise_twice() -> None:
        raise RuntimeError("tick")

    for _ in range(3):
        QTimer.singleShot(0, raise_twice)
    qtbot.waitUntil(lambda: len(reporter.shown) == 3, timeout=5_000)
    boxes = [w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox)]
    visible = [box for box in boxes if box.isVisible()]
    assert len(visible) == 1  # one dialog, not one per error
    box = visible[0]
    assert "RuntimeError: tick" in box.text() and "2 more unexpected error(s)" in box.text()
    assert "Traceback" in box.detailedText()
    box.close()
    assert _log_text(tmp_path).count("RuntimeError: tick") == 3


def test_keyboard_interrupt_goes_to_python_not_to_a_dialog(qtbot, shown, reporter, capsys):
    import sys

    try:
        raise KeyboardInterrupt
    except KeyboardInterrupt:
        sys.excepthook(*sys.exc_info())
    assert shown == []
    assert "KeyboardInterrupt" in capsys.readouterr().err


def test_a_window_that_cannot_be_built_is_reported_and_main_returns_1(
    qtbot, tmp_path, shown, monkeypatch
):
    import sys

    import workbench.gui.main_window as main_window

    def broken(*args, **kwargs):
        raise TypeError("the window broke")

    monkeypatch.setattr(main_window, "MainWindow", broken)
    hooks = (sys.excepthook, threading.excepthook)
    try:
        assert gui_app.main([]) == 1
    finally:
        applog.shutdown()
    assert (sys.excepthook, threading.excepthook) == hooks  # uninstalled again
    assert len(shown) == 1 and "TypeError: the window broke" in shown[0][1]
    log = (tmp_path / "home" / "logs" / "workbench.log").read_text(encoding="utf-8")
    assert "unexpected error in start-up" in log and "the window broke" in log


def test_the_app_log_records_a_run_started_and_failed(qtbot, tmp_path, reporter):
    from gui_fakes import FakeTrain

    from workbench.gui.worker import TrainingRunner

    runner = TrainingRunner(FakeTrain(steps=5, raise_at=2, exc=MemoryError("no room")))
    with qtbot.waitSignal(runner.sig_run_finished, timeout=10_000) as finished:
        runner.start(object())
    assert finished.args[0].status == "failed"
    log = _log_text(tmp_path)
    assert "run started: /tmp/fake-run" in log
    assert "run failed: /tmp/fake-run: MemoryError: no room" in log
    assert "Traceback" in log and "in __call__" in log  # where the engine raised
