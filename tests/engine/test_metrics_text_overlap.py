"""ROUGE and BLEU: the same numbers as rouge-score and sacrebleu on the same strings."""

from __future__ import annotations

import random

import pytest

from workbench.engine.metrics.text_overlap import (
    bleu_tokens,
    corpus_bleu,
    rouge_scores,
    rouge_tokens,
)

FIXED = [
    ("The quick brown fox jumps over the lazy dog", "The quick brown dog jumps on the log."),
    ("the cat sat on the mat", "the cat is on the mat"),
    ("", "a reference with words"),
    ("a prediction with words", ""),
    ("", ""),
    ("Café crème, s'il vous plaît!", "Un café crème, s'il vous plaît."),
    ("我喜欢自然语言处理", "我爱自然语言处理"),
    ("Prices rose 3.5% to $1,000.50 in 2019-2020.", "Prices rose by 3.5% to $1,000 in 2019-20."),
    ("AT&amp;T &quot;said&quot; &lt;no&gt;", 'AT&T "said" <no>'),
    ("line one-\nline two\nthree   ", "line oneline two three"),
    ("Hello hello HELLO", "hello"),
    ("word", "word"),
    ("<skipped> it rained", "it rained"),
]

WORDS = (
    "the a cat dog sat on mat The Cat ran quickly . , ! ? 's don't 3.5 1,000 2019-2020 - "
    "( ) [ ] { } $ % & &amp; café Élan naïve 中文 我们 über -- ... 42 x"
).split()


def random_text(rng: random.Random) -> str:
    n = rng.choice([0, 1, 2, 3, 5, 8, 13, 20])
    separators = [" ", " ", " ", "", "  ", "\n"]
    return "".join(rng.choice(WORDS) + rng.choice(separators) for _ in range(n))


def test_tokenizers_by_hand():
    assert rouge_tokens("Café, naïve 中文 X-ray 3.5") == ["caf", "na", "ve", "x", "ray", "3", "5"]
    assert bleu_tokens("Hello, world. It costs $3.50 (1,000 items) 5-4.") == (
        "Hello , world . It costs $ 3.50 ( 1,000 items ) 5 - 4 .".split()
    )


def test_identical_and_disjoint_texts():
    same = ["the cat sat on the mat today", "a dog ran in the park"]
    assert rouge_scores(same, same) == {"rouge1": 1.0, "rouge2": 1.0, "rougeL": 1.0}
    assert corpus_bleu(same, same) == pytest.approx(1.0)
    assert corpus_bleu(["x y z w"], ["a b c d"]) == 0.0
    assert rouge_scores(["x y"], ["a b"]) == {"rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0}


def test_rouge_by_hand():
    # 5 of 6 unigrams shared each way; bigrams: the cat, on the, the mat = 3 of 5; LCS 5.
    scores = rouge_scores(["the cat sat on the mat"], ["the cat is on the mat"])
    assert scores["rouge1"] == pytest.approx(5 / 6)
    assert scores["rouge2"] == pytest.approx(3 / 5)
    assert scores["rougeL"] == pytest.approx(5 / 6)


def test_mismatched_or_empty_inputs_are_bugs():
    with pytest.raises(ValueError, match="2 predictions but 1 references"):
        rouge_scores(["a", "b"], ["a"])
    with pytest.raises(ValueError, match="2 predictions but 1 references"):
        corpus_bleu(["a", "b"], ["a"])
    with pytest.raises(ValueError, match="no predictions"):
        corpus_bleu([], [])
    with pytest.raises(ValueError, match="no predictions"):
        rouge_scores([], [])


def reference_rouge(predictions, references):
    rouge_scorer = pytest.importorskip("rouge_score.rouge_scorer")
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=False)
    totals = {"rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0}
    for p, r in zip(predictions, references, strict=True):
        scores = scorer.score(r, p)  # score(target, prediction)
        for name in totals:
            totals[name] += scores[name].fmeasure
    return {name: value / len(predictions) for name, value in totals.items()}


def reference_bleu(predictions, references):
    sacrebleu = pytest.importorskip("sacrebleu")
    return sacrebleu.corpus_bleu(predictions, [references]).score / 100


def assert_rouge_equal(predictions, references):
    ours, theirs = rouge_scores(predictions, references), reference_rouge(predictions, references)
    assert ours.keys() == theirs.keys()
    for name in ours:
        assert ours[name] == pytest.approx(theirs[name], abs=1e-9), name


@pytest.mark.parametrize("pair", FIXED, ids=[str(i) for i in range(len(FIXED))])
def test_fixed_pairs_equal_the_references(pair):
    prediction, reference = pair
    assert_rouge_equal([prediction], [reference])
    assert corpus_bleu([prediction], [reference]) == pytest.approx(
        reference_bleu([prediction], [reference]), abs=1e-9
    )


def test_fixed_corpus_equals_the_references():
    predictions = [p for p, _ in FIXED]
    references = [r for _, r in FIXED]
    assert_rouge_equal(predictions, references)
    ours = corpus_bleu(predictions, references)
    assert 0 < ours < 1
    assert ours == pytest.approx(reference_bleu(predictions, references), abs=1e-9)


@pytest.mark.parametrize("seed", range(6))
def test_random_corpora_equal_the_references(seed):
    """Random texts from words, punctuation, numbers, entities, accents and Chinese."""
    rng = random.Random(seed)
    references = [random_text(rng) for _ in range(60)]
    # Predictions that overlap their reference (some words swapped, dropped, repeated).
    predictions = []
    for reference in references:
        words = reference.split()
        kept = [w if rng.random() > 0.3 else rng.choice(WORDS) for w in words if rng.random() > 0.2]
        predictions.append(" ".join(kept) if rng.random() > 0.1 else random_text(rng))
    assert_rouge_equal(predictions, references)
    assert corpus_bleu(predictions, references) == pytest.approx(
        reference_bleu(predictions, references), abs=1e-9
    )
    # Corpora small enough that higher orders have no n-grams at all, and single segments.
    for i in range(0, 60, 3):
        assert corpus_bleu(predictions[i : i + 1], references[i : i + 1]) == pytest.approx(
            reference_bleu(predictions[i : i + 1], references[i : i + 1]), abs=1e-9
        )
