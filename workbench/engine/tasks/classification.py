"""Text classification: building the model from a folder, metrics, and the exported config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from workbench.engine.checkpoint import load_into, read_state_dict
from workbench.engine.models.bert import BertConfig, BertForSequenceClassification
from workbench.engine.models.registry import read_config
from workbench.errors import UserError

HEAD_PREFIXES = ("classifier.",)


def build_classifier(
    folder: Path, labels: list[str] | None = None, dropout: float | None = None
) -> tuple[BertForSequenceClassification, list[str], list[str]]:
    """The model for `folder` with a head for `labels`.

    With `labels` None the folder must be a trained classifier (its id2label gives them).
    When the folder's head does not fit the labels (a base model, or other labels), a fresh
    head is initialised. `dropout`, when given, replaces the checkpoint's dropout rates
    (hidden, attention and head) for training; exports keep the checkpoint's own.
    Returns (model, labels, names of freshly initialised weights).
    """
    raw = read_config(folder)
    if raw.get("model_type") != "bert":
        raise UserError(f"model type {raw.get('model_type')!r} is not supported yet; supported: bert")
    saved_labels = _labels_from_config(raw)
    if labels is None:
        if not saved_labels:
            raise UserError(f"{folder} is not a trained classifier (its config.json has no id2label)")
        labels = saved_labels
    if dropout is not None:
        raw = {
            **raw,
            "hidden_dropout_prob": dropout,
            "attention_probs_dropout_prob": dropout,
            "classifier_dropout": dropout,
        }
    config = BertConfig.from_dict(raw)
    model = BertForSequenceClassification(config, num_labels=len(labels))
    weights = read_state_dict(folder)
    if saved_labels != labels:
        weights = {k: v for k, v in weights.items() if not k.startswith(HEAD_PREFIXES)}
    fresh = load_into(model, weights, prefix="bert.", allow_missing=HEAD_PREFIXES + ("bert.pooler.",))
    if any(name.startswith("bert.pooler.") for name in fresh):
        torch.nn.init.normal_(model.bert.pooler.dense.weight, std=config.initializer_range)
        torch.nn.init.zeros_(model.bert.pooler.dense.bias)
    return model, labels, fresh


def _labels_from_config(raw: dict[str, Any]) -> list[str] | None:
    id2label = raw.get("id2label")
    if not id2label or raw.get("architectures") != ["BertForSequenceClassification"]:
        return None
    return [str(id2label[k]) for k in sorted(id2label, key=int)]


def export_config(source_folder: Path, labels: list[str]) -> dict[str, Any]:
    """config.json for `BertForSequenceClassification`, keeping the encoder's settings."""
    raw = dict(read_config(source_folder))
    for key in ("_name_or_path", "gradient_checkpointing", "transformers_version"):
        raw.pop(key, None)
    raw.update(
        architectures=["BertForSequenceClassification"],
        id2label={str(i): label for i, label in enumerate(labels)},
        label2id={label: i for i, label in enumerate(labels)},
        problem_type="single_label_classification",
        torch_dtype="float32",
    )
    return raw


def classification_metrics(
    label_ids: np.ndarray, predictions: np.ndarray, labels: list[str], loss: float
) -> dict[str, Any]:
    """accuracy, macro-F1, a per-class report and the confusion matrix (rows: true)."""
    n = len(labels)
    matrix = np.zeros((n, n), dtype=np.int64)
    np.add.at(matrix, (label_ids, predictions), 1)
    true_pos = np.diag(matrix).astype(float)
    predicted = matrix.sum(axis=0).astype(float)
    support = matrix.sum(axis=1).astype(float)
    precision = np.divide(true_pos, predicted, out=np.zeros(n), where=predicted > 0)
    recall = np.divide(true_pos, support, out=np.zeros(n), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros(n), where=denom > 0)
    present = support > 0
    report = {
        label: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
        for i, label in enumerate(labels)
    }
    return {
        "loss": float(loss),
        "accuracy": float(true_pos.sum() / max(matrix.sum(), 1)),
        "f1_macro": float(f1[present].mean()) if present.any() else 0.0,
        "num_examples": int(matrix.sum()),
        "labels": list(labels),
        "report": report,
        "confusion_matrix": matrix.tolist(),
    }
