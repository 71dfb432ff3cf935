"""Background tasks: many short ones, their handles dropped at once, end cleanly."""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication

from workbench.gui.tasks import run_task, wait_for_tasks


def test_many_short_tasks_whose_handles_are_dropped_end_without_a_crash(qtbot):
    results: list[int] = []
    for i in range(200):
        # As a panel does when a newer request replaces an older one: no handle is kept.
        run_task(lambda n: n * n, i).sig_succeeded.connect(results.append)
        if i % 20 == 0:
            QCoreApplication.processEvents()
    qtbot.waitUntil(lambda: len(results) == 200, timeout=20_000)
    wait_for_tasks()
    QCoreApplication.processEvents()
    assert sorted(results) == [i * i for i in range(200)]


def test_a_failing_task_reports_its_message(qtbot):
    def fail() -> None:
        raise ValueError("the file has no column 'text'")

    task = run_task(fail)
    with qtbot.waitSignal(task.sig_failed, timeout=5_000) as failed:
        pass
    assert "no column 'text'" in failed.args[0]
    wait_for_tasks()
