"""SIGTERM or Ctrl+C sent to the app while it trains (the real app, offscreen, in a
subprocess): once, the run stops as the Stop button does, keeps a checkpoint and the model,
shows as stopped with Resume, and the app exits 0; twice, it aborts at once (128 + the
signal) and leaves nothing half-written."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from survive_helpers import hidden_files, micro_config

from workbench import runs
from workbench.engine import resume_status, run_index
from workbench.engine.training.checkpointing import MARKER

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.name != "posix", reason="POSIX signals"),
]
DRIVER = Path(__file__).with_name("survive_app_driver.py")
TIMEOUT = 240


def _start(tmp_path: Path) -> tuple[subprocess.Popen, Path]:
    run = tmp_path / "run"
    config = micro_config(tmp_path, run, epochs=200)  # far more steps than the test waits for
    values = {k: v for k, v in dataclasses.asdict(config).items() if v is not None}
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "OMP_NUM_THREADS": "1",
        "WORKBENCH_HOME": str(tmp_path / "home"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),  # the app's settings, not the user's
        "PYTHONPATH": os.pathsep.join([str(DRIVER.parents[2]), os.environ.get("PYTHONPATH", "")]),
    }
    child = subprocess.Popen(
        [sys.executable, str(DRIVER), json.dumps(values)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    return child, run


def _wait_for_checkpoint(child: subprocess.Popen, run: Path) -> int:
    """The step logged last, once the run has a complete checkpoint and has stepped on."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        assert child.poll() is None, f"the app ended early: {child.communicate()}"
        assert time.monotonic() < deadline, "no checkpoint in time"
        status = resume_status(run) if run.is_dir() else {}
        steps = _steps(run)
        if status.get("resumable") and steps and steps[-1] > status["step"]:
            return steps[-1]
        time.sleep(0.05)


def _steps(run: Path) -> list[int]:
    if not (run / "metrics.jsonl").is_file():
        return []
    return [r["step"] for r in runs.read_metrics(run) if r.get("kind") == "step"]


def _nothing_half_written(run: Path) -> None:
    assert hidden_files(run) == [], "a staging folder or temporary file is left"
    for folder in (run / "checkpoints").glob("step-*"):
        assert (folder / MARKER).is_file(), f"{folder} is incomplete"


def test_sigterm_stops_saves_and_exits_cleanly(tmp_path):
    """SIGTERM (a logout, `kill`); Ctrl+C once goes the same way (the handler is shared)."""
    child, run = _start(tmp_path)
    seen = _wait_for_checkpoint(child, run)
    child.send_signal(signal.SIGTERM)
    out, err = child.communicate(timeout=TIMEOUT)
    assert child.returncode == 0, err
    assert "Traceback" not in err
    assert "stopping the run after this step" in err
    results = json.loads((run / "eval_results.json").read_text("utf-8"))
    assert results["status"] == "stopped" and results["train_steps"] >= seen
    assert (run / "model" / "model.safetensors").is_file()
    status = resume_status(run)
    assert status["resumable"] and status["step"] == results["train_steps"], status
    _nothing_half_written(run)
    listed = {info.path: info for info in run_index.list_runs(run.parent)}
    info = listed[str(run)]  # what the Runs page shows: Stopped, with Resume
    assert info.status == "stopped" and info.resumable and info.resume_step == status["step"]


def test_a_second_signal_aborts_at_once_and_leaves_nothing_half_written(tmp_path):
    child, run = _start(tmp_path)
    _wait_for_checkpoint(child, run)
    lines: list[str] = []
    stopping = threading.Event()

    def read_stderr() -> None:
        for line in child.stderr:
            lines.append(line)
            if "stopping the run after this step" in line:
                stopping.set()

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    child.send_signal(signal.SIGINT)
    # The second signal once the app has taken the first (two before its handler runs are
    # one to Python): the stop has begun, its checkpoint, evaluation or save under way.
    assert stopping.wait(60), "".join(lines)
    child.send_signal(signal.SIGINT)
    child.wait(timeout=60)
    reader.join(timeout=10)
    err = "".join(lines)
    assert child.returncode == 130, err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    status = resume_status(run)
    if status.get("resumable"):
        assert last == (
            f"workbench: aborted; {run} keeps its checkpoint of step {status['step']}: Resume it "
            f"on the Runs page (or `workbench train --resume {run}`)"
        )
    _nothing_half_written(run)
    assert not (run / "model").exists() or (run / "model" / "model.safetensors").is_file()
