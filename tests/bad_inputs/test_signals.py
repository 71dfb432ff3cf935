"""The catalogue, signals to `workbench train` (POSIX): Ctrl+C once and SIGTERM stop after
the step, keep a usable model and a resumable run (exit 0); a second Ctrl+C while the model
is being saved aborts at once (exit 130) with one line, no traceback, nothing half-written
and the last checkpoint to resume from; SIGKILL leaves a run that `--resume` finishes with
every step logged once. (Bitwise resume after SIGKILL, and kills at every point of writing
a checkpoint: tests/engine/test_resume.py.)"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from workbench import runs
from workbench.engine import load_predictor, resume_status

pytestmark = [
    pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals"),
    pytest.mark.slow,  # a few training processes each
]
DRIVER = Path(__file__).with_name("signal_driver.py")


def _setup(folder: Path, model: Path, epochs: int) -> list[str]:
    """`train` arguments: 200 short reviews, 45 steps per epoch on the micro model."""
    data = folder / "data.csv"
    rows = "".join(f"review {i} was {'good' if i % 2 else 'bad'},{i % 2}\n" for i in range(200))
    data.write_text("text,label\n" + rows, "utf-8")
    config = folder / "run.toml"
    config.write_text(
        f'data = "{data}"\nmodel = "{model}"\nepochs = {epochs}\nbatch_size = 4\n'
        'log_every_steps = 1\nkeep_checkpoints = 1\nprecision = "fp32"\ndevice = "cpu"\n',
        "utf-8",
    )
    return ["--config", str(config), "--output", str(folder / "run")]


def _start(argv: list[str], driver: bool = False) -> subprocess.Popen:
    program = [str(DRIVER)] if driver else ["-m", "workbench", "train"]
    return subprocess.Popen(
        [sys.executable, *program, *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**__import__("os").environ, "OMP_NUM_THREADS": "1"},
    )


def _wait_for(child: subprocess.Popen, ready: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 300
    while not ready():
        assert child.poll() is None, f"ended before {what}: {child.communicate()}"
        assert time.monotonic() < deadline, f"no {what} in 300 s"
        time.sleep(0.02)


def _steps(run: Path) -> list[int]:
    return [r["step"] for r in runs.read_metrics(run) if r.get("kind") == "step"]


def _has_stepped(run: Path) -> Callable[[], bool]:
    return lambda: (run / "metrics.jsonl").exists() and bool(_steps(run))


def _assert_nothing_half_written(run: Path) -> None:
    hidden = [p for p in run.rglob(".*") if p.name != ".lock"]
    assert not hidden, hidden  # no staging folder or temporary file left
    assert not (run / "model").exists() or (run / "model" / "tokenizer_config.json").exists()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["Ctrl+C", "SIGTERM"])
def test_one_signal_stops_and_keeps_a_usable_resumable_model(
    signum, tmp_path, micro_model
):  # fmt: skip
    argv = _setup(tmp_path, micro_model, epochs=200)  # 9,000 steps: far from done when stopped
    run = tmp_path / "run"
    child = _start(argv)
    _wait_for(child, _has_stepped(run), "first step")
    child.send_signal(signum)
    out, err = child.communicate(timeout=300)
    assert child.returncode == 0, err
    what = "Ctrl+C" if signum == signal.SIGINT else "SIGTERM"
    assert f"stopping after this step ({what}; Ctrl+C again to abort)" in err
    assert "Traceback" not in err and out.strip() == str(run)
    results = json.loads((run / "eval_results.json").read_text("utf-8"))
    assert results["status"] == "stopped" and results["train_steps"] < 9000
    [answer] = load_predictor(run).predict(["a good review"])
    assert answer["label"] in ("0", "1")
    status = resume_status(run)
    assert status["resumable"] and status["step"] == results["train_steps"], status
    _assert_nothing_half_written(run)


def test_a_second_ctrl_c_during_the_save_aborts_cleanly_and_the_run_resumes(
    tmp_path, micro_model
):  # fmt: skip
    argv = _setup(tmp_path, micro_model, epochs=2)
    run = tmp_path / "run"
    child = _start(argv, driver=True)  # its save is interrupted by a second SIGINT
    _wait_for(child, _has_stepped(run), "first step")
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=300)
    assert child.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err and out == ""
    step = resume_status(run)["step"]
    assert err.splitlines()[-1] == (
        f"workbench: aborted; {run} keeps its checkpoint of step {step}: continue with "
        f"`workbench train --resume {run}`"
    )
    assert not (run / "model").exists() and not (run / "eval_results.json").exists()
    _assert_nothing_half_written(run)

    again = _start(["--resume", str(run)])
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    assert json.loads((run / "eval_results.json").read_text("utf-8"))["status"] == "completed"
    assert _steps(run) == list(range(1, 91))  # every step once, across both processes
    _assert_nothing_half_written(run)


def test_sigkill_leaves_a_run_that_resume_finishes(tmp_path, micro_model):
    argv = _setup(tmp_path, micro_model, epochs=4)  # 180 steps; a checkpoint at each epoch end
    run = tmp_path / "run"
    child = _start(argv)
    _wait_for(child, lambda: bool(resume_status(run).get("resumable")), "complete checkpoint")
    child.kill()
    child.communicate(timeout=60)
    assert child.returncode == -signal.SIGKILL
    assert not (run / "eval_results.json").exists()  # killed mid-run, not finished

    again = _start(["--resume", str(run)])
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    assert "Traceback" not in err and out.strip() == str(run)
    assert json.loads((run / "eval_results.json").read_text("utf-8"))["status"] == "completed"
    assert _steps(run) == list(range(1, 181))
    _assert_nothing_half_written(run)
