"""The guards across a resume, and out of memory outside forward/backward.

- The bad-step streak and the micro-batch an out-of-memory error left are part of the
  TrainState, so a checkpoint keeps them: a run resumed mid-streak stops at the same step an
  uninterrupted one would, and a run resumed after halving its micro-batch does not run out
  of memory again to find it (the whole batch would fail again). They load under
  `torch.load(weights_only=True)` like the rest of the state.
- Out of memory in the optimizer step (AdamW's running averages, allocated at the first
  step) stops the run in one line saying how much it needed and what would fit; out of
  memory in an evaluation retries it with half the batch. Both with real allocation
  failures, in memory-capped child processes (guard_oom_driver.py).
"""

from __future__ import annotations

import io
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
from workbench.engine import resume, train
from workbench.engine.events import Notice, StepLogged, StepSkipped
from workbench.engine.tasks.text_classification import TextClassification
from workbench.engine.training import checkpointing, guards
from workbench.engine.training.state import TrainState
from workbench.errors import UserError

ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
POSIX_ONLY = pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_AS is POSIX")
DRIVER = Path(__file__).with_name("guard_oom_driver.py")


def _state() -> TrainState:
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    return TrainState(optimizer, scheduler)


def test_the_guards_counters_are_saved_and_load_with_weights_only():
    state = _state()
    state.step, state.bad_in_row, state.bad_first, state.bad_total = 9, 2, 8, 5
    state.micro_batch = 8
    buffer = io.BytesIO()
    torch.save(state.state_dict(), buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=True)  # nothing pickled beyond plain values
    fresh = _state()
    fresh.load_state_dict(loaded)
    assert (fresh.bad_in_row, fresh.bad_first, fresh.bad_total, fresh.micro_batch) == (2, 8, 5, 8)

    # The checkpoint's own format (JSON + safetensors) keeps them too.
    tensors: dict = {}
    encoded = json.loads(json.dumps(checkpointing.encode(state.state_dict(), tensors)))
    other = _state()
    other.load_state_dict(checkpointing.decode(encoded, tensors))
    assert (other.bad_in_row, other.bad_first, other.bad_total, other.micro_batch) == (2, 8, 5, 8)


def test_a_checkpoint_from_before_the_guards_were_saved_still_loads():
    saved = _state().state_dict()
    for key in ("bad_in_row", "bad_first", "bad_total", "micro_batch"):
        del saved["counters"][key]
    state = _state()
    state.load_state_dict(saved)
    assert (state.bad_in_row, state.bad_first, state.micro_batch) == (0, None, None)


def test_restoring_the_guards_sets_them_and_says_so():
    state = _state()
    state.bad_in_row, state.bad_first, state.bad_total, state.micro_batch = 2, 5, 3, 4
    bad, micro, told = guards.BadSteps(3), guards.MicroBatches(), []
    guards.restore_guards(state, bad, micro, told.append)
    assert (bad.in_row, bad.first, bad.total, micro.size) == (2, 5, 3, 4)
    texts = [n.message for n in told if isinstance(n, Notice)]
    assert texts[0].startswith("continuing with micro-batches of 4, as before the resume")
    assert (
        texts[1]
        == "resumed after 2 non-finite step(s) in a row (from step 5); 1 more in a row stop the run"
    )
    with pytest.raises(guards.NonFiniteSteps) as stopped:  # the third in a row, counted from 5
        bad.bad(7, "the loss was nan")
    assert (stopped.value.first, stopped.value.last) == (5, 7)

    fresh, quiet = _state(), []
    guards.restore_guards(fresh, guards.BadSteps(3), guards.MicroBatches(), quiet.append)
    assert quiet == []  # a fresh run says nothing
    guards.save_guards(fresh, bad, micro)
    assert (fresh.bad_in_row, fresh.bad_first, fresh.bad_total, fresh.micro_batch) == (3, 5, 4, 4)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict:
    """A tiny random BERT, 54 short reviews (7 steps of 8 per epoch), fp32 on the CPU."""
    folder = tmp_path_factory.mktemp("guard-state")
    return dict(
        data=str(write_reviews(folder / "reviews.csv", repeats=3)),
        model=str(tiny_bert(folder / "tiny-bert")),
        epochs=2,
        batch_size=8,
        max_length=16,
        learning_rate=1e-3,
        log_every_steps=1,
        eval_every_steps=100,  # only at the epoch ends
        precision="fp32",
        device="cpu",
        checkpoint_every_steps=2,
    )


def _nan_at(monkeypatch, calls: set[int]) -> None:
    """The task's training loss becomes NaN at these calls of this patch (1-based)."""
    real = TextClassification.loss
    count = [0]

    def loss(self, logits, batch, meta):
        count[0] += 1
        value = real(self, logits, batch, meta)
        return value * float("nan") if count[0] in calls else value

    monkeypatch.setattr(TextClassification, "loss", loss)


