"""Regression scores: the same numbers as scipy.stats."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.engine.metrics.correlation import mse, pearson, rank, spearman

stats = pytest.importorskip("scipy.stats")


def test_rank_averages_ties():
    assert rank([10, 20, 20, 5]).tolist() == [2.0, 3.5, 3.5, 1.0]


def test_perfect_and_inverse_relations():
    assert pearson([1, 2, 3], [2, 4, 6]) == pytest.approx(1.0)
    assert spearman([1, 2, 3], [1, 8, 27]) == pytest.approx(1.0)
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)


def test_mse_by_hand():
    assert mse([1.0, 2.0, 3.0], [1.0, 0.0, 5.0]) == pytest.approx((0 + 4 + 4) / 3)


@pytest.mark.parametrize("seed", range(20))
def test_equal_to_scipy_on_random_data_with_ties(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 60))
    x = rng.integers(0, 6, n).astype(float)  # few distinct values: many ties
    y = x * rng.normal() + rng.normal(size=n)
    if seed % 2:
        y = np.round(y)
    assert pearson(x, y) == pytest.approx(stats.pearsonr(x, y)[0], abs=1e-10)
    assert spearman(x, y) == pytest.approx(stats.spearmanr(x, y)[0], abs=1e-10)
    assert rank(y).tolist() == pytest.approx(stats.rankdata(y).tolist())


def test_a_constant_side_scores_zero_where_scipy_gives_nan():
    assert pearson([1, 1, 1], [1, 2, 3]) == 0.0
    assert spearman([1, 2, 3], [4, 4, 4]) == 0.0


def test_mismatched_or_empty_inputs_are_bugs():
    with pytest.raises(ValueError, match="3 targets but 2"):
        pearson([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="no values"):
        mse([], [])
