"""Single-label classification metrics: accuracy, F1, a per-class report, the confusion matrix."""

from __future__ import annotations

from typing import Any

import numpy as np


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


def binary_f1(label_ids: np.ndarray, predictions: np.ndarray, positive: int) -> float:
    """F1 of the positive class (GLUE's F1 for MRPC and QQP)."""
    true_pos = float(np.sum((predictions == positive) & (label_ids == positive)))
    predicted = float(np.sum(predictions == positive))
    actual = float(np.sum(label_ids == positive))
    if true_pos == 0:
        return 0.0
    precision, recall = true_pos / predicted, true_pos / actual
    return 2 * precision * recall / (precision + recall)


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def cross_entropy(
    logits: np.ndarray, label_ids: np.ndarray, weights: np.ndarray | None = None
) -> float:
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    picked = -log_probs[np.arange(len(label_ids)), label_ids]
    if weights is None:
        return float(picked.mean())
    w = weights[label_ids]
    return float((picked * w).sum() / w.sum())
