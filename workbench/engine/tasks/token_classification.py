"""Token classification (NER): one tag per word, scored on whole entities.

Data are sentences as a list of words and a list of tags (CoNLL column files, or JSONL with
a tokens and a tags column). Words become sub-word tokens; the first sub-token of a word
carries the word's tag, the others and the special tokens are ignored (-100) by the loss, as
in the BERT paper. A sentence longer than the window is cut into overlapping windows; each
word's prediction is read from the window where it has the most context on both sides.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import re
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.engine.metrics.classification import cross_entropy, softmax
from workbench.engine.metrics.entities import (
    IOB1,
    detect_scheme,
    entity_metrics,
    extract_entities,
    split_tag,
)
from workbench.engine.models.family import TOKEN_CLASSIFICATION
from workbench.engine.tasks.base import LABEL, TEXT, Features, Rows, Task
from workbench.errors import UserError
from workbench.lazy import pandas as pd

if TYPE_CHECKING:
    import torch

    from workbench.config import RunConfig
    from workbench.engine.tokenizer import TextTokenizer

IGNORE = -100
OUTSIDE = "O"
PLAIN = "IO"
"""Tags without B-/I-/E-/S- prefixes (`PER`, `O`, or bare integers): an entity is a run of
equal tags other than the outside tag."""
EXAMPLES_LIMIT = 300
"""Sentences kept for the GUI's predicted-vs-gold view (bounded: results stay small)."""
EXAMPLE_WORDS_LIMIT = 200

_TOKEN_NAMES = ("tokens", "words", "token", "word", "sentence", "text")
_TAG_NAMES = ("tags", "ner_tags", "labels", "ner", "label", "tag", "ner_tag", "entities")
# Words as CoNLL splits them: numbers with separators ("1,000.5"), words with inner hyphens
# or apostrophes ("1996-08-22", "O'Neill"), and every other symbol on its own ("," ".").
_WORD = re.compile(r"\d+(?:[.,:/]\d+)+|\w+(?:[-'’]\w+)*|[^\w\s]")


# The same column flags as text classification, named for what a CoNLL-style table holds.
TOKENS = dataclasses.replace(TEXT, title="Tokens")
TAGS = dataclasses.replace(LABEL, title="Tags")


