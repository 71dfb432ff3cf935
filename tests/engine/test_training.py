"""A training run: what it writes, what it reports, how it stops, and that it repeats."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib

import pytest

from workbench.config import RunConfig
from workbench.engine import load_predictor, train
from workbench.engine.events import (
    EvalFinished,
    RunFinished,
    RunStarted,
    StepLogged,
    StepSkipped,
)
from workbench.errors import UserError


def small_config(data, **overrides) -> RunConfig:
    values = dict(
        data=str(data), epochs=1, batch_size=8, max_length=32, log_every_steps=1, learning_rate=2e-4
    )
    values.update(overrides)
    return RunConfig(**values)


def test_a_run_writes_config_metrics_results_and_model(trained_run):
    config = tomllib.loads((trained_run / "config.toml").read_text(encoding="utf-8"))
    assert config["text_column"] == "text" and config["label_column"] == "label"
    assert config["output"] == str(trained_run)
    results = json.loads((trained_run / "eval_results.json").read_text(encoding="utf-8"))
    for key in (
        "accuracy",
        "f1_macro",
        "loss",
        "train_examples_per_second",
        "train_seconds",
        "report",
        "confusion_matrix",
    ):
        assert key in results
    assert results["status"] == "completed"
    assert sum(map(sum, results["confusion_matrix"])) == results["num_examples"]
    kinds = [
        json.loads(line)["kind"]
        for line in (trained_run / "metrics.jsonl").read_text().splitlines()
    ]
    assert (
        kinds[-1] == "finished" and "run_started" in kinds and "step" in kinds and "eval" in kinds
    )
    model = trained_run / "model"
    assert {"config.json", "model.safetensors", "tokenizer.json", "vocab.txt"} <= {
        p.name for p in model.iterdir()
    }
    assert not [p for p in trained_run.iterdir() if p.name.startswith(".")], (
        "temporary files left behind"
    )


def test_the_model_learns_the_small_dataset(trained_run):
    results = json.loads((trained_run / "eval_results.json").read_text(encoding="utf-8"))
    assert results["accuracy"] >= 0.75
    predictor = load_predictor(trained_run)
    (prediction,) = predictor.predict(["a wonderful film with a warm heart and great acting"])
    assert prediction["label"] == "positive"
    assert abs(sum(prediction["scores"].values()) - 1) < 1e-6


def test_events_arrive_in_order_and_end_with_finished(reviews_csv, tmp_path):
    events = []
    result = train(
        small_config(reviews_csv, output=str(tmp_path / "run"), eval_every_steps=3),
        on_event=events.append,
    )
    started = [e for e in events if isinstance(e, RunStarted)]
    steps = [e for e in events if isinstance(e, StepLogged)]
    evals = [e for e in events if isinstance(e, EvalFinished)]
    assert len(started) == 1 and started[0].labels == ["negative", "positive"]
    assert [s.step for s in steps] == list(range(1, started[0].total_steps + 1))
    assert all(s.examples_per_second > 0 and s.learning_rate > 0 for s in steps)
    total = started[0].total_steps
    assert total == 7  # 54 training examples (60 less the 10% held out) in batches of 8
    assert [e.step for e in evals] == [3, 6, 7]  # every 3 steps, and at the end of the epoch
    assert isinstance(events[-1], RunFinished) and events[-1].status == "completed"
    assert result.metrics["accuracy"] == evals[-1].metrics["accuracy"]


def test_the_same_seed_gives_the_same_run(reviews_csv, tmp_path):
    losses = []
    for name in ("a", "b"):
        events = []
        train(small_config(reviews_csv, output=str(tmp_path / name)), on_event=events.append)
        losses.append([e.loss for e in events if isinstance(e, StepLogged)])
    assert losses[0] == losses[1]


def test_stop_ends_the_run_between_steps_with_a_usable_model(reviews_csv, tmp_path):
    steps = []

    def on_event(event):
        if isinstance(event, StepLogged):
            steps.append(event.step)

    result = train(
        small_config(reviews_csv, output=str(tmp_path / "run"), epochs=3),
        on_event=on_event,
        should_stop=lambda: len(steps) >= 2,
    )
    assert result.status == "stopped"
    assert steps == [1, 2]
    assert "accuracy" in result.metrics  # a stopped run is still evaluated
    assert load_predictor(result.run_dir).predict(["great"])[0]["label"] in ("negative", "positive")


def test_bad_input_raises_before_anything_is_written(tmp_path, isolated_home):
    path = tmp_path / "one_class.csv"
    path.write_text("text,label\nfine,good\nnice,good\n", encoding="utf-8")
    with pytest.raises(UserError, match="only one class"):
        train(small_config(path, output=str(tmp_path / "run")))
    assert not (tmp_path / "run").exists()
    assert not (isolated_home / "runs").exists()


def test_an_existing_run_folder_is_never_overwritten(reviews_csv, trained_run):
    with pytest.raises(UserError, match="already exists"):
        train(small_config(reviews_csv, output=str(trained_run)))


def test_a_loss_that_stays_non_finite_fails_the_run_with_a_message(
    reviews_csv, tmp_path, monkeypatch
):
    """Each NaN step is skipped (see test_guards.py); the third in a row ends the run."""
    from workbench.engine.tasks.text_classification import TextClassification

    real_loss = TextClassification.loss
    calls = []

    def loss_turning_nan(self, logits, batch, meta):
        calls.append(1)
        loss = real_loss(self, logits, batch, meta)
        return loss * float("nan") if len(calls) >= 3 else loss

    monkeypatch.setattr(TextClassification, "loss", loss_turning_nan)
    events = []
    result = train(
        small_config(reviews_csv, output=str(tmp_path / "run"), epochs=3), on_event=events.append
    )
    assert result.status == "failed"
    assert "the training loss or gradients were not finite at 3 steps in a row (3-5)" in (
        result.error
    )
    assert "the run stopped at step 5" in result.error
    assert "no checkpoint was saved before that" in result.error
    assert "lower the learning rate (--lr, now 0.0002)" in result.error
    assert [e.step for e in events if isinstance(e, StepSkipped)] == [3, 4, 5]
    assert [e.step for e in events if isinstance(e, StepLogged)] == [1, 2]  # never a NaN
    assert isinstance(events[-1], RunFinished) and events[-1].error == result.error
    finished = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[-1])
    assert finished["kind"] == "finished" and finished["status"] == "failed"


def test_the_engine_never_imports_qt():
    code = (
        "import sys, workbench.engine, workbench.engine.training.run, workbench.engine.predict, "
        "workbench.engine.export.hf, workbench.engine.tasks.text_classification, workbench.cli\n"
        "bad = [m for m in sys.modules if m.startswith(('PySide6', 'pyqtgraph', 'workbench.gui'))]\n"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_runs_curves_can_be_rebuilt_from_disk_even_after_a_crash(trained_run, tmp_path):
    import shutil

    from workbench.runs import read_metrics

    copy = tmp_path / "copy"
    shutil.copytree(trained_run, copy)
    with open(copy / "metrics.jsonl", "a", encoding="utf-8") as handle:
        handle.write('{"kind": "step", "loss": 0.5')  # a line cut short by a kill
    records = read_metrics(copy)
    losses = [r["loss"] for r in records if r["kind"] == "step"]
    assert losses and all(isinstance(x, float) for x in losses)
    assert records[-1]["kind"] == "finished"
