"""GUI tests: offscreen Qt, fresh settings and WORKBENCH_HOME per test, no leftover threads."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402
from PySide6.QtCore import QCoreApplication, QSettings  # noqa: E402


@pytest.fixture(autouse=True)
def gui_isolation(qapp, tmp_path, monkeypatch):
    """Each test gets its own settings folder and runs folder; threads must not outlive it."""
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
