"""Training on several processes (DDP under torchrun), on the CPU with gloo.

The proof: `torchrun --nproc-per-node 2 -m workbench train --config run.toml` logs the same
loss at every step as one process with the same global batch, writes one run folder, and
ends with the same weights (up to float summation order); a run stopped in one process
resumes under two. The data is cut so that the last batch of each epoch has one example:
one process trains on it, the other on a stand-in of weight 0. Plus the sharding and the
divisibility message, without any process group.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from model_folders import tiny_bert
from reviews_data import write_reviews
from safetensors.torch import load_file

from workbench.config import RunConfig
from workbench.engine.training.distributed import (
    DistributedRuntime,
    even_parts,
    launched_world_size,
    stop_requests,
)
from workbench.engine.training.fit import FitHooks
from workbench.engine.training.precision import Precision
from workbench.engine.training.runtime import Runtime
from workbench.errors import UserError

CPU = Precision("fp32", torch.device("cpu"))
BATCH = 8


def _runtime(rank: int, world: int) -> DistributedRuntime:
    return DistributedRuntime(CPU, rank=rank, world_size=world)


# ---------------------------------------------------------------------------------------
# Sharding, without a process group


def test_even_parts_cover_the_batch_in_order():
    for size in range(0, 12):
        batch = list(range(100, 100 + size))
        for parts in (1, 2, 3, 4):
            pieces = even_parts(batch, parts)
            assert len(pieces) == parts
            assert [i for piece in pieces for i in piece] == batch
            lengths = [len(piece) for piece in pieces]
            assert max(lengths) - min(lengths) <= 1


def test_each_rank_takes_its_share_of_every_global_batch():
    batches = [[5, 3, 9, 1, 7, 2, 8, 4], [6, 0, 11, 10], [12]]
    shards = [_runtime(rank, 2).shard(batches) for rank in range(2)]
    assert shards[0] == [[5, 3, 9, 1], [6, 0], [12]]
    assert shards[1] == [[7, 2, 8, 4], [11, 10], []]  # an empty part: a stand-in of weight 0
    for position, batch in enumerate(batches):  # every example once, positions unchanged
        assert sorted(shards[0][position] + shards[1][position]) == sorted(batch)
    assert Runtime(CPU).shard(batches) == batches  # one process: the whole batches


def test_the_global_batch_must_divide_among_the_processes():
    _runtime(0, 2).check_batch_size(8)
    Runtime(CPU).check_batch_size(7)  # one process takes any batch
    with pytest.raises(UserError) as caught:
        _runtime(1, 4).check_batch_size(10)
    message = str(caught.value)
    assert "--batch-size 10" in message and "4 processes" in message
    assert "multiple of 4" in message and "--batch-size 8" in message
    assert "\n" not in message


def test_world_size_and_stop_file(tmp_path, monkeypatch):
    assert launched_world_size({}) == 1
    assert launched_world_size({"WORLD_SIZE": "3"}) == 3
    assert launched_world_size({"WORLD_SIZE": "x"}) == 1
    stop_file = tmp_path / "STOP"
    monkeypatch.setenv("WORKBENCH_STOP_FILE", str(stop_file))
    stop = stop_requests(None)
    assert not stop()
    stop_file.touch()
    assert stop()
    monkeypatch.delenv("WORKBENCH_STOP_FILE")
    assert not stop_requests(None)()
    assert stop_requests(lambda: True)()


# ---------------------------------------------------------------------------------------
# Two processes against one


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("ddp")
    model = tiny_bert(folder / "model")
    data = write_reviews(folder / "reviews.csv", repeats=3)  # 60 rows: 54 train, 6 eval
    rows = data.read_text(encoding="utf-8").splitlines()
    data.write_text("\n".join(rows[:-5]) + "\n", encoding="utf-8")  # 55 rows: 49 train
    values = {
        "data": str(data),
        "model": str(model),
        "epochs": 2,
        "batch_size": BATCH,
        "max_length": 32,
        "learning_rate": 1e-3,
        "log_every_steps": 1,
        "device": "cpu",
        "precision": "fp32",
        "seed": 7,
    }
    config = folder / "run.toml"
    config.write_text(RunConfig.from_dict(values).to_toml(), encoding="utf-8")
    return {"folder": folder, "values": values, "config": config}


def _single(setup: dict, output: Path, stop_at: int | None = None):
    from workbench.engine.training.run import train

    stop = {"now": False}

    def on_step(state, loss) -> None:
        stop["now"] = stop_at is not None and state.step >= stop_at

    values = dict(setup["values"], output=str(output))
    if stop_at is not None:
        values["checkpoint_every_steps"] = 1000  # only the stop's checkpoint
    return train(
        RunConfig.from_dict(values), should_stop=lambda: stop["now"], hooks=FitHooks(on_step)
    )


def _torchrun(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env.pop("WORLD_SIZE", None)
    return subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
        + ["-m", "workbench", "train", *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=cwd,
        env=env,
        timeout=300,
    )


def _records(run_dir: Path) -> list[dict]:
    lines = (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def _losses(run_dir: Path) -> list[tuple[int, float]]:
    return [(r["step"], r["loss"]) for r in _records(run_dir) if r.get("kind") == "step"]


def _assert_close_weights(a: Path, b: Path, atol: float) -> None:
    wa, wb = (
        load_file(str(a / "model" / "model.safetensors")),
        load_file(str(b / "model" / "model.safetensors")),
    )
    assert wa.keys() == wb.keys()
    worst = max((wa[k] - wb[k]).abs().max().item() for k in wa)
    assert worst < atol, f"weights differ by up to {worst}"


@pytest.fixture(scope="module")
def reference(setup) -> Path:
    result = _single(setup, setup["folder"] / "single")
    assert result.status == "completed", result.error
    return result.run_dir


@pytest.mark.slow
def test_two_processes_train_as_one(setup, reference, tmp_path):
    started = [r for r in _records(reference) if r.get("kind") == "run_started"]
    assert started[0]["num_train_examples"] % BATCH == 1  # a last batch of one example
    out = tmp_path / "ddp"
    done = _torchrun("--config", str(setup["config"]), "--output", str(out), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]

    expected, got = _losses(reference), _losses(out)
    assert [s for s, _ in got] == [s for s, _ in expected] and len(got) == 14
    for (step, want), (_, have) in zip(expected, got, strict=True):
        assert abs(want - have) < 1e-5, f"step {step}: {have} against {want}"
    _assert_close_weights(reference, out, atol=1e-3)

    results = json.loads((out / "eval_results.json").read_text(encoding="utf-8"))
    assert results["status"] == "completed" and results["processes"] == 2
    assert results["train_examples"] == 2 * started[0]["num_train_examples"]  # global count
    log = (out / "log.txt").read_text(encoding="utf-8")
    assert "2 processes on the CPU (gloo)" in log and log.count("started ") == 1
    # One writer: the events once each, and no other run folder anywhere.
    assert sum(r.get("kind") == "finished" for r in _records(out)) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ddp"]
    home_runs = Path(os.environ["WORKBENCH_HOME"]) / "runs"
    assert not home_runs.exists() or not any(home_runs.iterdir())


@pytest.mark.slow
def test_a_run_stopped_in_one_process_resumes_in_two(setup, reference, tmp_path):
    stopped = _single(setup, tmp_path / "run", stop_at=5)
    assert stopped.status == "stopped", stopped.error
    done = _torchrun("--resume", str(stopped.run_dir), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    expected, got = dict(_losses(reference)), _losses(stopped.run_dir)
    assert [s for s, _ in got] == list(range(1, 15))  # every step once, resumed at 6
    for step, have in got:
        assert abs(expected[step] - have) < 1e-5, f"step {step}: {have} against {expected[step]}"
    _assert_close_weights(reference, stopped.run_dir, atol=1e-3)
    results = json.loads((stopped.run_dir / "eval_results.json").read_text(encoding="utf-8"))
    assert results["status"] == "completed" and results["processes"] == 2


# ---------------------------------------------------------------------------------------
# Micro-batches in a DDP process


class _Synced(torch.nn.Module):
    """A linear model with DDP's `no_sync`, counting the backward passes run outside it."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.linear = torch.nn.Linear(3, 1)
        self.inside = False
        self.synced = 0
        self.linear.weight.register_hook(self._count)

    def _count(self, grad):
        self.synced += 0 if self.inside else 1
        return grad

    def no_sync(self):
        import contextlib

        @contextlib.contextmanager
        def context():
            self.inside = True
            try:
                yield
            finally:
                self.inside = False

        return context()


