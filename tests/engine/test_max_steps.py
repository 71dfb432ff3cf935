"""--max-steps N: a run stops after N optimizer steps, inside an epoch if need be, with the
learning-rate schedule ending there; a run stopped on the way resumes to the same weights as
one never stopped. Fast: a 2-layer GPT-2 of width 32 from scratch (`new_gpt2_folder`, as
`workbench new-model` writes it) on 14 short speeches, fp32 on the CPU."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from workbench.config import RunConfig
from workbench.engine import resume, train
from workbench.engine.events import RunStarted, StepLogged
from workbench.engine.models.scratch import new_gpt2_folder
from workbench.errors import UserError

SPEECHES = [
    f"{who}:\nO {what}, {how} me now, and speak no more.\n"
    for who in ("ROMEO", "JULIET", "NURSE", "FRIAR")
    for what in ("gentle night", "sweet love", "my lord", "good morrow", "fair sun")
    for how in ("tell", "leave", "hear")
]
PEAK = 2e-3
MAX_STEPS = 7


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("max_steps")
    data = root / "speeches.txt"
    # 14 speeches, a blank line between: about 3 steps of 4 blocks of 16 tokens an epoch.
    data.write_text("\n".join(SPEECHES[::4][:14]), encoding="utf-8")
    model = new_gpt2_folder(root / "baby", SPEECHES, vocab_size=300, n_layer=2, n_embd=32,
                            n_head=2, n_positions=32)  # fmt: skip
    return {"data": data, "model": model}


def _config(setup: dict[str, Path], output: Path, **changes) -> RunConfig:
    values = dict(
        task="causal-lm", data=str(setup["data"]), model=str(setup["model"]),
        output=str(output), max_length=16, batch_size=4, learning_rate=PEAK, epochs=1,
        max_steps=MAX_STEPS, precision="fp32", log_every_steps=1, eval_sample=8,
    )  # fmt: skip
    values.update(changes)
    return RunConfig(**values)


@pytest.fixture(scope="module")
def reference(setup, tmp_path_factory):
    """One uninterrupted run of MAX_STEPS steps and its events."""
    events: list = []
    result = train(_config(setup, tmp_path_factory.mktemp("reference")), on_event=events.append)
    return result, events


def test_a_run_stops_at_max_steps_with_the_schedule_ending_there(reference):
    result, events = reference
    assert result.status == "completed", result.error
    (started,) = [e for e in events if isinstance(e, RunStarted)]
    steps = [e for e in events if isinstance(e, StepLogged)]
    assert started.total_steps == MAX_STEPS
    assert [e.step for e in steps] == list(range(1, MAX_STEPS + 1))
    epochs_per_step = steps[0].epoch
    assert 0 < epochs_per_step < 1 / 2  # more than 2 steps an epoch, so --epochs 1 …
    assert steps[-1].epoch > 1  # … is overridden: the run went on into the next epoch
    # Warm-up round(0.1 * 7) = 1 step (at half the peak), then linear decay to 0 at step 7:
    # the last step's rate is 1/6 of the peak (the schedule's length is max_steps).
    rates = [e.learning_rate for e in steps]
    assert rates[0] == pytest.approx(PEAK / 2) and rates[1] == pytest.approx(PEAK)
    assert rates[-1] == pytest.approx(PEAK / 6)
    assert all(a > b for a, b in zip(rates[1:], rates[2:]))
    assert result.metrics["train_steps"] == MAX_STEPS
    assert result.metrics["perplexity"] < result.metrics["perplexity_before"]


def test_max_steps_inside_the_first_epoch_stops_there(setup, tmp_path):
    events: list = []
    result = train(_config(setup, tmp_path / "run", max_steps=2, epochs=3),
                   on_event=events.append)  # fmt: skip
    assert result.status == "completed", result.error
    steps = [e for e in events if isinstance(e, StepLogged)]
    assert [e.step for e in steps] == [1, 2] and steps[-1].epoch < 1


@pytest.mark.slow  # two more short runs (~15 s on a quiet machine)
def test_a_run_stopped_before_max_steps_resumes_to_the_same_weights(setup, reference, tmp_path):
    reference, _ = reference
    assert reference.status == "completed", reference.error

    count = {"steps": 0}

    def on_event(event) -> None:
        if isinstance(event, StepLogged):
            count["steps"] = event.step

    stopped = train(
        _config(setup, tmp_path / "stopped", checkpoint_every_steps=2),
        on_event=on_event,
        should_stop=lambda: count["steps"] >= 5,  # in the second epoch, past its checkpoint
    )
    assert stopped.status == "stopped", stopped.error
    resumed = resume(stopped.run_dir)
    assert resumed.status == "completed", resumed.error
    assert resumed.metrics["train_steps"] == MAX_STEPS
    ours = load_file(str(Path(resumed.run_dir) / "model" / "model.safetensors"))
    theirs = load_file(str(Path(reference.run_dir) / "model" / "model.safetensors"))
    assert ours.keys() == theirs.keys()
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)


@pytest.mark.parametrize("bad", [-1, 1.5, "10"])
def test_a_bad_max_steps_is_a_user_error(setup, tmp_path, bad):
    with pytest.raises(UserError, match="max_steps"):
        _config(setup, tmp_path / "run", max_steps=bad)
