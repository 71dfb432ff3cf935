"""The Runs page: every run on disk in a table that follows the runs folder, and runs opened
into Evaluate, Playground and Export (also by themselves after a restart)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from gui_fakes import FakeTrain, eval_metrics, fake_load_predictor
from PySide6.QtCore import QPoint, Qt

from workbench import runs
from workbench.engine.events import Notice, RunFinished, RunStarted
from workbench.gui.main_window import MainWindow
from workbench.gui.panels import runs as runs_page
from workbench.gui.panels.runs import COLUMNS, RunsPanel

TIMEOUT = 20_000


def _records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def _write_records(run: Path, records: list[dict]) -> None:
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


def _shift_time(run: Path, seconds: float) -> None:
    records = _records(run)
    for record in records:
        record["time"] += seconds
    _write_records(run, records)


@pytest.fixture
def runs_root(trained_run) -> Path:
    """done (newest), stopped, failed and killed runs, copied from one real run, plus a
    folder that is no run."""
    root = runs.default_runs_dir()
    root.mkdir(parents=True)
    for name, shift in (("done", 300), ("stopped", 200), ("failed", 100), ("killed", 0)):
        shutil.copytree(trained_run, root / name)
        _shift_time(root / name, shift)
    results = json.loads((root / "stopped" / "eval_results.json").read_text())
    results["status"], results["accuracy"] = "stopped", 0.25
    (root / "stopped" / "eval_results.json").write_text(json.dumps(results))
    records = _records(root / "stopped")
    records[-1].update(status="stopped")
    _write_records(root / "stopped", records)
    for name in ("failed", "killed"):
        records = [r for r in _records(root / name) if r["kind"] != "finished"]
        if name == "failed":
            last = records[-1]["time"]
            records.append({"kind": "finished", "status": "failed", "error": "boom", "time": last})
        _write_records(root / name, records)
        (root / name / "eval_results.json").unlink()
        shutil.rmtree(root / name / "model")
    (root / "holiday-photos").mkdir()
    return root


@pytest.fixture
def panel(qtbot, runs_root):
    panel = RunsPanel()
    qtbot.addWidget(panel)
    panel.resize(1000, 600)
    panel.show()
    qtbot.waitUntil(lambda: panel.listed_once and not panel.is_listing(), timeout=TIMEOUT)
    return panel


def _folders(panel: RunsPanel) -> list[str]:
    return [info.folder for info in panel.shown_runs()]


def _select(qtbot, panel: RunsPanel, folder: str) -> None:
    row = _folders(panel).index(folder)
    rect = panel.table.visualRect(panel.proxy.index(row, 0))
    qtbot.mouseClick(panel.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert panel.selected_run().folder == folder


def _cell(panel: RunsPanel, folder: str, column: str) -> str:
    row = _folders(panel).index(folder)
    return panel.proxy.index(row, COLUMNS.index(column)).data()


def test_the_table_shows_every_run_newest_first(panel, trained_run):
    assert _folders(panel) == ["done", "stopped", "failed", "killed"]  # not the photos
    assert panel.count_label.text() == "4 runs"
    results = json.loads((trained_run / "eval_results.json").read_text())
    assert _cell(panel, "done", "metric") == f"Accuracy {results['accuracy'] * 100:.1f}%"
    assert _cell(panel, "stopped", "metric") == "Accuracy 25.0%"
    assert [_cell(panel, f, "status") for f in _folders(panel)] == [
        "Completed",
        "Stopped",
        "Failed",
        "Killed",
    ]
    assert _cell(panel, "done", "task") == "Text classification"
    assert _cell(panel, "done", "data") == "reviews.csv"
    assert _cell(panel, "done", "size").endswith("MB")
    status_tip = panel.proxy.index(2, COLUMNS.index("status")).data(Qt.ItemDataRole.ToolTipRole)
    assert status_tip == "boom"


def test_clicking_a_header_sorts_and_typing_filters(qtbot, panel):
    header = panel.table.horizontalHeader()

    def click_header(column: str) -> list:
        index = COLUMNS.index(column)
        x = header.sectionViewportPosition(index) + header.sectionSize(index) // 2
        qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(x, 5))
        assert header.sortIndicatorSection() == index
        values = [getattr(info, column) for info in panel.shown_runs()]
        descending = header.sortIndicatorOrder() == Qt.SortOrder.DescendingOrder
        assert values == sorted(values, reverse=descending)
        return values

    first = click_header("size")
    sizes = click_header("size")
    assert sizes == first[::-1]  # a second click turns the order round
    big = _folders(panel)[:2] if sizes[0] > sizes[-1] else _folders(panel)[2:]
    assert sorted(big) == ["done", "stopped"]  # the runs with a model are the big ones
    click_header("metric")
    click_header("duration")
    click_header("started")

    qtbot.keyClicks(panel.filter_edit, "KILL")
    assert _folders(panel) == ["killed"] and panel.count_label.text() == "1 of 4 runs"
    panel.filter_edit.clear()
    qtbot.keyClicks(panel.filter_edit, "reviews stopped")  # every word must match
    assert _folders(panel) == ["stopped"]
    panel.filter_edit.clear()
    assert len(_folders(panel)) == 4


def test_delete_asks_first_and_removes_only_after_yes(qtbot, panel, runs_root):
    asked = []
    answers = iter([False, True])

    def confirm(parent, title, question):
        asked.append(question)
        return next(answers)

    panel.confirm = confirm
    _select(qtbot, panel, "failed")
    qtbot.mouseClick(panel.delete_button, Qt.MouseButton.LeftButton)
    assert len(asked) == 1 and "failed" in asked[0] and str(runs_root / "failed") in asked[0]
    assert (runs_root / "failed").is_dir() and "failed" in _folders(panel)
    qtbot.mouseClick(panel.delete_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "failed" not in _folders(panel), timeout=TIMEOUT)
    assert not (runs_root / "failed").exists()
    assert sorted(p.name for p in runs_root.iterdir()) == [
        "done",
        "holiday-photos",
        "killed",
        "stopped",
    ]
    assert panel.message.text() == "Deleted the run “failed”."


def test_a_running_run_cannot_be_deleted(qtbot, panel, runs_root):
    lock = runs.RunLock(runs_root / "killed")
    assert lock.acquire()
    try:
        panel.refresh()
        qtbot.waitUntil(
            lambda: _cell(panel, "killed", "status") == "Running" and not panel.is_listing(),
            timeout=TIMEOUT,
        )
        _select(qtbot, panel, "killed")
        assert not panel.delete_button.isEnabled()
        assert str(runs_root / "killed") in panel.watcher.directories()  # its results come
    finally:
        lock.release()


def test_folders_added_or_deleted_by_another_process_appear_and_vanish(qtbot, panel, runs_root):
    code = "import shutil, sys; shutil.copytree(sys.argv[1], sys.argv[2])"
    subprocess.run(
        [sys.executable, "-c", code, str(runs_root / "done"), str(runs_root / "copy")], check=True
    )
    qtbot.waitUntil(lambda: "copy" in _folders(panel), timeout=TIMEOUT)  # no refresh asked
    code = "import shutil, sys; shutil.rmtree(sys.argv[1])"
    subprocess.run([sys.executable, "-c", code, str(runs_root / "stopped")], check=True)
    qtbot.waitUntil(lambda: "stopped" not in _folders(panel), timeout=TIMEOUT)
    assert panel.count_label.text() == "4 runs"


def test_rename_and_note_are_saved_with_the_run(qtbot, panel, runs_root):
    panel.ask_name = lambda parent, title, label, current: "baseline, lr 2e-4"
    panel.ask_note = lambda parent, title, label, current: "the one to beat"
    _select(qtbot, panel, "done")
    qtbot.mouseClick(panel.rename_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "baseline, lr 2e-4" in _cell(panel, "done", "name"), timeout=TIMEOUT)
    assert panel.selected_run().folder == "done"  # the selection stays on the run
    qtbot.mouseClick(panel.note_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.selected_run().note == "the one to beat", timeout=TIMEOUT)
    assert panel.note_label.isVisible() and "the one to beat" in panel.note_label.text()
    assert json.loads((runs_root / "done" / "run.json").read_text()) == {
        "name": "baseline, lr 2e-4",
        "note": "the one to beat",
    }
    assert (runs_root / "done" / "config.toml").is_file()  # the folder was not moved
    qtbot.keyClicks(panel.filter_edit, "beat")  # the note is searched too
    assert _folders(panel) == ["done"]


def test_a_run_without_a_model_cannot_be_opened(qtbot, panel):
    _select(qtbot, panel, "killed")
    assert not panel.open_button.isEnabled()
    _select(qtbot, panel, "stopped")
    assert panel.open_button.isEnabled()


@pytest.fixture
def window_factory(qtbot, small_csv):
    made = []

    def make() -> MainWindow:
        window = MainWindow(
            data_path=small_csv, train_fn=FakeTrain(), load_predictor_fn=fake_load_predictor
        )
        qtbot.addWidget(window)
        made.append(window)
        return window

    yield make
    for window in made:
        window.close()


def _shows_run(window: MainWindow, run: Path) -> bool:
    return (
        window.evaluate_panel.run_dir == str(run)
        and window.playground_panel.model_source == str(run)
        and window.playground_panel.is_ready()
        and window.export_panel.run_dir == str(run)
    )


def test_opening_a_run_fills_evaluate_playground_and_export(qtbot, window_factory, runs_root):
    window = window_factory()
    qtbot.waitUntil(lambda: _shows_run(window, runs_root / "done"), timeout=TIMEOUT)  # newest
    window.show_page("runs")
    panel = window.runs_panel
    qtbot.waitUntil(lambda: len(_folders(panel)) == 4 and not panel.is_listing(), timeout=TIMEOUT)
    _select(qtbot, panel, "stopped")
    with qtbot.waitSignal(panel.sig_run_opened, timeout=TIMEOUT):
        qtbot.mouseClick(panel.open_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: _shows_run(window, runs_root / "stopped"), timeout=TIMEOUT)
    evaluate = window.evaluate_panel
    assert evaluate.metrics["accuracy"] == 0.25 and evaluate.task == "text-classification"
    assert "stopped run" in evaluate.caption.text()
    assert evaluate.card_values["accuracy"].text() == "25.0%"
    assert evaluate.evaluate_button.isEnabled()  # "Evaluate on another file…" has a model


def test_a_restart_reopens_the_last_opened_run(qtbot, window_factory, runs_root):
    first = window_factory()
    qtbot.waitUntil(lambda: _shows_run(first, runs_root / "done"), timeout=TIMEOUT)
    first.runs_panel.open_run(str(runs_root / "stopped"))
    qtbot.waitUntil(lambda: _shows_run(first, runs_root / "stopped"), timeout=TIMEOUT)
    first.close()
    second = window_factory()  # a new window reads the same settings and runs folder
    qtbot.waitUntil(lambda: _shows_run(second, runs_root / "stopped"), timeout=TIMEOUT)
    assert "Train a model first" not in second.export_panel.run_label.text()
    assert "Train a model" not in second.evaluate_panel.caption.text()
    assert second.evaluate_panel.metrics["accuracy"] == 0.25


class FakeResume:
    """Stands in for engine.resume: records the folder, reports a short continued run."""

    def __init__(self) -> None:
        self.run_dirs: list[str] = []

    def __call__(self, run_dir, on_event, should_stop):
        self.run_dirs.append(str(run_dir))
        on_event(RunStarted(str(run_dir), 10, 180, 20, ["negative", "positive"], "cpu", "fp32"))
        on_event(Notice("resumed from the checkpoint of step 3 of 10"))
        on_event(RunFinished("completed", str(run_dir), eval_metrics()))


def test_resume_continues_a_killed_run_with_a_checkpoint(qtbot, small_csv, runs_root):
    marker = {"step": 3, "epoch": 0, "batch_in_epoch": 3, "metric": None, "bytes": 1}
    folder = runs_root / "killed" / "checkpoints" / "step-3"
    folder.mkdir(parents=True)
    (folder / "state.json").write_text(json.dumps({"format": 1, "total_steps": 10}))
    (folder / "COMPLETE").write_text(json.dumps(marker))
    resume = FakeResume()
    train = FakeTrain()
    window = MainWindow(
        data_path=small_csv,
        train_fn=train,
        load_predictor_fn=fake_load_predictor,
        resume_fn=resume,
    )
    qtbot.addWidget(window)
    window.show_page("runs")
    panel = window.runs_panel
    qtbot.waitUntil(lambda: len(_folders(panel)) == 4 and not panel.is_listing(), timeout=TIMEOUT)
    _select(qtbot, panel, "done")
    assert not panel.resume_button.isEnabled()  # completed: nothing to resume
    _select(qtbot, panel, "failed")
    assert not panel.resume_button.isEnabled()  # no checkpoint
    _select(qtbot, panel, "killed")
    assert panel.resume_button.isEnabled()
    assert panel.resume_button.toolTip() == "resumes from the checkpoint of step 3"
    with qtbot.waitSignal(window.runner.sig_run_finished, timeout=TIMEOUT) as finished:
        qtbot.mouseClick(panel.resume_button, Qt.MouseButton.LeftButton)
        assert window.stack.currentWidget() is window.stack.widget(3)  # the Train page
        assert not panel.resume_button.isEnabled()  # one run at a time
    assert resume.run_dirs == [str(runs_root / "killed")] and train.configs == []
    assert finished.args[0].status == "completed"
    window.close()


def test_a_restart_without_runs_still_asks_for_training(qtbot, window_factory):
    window = window_factory()
    qtbot.waitUntil(lambda: window.runs_panel.listed_once, timeout=TIMEOUT)
    qtbot.wait(50)
    assert window.playground_panel.model_source == "" or not window.playground_panel.is_ready()
    assert (
        window.export_panel.run_label.text()
        == "Train a model first: export uses the last finished run."
    )
    window.show_page("runs")
    assert window.runs_panel.message.text() == runs_page.MESSAGES["none"]


def test_dates_drop_the_year_only_within_the_current_year():
    import time

    now = time.mktime((2026, 12, 1, 15, 0, 0, 0, 0, -1))
    this_year = time.mktime((2026, 3, 4, 9, 5, 0, 0, 0, -1))
    last_year = time.mktime((2025, 12, 31, 23, 59, 0, 0, 0, -1))
    month = time.strftime("%b", time.localtime(this_year))  # the user's locale names it
    assert runs_page._format_date(this_year, now) == f"{month} 04 09:05"
    assert runs_page._format_date(last_year, now) == "2025-12-31 23:59"
