"""Start-up: the window is drawn before background work (which imports torch) begins."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from workbench.gui import tasks


def test_held_tasks_start_only_when_released_and_in_order(qtbot):
    ran: list[int] = []
    tasks.hold_tasks()
    try:
        first = tasks.run_task(ran.append, 1)
        second = tasks.run_task(ran.append, 2)
        qtbot.wait(100)
        assert ran == []  # held: nothing started
    finally:
        tasks.release_tasks()
    with qtbot.waitSignals([first.sig_finished, second.sig_finished], timeout=10_000):
        pass
    assert sorted(ran) == [1, 2]
    third = tasks.run_task(ran.append, 3)  # after the release: at once
    with qtbot.waitSignal(third.sig_finished, timeout=10_000):
        pass
    assert sorted(ran) == [1, 2, 3]


def test_held_tasks_dropped_at_exit_never_run_and_leave_nothing_running(qtbot):
    ran: list[int] = []
    tasks.hold_tasks()
    tasks.run_task(ran.append, 1)
    tasks.release_tasks(start=False)
    tasks.release_tasks()  # again: nothing is held any more
    qtbot.wait(100)
    assert ran == [] and not tasks._RUNNING
    tasks.wait_for_tasks()  # a task that never started is not waited for


def test_after_start_calls_wait_for_the_release_and_skip_a_deleted_context(qtbot):
    from PySide6.QtCore import QObject

    ran: list[str] = []
    kept, dropped = QObject(), QObject()
    tasks.hold_tasks()
    try:
        tasks.after_start(kept, lambda: ran.append("kept"))
        tasks.after_start(dropped, lambda: ran.append("dropped"))
        qtbot.wait(50)
        assert ran == []  # held until the window's first frame
        dropped.deleteLater()
        qtbot.wait(10)
    finally:
        tasks.release_tasks()
    qtbot.waitUntil(lambda: ran == ["kept"])
    tasks.after_start(kept, lambda: ran.append("later"))  # nothing held: next turn of the loop
    qtbot.waitUntil(lambda: ran == ["kept", "later"])
    tasks.hold_tasks()
    tasks.after_start(kept, lambda: ran.append("at exit"))
    tasks.release_tasks(start=False)  # the app ended before its first frame
    qtbot.wait(50)
    assert ran == ["kept", "later"]


def test_waiting_for_a_held_task_does_not_block(qtbot):
    tasks.hold_tasks()
    try:
        task = tasks.run_task(lambda: None)
        tasks.wait_for_tasks()  # the app quitting before its window showed
        assert task not in tasks._RUNNING
    finally:
        tasks.release_tasks()


PROBE = """
import os, sys
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from PySide6.QtCore import QElapsedTimer, QEvent, QObject, QSettings, QTimer
from PySide6.QtWidgets import QApplication
app = QApplication([sys.argv[0]])
app.setOrganizationName("Workbench")
app.setApplicationName("Workbench")
QSettings().setValue("window/page", int(sys.argv[1]))  # the page the window opens on
HEAVY = ("torch", "pandas", "pyqtgraph")
seen, built = [], []
clock = QElapsedTimer()
class Probe(QObject):
    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.Expose and obj.isWindowType() and not seen:
            seen.append(sorted(m for m in HEAVY if m in sys.modules))
            clock.start()
            QTimer.singleShot(0, after_frame)
        return False
def after_frame():
    window = next(w for w in app.topLevelWidgets() if type(w).__name__ == "MainWindow")
    plot = window.train_panel.plot
    if plot.isVisible() and not plot.is_built() and clock.elapsed() < 120_000:
        QTimer.singleShot(50, after_frame)  # the Train page's plot is built after the frame
        return
    built.append(plot.is_built())
    app.closeAllWindows()
probe = Probe()
app.installEventFilter(probe)
from workbench.cli import main
# `workbench`: the CLI's parser (every task's defaults), then the window on argv[2]
code = main(["--open", sys.argv[2]])
print("heavy-before-window", seen, "plot-built", built, code)
"""


@pytest.mark.parametrize(("page", "plot_built"), [(0, False), (3, True)], ids=["data", "train"])
def test_the_window_shows_before_torch_pandas_and_pyqtgraph_load(tmp_path, page, plot_built):
    """Issue 17: "the window appears before the engine loads". On the Train page (3) the
    curves' plot, which imports pyqtgraph, is built once the first frame is drawn."""
    env = {**os.environ, "WORKBENCH_HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(page), os.devnull],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=True,
    )
    expected = f"heavy-before-window [[]] plot-built [{plot_built}] 0"
    assert out.stdout.strip().splitlines()[-1] == expected, out.stderr


def test_closing_the_window_while_its_data_file_is_read_exits_cleanly(tmp_path):
    """The window closes at its first frame while the data file is still being read and
    checked: the app joins every background task before it ends (no aborted QThread)."""
    from workbench.resources import sample_data_path

    env = {**os.environ, "WORKBENCH_HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", PROBE, "0", str(sample_data_path())],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1].endswith(" 0"), out.stdout
    assert "QThread" not in out.stderr, out.stderr


IMPORT_PROBE = """
import sys
import workbench.gui.main_window
print("heavy-after-import", sorted(m for m in ("pandas", "torch", "pyqtgraph") if m in sys.modules))
"""


def test_importing_the_main_window_imports_neither_pandas_nor_torch(tmp_path):
    """pandas took half the start-up (issue 17): the main window module, its panels and
    widgets import it (and the engine's readers, which import it) where they use it; the
    plots import pyqtgraph when they are built."""
    env = {**os.environ, "WORKBENCH_HOME": str(tmp_path), "QT_QPA_PLATFORM": "offscreen"}
    out = subprocess.run(
        [sys.executable, "-c", IMPORT_PROBE],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=True,
    )
    assert out.stdout.strip().splitlines()[-1] == "heavy-after-import []", out.stderr