class TokenClassification(Task):
    name = "token-classification"
    title = "Token classification (NER)"
    description = (
        "Adds a tagging head on top of the model and fine-tunes everything to predict one tag "
        "per word (named entities such as B-PER, I-LOC, O); scored on whole entities."
    )
    head_kind = TOKEN_CLASSIFICATION
    primary_metric = "entity_f1"
    metric_names = ("entity_f1", "entity_precision", "entity_recall", "token_accuracy", "loss")
    roles = (TOKENS, TAGS)
    # Chosen on the CoNLL-2003 validation split with the bundled MiniLM (bench/ner_conll.py):
    # on a 4,000-sentence slice, one epoch at batch 32 gave entity F1 0.752 at 1e-4, 0.802 at
    # 2e-4 and 0.806 at 3e-4; 2e-4 is on that plateau and safer for the 3.5x more steps of a
    # full epoch. 128 tokens hold all but one CoNLL sentence; longer ones are windowed.
    # The full epoch with these defaults: entity F1 0.883 on validation (goal 0.86).
    defaults = {"epochs": 1, "learning_rate": 2e-4, "batch_size": 32, "max_length": 128}

    # ---- reading data --------------------------------------------------------------------
    def guess_columns(self, frame: pd.DataFrame) -> dict[str, str | None]:
        columns = [c for c in frame.columns if isinstance(c, str)]
        lower = {c.lower().strip(): c for c in columns}
        tokens = next(
            (lower[n] for n in _TOKEN_NAMES if n in lower and _holds_lists(frame[lower[n]])), None
        )
        tags = next(
            (
                lower[n]
                for n in _TAG_NAMES
                if n in lower and lower[n] != tokens and _holds_lists(frame[lower[n]])
            ),
            None,
        )
        listed = [c for c in columns if c not in (tokens, tags) and _holds_lists(frame[c])]
        if tokens is None and listed:
            tokens = next((c for c in listed if _holds_strings(frame[c])), listed[0])
            listed.remove(tokens)
        if tokens is None:  # a named column that is not lists: examples() says so
            tokens = next((lower[n] for n in _TOKEN_NAMES if n in lower), None)
        if tags is None:
            tags = next((lower[n] for n in _TAG_NAMES if n in lower and lower[n] != tokens), None)
            tags = tags or (listed[0] if listed else None)
        return {"text_column": tokens, "label_column": tags}

    def examples(self, frame, columns, meta, name, config):
        token_column, tag_column = columns["text_column"], columns["label_column"]
        sentences: list[list[str]] = []
        tag_lists: list[list[str]] = []
        for row, (raw_words, raw_tags) in enumerate(
            zip(frame[token_column], frame[tag_column], strict=True), start=1
        ):
            if _missing(raw_words) and _missing(raw_tags):
                continue
            words, tags = _as_list(raw_words), _as_list(raw_tags)
            if words is None:
                raise UserError(
                    f"the tokens column {token_column!r} of {name} holds {_kind(raw_words)} values "
                    f"(row {row}), not lists of words; give one list of words per sentence "
                    '(e.g. ["Paris", "is", "big"]) or pick the column with --text-column'
                )
            if tags is None:
                raise UserError(
                    f"the tags column {tag_column!r} of {name} holds {_kind(raw_tags)} values "
                    f"(row {row}), not lists of tags; give one list of tags per sentence, one tag "
                    'per word (e.g. ["B-LOC", "O", "O"]), or pick the column with --label-column'
                )
            if len(words) != len(tags):
                raise UserError(
                    f"row {row} of {name} has {len(words)} words but {len(tags)} tags; "
                    "each word needs exactly one tag"
                )
            if not words:
                continue
            if any(t is None or (isinstance(t, float) and np.isnan(t)) for t in tags):
                raise UserError(
                    f"row {row} of {name} has an empty tag; give every word a tag (O for none)"
                )
            sentences.append([str(w) for w in words])
            tag_lists.append([_tag_name(t) for t in tags])
        if not sentences:
            raise UserError(
                f"{name} has no tagged sentences in columns {token_column!r} and {tag_column!r}; "
                "pick them with --text-column and --label-column"
            )
        seen = {t for tags in tag_lists for t in tags}
        if meta is None:
            labels = sorted(seen, key=_tag_sort_key)
            if len(labels) < 2:
                raise UserError(
                    f"{name} has only one tag ({labels[0]!r}) in column {tag_column!r}; "
                    "a tagger needs "
                    "at least two (O and an entity tag such as B-PER)"
                )
            meta = _scheme_meta(labels, tag_lists, frame, name)
            if config.class_weights:
                counts = np.zeros(len(meta["labels"]))
                index = {label: i for i, label in enumerate(meta["labels"])}
                for tags in tag_lists:
                    np.add.at(counts, [index[t] for t in tags], 1)
                weights = counts.sum() / (len(counts) * np.maximum(counts, 1.0))
                meta["class_weights"] = [round(float(w), 6) for w in weights]
        labels = meta["labels"]
        unknown = sorted(seen - set(labels), key=_tag_sort_key)
        if unknown:
            shown = ", ".join(map(repr, unknown[:10]))
            raise UserError(
                f"{name} has tags the model was not trained on: {shown}; the known tags are "
                f"{', '.join(map(repr, labels[:30]))} (fix the tags or train on data that has them)"
            )
        index = {label: i for i, label in enumerate(labels)}
        rows = Rows({"tokens": sentences, "tags": [[index[t] for t in tags] for tags in tag_lists]})
        return rows, meta

    def head_matches(self, saved: dict[str, Any] | None, meta: dict[str, Any]) -> bool:
        return saved is not None and saved.get("labels") == meta["labels"]

    # ---- tensors --------------------------------------------------------------------------
    def encode(self, rows: Rows, tokenizer: TextTokenizer, config: RunConfig, meta) -> Features:
        """One feature per window: [CLS] content [SEP], labels on first sub-tokens only."""
        template = tokenizer.template
        budget = max(tokenizer.max_length - template.single_extra, 1)
        # Overlap at most half a window, so windows always advance (and a long sentence
        # does not become hundreds of windows when the stride is near the window size).
        stride = min(max(int(config.stride), 0), budget // 2)
        encodings = tokenizer.encode_untruncated(rows["tokens"], words=True)
        has_tags = "tags" in rows
        lead = [IGNORE] * len(template.prefix)
        trail = [IGNORE] * len(template.suffix)
        input_ids: list[list[int]] = []
        labels: list[list[int]] = []
        word_ids_out: list[list[int]] = []
        heads_out: list[list[int]] = []
        spans: list[tuple[int, int]] = []
        example_index: list[int] = []
        for example, encoding in enumerate(encodings):
            ids = encoding.ids
            words = [-1 if w is None else w for w in encoding.word_ids]
            # A token is a word's head when it is that word's first sub-token in the sentence.
            is_head = [w >= 0 and (j == 0 or words[j - 1] != w) for j, w in enumerate(words)]
            tags = rows["tags"][example] if has_tags else None
            for start, end in windows(words, budget, stride):
                input_ids.append(template.single(ids[start:end]))
                offset = len(template.prefix) - start
                heads = [j + offset for j in range(start, end) if is_head[j]]
                word_ids_out.append(
                    [-1] * len(template.prefix) + words[start:end] + [-1] * len(template.suffix)
                )
                heads_out.append(heads)
                spans.append((len(template.prefix), len(template.prefix) + end - start - 1))
                example_index.append(example)
                if tags is not None:
                    content = [tags[words[j]] if is_head[j] else IGNORE for j in range(start, end)]
                    labels.append(lead + content + trail)
        sequences = {"input_ids": input_ids}
        if has_tags:
            sequences["labels"] = labels
        extra = {"word_ids": word_ids_out, "heads": heads_out, "content": spans}
        return Features(sequences, {}, np.asarray(example_index, dtype=np.int64), extra)

    def loss_units(self, meta):
        from workbench.engine.tasks import loss_units

        weights = meta.get("class_weights")
        return loss_units.weighted_token_units(weights) if weights else loss_units.token_units()

    def loss(self, logits, batch, meta) -> torch.Tensor:
        """Mean cross-entropy over the labelled tokens; 0 (with a gradient) when there are none,
        where torch's mean would give NaN."""
        import torch
        import torch.nn.functional as F

        num_labels = logits.shape[-1]
        flat = logits.float().reshape(-1, num_labels)  # (B*T, L)
        targets = batch["labels"].reshape(-1)  # (B*T,)
        weights = meta.get("class_weights")
        weight = (
            None
            if weights is None
            else torch.tensor(weights, device=logits.device, dtype=torch.float32)
        )
        total = F.cross_entropy(flat, targets, weight=weight, ignore_index=IGNORE, reduction="sum")
        kept = targets != IGNORE
        if weight is None:
            count = kept.sum().float()
        else:
            count = (weight[targets.clamp(min=0)] * kept).sum()
        return total / count.clamp(min=1e-6)  # no .item(): no device sync per step

    def gather(self, logits, batch) -> list[np.ndarray]:
        """Per feature, the (T, L) logits of its own tokens (batch padding cut off)."""
        lengths = batch["attention_mask"].sum(dim=1).tolist()
        values = logits.float().cpu().numpy()
        return [values[i, :n] for i, n in enumerate(lengths)]

    # ---- results --------------------------------------------------------------------------
    def metrics(self, outputs, features, rows, meta) -> dict[str, Any]:
        labels = meta["labels"]
        word_logits, found = merge_windows(
            outputs, features, [len(t) for t in rows["tokens"]], len(labels)
        )
        outside = (
            labels.index(meta.get("outside", OUTSIDE))
            if meta.get("outside", OUTSIDE) in labels
            else 0
        )
        gold_tags, pred_tags = [], []
        picked_logits, picked_targets = [], []
        for logits, has, gold in zip(word_logits, found, rows["tags"], strict=True):
            predicted = (
                np.where(has, logits.argmax(axis=1), outside) if len(gold) else np.zeros(0, int)
            )
            gold_tags.append([labels[i] for i in gold])
            pred_tags.append([labels[i] for i in predicted])
            picked_logits.append(logits[has])
            picked_targets.append(np.asarray(gold, dtype=np.int64)[has])
        scheme = meta.get("scheme")
        metrics = entity_metrics(
            [scheme_tags(t, meta) for t in gold_tags],
            [scheme_tags(t, meta) for t in pred_tags],
            IOB1 if scheme == PLAIN else scheme,
        )
        metrics["scheme"] = scheme
        metrics["loss"] = _word_loss(
            picked_logits, picked_targets, meta.get("class_weights"), len(labels)
        )
        metrics["num_examples"] = len(rows["tokens"])
        metrics["examples"] = example_sentences(rows["tokens"], gold_tags, pred_tags)
        return metrics

    def predict(self, outputs, features, rows, meta) -> list[dict[str, Any]]:
        labels = meta["labels"]
        word_logits, found = merge_windows(
            outputs, features, [len(t) for t in rows["tokens"]], len(labels)
        )
        outside = (
            labels.index(meta.get("outside", OUTSIDE))
            if meta.get("outside", OUTSIDE) in labels
            else 0
        )
        scheme = meta.get("scheme")
        results = []
        for i, (logits, has) in enumerate(zip(word_logits, found, strict=True)):
            text, spans = rows["text"][i], rows["spans"][i]
            if len(logits):
                probs = softmax(logits)
                predicted = np.where(has, probs.argmax(axis=1), outside)
                confidence = np.where(has, probs.max(axis=1), 0.0)
            else:
                predicted, confidence = np.zeros(0, dtype=int), np.zeros(0)
            tags = [labels[j] for j in predicted]
            entities = []
            decoded = extract_entities(scheme_tags(tags, meta), IOB1 if scheme == PLAIN else scheme)
            for kind, first, last in decoded:
                start, end = spans[first][0], spans[last - 1][1]
                entities.append(
                    {
                        "text": text[start:end],
                        "type": kind,
                        "start": int(start),
                        "end": int(end),
                        "score": round(float(confidence[first:last].mean()), 6),
                    }
                )
            results.append({"entities": entities, "tokens": list(rows["tokens"][i]), "tags": tags})
        return results

    def rows_from_inputs(self, inputs: dict[str, list[str]]) -> Rows:
        texts = inputs.get("text") or []
        if not texts:
            raise UserError("no text to predict; type a sentence or give --text")
        words, spans = zip(*(split_words(t) for t in texts), strict=True)
        return Rows({"tokens": list(words), "spans": list(spans), "text": list(texts)})


# ---- windows and merging ------------------------------------------------------------------
def windows(word_ids: list[int], budget: int, stride: int) -> list[tuple[int, int]]:
    """(start, end) token spans of at most `budget` tokens covering every token, consecutive
    spans sharing about `stride` tokens. A window starts at a word's first sub-token unless
    one word is longer than what the window can move by."""
    n = len(word_ids)
    if n <= budget:
        return [(0, n)]
    stride = min(max(stride, 0), budget - 1)
    spans = []
    start = 0
    while True:
        end = min(start + budget, n)
        spans.append((start, end))
        if end == n:
            return spans
        candidate = end - stride  # > start, as stride < budget
        word = word_ids[candidate]
        first = candidate
        while first > start and word_ids[first - 1] == word:
            first -= 1
        if first > start:
            start = first  # back to the word's start: a little more overlap
            continue
        after = candidate
        while after < end and word_ids[after] == word:
            after += 1
        # Forward to the next word's start (less overlap, none at worst); only a word longer
        # than the whole window is cut.
        start = after if after < end or word_ids[after] != word else candidate


def merge_windows(
    outputs: list[np.ndarray], features: Features, num_words: list[int], num_labels: int
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per example, (words, labels) logits of each word's first sub-token, read from the
    window where that token is most central (the first such window on ties), and a mask
    of the words that had a sub-token at all (a word the tokenizer drops has none)."""
    logits = [np.zeros((n, num_labels), dtype=np.float32) for n in num_words]
    best = [np.full(n, -1.0) for n in num_words]
    example_of = features.examples_of()
    for f, output in enumerate(outputs):
        heads = np.asarray(features.extra["heads"][f], dtype=np.int64)
        if not len(heads):
            continue
        example = int(example_of[f])
        words = np.asarray(features.extra["word_ids"][f], dtype=np.int64)[heads]
        lo, hi = features.extra["content"][f]
        centrality = np.minimum(heads - lo, hi - heads).astype(float)
        better = centrality > best[example][words]
        best[example][words[better]] = centrality[better]
        logits[example][words[better]] = output[heads[better]]
    return logits, [b >= 0 for b in best]


def example_sentences(
    tokens: list[list[str]], gold: list[list[str]], predicted: list[list[str]]
) -> list:
    """The sentences behind the GUI's predicted-vs-gold view: [words, gold tags, predicted
    tags, sentence number], at most EXAMPLES_LIMIT, those with a mistake first (in order),
    then correct ones; each cut to EXAMPLE_WORDS_LIMIT words."""
    wrong = [i for i, (g, p) in enumerate(zip(gold, predicted, strict=True)) if g != p]
    right = [i for i, (g, p) in enumerate(zip(gold, predicted, strict=True)) if g == p]
    chosen = sorted((wrong + right)[:EXAMPLES_LIMIT])
    cut = EXAMPLE_WORDS_LIMIT
    return [[tokens[i][:cut], gold[i][:cut], predicted[i][:cut], i] for i in chosen]


# ---- tags ---------------------------------------------------------------------------------
def scheme_tags(tags: list[str], meta: dict[str, Any]) -> list[str]:
    """Tags as entity decoding reads them: as they are, or for plain tags (no B-/I-) each
    non-outside tag `X` as `I-X`, so a run of equal tags is one entity."""
    if meta.get("scheme") != PLAIN:
        return tags
    outside = meta.get("outside", OUTSIDE)
    return [OUTSIDE if t == outside else f"I-{t}" for t in tags]


def _scheme_meta(
    labels: list[str], tag_lists: list[list[str]], frame: pd.DataFrame, name: str
) -> dict[str, Any]:
    try:
        for label in labels:
            split_tag(label)
    except UserError:
        outside = (
            OUTSIDE
            if OUTSIDE in labels
            else "0"
            if "0" in labels and _all_ints(labels)
            else labels[0]
        )
        frame.attrs.setdefault("notices", []).append(
            f"the tags of {name} have no B-/I- prefixes ({', '.join(labels[:8])}); "
            "an entity is a run "
            f"of equal tags, {outside!r} is outside any entity"
        )
        labels = [outside] + [t for t in labels if t != outside]
        return {"labels": labels, "scheme": PLAIN, "outside": outside}
    scheme = detect_scheme(tag_lists)
    if OUTSIDE in labels:
        labels = [OUTSIDE] + [t for t in labels if t != OUTSIDE]
    return {"labels": labels, "scheme": scheme, "outside": OUTSIDE}


def _tag_name(value: object) -> str:
    # 1, 1.0 and "1" are the same tag (integer tags without names are used as they are).
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, np.integer):
        return str(int(value))
    return str(value).strip()


def _tag_sort_key(tag: str) -> tuple[int, int, float | str]:
    if tag == OUTSIDE:
        return (0, 0, "")
    try:
        return (1, 0, float(tag))
    except ValueError:
        return (1, 1, tag)


def _all_ints(labels: list[str]) -> bool:
    return all(re.fullmatch(r"-?\d+", label) for label in labels)


# ---- values in a table --------------------------------------------------------------------
def _as_list(value: object) -> list | None:
    """A list from a list, tuple, numpy array (Parquet), or a string holding a JSON or Python
    list (a CSV written from a list column); None when it is none of these."""
    if isinstance(value, (list, tuple)):
        return list(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, str) and value.strip().startswith("["):
        for parse in (json.loads, ast.literal_eval):
            try:
                parsed = parse(value)
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                continue
            if isinstance(parsed, (list, tuple)):
                return list(parsed)
    return None


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def _kind(value: object) -> str:
    if _missing(value):
        return "empty"
    if isinstance(value, str):
        return "text"
    return type(value).__name__


def _holds_lists(column: pd.Series) -> bool:
    sample = column.dropna().head(50)
    return len(sample) > 0 and all(_as_list(v) is not None for v in sample)


def _holds_strings(column: pd.Series) -> bool:
    for value in column.dropna().head(20):
        items = _as_list(value) or []
        if items and not all(isinstance(v, str) for v in items):
            return False
    return True


def split_words(text: str) -> tuple[list[str], list[tuple[int, int]]]:
    """Words as CoNLL has them, with (start, end) character offsets into `text`:
    "Paris, France." -> Paris , France ."""
    matches = list(_WORD.finditer(text))
    return [m.group() for m in matches], [(m.start(), m.end()) for m in matches]


def _word_loss(
    logits: list[np.ndarray], targets: list[np.ndarray], weights, num_labels: int
) -> float:
    """The training loss on the words: mean (class-weighted) cross-entropy of first sub-tokens."""
    target = np.concatenate(targets) if targets else np.zeros(0, dtype=np.int64)
    if not len(target):
        return 0.0
    stacked = np.concatenate(logits).reshape(-1, num_labels)
    return cross_entropy(stacked, target, None if weights is None else np.asarray(weights))


TASK = TokenClassification()
