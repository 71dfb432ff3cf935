"""Extractive question answering scores, as the official SQuAD v2.0 evaluation script.

Why v2.0: it is v1.1's logic plus unanswerable questions, where the only right answer is
the empty string. On v1.1 data (every question has a non-empty answer) both give the same
numbers, except that a missing prediction scores 0 here, as in v1.1 (v2.0 skips it).
Scores are on a 0-1 scale (the scripts print 0-100).
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Mapping, Sequence

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = set(string.punctuation)


def normalize_answer(text: str) -> str:
    """Lower-case, drop punctuation and the articles a/an/the, collapse whitespace."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def _golds(golds: Sequence[str]) -> list[str]:
    # Answers that normalise to nothing are dropped; none left means "unanswerable".
    kept = [g for g in golds if normalize_answer(g)]
    return kept or [""]


def _tokens(text: str) -> list[str]:
    return normalize_answer(text).split() if text else []


def _exact(gold: str, prediction: str) -> float:
    return float(normalize_answer(gold) == normalize_answer(prediction))


def _f1(gold: str, prediction: str) -> float:
    gold_tokens, pred_tokens = _tokens(gold), _tokens(prediction)
    if not gold_tokens or not pred_tokens:
        return float(gold_tokens == pred_tokens)  # right only when both are "no answer"
    same = sum((Counter(gold_tokens) & Counter(pred_tokens)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred_tokens), same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def exact_match(prediction: str, golds: Sequence[str]) -> float:
    """1.0 when the normalised prediction equals any normalised gold answer, else 0.0."""
    return max(_exact(g, prediction) for g in _golds(golds))


def f1(prediction: str, golds: Sequence[str]) -> float:
    """Token-overlap F1 against the best-matching gold answer."""
    return max(_f1(g, prediction) for g in _golds(golds))


def squad_metrics(
    predictions: Mapping[str, str], references: Mapping[str, Sequence[str]]
) -> dict[str, float]:
    """Mean F1 and exact match over the questions in `references` (0-1 scale)."""
    if not references:
        return {"f1": 0.0, "exact_match": 0.0}
    total_f1 = total_exact = 0.0
    for qid, golds in references.items():
        if qid not in predictions:
            continue
        total_f1 += f1(predictions[qid], golds)
        total_exact += exact_match(predictions[qid], golds)
    return {"f1": total_f1 / len(references), "exact_match": total_exact / len(references)}
