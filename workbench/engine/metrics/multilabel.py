"""Multi-label classification scores (GoEmotions style): every label is its own yes/no.

A label is predicted when its probability is at least the threshold. The threshold matters a
lot when labels are rare, so `tune_threshold` picks it on validation data.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# 0.05, 0.10, ..., 0.95: coarse enough not to overfit a small validation set.
THRESHOLD_GRID = tuple(round(0.05 * i, 2) for i in range(1, 20))


def _check(true: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    true = np.asarray(true)
    scores = np.asarray(scores, dtype=np.float64)
    if true.ndim != 2 or true.shape != scores.shape:
        raise ValueError(f"targets {true.shape} and scores {scores.shape} must be equal (N, L)")
    return true.astype(bool), scores


def _counts(true: np.ndarray, predicted: np.ndarray) -> tuple[np.ndarray, ...]:
    tp = (true & predicted).sum(axis=0)
    fp = (~true & predicted).sum(axis=0)
    fn = (true & ~predicted).sum(axis=0)
    return tp, fp, fn


def _f1(tp: np.ndarray | int, fp: np.ndarray | int, fn: np.ndarray | int) -> np.ndarray:
    # 2TP / (2TP + FP + FN), 0 where a label is neither present nor predicted (as sklearn).
    denominator = np.asarray(2 * tp + fp + fn, dtype=np.float64)
    return np.divide(2 * tp, denominator, out=np.zeros_like(denominator), where=denominator > 0)


def multilabel_metrics(
    true: np.ndarray, scores: np.ndarray, labels: Sequence[str], threshold: float = 0.5
) -> dict:
    """Micro and macro F1 and a per-label report, predicting labels with score >= threshold."""
    true, scores = _check(true, scores)
    if len(labels) != true.shape[1]:
        raise ValueError(f"{len(labels)} label names for {true.shape[1]} label columns")
    tp, fp, fn = _counts(true, scores >= threshold)
    per_label = _f1(tp, fp, fn)
    report = {}
    for i, label in enumerate(labels):
        predicted, actual = tp[i] + fp[i], tp[i] + fn[i]
        report[label] = {
            "precision": float(tp[i] / predicted) if predicted else 0.0,
            "recall": float(tp[i] / actual) if actual else 0.0,
            "f1": float(per_label[i]),
            "support": int(actual),
        }
    return {
        "f1_micro": float(_f1(tp.sum(), fp.sum(), fn.sum())),
        "f1_macro": float(per_label.mean()) if per_label.size else 0.0,
        "report": report,
        "threshold": float(threshold),
    }


def tune_threshold(
    true: np.ndarray, scores: np.ndarray, grid: Sequence[float] = THRESHOLD_GRID
) -> float:
    """The grid threshold with the best micro-F1; ties go to the one closest to 0.5."""
    true, scores = _check(true, scores)
    best, best_f1 = 0.5, -1.0
    for threshold in sorted(grid, key=lambda t: (abs(t - 0.5), t)):
        tp, fp, fn = _counts(true, scores >= threshold)
        score = float(_f1(tp.sum(), fp.sum(), fn.sum()))
        if score > best_f1 + 1e-12:
            best, best_f1 = float(threshold), score
    return best
