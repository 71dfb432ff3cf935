"""Guarded training: what a run does with a NaN step, with too little memory, and when two
processes want to write the same run.

- A step whose loss (or gradients) is not finite is skipped before the optimizer sees it:
  the weights, the optimizer and the schedule stay as they were, the run goes on, and the
  skip is in metrics.jsonl. `max_bad_steps` of them in a row stop the run, roll it back to
  its last checkpoint before them, and say what to try; `--resume` continues from there.
- Out of memory in a step (a real allocation failure, in a memory-capped child process)
  halves the micro-batch and accumulates gradients: the effective batch is unchanged, and
  the split step's gradients are the whole step's.
- A resume while another process holds the run's lock is refused in one line.
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

from workbench.config import RunConfig
from workbench.engine import resume, resume_status, train
from workbench.engine.events import StepLogged, StepSkipped
from workbench.engine.models.bert import (
    BertConfig,
    BertForSequenceClassification,
    BertForTokenClassification,
)
from workbench.engine.tasks import get_task, loss_units
from workbench.engine.tasks.text_classification import TextClassification
from workbench.engine.training import checkpointing, guards
from workbench.engine.training.fit import FitHooks
from workbench.engine.training.run import train as run_train
from workbench.errors import UserError

ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
POSIX_ONLY = pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_AS and flock are POSIX")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict:
    """A tiny random BERT, 54 short reviews (7 steps of 8 per epoch), fp32 on the CPU."""
    folder = tmp_path_factory.mktemp("guards")
    return dict(
        data=str(write_reviews(folder / "reviews.csv", repeats=3)),
        model=str(tiny_bert(folder / "tiny-bert")),
        epochs=1,
        batch_size=8,
        max_length=16,
        learning_rate=1e-3,
        log_every_steps=1,
        eval_every_steps=100,  # only at the epoch ends
        precision="fp32",
        device="cpu",
    )


def _records(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def _nan_at(monkeypatch, calls: set[int]) -> None:
    """The task's training loss becomes NaN at these calls (1-based; one call per step)."""
    real = TextClassification.loss
    count = [0]

    def loss(self, logits, batch, meta):
        count[0] += 1
        value = real(self, logits, batch, meta)
        return value * float("nan") if count[0] in calls else value

    monkeypatch.setattr(TextClassification, "loss", loss)


# ---------------------------------------------------------------------------------------
# Non-finite steps


def test_a_nan_step_is_skipped_without_touching_weights_or_schedule(tiny, tmp_path, monkeypatch):
    reference = []
    train(
        RunConfig(**tiny, output=str(tmp_path / "reference")),
        on_event=lambda e: reference.append(e) if isinstance(e, StepLogged) else None,
    )
    _nan_at(monkeypatch, {3})
    seen: dict = {}

    def keep_model(state, model) -> None:  # called before every APPLIED update
        seen["model"] = model
        seen.setdefault("applied", []).append(state.step + 1)

    def snapshot(state, loss) -> None:
        weight = seen["model"].classifier.weight.detach().clone()
        seen.setdefault("weights", {})[state.step] = weight

    events = []
    result = run_train(  # the procedure itself: the engine's train() takes no hooks
        RunConfig(**tiny, output=str(tmp_path / "run")),
        on_event=events.append,
        hooks=FitHooks(on_step=snapshot, before_optimizer_step=keep_model),
    )
    assert result.status == "completed", result.error
    assert seen["applied"] == [1, 2, 4, 5, 6, 7]
    weights = seen["weights"]
    assert torch.equal(weights[3], weights[2]), "the NaN step's update was applied"
    assert not torch.equal(weights[4], weights[3])
    assert all(torch.isfinite(w).all() for w in weights.values())

    skipped = [e for e in events if isinstance(e, StepSkipped)]
    assert [(e.step, e.in_row, e.reason) for e in skipped] == [(3, 1, "the loss was nan")]
    logged = [e for e in events if isinstance(e, StepLogged)]
    assert [e.step for e in logged] == [1, 2, 4, 5, 6, 7]
    # No scheduler step at step 3: step 4 trains at the rate step 3 would have had.
    assert [e.learning_rate for e in logged] == [e.learning_rate for e in reference[:6]]
    assert [e.loss for e in logged[:2]] == [e.loss for e in reference[:2]]

    records = _records(result.run_dir)
    assert [r["step"] for r in records if r["kind"] == "step_skipped"] == [3]
    assert 3 not in [r["step"] for r in records if r["kind"] == "step"]
    log = (result.run_dir / "log.txt").read_text(encoding="utf-8")
    assert "step 3 skipped (1 in a row): the loss was nan" in log


