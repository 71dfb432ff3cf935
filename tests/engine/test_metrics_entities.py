"""Entity-level NER scores: the same numbers as seqeval, the community reference."""

from __future__ import annotations

import random
import warnings

import pytest

from workbench.engine.metrics.entities import (
    BIOES,
    IOB1,
    IOB2,
    detect_scheme,
    entity_metrics,
    extract_entities,
)
from workbench.errors import UserError

seqeval_metrics = pytest.importorskip("seqeval.metrics")
seqeval_scheme = pytest.importorskip("seqeval.scheme")


def seqeval_entities(tags: list[str]) -> list[tuple[str, int, int]]:
    # seqeval's end index is inclusive; ours is exclusive.
    return [(k, s, e + 1) for k, s, e in seqeval_metrics.sequence_labeling.get_entities(tags)]


def seqeval_strict_entities(tags: list[str]) -> list[tuple[str, int, int]]:
    tokens = seqeval_scheme.Tokens(tags, seqeval_scheme.IOBES)
    return [(e.tag, e.start, e.end) for e in tokens.entities]


def seqeval_scores(true, pred, strict: bool) -> dict:
    kwargs = {"mode": "strict", "scheme": seqeval_scheme.IOBES} if strict else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = seqeval_metrics.classification_report(
            true, pred, output_dict=True, zero_division=0, **kwargs
        )
        f1 = seqeval_metrics.f1_score(true, pred, **kwargs)
        precision = seqeval_metrics.precision_score(true, pred, **kwargs)
        recall = seqeval_metrics.recall_score(true, pred, **kwargs)
    accuracy = seqeval_metrics.accuracy_score(true, pred)
    per_type = {
        k: {
            "precision": v["precision"],
            "recall": v["recall"],
            "f1": v["f1-score"],
            "support": int(v["support"]),
        }
        for k, v in report.items()
        if not k.endswith(" avg")
    }
    return {
        "entity_f1": f1,
        "entity_precision": precision,
        "entity_recall": recall,
        "token_accuracy": accuracy,
        "report": per_type,
    }


def assert_same_scores(ours: dict, theirs: dict) -> None:
    for key in ("entity_f1", "entity_precision", "entity_recall", "token_accuracy"):
        assert ours[key] == pytest.approx(theirs[key], abs=1e-12), key
    assert ours["report"].keys() == theirs["report"].keys()
    for kind, row in theirs["report"].items():
        assert ours["report"][kind]["support"] == row["support"]
        for key in ("precision", "recall", "f1"):
            assert ours["report"][kind][key] == pytest.approx(row[key], abs=1e-12), (kind, key)


def random_tags(rng: random.Random, prefixes: str, length: int) -> list[str]:
    # Any prefix after any tag, so malformed runs (I- after O, I-PER after B-LOC) are common.
    tags = []
    for _ in range(length):
        prefix = rng.choice(prefixes + "OO")
        tags.append("O" if prefix == "O" else f"{prefix}-{rng.choice(['PER', 'LOC', 'ORG'])}")
    return tags


def corrupt(rng: random.Random, tags: list[str], prefixes: str) -> list[str]:
    # A prediction near the truth: most tags kept, some replaced by random ones.
    return [t if rng.random() < 0.7 else random_tags(rng, prefixes, 1)[0] for t in tags]


def test_extract_entities_reads_iob2_spans_with_exclusive_ends():
    tags = ["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-LOC"]
    assert extract_entities(tags, IOB2) == [("PER", 0, 2), ("LOC", 3, 4), ("LOC", 4, 6)]


def test_lenient_decoding_starts_an_entity_at_a_stray_inside_tag():
    # I- after O, and I-PER after B-LOC, each open a new entity (conlleval rules).
    tags = ["O", "I-PER", "I-PER", "B-LOC", "I-PER"]
    assert extract_entities(tags, IOB2) == [("PER", 1, 3), ("LOC", 3, 4), ("PER", 4, 5)]


def test_iob1_uses_b_only_between_touching_entities_of_one_type():
    tags = ["I-PER", "I-PER", "B-PER", "O", "I-LOC"]
    assert extract_entities(tags, IOB1) == [("PER", 0, 2), ("PER", 2, 3), ("LOC", 4, 5)]


def test_strict_bioes_keeps_only_well_formed_spans():
    tags = ["S-PER", "B-LOC", "I-LOC", "E-LOC", "B-ORG", "I-ORG", "O", "I-PER", "E-PER"]
    assert extract_entities(tags, BIOES) == [("PER", 0, 1), ("LOC", 1, 4)]


def test_strict_bioes_drops_a_span_whose_type_changes_before_its_end():
    assert extract_entities(["B-PER", "E-LOC"], BIOES) == []


