"""What a person sees when things go wrong in the window: a bad data file chosen over a good
one, an unexpected exception in the training thread, the "could not save" question (which
cannot be dismissed without an answer, and holds the window open while it waits)."""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path
from types import SimpleNamespace

from PySide6.QtCore import Qt
from PySide6.QtGui import QCloseEvent

from workbench import applog
from workbench.engine.events import RunFinished, RunStarted
from workbench.gui.panels.data import DataPanel
from workbench.gui.panels.save_problem import SaveProblemDialog, describe, new_folder_in
from workbench.gui.panels.train import TrainPanel
from workbench.gui.worker import SaveQuestion, TrainingRunner

SHOTS = os.environ.get("WORKBENCH_SHOTS")  # a folder: what is shown is saved there as PNG


def _shot(widget, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        widget.grab().save(str(Path(SHOTS) / f"{name}.png"))


def _failure(**overrides) -> SimpleNamespace:
    values = dict(
        what="model", run_dir="/runs/run-7", folder="/runs/run-7", errno=errno.ENOSPC,
        error="No space left on device", needed_bytes=92 * 2**20, free_bytes=3 * 2**20,
        step=450, total_steps=900, checkpoint_step=400,
    )  # fmt: skip
    values.update(overrides)
    return SimpleNamespace(**values)


def test_a_bad_file_over_a_good_one_says_the_good_one_is_still_used(qtbot, small_csv, tmp_path):
    panel = DataPanel()
    qtbot.addWidget(panel)
    panel.resize(900, 560)  # the Data page of a small (1024×640) window
    panel.show()
    with qtbot.waitSignal(panel.sig_data_loaded, timeout=10_000):
        panel.open_file(small_csv)
    bad = tmp_path / "scan.csv"
    bad.write_bytes(bytes(range(256)) * 8)
    with qtbot.waitSignal(panel.sig_data_failed, timeout=10_000) as failed:
        panel.open_file(bad)
    text = panel.message.text()
    assert text.startswith(f"Not opened: {failed.args[0]}")
    assert "scan.csv" in text and "binary" in text  # the bad file, and what is wrong with it
    assert f"Still using {small_csv.name} (shown above, as before)" in text
    assert panel.message.kind == "warning" and panel.message.isVisible()
    assert panel.path_edit.text() == str(small_csv)  # the good file, still visibly selected
    assert panel.config_values()["data"] == str(small_csv) and panel.problem() is None
    assert panel.preview_model.rowCount() == 200
    _shot(panel, "bad_file_over_good")

    with qtbot.waitSignal(panel.sig_data_loaded, timeout=10_000):
        panel.open_file(small_csv)  # a good file again: the hint goes
    assert "Not opened" not in (panel.message.text() if panel.message.isVisible() else "")


def test_a_bad_file_with_nothing_before_is_an_error_and_nothing_is_selected(qtbot, tmp_path):
    panel = DataPanel()
    qtbot.addWidget(panel)
    bad = tmp_path / "empty.csv"
    bad.write_text("")
    with qtbot.waitSignal(panel.sig_data_failed, timeout=10_000) as failed:
        panel.open_file(bad)
    assert panel.message.kind == "error" and panel.message.text() == failed.args[0]
    assert panel.path_edit.text() == "" and panel.config_values()["data"] in ("", None)


def test_an_unexpected_error_in_the_training_thread_is_a_dialog_naming_the_logs(
    qtbot, tmp_path, monkeypatch
):
    applog.setup(tmp_path / "logs")
    try:
        shown: list = []
        monkeypatch.setattr(TrainPanel, "show_error", staticmethod(lambda *a: shown.append(a)))
        panel = TrainPanel()
        qtbot.addWidget(panel)
        run_dir = str(tmp_path / "run")

        def broken(config, on_event, should_stop):
            on_event(RunStarted(run_dir, 10, 8, 2, ["a", "b"], "cpu", "fp32"))
            raise TypeError("unsupported operand type(s) for +: 'int' and 'str'")

        runner = TrainingRunner(broken, parent=panel)
        panel.connect_runner(runner)
        with qtbot.waitSignal(runner.sig_run_finished, timeout=10_000) as finished:
            runner.start(object())
        assert finished.args[0].status == "failed"
        assert len(shown) == 1
        _, title, text = shown[0]
        assert title == "Training failed"
        assert text.startswith("TypeError: unsupported operand type(s) for +: 'int' and 'str'")
        assert f"{run_dir}/log.txt" in text and str(applog.log_path()) in text
        assert "TypeError" in panel.status_label.text()
        applog.logger.handlers[0].flush()
        logged = applog.log_path().read_text("utf-8")
        assert "Traceback" in logged and "unsupported operand" in logged
        assert panel.train_button.isEnabled()  # the window goes on
    finally:
        applog.shutdown()


def test_the_save_question_says_what_where_and_how_much(qtbot):
    text = describe(_failure())
    assert text.startswith("The trained model (step 450 of 900) could not be saved.")
    assert "The disk is full: it needs 92.0 MB and 3.0 MB are free in /runs/run-7." in text
    assert "checkpoint of step 400: Resume on the Runs page continues from there" in text
    assert "Free some space and press Save again, or save the run in another folder." in text
    text = describe(_failure(what="checkpoint", errno=errno.EROFS, checkpoint_step=None,
                             error="Read-only file system", folder="/media/usb/runs"))  # fmt: skip
    assert text.startswith("Training stopped at step 450 of 900: its checkpoint could not")
    assert "/media/usb/runs is on a read-only disk (Read-only file system)" in text
    assert "what was trained is lost (no checkpoint was saved yet)" in text
    assert "Make the folder writable (or the disk read-write) and press Save again" in text


def test_the_save_question_cannot_be_dismissed_without_an_answer(qtbot, tmp_path, monkeypatch):
    question = SaveQuestion(_failure(run_dir=str(tmp_path / "run-7")))
    dialog = SaveProblemDialog(question)
    qtbot.addWidget(dialog)
    dialog.resize(480, 300)  # small
    dialog.open()
    _shot(dialog, "save_question_small")
    dialog.close()  # the title bar's ×, or Escape
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    assert dialog.isVisible() and not question.answered.is_set()
    monkeypatch.setattr(SaveProblemDialog, "choose_folder", staticmethod(lambda *a: ""))
    dialog.elsewhere_button.click()  # the folder dialog was cancelled: still asking
    assert dialog.isVisible() and not question.answered.is_set()
    (tmp_path / "usb" / "run-7").mkdir(parents=True)  # taken: the next free name
    monkeypatch.setattr(
        SaveProblemDialog, "choose_folder", staticmethod(lambda *a: str(tmp_path / "usb"))
    )
    dialog.elsewhere_button.click()
    assert question.answered.is_set()
    assert question.wait(threading.Event()) == tmp_path / "usb" / "run-7-2"
    assert not dialog.isVisible()
    assert new_folder_in(tmp_path / "new", "/x/run-1") == tmp_path / "new" / "run-1"


def test_closing_the_window_while_the_question_waits_keeps_it_open(qtbot, small_csv, monkeypatch):
    """The model is only in memory: closing first brings the question back; a signal or
    the app ending gives it up (abandon), and the run ends."""
    from workbench.gui.main_window import MainWindow

    asked = threading.Event()

    def full_disk(config, on_event, should_stop):
        on_event(RunStarted("", 10, 8, 2, ["a", "b"], "cpu", "fp32"))
        question = SaveQuestion(_failure())
        asked.set()
        runner._events.put(question)  # as the worker's on_save_failed handler does
        answer = question.wait(runner._abandoned)
        on_event(RunFinished("failed", "", {}, f"not saved ({answer})"))

    window = MainWindow(data_path=small_csv, train_fn=full_disk)
    qtbot.addWidget(window)
    monkeypatch.setattr(TrainPanel, "show_error", staticmethod(lambda *a: None))
    runner = window.runner
    window.show()
    runner.start(object())
    qtbot.waitUntil(lambda: window.train_panel.save_dialog is not None, timeout=10_000)
    event = QCloseEvent()
    window.closeEvent(event)
    assert not event.isAccepted() and window.isVisible()
    assert window.train_panel.save_dialog.isVisible()
    with qtbot.waitSignal(runner.sig_run_finished, timeout=10_000) as finished:
        runner.abandon()
    assert finished.args[0].error == "not saved (None)"
    window.close()
    qtbot.waitUntil(lambda: window.closed, timeout=10_000)
