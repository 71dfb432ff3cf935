"""A full or read-only disk while a GUI run saves (a real ENOSPC/EROFS from a small tmpfs, as
tests/bad_inputs/test_full_disk.py; root only): the run stops with a dialog saying what it
needs and where, the model stays in memory, "Save again" after space is freed or "Save
elsewhere…" keeps it, "Don't save" keeps the last checkpoint, and nothing is half-written."""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from survive_helpers import fill, hidden_files, micro_config, small_disk

from workbench import engine
from workbench.engine.events import Notice
from workbench.gui.panels.save_problem import SaveProblemDialog
from workbench.gui.panels.train import TrainPanel
from workbench.gui.worker import TrainingRunner

pytestmark = pytest.mark.skipif(os.name != "posix", reason="tmpfs is Linux")
LIMIT_DRIVER = Path(__file__).with_name("survive_limit_driver.py")
SHOTS = os.environ.get("WORKBENCH_SHOTS")  # a folder: the dialogs are saved there as PNG


def _after_checkpoint(action):
    """engine.train, with `action()` run in the training thread once the first checkpoint is
    saved (another program fills the disk then), before the model is saved."""

    def train(config, on_event, should_stop):
        done = []

        def events(event):
            on_event(event)
            if isinstance(event, Notice) and "checkpoint saved" in str(event.message):
                if not done:
                    done.append(action())

        return engine.train(config, on_event=events, should_stop=should_stop)

    return train


@pytest.fixture
def panel(qtbot, monkeypatch):
    errors: list = []
    monkeypatch.setattr(TrainPanel, "show_error", staticmethod(lambda *a: errors.append(a)))
    panel = TrainPanel()
    panel.errors = errors
    qtbot.addWidget(panel)
    panel.resize(640, 480)
    panel.show()
    panel.runners = []
    yield panel
    for runner in panel.runners:  # a failed check must not leave a question waiting
        runner.shutdown()


def _start(panel, train_fn, config) -> TrainingRunner:
    runner = TrainingRunner(train_fn, parent=panel)
    panel.connect_runner(runner)
    panel.runners.append(runner)
    runner.start(config)
    return runner


def _question(qtbot, panel, previous=None) -> SaveProblemDialog:
    qtbot.waitUntil(
        lambda: (
            panel.save_dialog is not None
            and panel.save_dialog is not previous
            and panel.save_dialog.isVisible()
        ),
        timeout=120_000,
    )
    return panel.save_dialog