@pytest.mark.parametrize("prefixes", ["BI", "BIES"])
def test_lenient_entities_equal_seqeval_on_random_sequences(prefixes):
    rng = random.Random(0)
    for _ in range(500):
        tags = random_tags(rng, prefixes, rng.randint(0, 12))
        assert extract_entities(tags, IOB2) == seqeval_entities(tags), tags


def test_strict_bioes_entities_equal_seqeval_on_random_sequences():
    rng = random.Random(1)
    for _ in range(500):
        tags = random_tags(rng, "BIES", rng.randint(0, 12))
        assert extract_entities(tags, BIOES) == seqeval_strict_entities(tags), tags


def test_scores_on_a_hand_built_case_equal_seqeval_and_hand_counts():
    true = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O", "B-PER"]]
    pred = [["B-PER", "I-PER", "O", "B-ORG"], ["I-ORG", "O", "O"]]
    ours = entity_metrics(true, pred)
    # gold: PER, LOC, ORG, PER; found: PER, ORG, ORG(from the stray I-ORG); hits: PER, ORG.
    assert ours["entity_precision"] == pytest.approx(2 / 3)
    assert ours["entity_recall"] == pytest.approx(2 / 4)
    assert ours["entity_f1"] == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))
    assert ours["token_accuracy"] == pytest.approx(4 / 7)
    assert ours["report"]["LOC"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert_same_scores(ours, seqeval_scores(true, pred, strict=False))


@pytest.mark.parametrize("scheme", [IOB1, IOB2])
def test_lenient_scores_equal_seqeval_default_mode_on_random_corpora(scheme):
    rng = random.Random(2)
    for _ in range(300):
        true = [random_tags(rng, "BI", rng.randint(1, 10)) for _ in range(rng.randint(1, 5))]
        pred = [corrupt(rng, t, "BI") for t in true]
        assert_same_scores(
            entity_metrics(true, pred, scheme), seqeval_scores(true, pred, strict=False)
        )


def test_bioes_scores_equal_seqeval_strict_mode_on_random_corpora():
    rng = random.Random(3)
    for _ in range(300):
        true = [random_tags(rng, "BIES", rng.randint(1, 10)) for _ in range(rng.randint(1, 5))]
        pred = [corrupt(rng, t, "BIES") for t in true]
        assert_same_scores(
            entity_metrics(true, pred, BIOES), seqeval_scores(true, pred, strict=True)
        )


def test_bioes_is_the_detected_default_and_scored_strictly():
    true = [["B-PER", "E-PER", "S-LOC"]]
    pred = [["B-PER", "I-PER", "S-LOC"]]
    ours = entity_metrics(true, pred)
    assert ours["scheme"] == BIOES
    assert ours["entity_precision"] == 1.0  # the unclosed B-PER I-PER is no entity
    assert ours["entity_recall"] == 0.5


def test_no_entities_anywhere_scores_zero_like_seqeval():
    ours = entity_metrics([["O", "O"]], [["O", "O"]], IOB2)
    assert ours["entity_f1"] == 0.0
    assert ours["token_accuracy"] == 1.0
    assert ours["report"] == {}


def test_mismatched_lengths_are_a_bug_not_a_score():
    with pytest.raises(ValueError, match="sentence 0"):
        entity_metrics([["O", "O"]], [["O"]], IOB2)
    with pytest.raises(ValueError, match="2 gold sentences"):
        entity_metrics([["O"], ["O"]], [["O"]], IOB2)


def test_detect_scheme_from_label_sets():
    assert detect_scheme(["O", "B-PER", "I-PER", "B-LOC"]) == IOB2
    assert detect_scheme(["O", "B-PER", "I-PER", "I-LOC"]) == IOB1  # I-LOC never begun by B-
    assert detect_scheme(["O", "B-PER", "I-PER", "E-PER", "S-PER"]) == BIOES


def test_detect_scheme_from_sequences_counts_how_entities_start():
    iob1 = [["I-PER", "I-PER", "B-PER", "O", "I-LOC"], ["I-LOC", "O"]]
    iob2 = [["B-PER", "I-PER", "B-PER", "O", "B-LOC"], ["O", "B-LOC"]]
    assert detect_scheme(iob1) == IOB1
    assert detect_scheme(iob2) == IOB2


def test_a_tag_outside_every_scheme_names_the_tag_and_the_fix():
    with pytest.raises(UserError, match=r"'PER'.*--label-column"):
        detect_scheme(["O", "PER"])
    with pytest.raises(UserError, match="U-PER"):
        extract_entities(["U-PER"], IOB2)


def test_unknown_scheme_name_is_rejected():
    with pytest.raises(ValueError, match="IOE2"):
        extract_entities(["O"], "IOE2")
