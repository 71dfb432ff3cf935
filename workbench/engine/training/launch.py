"""Training on every GPU of this machine from a program that is one process (the GUI).

DDP needs one process per GPU, so `train_on_gpus` starts `torchrun` as a subprocess on a
config file, follows the run's metrics.jsonl (which rank 0 appends to and flushes line by
line) and reports each line to `on_event` as the event it was, as `engine.train` would. A
stop request creates the stop file the processes watch (training/distributed.py): a signal
to `torchrun` would kill them before they save. Nothing here imports torch: counting GPUs
must not slow the GUI's start.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from workbench import runs
from workbench.engine import events
from workbench.errors import UserError

_KINDS: dict[str, type] = {
    "run_started": events.RunStarted,
    "run_resumed": events.RunStarted,
    "step": events.StepLogged,
    "step_skipped": events.StepSkipped,
    "eval": events.EvalFinished,
    "notice": events.Notice,
    "finished": events.RunFinished,
}
STOP_FILE_ENV = "WORKBENCH_STOP_FILE"
"""Names a file whose existence asks a run to stop (how the GUI stops a `torchrun` run: a
signal to `torchrun` kills its processes instead)."""
# After a stop request, how long the processes get to save before they are terminated.
STOP_GRACE_SECONDS = 600.0


def cuda_device_count() -> int:
    """CUDA GPUs this process could use, without importing torch when it is not loaded yet
    (the NVIDIA driver lists one folder per GPU; CUDA_VISIBLE_DEVICES narrows them)."""
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        try:
            return int(torch.cuda.device_count()) if torch.cuda.is_available() else 0
        except Exception:
            return 0
    driver = Path("/proc/driver/nvidia/gpus")
    try:
        count = sum(1 for _ in driver.iterdir()) if driver.is_dir() else 0
    except OSError:
        count = 0
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        named = [d for d in visible.split(",") if d.strip() and d.strip() != "-1"]
        count = min(count, len(named))
    return count


def batch_size_problem(batch_size: int, processes: int) -> str | None:
    """Why `batch_size` (the global batch) cannot be shared by `processes` (None: it can)."""
    if processes <= 1 or batch_size % processes == 0:
        return None
    lower = max(processes, batch_size - batch_size % processes)
    return (
        f"--batch-size {batch_size} is the global batch and must divide evenly among the "
        f"{processes} processes; choose a multiple of {processes} (e.g. --batch-size {lower})"
    )


def torchrun_command(arguments: list[str], processes: int) -> list[str]:
    """`torchrun --standalone --nproc-per-node N -m workbench train ARGUMENTS` with this
    Python (the `torchrun` script may not be on PATH, `python -m torch.distributed.run` is)."""
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        str(processes),
        "-m",
        "workbench",
        "train",
        *arguments,
    ]


def event_from_dict(record: dict[str, Any]) -> events.Event | None:
    """The event a metrics.jsonl line was written from (None: a kind this Workbench does not
    know, or a line that does not fit its event)."""
    kind = _KINDS.get(str(record.get("kind")))
    if kind is None:
        return None
    names = {f.name for f in dataclasses.fields(kind)}
    try:
        return kind(**{k: v for k, v in record.items() if k in names})
    except TypeError:
        return None


class MetricsFollower:
    """Reads the lines appended to a metrics.jsonl since the last call (a line is only
    taken once its newline is there: the writer may be half way through it)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._partial = b""

    def read(self) -> list[dict[str, Any]]:
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self._offset)
                data = handle.read()
        except FileNotFoundError:
            return []
        self._offset += len(data)
        data = self._partial + data
        lines = data.split(b"\n")
        self._partial = lines.pop()  # b"" after a complete line
        out = []
        for line in lines:
            try:
                record = json.loads(line.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                continue
            if isinstance(record, dict):
                out.append(record)
        return out


def train_on_gpus(
    config: Any,
    on_event: events.EventSink | None = None,
    should_stop: Callable[[], bool] | None = None,
    *,
    processes: int,
    command: Callable[[list[str], int], list[str]] | None = None,
    poll_seconds: float = 0.2,
) -> Any:
    """As `engine.train(config, ...)`, with `processes` processes under torchrun (one per
    GPU); returns the RunResult made from the run's last event."""
    from workbench.engine.training.run import RunResult, open_run_dir, prepare

    prepared = prepare(config)  # bad input: UserError here, before any process starts
    problem = batch_size_problem(prepared.config.batch_size, processes)
    if problem:
        raise UserError(problem)
    run_dir = open_run_dir(prepared.config)  # empty: the processes' rank 0 fills it
    resolved = dataclasses.replace(prepared.config, output=str(run_dir))
    with tempfile.TemporaryDirectory(prefix="workbench-launch-") as scratch:
        config_path = Path(scratch) / "run.toml"
        config_path.write_text(resolved.to_toml(), encoding="utf-8")
        stop_file = Path(scratch) / "STOP"
        finish = _follow(
            (command or torchrun_command)(["--config", str(config_path)], processes),
            run_dir,
            stop_file,
            on_event,
            should_stop,
            poll_seconds,
        )
    return RunResult(Path(run_dir), finish.status, dict(finish.metrics), finish.error)


def _follow(
    argv: list[str],
    run_dir: Path,
    stop_file: Path,
    on_event: events.EventSink | None,
    should_stop: Callable[[], bool] | None,
    poll_seconds: float,
) -> events.RunFinished:
    """Run `argv`, reporting the run's events until it ends; the RunFinished it wrote, or a
    failed one made here (with the end of the processes' output) when it wrote none."""
    env = dict(os.environ, **{STOP_FILE_ENV: str(stop_file)})
    env.pop("WORLD_SIZE", None)  # this process is not one of the run's
    output = stop_file.with_name("output.txt")
    follower = MetricsFollower(Path(run_dir) / runs.LAYOUT["metrics"])
    finish: events.RunFinished | None = None
    stop_asked: float | None = None

    def report() -> None:
        nonlocal finish
        for record in follower.read():
            event = event_from_dict(record)
            if event is None:
                continue
            if isinstance(event, events.RunFinished):
                finish = event
            if on_event is not None:
                on_event(event)

    with open(output, "wb") as sink:
        process = subprocess.Popen(argv, stdout=sink, stderr=subprocess.STDOUT, env=env)
        try:
            while process.poll() is None:
                report()
                if stop_asked is None and should_stop is not None and should_stop():
                    stop_file.touch()
                    stop_asked = time.monotonic()
                if stop_asked is not None and time.monotonic() - stop_asked > STOP_GRACE_SECONDS:
                    process.terminate()
                time.sleep(poll_seconds)
        except BaseException:
            process.kill()
            process.wait()
            raise
    report()
    if finish is not None:
        return finish
    tail = output.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-5:]
    failed = events.RunFinished(
        "failed",
        str(run_dir),
        {},
        f"the training processes ended (exit code {process.returncode}) without a result: "
        + (" | ".join(tail) or "no output"),
    )
    if on_event is not None:
        on_event(failed)
    return failed
