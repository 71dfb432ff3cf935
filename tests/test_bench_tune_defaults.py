"""The tuning benchmark drives the product's own training procedure, not a copy of it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from reviews_data import write_reviews

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import tune_defaults  # noqa: E402


def test_the_baseline_variant_trains_exactly_as_workbench_train(tmp_path, monkeypatch):
    from workbench.config import RunConfig
    from workbench.engine import evaluate, train
    from workbench.engine.models.registry import default_model_path

    for split, seed in (("train", 0), ("dev", 1), ("test", 2)):
        write_reviews(tmp_path / f"{split}.csv", repeats=3, seed=seed)
    small = {"epochs": 1, "batch_size": 8, "max_length": 32, "holdout": False}
    monkeypatch.setattr(tune_defaults, "BASE", {**tune_defaults.BASE, **small})
    folder = str(default_model_path())
    result = tune_defaults.run_one(("cur", {}, 42, folder, str(tmp_path), "cpu", True))
    assert set(result) >= {"acc_dev", "acc_test", "final_train_loss"}

    config = RunConfig(
        data=str(tmp_path / "train.csv"),
        eval_data=str(tmp_path / "dev.csv"),
        output=str(tmp_path / "run"),
        epochs=1,
        batch_size=8,
        max_length=32,
        precision="fp32",
        seed=42,
    )
    run = train(config)
    assert run.status == "completed"
    assert evaluate(run.run_dir, tmp_path / "dev.csv")["accuracy"] == result["acc_dev"]

    # A variant changes the run: random batches give another trajectory.
    other = tune_defaults.run_one(
        ("cur:random_batches", {"batches": "random"}, 42, folder, str(tmp_path), "cpu", False)
    )
    assert "acc_test" not in other  # the test split is scored only when asked
    assert other["final_train_loss"] != result["final_train_loss"]
    json.dumps(result)
