"""Generated-text scores (summarisation, translation): ROUGE-1/2/L and corpus BLEU.

Both follow the reference implementations people compare against, so a number here is the
number a paper or a leaderboard reports:

- `rouge_scores` is `rouge_score.rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"],
  use_stemmer=False)`: text lowercased, every run of characters outside [a-z0-9] a separator
  (so accented letters split words and Chinese disappears, as there), F-measure per pair,
  averaged over pairs.
- `corpus_bleu` is `sacrebleu.corpus_bleu` with its defaults: mteval-v13a tokenisation, case
  kept, exponential ("exp", NIST) smoothing, n-grams up to 4, one reference per prediction,
  statistics summed over the corpus before the geometric mean. Returned on the 0-1 scale
  (sacrebleu reports 0-100).

Pure Python (re, collections, math): no torch, cheap to test against the libraries.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

# --- ROUGE --------------------------------------------------------------------------------

_NON_ALPHANUM = re.compile(r"[^a-z0-9]+")


def rouge_tokens(text: str) -> list[str]:
    """rouge_score's default tokenizer without stemming: lowercase, keep [a-z0-9] runs."""
    return [t for t in _NON_ALPHANUM.sub(" ", text.lower()).split() if t]


def _ngrams(tokens: list[str], n: int) -> Counter[tuple[str, ...]]:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def _f_measure(precision: float, recall: float) -> float:
    if precision + recall > 0:
        return 2 * precision * recall / (precision + recall)
    return 0.0


def _rouge_n(target: list[str], prediction: list[str], n: int) -> float:
    target_ngrams, prediction_ngrams = _ngrams(target, n), _ngrams(prediction, n)
    overlap = sum(min(count, prediction_ngrams[g]) for g, count in target_ngrams.items())
    # max(…, 1): an empty side scores 0 rather than dividing by zero, as rouge_score does.
    precision = overlap / max(sum(prediction_ngrams.values()), 1)
    recall = overlap / max(sum(target_ngrams.values()), 1)
    return _f_measure(precision, recall)


def _lcs_length(a: list[str], b: list[str]) -> int:
    """Longest common subsequence length, one DP row at a time (O(len(a)·len(b)) time)."""
    previous = [0] * (len(b) + 1)
    for token in a:
        current = [0]
        for j, other in enumerate(b):
            current.append(previous[j] + 1 if token == other else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def _rouge_l(target: list[str], prediction: list[str]) -> float:
    if not target or not prediction:
        return 0.0
    lcs = _lcs_length(target, prediction)
    return _f_measure(lcs / len(prediction), lcs / len(target))


def _check_pairs(predictions: Sequence[str], references: Sequence[str]) -> None:
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references")
    if not predictions:
        raise ValueError("no predictions to score")


def rouge_scores(predictions: list[str], references: list[str]) -> dict[str, float]:
    """Mean ROUGE-1, ROUGE-2 and ROUGE-L F-measures over (prediction, reference) pairs, 0-1."""
    _check_pairs(predictions, references)
    totals = {"rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0}
    for prediction, reference in zip(predictions, references, strict=True):
        p, r = rouge_tokens(prediction), rouge_tokens(reference)
        totals["rouge1"] += _rouge_n(r, p, 1)
        totals["rouge2"] += _rouge_n(r, p, 2)
        totals["rougeL"] += _rouge_l(r, p)
    return {name: total / len(predictions) for name, total in totals.items()}


# --- BLEU ---------------------------------------------------------------------------------

MAX_ORDER = 4

# mteval-v13a's language-dependent rules, in sacrebleu's order (tokenizer_re.py).
_BLEU_RULES = [
    # punctuation and symbols: { | } ~ [ \ ] ^ _ ` space ! " # $ % & ( ) * + : ; < = > ? @ /
    (re.compile(r"([\{-\~\[-\` -\&\(-\+\:-\@\/])"), r" \1 "),
    (re.compile(r"([^0-9])([\.,])"), r"\1 \2 "),  # period/comma unless after a digit
    (re.compile(r"([\.,])([^0-9])"), r" \1 \2"),  # period/comma unless before a digit
    (re.compile(r"([0-9])(-)"), r"\1 \2 "),  # a dash after a digit
]


def bleu_tokens(line: str) -> list[str]:
    """sacrebleu's 13a tokenisation of one segment (trailing whitespace stripped first)."""
    line = line.rstrip()
    line = line.replace("<skipped>", "").replace("-\n", "").replace("\n", " ")
    if "&" in line:
        line = line.replace("&quot;", '"').replace("&amp;", "&")
        line = line.replace("&lt;", "<").replace("&gt;", ">")
    line = f" {line} "
    for pattern, replacement in _BLEU_RULES:
        line = pattern.sub(replacement, line)
    return line.split()


def _all_ngrams(tokens: list[str]) -> Counter[tuple[str, ...]]:
    counts: Counter[tuple[str, ...]] = Counter()
    for n in range(1, MAX_ORDER + 1):
        counts.update(_ngrams(tokens, n))
    return counts


def _floored_log(value: float) -> float:
    # sacrebleu's my_log: a zero precision (an order with no n-grams at all) gives a huge
    # negative log, not an error, so the score collapses to ~0 as there.
    return -9999999999 if value == 0.0 else math.log(value)


def corpus_bleu(predictions: list[str], references: list[str]) -> float:
    """Corpus BLEU of predictions against one reference each, 0-1 (sacrebleu's defaults)."""
    _check_pairs(predictions, references)
    sys_len = ref_len = 0
    correct = [0] * MAX_ORDER
    total = [0] * MAX_ORDER
    for prediction, reference in zip(predictions, references, strict=True):
        hyp, ref = bleu_tokens(prediction), bleu_tokens(reference)
        sys_len += len(hyp)
        ref_len += len(ref)
        ref_counts = _all_ngrams(ref)
        for gram, count in _all_ngrams(hyp).items():
            total[len(gram) - 1] += count
            correct[len(gram) - 1] += min(count, ref_counts.get(gram, 0))
    if not any(correct):
        return 0.0
    brevity = 1.0
    if sys_len < ref_len:
        brevity = math.exp(1 - ref_len / sys_len) if sys_len > 0 else 0.0
    # Precisions in percent, as sacrebleu computes them, so rounding matches to the last bit.
    precisions = [0.0] * MAX_ORDER
    smooth = 1.0
    for n in range(MAX_ORDER):
        if total[n] == 0:
            break
        if correct[n] == 0:
            smooth *= 2  # exp smoothing: 1/2, 1/4, … of a match for each successive empty order
            precisions[n] = 100.0 / (smooth * total[n])
        else:
            precisions[n] = 100.0 * correct[n] / total[n]
    score = brevity * math.exp(sum(_floored_log(p) for p in precisions) / MAX_ORDER)
    return score / 100.0
