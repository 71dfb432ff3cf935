"""Child processes for tests/engine/test_resume.py: what a crash looks like from outside.

    python resume_driver.py train CONFIG_JSON KILL_AT_STEP KILL_AT_OP
        Train; SIGKILL itself once step KILL_AT_STEP has run (before its log line), or just
        before a low-level checkpoint operation: KILL_AT_OP is NAME:N, the N-th call of NAME
        (e.g. rename:2, the second checkpoint's rename into place), or "-".
    python resume_driver.py kill-writes FOLDER
        Write checkpoints of a small model, and fork one child per operation of writing the
        next one; each child SIGKILLs itself just before its operation. Prints one JSON line
        per child: the operation, the step of the last COMPLETE marker it finished, and what
        `resume_status` then says.

Test-only instrumentation: the engine has no kill switches of its own.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
from pathlib import Path

OPS = ("_write_chunk", "_write_bytes", "_fsync_dir")


def instrument(
    kill_at: int = -1, kill_spec: str = "-", completed_log: Path | None = None
) -> list[str]:
    """Count every low-level write, fsync and rename of the checkpointer; SIGKILL before
    operation number `kill_at` (-1: never) or before the call `kill_spec` names (NAME:N).
    Returns the growing list of operation names."""
    from workbench.engine.training import checkpointing

    seen: list[str] = []
    kill_name, _, kill_count = kill_spec.partition(":")

    def counted(name, real):
        def wrapper(*args, **kwargs):
            if len(seen) == kill_at or (
                name == kill_name and seen.count(name) + 1 == int(kill_count)
            ):
                os.kill(os.getpid(), signal.SIGKILL)
            seen.append(name)
            result = real(*args, **kwargs)
            if name == "_write_bytes" and Path(args[0]).name == checkpointing.MARKER:
                if completed_log is not None:  # the marker is on disk: that checkpoint counts
                    with open(completed_log, "a") as handle:
                        handle.write(Path(args[0]).parent.name + "\n")
                        handle.flush()
                        os.fsync(handle.fileno())
            return result

        return wrapper

    for name in OPS:
        setattr(checkpointing, name, counted(name, getattr(checkpointing, name)))

    class Os:  # the module's `os`, with rename counted (nothing else changes)
        def __getattr__(self, attr):
            return getattr(os, attr)

    patched = Os()
    patched.rename = counted("rename", os.rename)
    checkpointing.os = patched
    real_rmtree = shutil.rmtree

    class Shutil:
        def __getattr__(self, attr):
            return getattr(shutil, attr)

    patched_shutil = Shutil()
    patched_shutil.rmtree = counted("rmtree", real_rmtree)
    checkpointing.shutil = patched_shutil
    checkpointing.runs.write_json_atomic = counted("index", checkpointing.runs.write_json_atomic)
    return seen


def train(config_json: str, kill_at_step: int, kill_spec: str) -> None:
    from workbench.config import RunConfig
    from workbench.engine.training.fit import FitHooks
    from workbench.engine.training.run import train as run_train

    config = RunConfig.from_dict(json.loads(config_json))
    if kill_spec != "-":
        instrument(kill_spec=kill_spec)

    def on_step(state, loss) -> None:
        if state.step == kill_at_step:
            os.kill(os.getpid(), signal.SIGKILL)

    result = run_train(config, hooks=FitHooks(on_step=on_step))
    print(json.dumps({"status": result.status, "error": result.error}))


def kill_writes(folder: Path) -> None:
    import torch

    from workbench.engine.training import checkpointing
    from workbench.engine.training.optim import linear_schedule, make_optimizer
    from workbench.engine.training.state import TrainState

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(8, 16), torch.nn.LayerNorm(16), torch.nn.Linear(16, 3)
    )
    optimizer = make_optimizer(model, 1e-3, 0.01)
    state = TrainState(optimizer, linear_schedule(optimizer, 2, 100))
    run_dir = folder / "run"
    run_dir.mkdir(parents=True)
    (run_dir / "config.toml").write_text("# a run folder has one\n", encoding="utf-8")
    checkpointer = checkpointing.Checkpointer(
        run_dir,
        every_steps=2,
        keep=2,
        primary_metric="accuracy",
        greater_is_better=True,
        batches=lambda epoch: [[0, 1], [2, 3]],
        steps_per_epoch=100,
        total_steps=100,
        keep_best_weights=False,
    )

    def train_to(step: int) -> None:
        while state.step < step:
            loss = model(torch.randn(4, 8)).logsumexp(-1).mean()
            loss.backward()
            optimizer.step()
            state.scheduler.step()
            optimizer.zero_grad()
            state.step += 1

    weights = {}
    for step in (2, 4):  # two complete checkpoints; the next one prunes step 2
        train_to(step)
        checkpointer.save(model, state)
        weights[step] = {k: v.clone() for k, v in model.state_dict().items()}
    train_to(6)
    weights[6] = {k: v.clone() for k, v in model.state_dict().items()}
    pristine = folder / "pristine"
    shutil.copytree(run_dir, pristine)

    # A dry run (in a child too) lists the operations of writing step 6.
    count_file = folder / "count.json"
    pid = os.fork()
    if pid == 0:
        seen = instrument()
        checkpointer.save(model, state)
        count_file.write_text(json.dumps(seen))
        os._exit(0)
    os.waitpid(pid, 0)
    ops = json.loads(count_file.read_text())
    for index, name in enumerate(ops + ["(after the last)"]):
        shutil.rmtree(run_dir)
        shutil.copytree(pristine, run_dir)
        completed = folder / "completed.txt"
        completed.unlink(missing_ok=True)
        pid = os.fork()
        if pid == 0:
            instrument(index, completed_log=completed)
            checkpointer.save(model, state)
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        done = completed.read_text().split() if completed.exists() else []
        report = checkpointing.resume_status(run_dir)
        loaded_equal = None
        if report["resumable"]:
            point = checkpointing.resume_point(run_dir)
            fresh = torch.nn.Sequential(
                torch.nn.Linear(8, 16), torch.nn.LayerNorm(16), torch.nn.Linear(16, 3)
            )
            fresh_optimizer = make_optimizer(fresh, 1e-3, 0.01)
            fresh_state = TrainState(fresh_optimizer, linear_schedule(fresh_optimizer, 2, 100))
            point.check_batches(lambda epoch: [[0, 1], [2, 3]])
            point.restore(fresh, fresh_state)
            expected = weights[point.step]
            loaded_equal = fresh_state.step == point.step and all(
                torch.equal(v, expected[k]) for k, v in fresh.state_dict().items()
            )
        removed = checkpointing.remove_incomplete(run_dir)
        left = sorted(p.name for p in checkpointing.checkpoints_dir(run_dir).iterdir())
        print(
            json.dumps(
                {
                    "op": index,
                    "name": name,
                    "killed": killed,
                    "markers": done,
                    "resume_step": report["step"],
                    "loaded_equal": loaded_equal,
                    "removed": removed,
                    "left": left,
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    if sys.argv[1] == "train":
        train(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    elif sys.argv[1] == "kill-writes":
        kill_writes(Path(sys.argv[2]))
    else:
        sys.exit(f"unknown command {sys.argv[1]}")