@pytest.mark.slow
def test_bad_steps_in_a_row_stop_the_run_at_its_last_good_checkpoint_and_resume_goes_on(
    tiny, tmp_path, monkeypatch
):
    _nan_at(monkeypatch, {5, 6, 7})  # the 3rd bad step in a row (default max_bad_steps)
    config = RunConfig(
        **dict(tiny, epochs=2), output=str(tmp_path / "run"), checkpoint_every_steps=2
    )
    result = train(config)
    run_dir = result.run_dir
    assert result.status == "failed"
    error = result.error
    assert "not finite at 3 steps in a row (5-7): the loss was nan" in error
    assert "stopped at step 7" in error
    # step-6 was saved during the bad steps: rolled back to step 4, the last one before them
    assert "rolled back to the checkpoint of step 4" in error
    assert f"`workbench train --resume {run_dir}` continues from" in error
    assert "lower the learning rate (--lr, now 0.001)" in error
    assert "--precision fp32" not in error  # it trained in fp32 already
    assert [c.step for c in checkpointing.complete_checkpoints(run_dir)] == [4]
    index = json.loads((run_dir / "checkpoints" / "index.json").read_text())
    assert index["last_step"] == 4
    assert resume_status(run_dir)["step"] == 4
    records = _records(run_dir)
    assert [r["step"] for r in records if r["kind"] == "step_skipped"] == [5, 6, 7]
    assert records[-1]["kind"] == "finished" and records[-1]["status"] == "failed"

    monkeypatch.undo()  # the cause is gone (a lower rate would be another run)
    resumed = resume(run_dir)
    assert resumed.status == "completed", resumed.error
    records = _records(run_dir)
    assert [r["step"] for r in records if r["kind"] == "step"] == list(range(1, 15))
    assert not [r for r in records if r["kind"] == "step_skipped"]  # cut back to step 4
    kinds = [r["kind"] for r in records]
    assert kinds.count("run_started") == 1 and kinds.count("finished") == 1
    (joined,) = [r for r in records if r["kind"] == "run_resumed"]
    assert joined["resumed_from_step"] == 4 and joined["total_steps"] == 14


def test_the_first_bad_step_can_stop_the_run_and_the_limit_is_checked():
    assert RunConfig().max_bad_steps == 3
    for bad in (0, -1, 10_001):
        with pytest.raises(UserError, match=r"--max-bad-steps must be between 1 and 10000"):
            RunConfig(max_bad_steps=bad)
    with pytest.raises(UserError, match="max_bad_steps must be a whole number"):
        RunConfig(max_bad_steps="3")  # type: ignore[arg-type]
    counter = guards.BadSteps(1)
    with pytest.raises(guards.NonFiniteSteps) as stopped:
        counter.bad(12, "the loss was inf")
    assert (stopped.value.first, stopped.value.last) == (12, 12)


def test_bad_steps_count_only_in_a_row():
    counter = guards.BadSteps(3)
    counter.bad(1, "x")
    counter.bad(2, "x")
    counter.good()
    counter.bad(4, "x")
    counter.bad(5, "x")
    with pytest.raises(guards.NonFiniteSteps) as stopped:
        counter.bad(6, "the gradient norm was inf")
    assert (stopped.value.first, stopped.value.last, counter.total) == (4, 6, 5)


def test_a_finite_loss_with_infinite_gradients_is_a_bad_step():
    loss, norm = torch.tensor(0.5), torch.tensor(float("inf"))
    assert not bool(guards.step_is_finite(loss, norm))
    assert bool(guards.step_is_finite(loss, None))  # a grad scaler's own business
    assert guards.describe(loss, norm) == "the gradient norm was inf"
    assert bool(guards.step_is_finite(loss, torch.tensor(3.0)))


# ---------------------------------------------------------------------------------------
# Micro-batches: the split step is the whole step


def _bert(kind: str, labels: int) -> torch.nn.Module:
    torch.manual_seed(0)
    c = BertConfig.from_dict(
        {
            "vocab_size": 60,
            "hidden_size": 16,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "intermediate_size": 32,
            "max_position_embeddings": 32,
            "hidden_dropout_prob": 0.0,
            "attention_probs_dropout_prob": 0.0,
        }
    )
    cls = BertForSequenceClassification if kind == "sequence" else BertForTokenClassification
    return cls(c, labels).double()  # float64: the comparison measures the split, not rounding