def _mse(model, batch):
    return ((model.linear(batch["x"]).squeeze(-1) - batch["y"]) ** 2).mean()


def test_micro_batches_in_a_ddp_process_all_reduce_once_per_step():
    from workbench.engine.tasks.loss_units import example_units
    from workbench.engine.training.distributed import DistributedMicroBatches

    batch = {"x": torch.randn(5, 3), "y": torch.randn(5)}
    whole = _Synced()
    expected = _mse(whole, batch)
    expected.backward()
    model = _Synced()
    micro = DistributedMicroBatches(example_units, rank=1)
    micro.size = 2  # as a resume restores it: 3 parts
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    loss = micro.backward(_mse, model, batch, optimizer)
    assert model.synced == 1  # only the last part's backward outside no_sync
    assert torch.allclose(loss, expected.detach(), atol=1e-6)
    assert torch.allclose(model.linear.weight.grad, whole.linear.weight.grad, atol=1e-6)


def test_out_of_memory_in_a_ddp_process_ends_the_run_with_a_message():
    from workbench.engine.tasks.loss_units import example_units
    from workbench.engine.training.distributed import DistributedMicroBatches

    def out_of_memory(model, batch):
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")

    model = _Synced()
    micro = DistributedMicroBatches(example_units, rank=1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    batch = {"x": torch.randn(4, 3), "y": torch.randn(4)}
    with pytest.raises(UserError, match="out of memory in process 1 .*--batch-size"):
        micro.backward(out_of_memory, model, batch, optimizer)
    with pytest.raises(ValueError):  # anything else is not memory: raised as it is

        def broken(model, batch):
            raise ValueError("a bug")

        micro.backward(broken, model, batch, optimizer)
