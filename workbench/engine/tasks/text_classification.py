"""Text classification: one label per text (sentiment, topic, intent …)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.engine.data.columns import guess_columns
from workbench.engine.data.examples import labelled_columns, stratified_indices
from workbench.engine.metrics.classification import (
    classification_metrics,
    cross_entropy,
    softmax,
)
from workbench.engine.models.family import SEQUENCE_CLASSIFICATION
from workbench.engine.tasks.base import LABEL, TEXT, Features, Rows, Task
from workbench.lazy import pandas as pd

if TYPE_CHECKING:
    import torch

    from workbench.config import RunConfig
    from workbench.engine.tokenizer import TextTokenizer


class TextClassification(Task):
    name = "text-classification"
    title = "Text classification"
    description = (
        "Adds a classification head on top of the model and fine-tunes everything to "
        "predict one label per text."
    )
    head_kind = SEQUENCE_CLASSIFICATION
    primary_metric = "accuracy"
    metric_names = ("accuracy", "f1_macro", "loss")
    roles = (TEXT, LABEL)

    def guess_columns(self, frame: pd.DataFrame) -> dict[str, str | None]:
        guess = guess_columns(frame)
        return {"text_column": guess.text, "label_column": guess.label}

    def text_fields(self, columns: dict[str, str]) -> list[str]:
        return [columns["text_column"]]

    def examples(self, frame, columns, meta, name, config):
        texts = self.text_fields(columns)
        values, labels = labelled_columns(
            frame,
            texts,
            columns["label_column"],
            None if meta is None else meta["labels"],
            name,
            flags=tuple(r.flag for r in self.roles if r is not LABEL),
        )
        rows = Rows({"text": values[texts[0]], "label": values["label"]})
        if len(texts) > 1:
            rows.columns["text_pair"] = values[texts[1]]
        if meta is None:
            meta = {"labels": labels}
            if config.class_weights:
                counts = np.bincount(rows["label"], minlength=len(labels)).astype(float)
                weights = len(rows) / (len(labels) * np.maximum(counts, 1.0))
                meta["class_weights"] = [round(float(w), 6) for w in weights]
        return rows, meta

    def split(self, rows: Rows, fraction: float, seed: int) -> tuple[Rows, Rows]:
        kept, held = stratified_indices(rows["label"], fraction, seed)
        return rows.subset(kept), rows.subset(held)

    def head_matches(self, saved: dict[str, Any] | None, meta: dict[str, Any]) -> bool:
        return saved is not None and saved.get("labels") == meta["labels"]

    def export_fields(self, meta: dict[str, Any]) -> dict[str, Any]:
        return {**super().export_fields(meta), "problem_type": "single_label_classification"}

    # ---- tensors --------------------------------------------------------------------------
    def encode(self, rows: Rows, tokenizer: TextTokenizer, config: RunConfig, meta) -> Features:
        sequences: dict[str, list[list[int]]]
        if "text_pair" in rows:
            ids, types = tokenizer.encode_pairs(rows["text"], rows["text_pair"])
            sequences = {"input_ids": ids, "token_type_ids": types}
        else:
            sequences = {"input_ids": tokenizer.encode(rows["text"], config.truncation)}
        values = {}
        if "label" in rows:
            values["labels"] = np.asarray(rows["label"], dtype=np.int64)
        return Features(sequences, values)

    def loss_units(self, meta):
        from workbench.engine.tasks import loss_units

        weights = meta.get("class_weights")  # a weighted mean: divided by the rows' weights
        return loss_units.weighted_example_units(weights) if weights else loss_units.example_units

    def loss(self, logits, batch, meta) -> torch.Tensor:
        import torch
        import torch.nn.functional as F

        weights = meta.get("class_weights")
        weight = None if weights is None else torch.tensor(weights, device=logits.device)
        return F.cross_entropy(logits.float(), batch["labels"], weight=weight)

    # ---- results --------------------------------------------------------------------------
    def metrics(self, outputs, features, rows, meta) -> dict[str, Any]:
        logits = np.stack(outputs)
        targets = np.asarray(rows["label"])
        weights = meta.get("class_weights")
        loss = cross_entropy(logits, targets, None if weights is None else np.asarray(weights))
        metrics = classification_metrics(targets, logits.argmax(axis=1), meta["labels"], loss)
        metrics["examples"] = example_predictions(rows, softmax(logits), meta["labels"])
        return metrics

    def predict(self, outputs, features, rows, meta) -> list[dict[str, Any]]:
        probs = softmax(np.stack(outputs))
        labels = meta["labels"]
        return [
            {
                "label": labels[int(row.argmax())],
                "scores": {label: float(p) for label, p in zip(labels, row, strict=True)},
            }
            for row in probs
        ]


def example_predictions(
    rows: Rows, probs: np.ndarray, labels: list[str], limit: int = 5000
) -> list:
    """The examples behind the confusion matrix: [text, true id, predicted id, probability
    of the prediction, loss], at most `limit` (the GUI lists a cell's examples from these)."""
    targets = np.asarray(rows["label"])
    predicted = probs.argmax(axis=1)
    eps = 1e-12
    out = []
    for i in range(min(len(targets), limit)):
        text = rows["text"][i]
        if "text_pair" in rows:
            text = f"{text} ‖ {rows['text_pair'][i]}"
        out.append(
            [
                text[:500],
                int(targets[i]),
                int(predicted[i]),
                round(float(probs[i, predicted[i]]), 5),
                round(float(-np.log(probs[i, targets[i]] + eps)), 5),
            ]
        )
    return out


TASK = TextClassification()