def _batch(task: str, rows: int = 7, width: int = 12) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    lengths = torch.tensor([12, 3, 9, 5, 12, 7, 2][:rows])
    mask = (torch.arange(width)[None, :] < lengths[:, None]).long()  # (B, T)
    batch = {
        "input_ids": torch.randint(5, 60, (rows, width), generator=g) * mask,
        "attention_mask": mask,
        "token_type_ids": torch.zeros(rows, width, dtype=torch.long),
    }
    if task == "text-classification":
        batch["labels"] = torch.tensor([0, 1, 1, 0, 1, 1, 1][:rows])
    else:  # per-token targets, a different number in each row
        labels = torch.randint(0, 3 if task == "token-classification" else 60, (rows, width))
        keep = torch.rand(rows, width, generator=g) < 0.6
        batch["labels"] = torch.where(keep & mask.bool(), labels, -100)
    return batch


CASES = {
    "text-classification": ("sequence", 2, {}),
    "weighted-classification": ("sequence", 2, {"class_weights": [3.0, 0.5]}),
    "token-classification": ("token", 3, {}),
    "weighted-tokens": ("token", 3, {"class_weights": [0.2, 1.0, 4.0]}),
    "masked-lm": ("token", 60, {}),
    "causal-lm": ("token", 60, {}),
}


def _task_of(case: str) -> str:
    return {
        "weighted-classification": "text-classification",
        "weighted-tokens": "token-classification",
    }.get(case, case)