def test_a_run_resumed_mid_streak_stops_where_an_uninterrupted_one_would(
    tiny, tmp_path, monkeypatch
):
    _nan_at(monkeypatch, {5, 6})
    done: list[int] = []

    def on_event(event) -> None:
        if isinstance(event, StepLogged | StepSkipped):
            done.append(event.step)

    run_dir = tmp_path / "run"
    stopped = train(
        RunConfig(**tiny, output=str(run_dir)),
        on_event=on_event,
        should_stop=lambda: bool(done) and done[-1] >= 6,
    )
    assert stopped.status == "stopped", stopped.error
    assert checkpointing.complete_checkpoints(run_dir)[-1].step == 6  # inside the streak

    _nan_at(monkeypatch, {1})  # the first step after the resume is the third bad one in a row
    events: list = []
    resumed = resume(run_dir, on_event=events.append)
    assert resumed.status == "failed"
    # Counted from step 5, across the resume: without the saved streak it would be 1 in a row.
    assert "not finite at 3 steps in a row (5-7): the loss was nan" in resumed.error
    assert "rolled back to the checkpoint of step 4" in resumed.error
    notices = [e.message for e in events if isinstance(e, Notice)]
    assert (
        "resumed after 2 non-finite step(s) in a row (from step 5); 1 more in a row stop the run"
        in notices
    )
    skipped = [e for e in events if isinstance(e, StepSkipped)]
    assert [(e.step, e.in_row) for e in skipped] == [(7, 3)]


def _drive(mode: str, folder: Path, headroom_mib: int) -> dict:
    done = subprocess.run(
        [sys.executable, str(DRIVER), mode, str(folder), str(headroom_mib)],
        capture_output=True,
        text=True,
        env=dict(os.environ, **ONE_THREAD),
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.splitlines()[-1])
    assert report["capped"], "the cap was never set: the driver missed its moment"
    return report


@POSIX_ONLY
@pytest.mark.slow
def test_a_resumed_run_keeps_the_micro_batch_an_out_of_memory_error_left(tmp_path):
    first = _drive("stop", tmp_path, 200)  # as test_guards' OOM test: fits at 4 (or 8)
    assert first["status"] == "stopped", first["error"]
    halved = [n for n in first["notices"] if n.startswith("out of memory at batch")]
    assert halved, "the step fitted: raise the batch or lower the headroom"
    size = int(halved[-1].split("micro-batches of ")[1].split(" ")[0])

    again = _drive("resume", tmp_path, 200)  # the same cap at its first step
    assert again["status"] == "completed", again["error"]
    assert again["train_steps"] == 2 and again["steps"] == [2]
    assert not [n for n in again["notices"] if n.startswith("out of memory")], again["notices"]
    assert any(
        n.startswith(f"continuing with micro-batches of {size}, as before the resume")
        for n in again["notices"]
    ), again["notices"]


@POSIX_ONLY
@pytest.mark.slow
def test_out_of_memory_in_the_optimizer_step_stops_saying_what_it_needs(tmp_path):
    report = _drive("optimizer", tmp_path, 0)  # nothing more once backward is done
    assert report["status"] == "failed"
    error = report["error"]
    assert error.startswith("out of memory in the optimizer step of step 1: AdamW needs 15 MB")
    assert "of the 2,028,994 trained parameters" in error
    assert "--lora-rank 8" in error
    assert report["steps"] == []  # no step was logged as done
    run_dir = Path(report["run_dir"])
    assert not (run_dir / "model").exists()  # nothing half-trained is saved as the result
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert records[-1]["kind"] == "finished" and records[-1]["status"] == "failed"


@POSIX_ONLY
@pytest.mark.slow
def test_out_of_memory_in_an_evaluation_retries_it_with_half_the_batch(tmp_path):
    report = _drive("eval", tmp_path, 80)
    assert report["status"] == "completed", report["error"]
    halved = [n for n in report["notices"] if n.startswith("out of memory evaluating")]
    assert halved, "the evaluation fitted: raise its size or lower the headroom"
    assert halved[0] == (
        "out of memory evaluating batches of 64: evaluating in batches of 32 "
        "(the scores do not depend on it)"
    )
    assert report["num_examples"] == 64  # every validation example was scored


def test_evaluation_batches_halve_only_for_memory_and_stop_at_one():
    # oneDNN's way of saying its buffer could not be allocated (seen under the cap)
    assert guards.is_out_of_memory(RuntimeError("could not create a primitive"))
    calls: list[int] = []

    def fails(size: int):
        calls.append(size)
        raise RuntimeError("shape mismatch")  # a bug, not memory: not retried

    with pytest.raises(RuntimeError, match="shape mismatch"):
        guards.EvalBatches(8).run(fails, torch.device("cpu"))
    assert calls == [8]

    def never_fits(size: int):
        calls.append(size)
        raise MemoryError()

    calls.clear()
    told: list[str] = []
    with pytest.raises(UserError, match="out of memory while evaluating, even one example"):
        guards.EvalBatches(8, told.append).run(never_fits, torch.device("cpu"))
    assert calls == [8, 4, 2, 1] and len(told) == 3