def _shot(widget, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        widget.grab().save(str(Path(SHOTS) / f"{name}.png"))


def test_a_full_disk_while_saving_the_model_asks_and_saves_again(qtbot, tmp_path, panel):
    with small_disk(tmp_path / "disk") as disk:
        run = disk / "run"
        filler: list[Path] = []
        runner = _start(panel, _after_checkpoint(lambda: filler.append(fill(disk))),
                        micro_config(tmp_path, run))  # fmt: skip
        dialog = _question(qtbot, panel)
        text = dialog.text()
        assert "The trained model (step 6 of 6) could not be saved." in text
        assert "The disk is full: it needs " in text and f" MB are free in {run}" in text
        assert "kept in memory" in text and "Save again" in text
        assert "checkpoint of step 3: Resume on the Runs page" in text
        assert "Not saved: The disk is full" in panel.status_label.text()
        assert runner.is_running() and runner.save_pending()
        assert not panel.stop_button.isEnabled()  # training has stopped; the dialog decides
        _shot(panel.window(), "full_disk_panel")
        _shot(dialog, "full_disk_dialog")
        assert not (run / "model").exists() and hidden_files(run) == []

        dialog.again_button.click()  # still full: asked again, nothing half-written
        dialog = _question(qtbot, panel, previous=dialog)
        assert "The disk is full" in dialog.text() and hidden_files(run) == []

        filler[0].unlink()  # space freed
        with qtbot.waitSignal(runner.sig_run_finished, timeout=120_000) as finished:
            dialog.again_button.click()
        event = finished.args[0]
        assert event.status == "completed", event.error
        assert event.run_dir == str(run)
        assert (run / "model" / "model.safetensors").is_file()
        assert json.loads((run / "eval_results.json").read_text())["status"] == "completed"
        assert hidden_files(run) == [] and panel.errors == []
        assert panel.last_status == "completed"


def test_a_full_disk_at_a_checkpoint_stops_and_saves_elsewhere(qtbot, tmp_path, panel,
                                                               monkeypatch):  # fmt: skip
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.setattr(SaveProblemDialog, "choose_folder", staticmethod(lambda *a: str(elsewhere)))
    with small_disk(tmp_path / "disk") as disk:
        run = disk / "run"
        fill(disk, leave=96 * 1024)  # the config and the logs fit, a checkpoint does not
        runner = _start(panel, engine.train, micro_config(tmp_path, run))
        dialog = _question(qtbot, panel)
        text = dialog.text()
        assert "Training stopped at step 3 of 6: its checkpoint could not be saved." in text
        assert (
            "The disk is full: it needs " in text and f"are free in {run / 'checkpoints'}" in text
        )
        assert "no checkpoint was saved yet" in text
        _shot(dialog, "full_disk_checkpoint_dialog")
        with qtbot.waitSignal(runner.sig_run_finished, timeout=120_000) as finished:
            dialog.elsewhere_button.click()
        event = finished.args[0]
        assert hidden_files(run) == [] and sorted(os.listdir(run / "checkpoints")) == []
    saved = elsewhere / "run"
    assert event.status == "stopped", event.error
    assert event.run_dir == str(saved)
    assert (saved / "model" / "model.safetensors").is_file()
    assert json.loads((saved / "eval_results.json").read_text())["status"] == "stopped"
    assert f'output = "{saved}"' in (saved / "config.toml").read_text()
    assert (saved / "metrics.jsonl").is_file() and hidden_files(saved) == []


def test_a_read_only_disk_while_saving_asks_and_dont_save_keeps_the_checkpoint(
    qtbot, tmp_path, panel
):
    with small_disk(tmp_path / "disk") as disk:
        run = disk / "run"

        def read_only() -> None:  # the run folder becomes a read-only file system
            subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(run)],
                           check=True)  # fmt: skip

        try:
            runner = _start(panel, _after_checkpoint(read_only), micro_config(tmp_path, run))
            dialog = _question(qtbot, panel)
            assert f"{run} is on a read-only disk (Read-only file system)" in dialog.text()
            _shot(dialog, "read_only_dialog")
            with qtbot.waitSignal(runner.sig_run_finished, timeout=120_000) as finished:
                dialog.discard_button.click()
            event = finished.args[0]
        finally:
            subprocess.run(["umount", "-l", str(run)], check=False)
        assert event.status == "failed"
        assert event.error.startswith("the model was not saved: Read-only file system in "), (
            event.error
        )
        assert len(panel.errors) == 1 and "the model was not saved" in panel.errors[0][2]
        status = engine.resume_status(run)
        assert status["resumable"] and status["step"] == 3, status  # Resume continues it
        assert not (run / "model").exists() and hidden_files(run) == []


@pytest.mark.slow
def test_a_file_size_limit_at_a_checkpoint_asks_and_saves_once_it_is_raised(tmp_path):
    """No root needed: the child's soft `ulimit -f` is 300 KB (the micro model's weights fit,
    its first checkpoint does not: EFBIG from the OS); the child raises it and saves again."""
    import resource

    def limited() -> None:
        _, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE, (300 * 1024, hard))

    run = tmp_path / "run"
    config = micro_config(tmp_path, run)
    values = {k: v for k, v in dataclasses.asdict(config).items() if v is not None}
    child = subprocess.run(
        [sys.executable, str(LIMIT_DRIVER), json.dumps(values)],
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=limited,
        env={**os.environ, "OMP_NUM_THREADS": "1", "QT_QPA_PLATFORM": "offscreen",
             "PYTHONPATH": str(LIMIT_DRIVER.parents[2])},
    )  # fmt: skip
    assert child.returncode == 0, child.stderr
    lines = [json.loads(line) for line in child.stdout.splitlines() if line.startswith("{")]
    asked, finished = lines[0], lines[-1]
    assert asked["what"] == "checkpoint" and asked["errno"] == errno.EFBIG, asked
    assert "Training stopped at step 3 of 6: its checkpoint could not be saved." in asked["text"]
    assert "larger than Workbench may write in " in asked["text"]
    assert "Raise the limit and press Save again" in asked["text"]
    assert finished == {"status": "stopped", "run_dir": str(run)}, lines
    assert engine.resume_status(run)["step"] == 3  # the checkpoint saved again, complete
    assert (run / "model" / "model.safetensors").is_file() and hidden_files(run) == []
