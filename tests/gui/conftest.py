"""GUI tests: offscreen Qt, fresh settings and WORKBENCH_HOME per test, no leftover threads."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import threading  # noqa: E402
import weakref  # noqa: E402

import pytest  # noqa: E402
from PySide6.QtCore import QCoreApplication, QSettings, QThread  # noqa: E402
from thread_leaks import leaked_threads  # noqa: E402

THREAD_GRACE_S = 5.0  # a thread that is ending (a run saving after Stop) may take this long


@pytest.fixture
def no_leaked_threads(qapp, monkeypatch):
    """Fails the test if it leaves a QThread running, or a Python thread it started alive,
    once a short grace period (with events processed, so finishing threads can be joined)
    is over. QThreads are seen by wrapping QThread.start while the test runs."""
    try:  # transformers' progress bars start tqdm's monitor thread, once per process, for good
        import tqdm

        monkeypatch.setattr(tqdm.tqdm, "monitor_interval", 0)
    except ImportError:
        pass
    started: weakref.WeakSet[QThread] = weakref.WeakSet()
    original_start = QThread.start

    def start(self, *args, **kwargs):
        started.add(self)
        return original_start(self, *args, **kwargs)

    monkeypatch.setattr(QThread, "start", start)
    before = set(threading.enumerate())  # objects, not idents: an ended thread's is reused
    yield started
    names = leaked_threads(started, before, THREAD_GRACE_S)
    assert not names, f"threads outlived the test by {THREAD_GRACE_S:.0f} s: {names}"


@pytest.fixture(autouse=True)
def gui_isolation(no_leaked_threads, qapp, tmp_path, monkeypatch):
    """Each test gets its own settings folder and runs folder; threads must not outlive it
    (no_leaked_threads checks after the tasks below were joined)."""
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "home"))
    settings_dir = tmp_path / "settings"
    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(fmt, QSettings.Scope.UserScope, str(settings_dir))
    QCoreApplication.setOrganizationName("WorkbenchTests")
    QCoreApplication.setApplicationName(f"WorkbenchTests-{os.getpid()}")
    QSettings().clear()
    yield
    from workbench.gui import predictor_service, tasks

    predictor_service.shutdown_all()
    tasks.wait_for_tasks()
    assert not tasks._RUNNING, "a background task outlived its test"
    QSettings().clear()


@pytest.fixture
def small_csv(tmp_path):
    """A 200-row, two-class CSV (a stand-in for the bundled sample)."""
    from gui_fakes import write_small_csv

    return write_small_csv(tmp_path / "small.csv")
