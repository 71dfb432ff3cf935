"""Start-up: the window is drawn before background work (which imports torch) begins."""

from __future__ import annotations

import os
import subprocess
import sys

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
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication
app = QApplication([sys.argv[0]])
seen = []
class Probe(QObject):
    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.Expose and obj.isWindowType() and not seen:
            seen.append("torch" in sys.modules)
            QTimer.singleShot(0, app.closeAllWindows)
        return False
probe = Probe()
app.installEventFilter(probe)
from workbench.gui.app import main
code = main([os.devnull])
print("torch-before-window", seen, code)
"""


def test_the_window_shows_before_torch_is_imported(tmp_path):
    env = {**os.environ, "WORKBENCH_HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=True,
    )
    assert out.stdout.strip().splitlines()[-1] == "torch-before-window [False] 0", out.stderr


IMPORT_PROBE = """
import sys
import workbench.gui.main_window
print("heavy-after-import", sorted(m for m in ("pandas", "torch") if m in sys.modules))
"""


def test_importing_the_main_window_imports_neither_pandas_nor_torch(tmp_path):
    """pandas took half the start-up (issue 17): the main window module, its panels and
    widgets import it (and the engine's readers, which import it) where they use it."""
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
