"""Multi-label scores, by hand and (when installed) against scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.engine.metrics.multilabel import multilabel_metrics, tune_threshold

TRUE = np.array([[1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 0]])
SCORES = np.array(
    [
        [0.9, 0.2, 0.1],
        [0.4, 0.7, 0.6],
        [0.1, 0.5, 0.0],
        [0.6, 0.1, 0.2],
    ]
)
LABELS = ["joy", "anger", "fear"]


def test_scores_at_half_by_hand():
    # At 0.5: joy predicted rows 0, 3 (tp 1, fp 1, fn 1); anger rows 1, 2 (tp 2);
    # fear row 1 (fp 1, no support).
    result = multilabel_metrics(TRUE, SCORES, LABELS, threshold=0.5)
    assert result["report"]["joy"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    assert result["report"]["anger"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 2}
    assert result["report"]["fear"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    # micro: tp 3, fp 2, fn 1 -> 6 / 9
    assert result["f1_micro"] == pytest.approx(6 / 9)
    assert result["f1_macro"] == pytest.approx((0.5 + 1.0 + 0.0) / 3)
    assert result["threshold"] == 0.5


def test_a_score_equal_to_the_threshold_counts_as_predicted():
    result = multilabel_metrics(np.array([[1]]), np.array([[0.3]]), ["x"], threshold=0.3)
    assert result["f1_micro"] == 1.0


def test_equal_to_sklearn_on_random_data():
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    for _ in range(30):
        true = (rng.random((40, 6)) < 0.2).astype(int)
        scores = np.clip(true * 0.4 + rng.random((40, 6)) * 0.6, 0, 1)
        threshold = float(rng.choice([0.3, 0.5, 0.7]))
        pred = (scores >= threshold).astype(int)
        ours = multilabel_metrics(true, scores, list("abcdef"), threshold)
        kw = {"zero_division": 0}
        assert ours["f1_micro"] == pytest.approx(
            sklearn_metrics.f1_score(true, pred, average="micro", **kw)
        )
        assert ours["f1_macro"] == pytest.approx(
            sklearn_metrics.f1_score(true, pred, average="macro", **kw)
        )
        per_label = sklearn_metrics.precision_recall_fscore_support(true, pred, **kw)
        for i, name in enumerate("abcdef"):
            row = ours["report"][name]
            assert row["precision"] == pytest.approx(per_label[0][i])
            assert row["recall"] == pytest.approx(per_label[1][i])
            assert row["f1"] == pytest.approx(per_label[2][i])
            assert row["support"] == per_label[3][i]


def test_tune_threshold_picks_the_best_micro_f1_on_the_grid():
    # Positives score 0.3, negatives 0.2: only 0.25 and 0.3 are perfect; 0.3 is nearer 0.5.
    true = np.array([[1, 0], [0, 1], [0, 0]])
    scores = np.where(true == 1, 0.3, 0.2)
    assert tune_threshold(true, scores) == 0.3
    assert multilabel_metrics(true, scores, ["a", "b"], 0.3)["f1_micro"] == 1.0
    assert multilabel_metrics(true, scores, ["a", "b"], 0.5)["f1_micro"] == 0.0


def test_tune_threshold_breaks_ties_towards_one_half():
    # Positives at 0.9, negatives at 0.1: every threshold from 0.15 to 0.9 is perfect.
    true = np.array([[1, 0], [0, 1]])
    scores = np.where(true == 1, 0.9, 0.1)
    assert tune_threshold(true, scores) == 0.5
    # Perfect from 0.65 up to 0.9: 0.65 is the perfect one nearest 0.5.
    scores = np.where(true == 1, 0.9, 0.6)
    assert tune_threshold(true, scores) == 0.65


def test_shape_mistakes_are_bugs():
    with pytest.raises(ValueError, match="must be equal"):
        multilabel_metrics(TRUE, SCORES[:, :2], LABELS[:2])
    with pytest.raises(ValueError, match="2 label names for 3"):
        multilabel_metrics(TRUE, SCORES, LABELS[:2])
