"""The run listing (workbench/engine/run_index.py): read from the run folders alone, right
for every status, and never thrown by a folder that is not a run."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from workbench import runs
from workbench.engine import run_index
from workbench.errors import UserError

ROOT = Path(__file__).resolve().parents[2]


def _copy(trained_run: Path, root: Path, name: str) -> Path:
    target = root / name
    shutil.copytree(trained_run, target)
    return target


def _records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def _write_records(run: Path, records: list[dict]) -> None:
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


def make_failed(run: Path) -> None:
    records = _records(run)[:-1]
    records.append(
        {"kind": "finished", "status": "failed", "error": "boom", "time": records[-1]["time"]}
    )
    _write_records(run, records)
    shutil.rmtree(run / "model")
    (run / "eval_results.json").unlink()


def make_killed(run: Path) -> None:
    records = [r for r in _records(run) if r["kind"] != "finished"]
    _write_records(run, records)
    (run / "eval_results.json").unlink()
    shutil.rmtree(run / "model")


def make_stopped(run: Path) -> None:
    results = json.loads((run / "eval_results.json").read_text())
    results["status"] = "stopped"
    (run / "eval_results.json").write_text(json.dumps(results))
    records = _records(run)
    records[-1]["status"] = "stopped"
    _write_records(run, records)


@pytest.fixture
def runs_root(trained_run, tmp_path):
    root = tmp_path / "runs"
    root.mkdir()
    _copy(trained_run, root, "done")
    make_stopped(_copy(trained_run, root, "stopped"))
    make_failed(_copy(trained_run, root, "failed"))
    make_killed(_copy(trained_run, root, "killed"))
    return root


def test_each_run_is_listed_with_its_fields(runs_root, trained_run):
    listed = {info.folder: info for info in run_index.list_runs(runs_root)}
    assert set(listed) == {"done", "stopped", "failed", "killed"}
    assert {k: v.status for k, v in listed.items()} == {
        "done": "completed",
        "stopped": "stopped",
        "failed": "failed",
        "killed": "killed",
    }
    results = json.loads((trained_run / "eval_results.json").read_text())
    first = _records(trained_run)[0]
    done = listed["done"]
    assert done.name == "done" and done.task == "text-classification"
    assert done.model == "default"
    assert done.data.endswith("reviews.csv") and Path(done.data).is_absolute()
    assert done.primary_metric == "accuracy"
    assert done.metric == pytest.approx(results["accuracy"])
    assert done.started == pytest.approx(first["time"])
    assert 0 < done.duration < 600
    assert done.duration >= results["train_seconds"]  # the wall time includes evaluation
    on_disk = sum(p.stat().st_size for p in (runs_root / "done").rglob("*") if p.is_file())
    assert done.size == on_disk and done.size > 10 * 2**20  # the weights count
    assert done.has_model and listed["stopped"].has_model
    assert not listed["failed"].has_model and listed["failed"].error == "boom"
    assert listed["failed"].metric is not None  # the last evaluation during training
    assert listed["killed"].metric is not None


def test_the_newest_run_comes_first(runs_root):
    records = _records(runs_root / "done")
    for record in records:
        record["time"] += 3600
    _write_records(runs_root / "done", records)
    assert run_index.list_runs(runs_root)[0].folder == "done"


def test_foreign_half_written_and_hidden_folders_are_skipped(runs_root):
    (runs_root / "photos").mkdir()
    (runs_root / "photos" / "cat.jpg").write_bytes(b"\xff\xd8")
    (runs_root / "torn").mkdir()
    (runs_root / "torn" / "config.toml").write_bytes(b'task = "text-cl')  # cut short
    (runs_root / "binary").mkdir()
    (runs_root / "binary" / "config.toml").write_bytes(b"\xff\xfe\x00\x01")
    (runs_root / ".run-x.tmp").mkdir()
    (runs_root / ".run-x.tmp" / "config.toml").write_text('task = "text-classification"\n')
    (runs_root / "notes.txt").write_text("not a run")
    (runs_root / "done" / "metrics.jsonl").open("a").write('{"kind": "st')  # a torn last line
    (runs_root / "stopped" / "eval_results.json").write_text("[1, 2")
    (runs_root / "link").symlink_to(runs_root / "done")
    listed = {info.folder: info for info in run_index.list_runs(runs_root)}
    assert set(listed) == {"done", "stopped", "failed", "killed"}
    assert listed["done"].status == "completed"  # a torn line after the finish is ignored
    assert listed["stopped"].status == "stopped"  # from the event; the results are torn
    assert run_index.list_runs(runs_root / "missing") == []


def test_a_hand_made_run_folder_without_events_is_listed(tmp_path):
    root = tmp_path / "runs"
    (root / "made").mkdir(parents=True)
    (root / "made" / "config.toml").write_text('task = "regression"\nmodel = "default"\n')
    (root / "made" / "eval_results.json").write_text(json.dumps({"status": "completed"}))
    (root / "young").mkdir()
    (root / "young" / "config.toml").write_text('task = "regression"\n')
    (root / "old").mkdir()
    (root / "old" / "config.toml").write_text('task = "nonsense"\n')
    old = time.time() - 3600
    os.utime(root / "old" / "config.toml", (old, old))
    listed = {info.folder: info for info in run_index.list_runs(root)}
    assert listed["made"].status == "completed" and listed["made"].primary_metric == "pearson"
    assert listed["young"].status == "running"  # starting: no lock and no event yet
    assert listed["old"].status == "killed" and listed["old"].primary_metric == ""


def test_a_run_held_by_a_live_process_is_running_and_killed_once_it_dies(runs_root):
    run = runs_root / "killed"
    code = (
        "import sys, time; from pathlib import Path; from workbench import runs\n"
        "lock = runs.RunLock(Path(sys.argv[1])); assert lock.acquire()\n"
        "print('held', flush=True); time.sleep(120)\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code, str(run)], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    try:
        assert child.stdout.readline().strip() == "held"
        assert runs.run_is_live(run)
        listed = {info.folder: info for info in run_index.list_runs(runs_root)}
        assert listed["killed"].status == "running"
        last_eval = [r for r in _records(run) if r["kind"] == "eval"][-1]
        assert listed["killed"].metric == last_eval["metrics"]["accuracy"]  # so far
        with pytest.raises(UserError, match="still running"):
            run_index.delete_run(run, runs_root)
        assert run.is_dir()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    assert (run / "run.lock").exists()  # the dead process left its lock file behind
    assert not runs.run_is_live(run)
    listed = {info.folder: info for info in run_index.list_runs(runs_root)}
    assert listed["killed"].status == "killed"


def test_the_lock_is_seen_in_the_same_process_and_dropped_on_release(tmp_path):
    lock = runs.RunLock(tmp_path)
    assert lock.acquire()
    assert runs.run_is_live(tmp_path)
    assert not runs.RunLock(tmp_path).acquire(timeout=0.1)  # one writer at a time
    lock.release()
    assert not runs.run_is_live(tmp_path) and not (tmp_path / "run.lock").exists()


@pytest.mark.slow
def test_a_training_run_holds_its_lock_while_it_writes(tmp_path):
    import pandas as pd

    from workbench.config import RunConfig
    from workbench.engine import train
    from workbench.engine.events import RunStarted, StepLogged
    from workbench.resources import sample_data_path

    data = tmp_path / "slice.csv"
    pd.read_csv(sample_data_path()).head(48).to_csv(data, index=False)
    seen = []

    def on_event(event) -> None:
        if isinstance(event, RunStarted | StepLogged):
            seen.append(runs.run_is_live(out))

    out = tmp_path / "runs" / "tiny"
    config = RunConfig(
        data=str(data), output=str(out), epochs=1, batch_size=16, max_length=16,
        log_every_steps=1,
    )  # fmt: skip
    result = train(config, on_event=on_event)
    assert result.status == "completed", result.error
    assert seen and all(seen)
    assert not runs.run_is_live(out) and not (out / "run.lock").exists()
    (info,) = run_index.list_runs(out.parent)
    assert info.status == "completed" and info.metric == pytest.approx(result.metrics["accuracy"])


def write_complete_checkpoint(run: Path, step: int, total_steps: int = 10) -> None:
    """A checkpoint as the checkpointer marks it complete (only its small files)."""
    folder = run / "checkpoints" / f"step-{step}"
    folder.mkdir(parents=True)
    (folder / "state.json").write_text(json.dumps({"format": 1, "total_steps": total_steps}))
    marker = {"step": step, "epoch": 0, "batch_in_epoch": step, "metric": None, "bytes": 1}
    (folder / "COMPLETE").write_text(json.dumps(marker))


def test_a_stopped_failed_or_killed_run_with_a_checkpoint_is_resumable(runs_root):
    for name in ("stopped", "failed", "killed", "done"):
        write_complete_checkpoint(runs_root / name, 3)
    (runs_root / "killed" / "checkpoints" / "step-6").mkdir()  # killed while writing it
    listed = {info.folder: info for info in run_index.list_runs(runs_root)}
    for name in ("stopped", "failed", "killed"):
        assert listed[name].resumable and listed[name].resume_step == 3, name
        assert "step 3" in listed[name].resume_reason
    assert not listed["done"].resumable  # a completed run has nothing to resume
    shutil.rmtree(runs_root / "failed" / "checkpoints")
    assert not run_index.read_run(runs_root / "failed").resumable


def test_rename_and_note_are_kept_in_the_run_json(runs_root):
    run = runs_root / "done"
    assert run_index.rename_run(run, "  my\nbest   run ", runs_root) == "my best run"
    assert run_index.set_run_note(run, "lr 2e-4, looks good\nsecond line", runs_root)
    listed = {info.folder: info for info in run_index.list_runs(runs_root)}
    assert listed["done"].name == "my best run"
    assert listed["done"].note == "lr 2e-4, looks good\nsecond line"
    assert json.loads((run / "run.json").read_text()) == {
        "name": "my best run",
        "note": "lr 2e-4, looks good\nsecond line",
    }
    assert run_index.rename_run(run, "", runs_root) == "done"  # back to the folder's name
    assert run_index.list_runs(runs_root)[0].path  # the folder never moved
    assert run.is_dir()


def test_delete_removes_only_the_run_inside_the_root(runs_root, tmp_path):
    outside = tmp_path / "elsewhere"
    shutil.copytree(runs_root / "failed", outside)
    with pytest.raises(UserError, match="not inside the runs folder"):
        run_index.delete_run(outside, runs_root)
    assert outside.is_dir()
    keep = tmp_path / "keep.txt"
    keep.write_text("x")
    (runs_root / "done" / "link-out").symlink_to(keep)
    (runs_root / "alias").symlink_to(runs_root / "stopped")
    with pytest.raises(UserError, match="not a run folder"):
        run_index.delete_run(runs_root / "alias", runs_root)
    run_index.delete_run(runs_root / "done", runs_root)
    assert not (runs_root / "done").exists() and keep.read_text() == "x"
    assert sorted(p.name for p in runs_root.iterdir()) == ["alias", "failed", "killed", "stopped"]
    with pytest.raises(UserError, match="moved or deleted"):
        run_index.delete_run(runs_root / "done", runs_root)


def test_load_run_results_gives_the_final_metrics(runs_root, trained_run):
    opened = run_index.load_run_results(runs_root / "done")
    results = json.loads((trained_run / "eval_results.json").read_text())
    assert opened["metrics"]["accuracy"] == results["accuracy"]
    assert opened["info"]["task"] == "text-classification"
    assert "examples" in opened["metrics"]  # eval_examples.json, for the Evaluate view
    with pytest.raises(UserError, match="has no trained model"):
        run_index.load_run_results(runs_root / "failed")
