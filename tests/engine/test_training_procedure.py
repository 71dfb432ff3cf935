"""What the training procedure promises whatever the task: evaluations with a shape, a bounded
cost, early stopping that keeps the best model, and refusing a model that cannot do the task."""

from __future__ import annotations

import dataclasses
import json

import pytest

from workbench.config import RunConfig
from workbench.engine import train
from workbench.engine.events import EvalFinished, Notice, RunStarted
from workbench.errors import UserError


def config(data, tmp_path, **overrides) -> RunConfig:
    values = dict(
        data=str(data),
        output=str(tmp_path / "run"),
        epochs=1,
        batch_size=4,
        max_length=32,
        learning_rate=2e-4,
    )
    values.update(overrides)
    return RunConfig(**values)


def test_a_run_is_evaluated_at_least_five_times_by_default(reviews_csv, tmp_path):
    events = []
    result = train(config(reviews_csv, tmp_path), on_event=events.append)
    started = next(e for e in events if isinstance(e, RunStarted))
    evals = [e for e in events if isinstance(e, EvalFinished)]
    assert started.total_steps == 14 and started.primary_metric == "accuracy"
    assert len(evals) >= 5
    assert evals[-1].step == started.total_steps
    assert result.metrics["accuracy"] == evals[-1].metrics["accuracy"]


def test_evaluations_during_training_use_a_fixed_sample_and_the_last_uses_all(
    reviews_csv, tmp_path
):
    events = []
    train(config(reviews_csv, tmp_path, eval_sample=3, eval_split=0.2), on_event=events.append)
    evals = [e.metrics for e in events if isinstance(e, EvalFinished)]
    assert all(m["num_examples"] == 3 and m["evaluated_on"] == "sample" for m in evals[:-1])
    assert evals[-1]["num_examples"] == 12 and evals[-1]["evaluated_on"] == "all"


def test_early_stopping_keeps_the_best_model_not_the_last(reviews_csv, tmp_path, monkeypatch):
    from workbench.engine.tasks.text_classification import TextClassification

    real_metrics = TextClassification.metrics
    scores = iter([0.5, 0.9, 0.6, 0.55, 0.5, 0.4, 0.3, 0.2, 0.1, 0.1])

    def scripted(self, outputs, features, rows, meta):  # the accuracy each evaluation "measures"
        metrics = real_metrics(self, outputs, features, rows, meta)
        metrics["accuracy"] = next(scores)
        return metrics

    monkeypatch.setattr(TextClassification, "metrics", scripted)
    events = []
    result = train(
        config(reviews_csv, tmp_path, epochs=3, eval_every_steps=2, early_stopping_patience=2),
        on_event=events.append,
    )
    evals = [e for e in events if isinstance(e, EvalFinished)]
    notices = [e.message for e in events if isinstance(e, Notice)]
    assert [e.step for e in evals][:4] == [2, 4, 6, 8]
    assert result.metrics["early_stopped_at_step"] == 8 and result.metrics["best_step"] == 4
    assert any("stopped early at step 8" in n for n in notices)
    assert any("keeping the model of step 4" in n for n in notices)
    assert result.status == "completed"


def test_class_weights_are_computed_from_the_training_labels(tmp_path):
    path = tmp_path / "imbalanced.csv"
    rows = [f"great thing {i},good" for i in range(18)] + [f"awful thing {i},bad" for i in range(6)]
    path.write_text("text,label\n" + "\n".join(rows) + "\n", encoding="utf-8")
    result = train(config(path, tmp_path, class_weights=True, eval_split=0.25))
    assert result.status == "completed"
    saved = json.loads((result.run_dir / "model" / "config.json").read_text(encoding="utf-8"))
    weights = saved["workbench"]["meta"]["class_weights"]
    assert saved["workbench"]["meta"]["labels"] == ["bad", "good"]
    assert weights[0] == pytest.approx(3 * weights[1])  # three times rarer, three times the weight


def test_a_model_that_cannot_do_the_task_is_refused_before_any_work(
    reviews_csv, tmp_path, monkeypatch
):
    from workbench.engine.models import registry

    bert = registry.load_family("bert")
    headless = dataclasses.replace(bert, heads={})
    monkeypatch.setattr(registry, "load_family", lambda name: headless)
    with pytest.raises(UserError, match="bert models cannot do text classification"):
        train(config(reviews_csv, tmp_path))
    assert not (tmp_path / "run").exists()