def _gradients(case: str, size: int | None, units=None) -> tuple[float, dict[str, torch.Tensor]]:
    kind, labels, meta = CASES[case]
    task_name = _task_of(case)
    task = get_task(task_name)
    model = _bert(kind, labels)
    batch = _batch(task_name if kind == "token" else "text-classification")

    def loss_fn(model, batch):
        logits = model(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
        return task.loss(logits, batch, meta)

    micro = guards.MicroBatches(units or task.loss_units(meta))
    micro.size = size
    loss = micro.backward(loss_fn, model, batch, torch.optim.SGD(model.parameters(), lr=0.1))
    return float(loss), {n: p.grad for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("size", [1, 2, 3])
def test_micro_batches_accumulate_exactly_the_whole_batchs_gradients(case, size):
    whole_loss, whole = _gradients(case, None)
    split_loss, split = _gradients(case, size)
    assert abs(split_loss - whole_loss) < 1e-6
    assert whole.keys() == split.keys()
    worst = max((whole[k] - split[k]).abs().max().item() for k in whole)
    assert worst < 1e-6, f"{case}: micro-batches of {size} differ by {worst}"


@pytest.mark.parametrize("case", ["token-classification", "causal-lm", "weighted-classification"])
def test_scaling_micro_batches_by_examples_would_be_wrong_for_these_losses(case):
    """What the loss-unit shares are for: by rows, these split steps are another gradient."""
    _, whole = _gradients(case, None)
    _, by_rows = _gradients(case, 2, units=loss_units.example_units)
    assert max((whole[k] - by_rows[k]).abs().max().item() for k in whole) > 1e-4


def test_a_split_batch_keeps_every_row_once_and_shared_tensors_whole():
    batch = _batch("token-classification")
    batch["class_table"] = torch.arange(3)  # not per row (3 != 7): shared
    parts = guards.split_batch(batch, 3)
    assert [loss_units.batch_rows(p) for p in parts] == [3, 3, 1]
    assert torch.equal(torch.cat([p["labels"] for p in parts]), batch["labels"])
    assert all(torch.equal(p["class_table"], batch["class_table"]) for p in parts)


def test_out_of_memory_errors_are_told_from_other_errors():
    assert guards.is_out_of_memory(torch.OutOfMemoryError("CUDA out of memory. Tried to"))
    assert guards.is_out_of_memory(
        RuntimeError(
            "[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory"
        )
    )
    assert guards.is_out_of_memory(RuntimeError("MPS backend out of memory (MPS allocated: 1 GB)"))
    assert not guards.is_out_of_memory(RuntimeError("mat1 and mat2 shapes cannot be multiplied"))
    assert not guards.is_out_of_memory(ValueError("out of memory"))


# ---------------------------------------------------------------------------------------
# Out of memory, for real: a memory-capped child process

OOM_DRIVER = Path(__file__).with_name("oom_driver.py")
# What the first step may add to the child's address space. Measured here (2026-12-01, CPU,
# one thread): a step of 32 sequences of 256 tokens (mostly (B, 8, 256, 256) attention
# scores) failed with 200 MiB, and so did 16 and 8; micro-batches of 4 fitted.
HEADROOM_MIB = 200


@POSIX_ONLY
@pytest.mark.slow
def test_a_step_out_of_memory_goes_on_in_half_micro_batches_with_the_same_batch(tmp_path):
    done = subprocess.run(
        [sys.executable, str(OOM_DRIVER), str(tmp_path), str(HEADROOM_MIB), "32"],
        capture_output=True,
        text=True,
        env=dict(os.environ, **ONE_THREAD),
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.splitlines()[-1])
    assert report["status"] == "completed", report["error"]
    halved = [n for n in report["notices"] if n.startswith("out of memory")]
    assert halved, "the step fitted: raise the batch or lower HEADROOM_MIB"
    assert halved[0] == (
        "out of memory at batch 32: continuing with micro-batches of 16 × 2 "
        "(gradients accumulated: the effective batch is still 32)"
    )
    sizes = [int(n.split("out of memory at batch ")[1].split(":")[0]) for n in halved]
    assert sizes == [32 // 2**i for i in range(len(sizes))]  # halved until it fitted
    assert sizes[-1] > 1
    # One optimizer step of all 32 examples (32 of the 36 rows train, 4 evaluate).
    assert (report["train_steps"], report["train_examples"]) == (1, 32)
    log = (Path(report["run_dir"]) / "log.txt").read_text(encoding="utf-8")
    assert "out of memory at batch 32: continuing with micro-batches of 16 × 2" in log


@POSIX_ONLY
@pytest.mark.slow
def test_when_not_even_one_example_fits_the_run_stops_saying_what_to_lower(tmp_path):
    done = subprocess.run(
        [sys.executable, str(OOM_DRIVER), str(tmp_path), "1", "4"],
        capture_output=True,
        text=True,
        env=dict(os.environ, **ONE_THREAD),
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.splitlines()[-1])
    assert report["status"] == "failed"
    assert report["error"].startswith("out of memory even with micro-batches of 1 example")
    assert "--max-length" in report["error"]
    halvings = [n.split(":")[0] for n in report["notices"] if n.startswith("out of memory")]
    assert halvings == ["out of memory at batch 4", "out of memory at batch 2"]


# ---------------------------------------------------------------------------------------
# One writer per run

HOLDER = """
import sys
from pathlib import Path
from workbench.runs import RunLock
lock = RunLock(Path(sys.argv[1]))
assert lock.acquire()
print("locked", flush=True)
sys.stdin.read()  # until the test closes it
lock.release()
"""


def _resumable_folder(folder: Path) -> Path:
    """A run folder that `resume` accepts up to reading its data (a complete checkpoint)."""
    folder.mkdir(parents=True)
    (folder / "config.toml").write_text(RunConfig(data="x.csv").to_toml(), encoding="utf-8")
    step = folder / "checkpoints" / "step-3"
    step.mkdir(parents=True)
    (step / "state.json").write_text(json.dumps({"format": checkpointing.FORMAT}))
    marker = {"step": 3, "epoch": 0, "batch_in_epoch": 3, "bytes": 1}
    (step / checkpointing.MARKER).write_text(json.dumps(marker))
    return folder


@POSIX_ONLY
def test_a_run_another_process_writes_cannot_be_resumed(tmp_path):
    run_dir = _resumable_folder(tmp_path / "run")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(run_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2])),
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(UserError) as refused:
            resume(run_dir)
        assert str(refused.value) == (
            f"{run_dir.resolve()} is being written by process {holder.pid}; wait for it or stop it"
        )
        cli = subprocess.run(
            [sys.executable, "-m", "workbench", "train", "--resume", str(run_dir)],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert cli.returncode == 2
        assert cli.stderr.strip().splitlines() == [
            f"workbench: {run_dir.resolve()} is being written by process {holder.pid}; "
            "wait for it or stop it"
        ]
        assert (run_dir / "checkpoints" / "step-3").is_dir()  # nothing touched
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)
    # Once the writer is gone the run is free again (it then fails on its missing data).
    with pytest.raises(UserError, match="x.csv"):
        resume(run_dir)


@pytest.mark.parametrize(
    "task_name, units",
    [
        ("text-classification", 2.0),  # rows
        ("regression", 2.0),
        ("token-classification", 3.0),  # labelled tokens
        ("masked-lm", 3.0),
        ("seq2seq", 3.0),  # target tokens
        ("causal-lm", 1.0),  # targets from position 1 on: [6] and nothing
    ],
)
def test_each_task_says_what_its_loss_is_a_mean_over(task_name, units):
    batch = {"labels": torch.tensor([[5, 6, -100], [7, -100, -100]])}
    assert get_task(task_name).loss_units({})(batch).item() == units
