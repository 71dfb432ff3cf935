"""Evaluate a trained model on a labelled file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from workbench.engine.data import guess_columns, load_table, make_examples
from workbench.engine.inference import cross_entropy, predict_logits
from workbench.engine.predict import Predictor
from workbench.engine.tasks.classification import classification_metrics
from workbench.errors import UserError


def evaluate_file(
    run_or_model: str | Path,
    data: str | Path,
    text_column: str | None = None,
    label_column: str | None = None,
    batch_size: int = 64,
) -> dict[str, Any]:
    frame = load_table(data)
    text_column, label_column = _columns(run_or_model, frame, text_column, label_column)
    predictor = Predictor.load(run_or_model)
    examples, labels = make_examples(
        frame, text_column, label_column, labels=predictor.labels, name=Path(data).name
    )
    ids = predictor.tokenizer.encode(examples.texts)
    logits = predict_logits(predictor.model, ids, predictor.tokenizer.pad_id, predictor.precision, batch_size)
    targets = np.asarray(examples.label_ids)
    return classification_metrics(targets, logits.argmax(axis=1), labels, cross_entropy(logits, targets))


def _columns(run_or_model, frame, text_column, label_column) -> tuple[str, str]:
    """Explicit columns first, then the run's own column names, then a guess."""
    config_file = Path(run_or_model) / "config.toml"
    if config_file.exists():
        from workbench.config import RunConfig

        try:
            run = RunConfig.from_toml(config_file)
            if text_column is None and run.text_column in frame.columns:
                text_column = run.text_column
            if label_column is None and run.label_column in frame.columns:
                label_column = run.label_column
        except UserError:
            pass
    guess = guess_columns(frame)
    text_column = text_column or guess.text
    label_column = label_column or guess.label
    if text_column is None or label_column is None:
        raise UserError("cannot tell which columns hold the text and the label; name them with --text-column and --label-column")
    return text_column, label_column
