"""Moving text classification onto the Task and Family seams changed none of its numbers.

The reference was recorded with the foundation's hard-coded loop (commit e2199a3) on the same
data, settings and seed: every step's loss, the final evaluation and the predicted
probabilities must agree to floating-point noise.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from reviews_data import write_reviews

from workbench.config import RunConfig
from workbench.engine import load_predictor, train
from workbench.engine.events import StepLogged

REFERENCE = json.loads(
    (Path(__file__).parent / "data" / "text_classification_reference.json").read_text("utf-8")
)


def test_text_classification_gives_the_foundations_results_at_the_same_seed(tmp_path):
    data = write_reviews(tmp_path / "reviews.csv", repeats=4)
    events = []
    config = RunConfig(
        data=str(data),
        output=str(tmp_path / "run"),
        epochs=2,
        batch_size=8,
        max_length=32,
        learning_rate=2e-4,
        log_every_steps=1,
        precision="fp32",
        dropout=0.1,
        eval_every_steps=1000,
    )
    result = train(config, on_event=events.append)
    losses = [e.loss for e in events if isinstance(e, StepLogged)]
    assert len(losses) == len(REFERENCE["losses"])
    assert np.allclose(losses, REFERENCE["losses"], atol=1e-4, rtol=0)
    assert result.metrics["accuracy"] == REFERENCE["accuracy"]
    assert abs(result.metrics["loss"] - REFERENCE["loss"]) < 1e-4
    probabilities = load_predictor(result.run_dir).probabilities(REFERENCE["texts"])
    assert np.abs(probabilities - np.asarray(REFERENCE["probabilities"])).max() < 1e-4
