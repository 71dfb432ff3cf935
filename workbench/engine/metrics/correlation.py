"""Regression scores (STS-B style): Pearson and Spearman correlation, mean squared error.

A correlation is undefined when either side is constant (a collapsed regression head does
that early in training). We return 0.0 there, where scipy gives nan, so the value stays a
plain number in JSON logs and in best-checkpoint comparisons.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

ArrayLike = Sequence[float] | np.ndarray


def _pair(x: ArrayLike, y: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(x, dtype=np.float64).ravel()
    b = np.asarray(y, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"{a.size} targets but {b.size} predictions")
    if a.size == 0:
        raise ValueError("no values to score")
    return a, b


def pearson(x: ArrayLike, y: ArrayLike) -> float:
    """Pearson's r; 0.0 when either side is constant."""
    a, b = _pair(x, y)
    a, b = a - a.mean(), b - b.mean()
    denominator = np.sqrt((a * a).sum() * (b * b).sum())
    if denominator == 0:
        return 0.0
    return float(np.clip((a * b).sum() / denominator, -1.0, 1.0))


def rank(values: ArrayLike) -> np.ndarray:
    """1-based ranks, ties given the average of the ranks they span (scipy's "average")."""
    v = np.asarray(values, dtype=np.float64).ravel()
    order = np.argsort(v, kind="stable")
    sorted_v = v[order]
    # Each run of equal values [start, end) gets the mean of ranks start+1 .. end.
    boundaries = np.flatnonzero(np.diff(sorted_v)) + 1
    starts = np.concatenate(([0], boundaries))
    ends = np.concatenate((boundaries, [v.size]))
    ranks = np.empty(v.size, dtype=np.float64)
    ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    return ranks


def spearman(x: ArrayLike, y: ArrayLike) -> float:
    """Spearman's rho: Pearson's r of the average ranks."""
    a, b = _pair(x, y)
    return pearson(rank(a), rank(b))


def mse(x: ArrayLike, y: ArrayLike) -> float:
    """Mean squared error."""
    a, b = _pair(x, y)
    return float(np.mean((a - b) ** 2))
