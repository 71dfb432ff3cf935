"""The catalogue, a full disk under `workbench train --output` (a real ENOSPC): a 2 MB tmpfs
fills up mid-run (another program takes the last byte after the first checkpoint). The run
stops with one line saying what a checkpoint needs and that the previous one is intact, no
traceback, no half-written checkpoint; once space is freed, `--resume` finishes the run.
That one needs root (mounting a tmpfs) and is skipped otherwise; a file size limit (`ulimit
-f`, EFBIG), the same refusal without root, is tried by any user."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_signals import _setup, _start, _steps, _wait_for

from workbench.engine import resume_status

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(sys.platform != "linux", reason="tmpfs is Linux"),
]


@pytest.fixture
def small_disk(tmp_path) -> Path:
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)],
                             capture_output=True)  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=False)


def _fill(disk: Path) -> Path:
    """Another program takes every free byte."""
    filler = disk / "filler"
    try:
        with open(filler, "wb") as handle:
            while True:
                handle.write(b"\0" * 4096)
                handle.flush()
    except OSError:  # full (perhaps before the first byte: the run's next checkpoint took it)
        pass
    return filler


def test_a_full_disk_keeps_the_last_checkpoint_and_says_what_it_needs(
    tmp_path, micro_model, small_disk
):  # fmt: skip
    argv = _setup(tmp_path, micro_model, epochs=8)  # 360 steps, a checkpoint each 45
    run = small_disk / "run"
    argv[argv.index("--output") + 1] = str(run)
    child = _start(argv)
    _wait_for(child, lambda: bool(resume_status(run).get("resumable")), "a checkpoint")
    filler = _fill(small_disk)
    out, err = child.communicate(timeout=300)
    assert child.returncode == 1, err
    assert "Traceback" not in err and out == ""
    last = err.splitlines()[-1]
    step = resume_status(run)["step"]
    assert last.startswith("workbench: training failed: the disk is full"), last
    assert "a checkpoint needs " in last and " MB" in last
    assert f"the checkpoint of step {step} is intact" in last
    assert f"`workbench train --resume {run}`" in last
    checkpoints = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert checkpoints == ["index.json", f"step-{step}"]  # nothing half-written beside it
    assert not [p for p in run.rglob(".*")], "a staging folder or temporary file is left"

    filler.unlink(missing_ok=True)  # space freed
    time.sleep(0.1)
    again = _start(["--resume", str(run)])
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    assert json.loads((run / "eval_results.json").read_text("utf-8"))["status"] == "completed"
    assert _steps(run) == list(range(1, 361))  # every step once, the torn log line cut away


def test_a_file_size_limit_is_named_with_the_size_a_checkpoint_needs(tmp_path, micro_model):
    """No root needed: `ulimit -f` (RLIMIT_FSIZE) 300 KB in the child; the micro model's
    weights (219 KB) fit, the optimizer state of its first checkpoint does not (EFBIG)."""
    import resource

    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (300 * 1024, 300 * 1024))

    argv = _setup(tmp_path, micro_model, epochs=2)
    run = tmp_path / "run"
    child = subprocess.run(
        [sys.executable, "-m", "workbench", "train", *argv],
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=limited,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert child.returncode == 1, child.stderr
    assert "Traceback" not in child.stderr
    last = child.stderr.splitlines()[-1]
    assert last.startswith("workbench: training failed: a checkpoint file of 0.4 MB is larger "
                           f"than this process may write in {run / 'checkpoints'}"), last  # fmt: skip
    assert "`ulimit -f`" in last and last.endswith("no checkpoint was saved yet; train again")
    assert list((run / "checkpoints").iterdir()) == []  # its staging folder is gone
