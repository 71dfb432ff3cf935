"""SQuAD scores: the official evaluation script's rules, checked on hand-computed values."""

from __future__ import annotations

import pytest

from workbench.engine.metrics.squad import exact_match, f1, normalize_answer, squad_metrics


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("The Eiffel Tower!", "eiffel tower"),
        ("  an   apple,  a pear ", "apple pear"),
        ("Theatre", "theatre"),  # "the" only as a whole word
        ("U.S.A.", "usa"),
        ("rock-'n'-roll", "rocknroll"),
        ("A", ""),
    ],
)
def test_normalize_answer_lowercases_and_strips_punctuation_articles_and_spaces(raw, normal):
    assert normalize_answer(raw) == normal


def test_exact_match_ignores_case_punctuation_and_articles():
    assert exact_match("the Eiffel Tower!", ["Eiffel tower"]) == 1.0
    assert exact_match("Eiffel", ["Eiffel tower"]) == 0.0


def test_scores_take_the_best_gold_answer():
    golds = ["Denver Broncos", "the Broncos", "Broncos"]
    assert exact_match("Broncos", golds) == 1.0
    # vs "denver broncos": 1 common token of 2 predicted, 2 gold -> P 1/2, R 1/2.
    assert f1("the Broncos team", ["Denver Broncos"]) == pytest.approx(0.5)
    assert f1("the Broncos team", golds) == pytest.approx(2 * 0.5 * 1 / 1.5)


def test_f1_counts_repeated_tokens_only_as_often_as_both_sides_have_them():
    # common tokens = {new: 1, york: 1} = 2; P = 2/3, R = 2/2, F1 = 0.8
    assert f1("new new york", ["new york"]) == pytest.approx(0.8)


def test_f1_is_zero_without_common_tokens():
    assert f1("Paris", ["London"]) == 0.0


def test_unanswerable_questions_accept_only_the_empty_answer():
    assert exact_match("", []) == 1.0
    assert f1("", [""]) == 1.0
    assert f1("Paris", [""]) == 0.0
    assert exact_match("Paris", []) == 0.0
    assert f1("", ["Paris"]) == 0.0


def test_gold_answers_that_normalise_to_nothing_make_the_question_unanswerable():
    # As in the v2.0 script: "the" leaves no tokens, so only "" (or "a", "...") is right.
    assert f1("", ["the"]) == 1.0
    assert exact_match("An", ["the"]) == 1.0


def test_squad_metrics_averages_over_references_and_counts_missing_answers_as_wrong():
    references = {
        "q1": ["Eiffel Tower"],
        "q2": ["new york"],
        "q3": [],
        "q4": ["Paris"],
    }
    predictions = {"q1": "the eiffel tower", "q2": "new new york", "q3": ""}
    scores = squad_metrics(predictions, references)
    assert scores["exact_match"] == pytest.approx((1 + 0 + 1 + 0) / 4)
    assert scores["f1"] == pytest.approx((1 + 0.8 + 1 + 0) / 4)


def test_squad_metrics_ignores_predictions_for_unknown_questions():
    scores = squad_metrics({"q1": "x", "extra": "y"}, {"q1": ["x"]})
    assert scores == {"f1": 1.0, "exact_match": 1.0}
