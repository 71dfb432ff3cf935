"""Entity-level scores for token tagging (NER), equal to seqeval's.

A tagger is judged on whole entities, not tokens: an entity counts as found only when its
type and both boundaries match. Two decoding rules are used, the same ones seqeval uses:

- IOB1 and IOB2 are decoded leniently, like the CoNLL `conlleval` script (seqeval's default
  mode): an `I-X` after `O` or after another type starts a new entity, so a model that
  forgets `B-` is not punished twice.
- BIOES is decoded strictly (seqeval `mode="strict", scheme=IOBES`): an entity must be one
  `S-X`, or `B-X` followed by `I-X`... and closed by `E-X`; anything else is no entity.

Tags are `O`, or a prefix letter, `-`, and a type (`B-PER`). A bare prefix (`B`) has type `_`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from workbench.errors import UserError

IOB1 = "IOB1"
IOB2 = "IOB2"
BIOES = "BIOES"
SCHEMES = (IOB1, IOB2, BIOES)

Entity = tuple[str, int, int]  # (type, start, end exclusive)

_PREFIXES = {IOB1: "BIO", IOB2: "BIO", BIOES: "BIOES"}


def split_tag(tag: str) -> tuple[str, str]:
    """Split `B-PER` into `("B", "PER")`; `O` gives `("O", "")`."""
    if tag == "O":
        return "O", ""
    if len(tag) == 1 and tag in "BIES":
        return tag, "_"
    if len(tag) >= 3 and tag[0] in "BIES" and tag[1] == "-":
        return tag[0], tag[2:]
    raise UserError(
        f"tag {tag!r} is not O or a B-/I-/E-/S- tag such as B-PER; "
        "fix the tags in the column given by --label-column"
    )


def detect_scheme(tags: Iterable[str] | Iterable[Sequence[str]]) -> str:
    """Name the tagging scheme (IOB1, IOB2 or BIOES) of gold tags.

    Give tag sequences where you can: a label set alone cannot tell IOB1 from IOB2 unless
    some type has `I-` tags but no `B-` tag. With sequences, IOB1 is chosen when most
    entities start with `I-` (IOB1 uses `B-` only between two touching entities of a type).
    """
    items = list(tags)
    sequences = [list(s) for s in items if not isinstance(s, str)]
    flat = [t for s in sequences for t in s] + [t for t in items if isinstance(t, str)]
    split = [split_tag(t) for t in flat]
    prefixes = {p for p, _ in split}
    if prefixes & {"E", "S"}:
        return BIOES
    begun = {kind for p, kind in split if p == "B"}
    if any(p == "I" and kind not in begun for p, kind in split):
        return IOB1
    starts = Counter()
    for sequence in sequences:
        previous = "O"
        for tag in sequence:
            prefix, kind = split_tag(tag)
            if prefix == "B":
                starts["B"] += 1
            elif prefix == "I" and (previous == "O" or split_tag(previous)[1] != kind):
                starts["I"] += 1
            previous = tag
    return IOB1 if starts["I"] > starts["B"] else IOB2


def extract_entities(tags: Sequence[str], scheme: str = IOB2) -> list[Entity]:
    """Entities in one sentence's tags as `(type, start, end_exclusive)`, in order."""
    _check_scheme(scheme)
    if scheme == BIOES:
        return _strict_bioes(tags)
    return _lenient(tags)


def _lenient(tags: Sequence[str]) -> list[Entity]:
    # conlleval's chunk rules, as in seqeval.metrics.sequence_labeling.get_entities.
    entities: list[Entity] = []
    prev_prefix, prev_kind, begin = "O", "", 0
    for i, tag in enumerate([*tags, "O"]):
        prefix, kind = split_tag(tag)
        ends = prev_prefix in "ES" or (
            prev_prefix in "BI" and (prefix in "BSO" or kind != prev_kind)
        )
        if ends:
            entities.append((prev_kind, begin, i))
        starts = (
            prefix in "BS"
            or (prev_prefix in "ESO" and prefix in "EI")
            or (prefix != "O" and kind != prev_kind)
        )
        if starts:
            begin = i
        prev_prefix, prev_kind = prefix, kind
    return entities


def _strict_bioes(tags: Sequence[str]) -> list[Entity]:
    # seqeval's strict IOBES: S-X alone, or B-X (I-X)* E-X; broken spans are dropped.
    split = [split_tag(t) for t in tags]
    entities: list[Entity] = []
    i = 0
    while i < len(split):
        prefix, kind = split[i]
        if prefix == "S":
            entities.append((kind, i, i + 1))
        elif prefix == "B":
            j, last = i + 1, "B"
            while j < len(split) and last in "BI" and split[j][0] in "IE" and split[j][1] == kind:
                last = split[j][0]
                j += 1
            if last == "E":
                entities.append((kind, i, j))
            i = j
            continue
        i += 1
    return entities


def entity_metrics(
    true_tags: Sequence[Sequence[str]],
    pred_tags: Sequence[Sequence[str]],
    scheme: str | None = None,
) -> dict:
    """Micro entity precision/recall/F1 over all types, a per-type report, token accuracy.

    `scheme` defaults to the one detected from `true_tags`. Undefined ratios (no predicted
    or no gold entities) are 0, as in seqeval. Scores are on a 0-1 scale.
    """
    if len(true_tags) != len(pred_tags):
        raise ValueError(f"{len(true_tags)} gold sentences but {len(pred_tags)} predicted")
    scheme = scheme or detect_scheme(true_tags)
    _check_scheme(scheme)
    gold: set[tuple[int, str, int, int]] = set()
    found: set[tuple[int, str, int, int]] = set()
    correct_tokens = total_tokens = 0
    for n, (truth, pred) in enumerate(zip(true_tags, pred_tags)):
        if len(truth) != len(pred):
            raise ValueError(f"sentence {n}: {len(truth)} gold tags but {len(pred)} predicted")
        gold.update((n, *e) for e in extract_entities(truth, scheme))
        found.update((n, *e) for e in extract_entities(pred, scheme))
        correct_tokens += sum(t == p for t, p in zip(truth, pred))
        total_tokens += len(truth)
    hits = gold & found
    report = {}
    for kind in sorted({e[1] for e in gold | found}):
        n_gold = sum(e[1] == kind for e in gold)
        n_found = sum(e[1] == kind for e in found)
        n_hit = sum(e[1] == kind for e in hits)
        report[kind] = {**_prf(n_hit, n_found, n_gold), "support": n_gold}
    micro = _prf(len(hits), len(found), len(gold))
    return {
        "entity_f1": micro["f1"],
        "entity_precision": micro["precision"],
        "entity_recall": micro["recall"],
        "token_accuracy": correct_tokens / total_tokens if total_tokens else 0.0,
        "report": report,
        "scheme": scheme,
    }


def _prf(hits: int, predicted: int, actual: int) -> dict[str, float]:
    precision = hits / predicted if predicted else 0.0
    recall = hits / actual if actual else 0.0
    total = precision + recall
    f1 = 2 * precision * recall / total if total else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def _check_scheme(scheme: str) -> None:
    if scheme not in SCHEMES:
        raise ValueError(f"unknown tagging scheme {scheme!r}; use one of {', '.join(SCHEMES)}")
