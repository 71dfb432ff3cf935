"""The data doctor: what in a dataset will hurt training, said before any training.

It reads the files the way training does (the task's own `resolve_columns` and `examples` on
the `load_table` frame) and reports findings, each with a severity (info, warning, problem),
a one-line message for the user, counts, and at most a few example rows: label balance,
duplicates, leakage from training into evaluation data, conflicting labels, empty texts,
missing values, labels of the evaluation data that training never saw, token lengths against
`max_length`, and the share of tokens the model's vocabulary does not know.

Counts cover every row and use vectorised pandas; only the tokenizer checks work on a seeded
sample (`sample` texts, 5,000 by default), and say so. Everything returned is plain JSON.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.errors import UserError
from workbench.lazy import pandas as pd

if TYPE_CHECKING:
    from workbench.config import RunConfig
    from workbench.engine.tasks.base import Rows, Task
    from workbench.engine.tokenizer import TextTokenizer

SEVERITIES = ("info", "warning", "problem")
MAX_EXAMPLES = 5
TEXT_LIMIT = 200
DEFAULT_SAMPLE = 5000
IMBALANCE_RATIO = 10.0  # majority/minority above this: a warning
DUPLICATE_SHARE = 0.01  # duplicates above this share of rows: a warning
LEAKAGE_PROBLEM_SHARE = 0.10  # evaluation rows also in training above this share: a problem
TRUNCATION_SHARE = 0.10  # texts longer than max_length above this share: a warning
WINDOW_SHARE = 0.50  # the same for tasks that split long inputs into windows (NER, QA)
UNKNOWN_WARNING, UNKNOWN_PROBLEM = 0.02, 0.20  # unknown-token shares

# Role fields whose columns hold input text, in the order a task's Rows keys follow them.
_TEXT_ROLES = ("text_column", "text_pair_column", "question_column", "context_column")
# Rows keys that hold input text (tokens/words: lists of words, CoNLL) and labels: label ids
# (classification), lists of label ids (multi-label), tag ids per token, a number (regression).
_TEXT_KEYS = ("text", "text_pair", "question", "context", "tokens", "words")
_LABEL_KEYS = ("label", "labels", "tags", "value")
_NAME_KEYS = ("labels", "tags", "label_names", "tag_names")
_SEPARATOR = "\x1f"  # between the parts of a text pair in a duplicate key
_ENTITY_PREFIXES = ("B-", "I-", "E-", "S-", "L-", "U-")
_OUTSIDE = ("O", "o", "_")


@dataclass
class Finding:
    """One thing the doctor found (or checked and found fine)."""

    check: str
    severity: str
    message: str
    counts: dict[str, Any] = field(default_factory=dict)
    examples: list[dict[str, Any]] = field(default_factory=list)
    file: str = "train"
    """"train" or "eval": which file it is about ("both" for leakage)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "severity": self.severity,
            "file": self.file,
            "message": self.message,
            "counts": _plain(self.counts),
            "examples": _plain(self.examples[:MAX_EXAMPLES]),
        }


@dataclass
class LabelView:
    """Labels as names, one per row: a name (single), a tuple of names (multi-label, or one
    tag per token), or a float (regression)."""

    kind: str  # "single", "multi", "tags" or "number"
    values: list[Any]
    names: list[str] | None = None


@dataclass
class _Side:
    """One file as the doctor sees it: its table and what training reads from it."""

    role: str  # "train" or "eval"
    name: str
    frame: pd.DataFrame
    rows: Rows | None
    labels: LabelView | None
    meta: dict[str, Any] | None = None
    error: str | None = None
    _keys: pd.Series | None = None
    _codes: tuple[np.ndarray, pd.Index] | None = None
    _raw_keys: pd.Series | None = None

    @property
    def keys(self) -> pd.Series:
        """One string per row: its text (the parts of a pair joined), for exact matches."""
        if self._keys is None:
            parts = [
                _as_text(pd.Series(self.rows[k], dtype=object))
                for k in _TEXT_KEYS
                if self.rows is not None and k in self.rows
            ]
            self._keys = _join(parts) if parts else pd.Series([], dtype=object)
        return self._keys

    @property
    def codes(self) -> tuple[np.ndarray, pd.Index]:
        """(a number per row, the distinct texts): equal texts share a number."""
        if self._codes is None:
            codes, uniques = pd.factorize(self.keys)
            self._codes = (codes, pd.Index(uniques, dtype=object))
        return self._codes

    def raw_keys(self, columns: dict[str, str]) -> pd.Series | None:
        """The same keys built from the table, to find the row numbers of examples."""
        if self._raw_keys is None:
            used = [columns[r] for r in _TEXT_ROLES if r in columns]
            parts = [k for k in _TEXT_KEYS if self.rows is not None and k in self.rows]
            if not used or len(used) != len(parts):
                return None
            self._raw_keys = _join([_as_text(self.frame[c]) for c in used])
        return self._raw_keys


def diagnose(
    config: RunConfig,
    sample: int = DEFAULT_SAMPLE,
    frame: pd.DataFrame | None = None,
    eval_frame: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """The doctor's report on `config.data` (and `config.eval_data`) for `config.task` with
    `config.model`'s tokenizer. Frames already loaded (the GUI's) may be passed in. Raises
    UserError for what stops reading at all (no file, no such column); what training would
    refuse later becomes a "problem" finding."""
    from workbench.engine.data.readers import load_table
    from workbench.engine.models.registry import resolve_model
    from workbench.engine.tasks import get_task, task_defaults
    from workbench.engine.tokenizer import TextTokenizer

    if sample < 1:
        raise UserError(f"the sample size must be at least 1, got {sample}")
    task = get_task(config.task)
    name = Path(config.data).name
    if frame is None:
        frame = load_table(config.data, config.header)
    columns = task.resolve_columns(frame, config, name)
    train = _read_side(task, "train", name, frame, columns, None, config)
    notices = list(frame.attrs.get("notices", []))
    evaluation = None
    if config.eval_data:
        eval_name = Path(config.eval_data).name
        if eval_frame is None:
            eval_frame = load_table(config.eval_data, config.header)
        notices += eval_frame.attrs.get("notices", [])
        task.check_columns(eval_frame, columns, eval_name)
        if train.error:  # training stops first; only the texts of the evaluation data count
            evaluation = _read_side(task, "eval", eval_name, eval_frame, columns, None, config)
            evaluation.error = None
        else:
            evaluation = _read_side(
                task, "eval", eval_name, eval_frame, columns, train.meta, config
            )

    max_length = config.max_length or task_defaults(task.name)["max_length"]
    model = resolve_model(config.model)
    tokenizer = TextTokenizer.from_folder(model, max_length)

    findings: list[Finding] = []
    for side in (train, evaluation):
        if side is None:
            continue
        if side.error:
            findings.append(_refused(side))
        findings += [_missing_values(side, columns), _empty_texts(side, columns)]
    findings.append(_label_balance(train, evaluation))
    if evaluation is not None:
        findings.append(_unseen_labels(train, evaluation, columns))
    for side in (train, evaluation):
        if side is not None:
            findings.append(_duplicates(side, columns, has_eval=evaluation is not None))
            findings.append(_conflicts(side, columns))
    if evaluation is not None:
        findings.append(_leakage(train, evaluation, columns))
    findings += _token_checks(train, columns, tokenizer, task, config, max_length, sample)
    findings = [f for f in findings if f is not None]

    summary = {s: sum(f.severity == s for f in findings) for s in SEVERITIES}
    report: dict[str, Any] = {
        "task": task.name,
        "model": str(config.model),
        "data": str(config.data),
        "eval_data": str(config.eval_data) if config.eval_data else None,
        "columns": dict(columns),
        "rows": {
            side.role: {"file": side.name, "read": len(side.frame), "used": _used(side)}
            for side in (train, evaluation)
            if side is not None
        },
        "max_length": tokenizer.max_length,
        "notices": notices,
        "findings": [f.to_dict() for f in findings],
        "summary": summary,
    }
    return _plain(report)


def unknown_token_share(
    model_folder: str | Path, texts: Sequence[str], sample: int = 2000
) -> float:
    """Share (0-1) of the tokens of `texts` (a seeded sample of at most `sample`) that the
    model's tokenizer maps to its unknown token: text the vocabulary does not cover (Chinese on
    an English model is mostly [UNK]). 0.0 for tokenizers without one (byte-level BPE)."""
    from workbench.engine.tokenizer import TextTokenizer

    tokenizer = TextTokenizer.from_folder(_tokenizer_folder(model_folder))
    texts = [str(t) for t in texts if isinstance(t, str) and t.strip()]
    if not texts:
        return 0.0
    chosen = _sample_indices(len(texts), sample)
    encodings = tokenizer.encode_untruncated([texts[i] for i in chosen])
    unknown, total = _unknown_counts(tokenizer, [e.ids for e in encodings])
    return float(unknown.sum() / total.sum()) if total.sum() else 0.0


# ---- reading ------------------------------------------------------------------------------
def _read_side(
    task: Task,
    role: str,
    name: str,
    frame: pd.DataFrame,
    columns: dict[str, str],
    meta: dict[str, Any] | None,
    config: RunConfig,
) -> _Side:
    """The file through the task's own `examples`; when the task refuses it, the refusal
    (a finding) and the raw text columns, so the other checks still run."""
    error = None
    rows = None
    own_meta = meta
    try:
        rows, own_meta = task.examples(frame, columns, meta, name, config)
    except UserError as exc:
        error = str(exc)
        if meta is not None:
            # Evaluation data with labels training never saw: read it with its own labels, so
            # the unseen-label check can name them.
            try:
                rows, own_meta = task.examples(frame, columns, None, name, config)
            except UserError:
                rows = None
            else:
                error = None if _has_unseen_labels(rows, own_meta, meta) else error
    if rows is None:
        rows, own_meta = _raw_rows(frame, columns), None
    return _Side(role, name, frame, rows, _label_view(rows, own_meta), own_meta, error)


def _has_unseen_labels(rows: Rows, own: dict[str, Any] | None, trained: dict[str, Any]) -> bool:
    view, known = _label_view(rows, own), _label_names(trained)
    return bool(view and known and view.kind != "number" and set(_flat_names(view)) - set(known))


def _raw_rows(frame: pd.DataFrame, columns: dict[str, str]) -> Rows:
    """Rows of the text columns alone, where every one of them has a value."""
    from workbench.engine.tasks.base import Rows

    used = [(r, columns[r]) for r in _TEXT_ROLES if r in columns]
    if not used:
        return Rows({})
    keep = pd.Series(True, index=frame.index)
    for _, column in used:
        keep &= frame[column].notna() & ~_blank(frame[column])
    keys = {
        "text_column": "text",
        "text_pair_column": "text_pair",
        "question_column": "question",
        "context_column": "context",
    }
    out: dict[str, list[Any]] = {}
    for role, column in used:
        values = frame[column][keep].tolist()
        key = "tokens" if role == "text_column" and _is_lists(frame[column]) else keys[role]
        out[key] = values
    return Rows(out)


def _label_names(meta: dict[str, Any] | None) -> list[str] | None:
    for key in _NAME_KEYS:
        names = (meta or {}).get(key)
        if isinstance(names, list) and names:
            return [str(n) for n in names]
    return None


def _label_view(rows: Rows | None, meta: dict[str, Any] | None) -> LabelView | None:
    """What the rows' labels are, read from their values (ids are named through meta)."""
    if rows is None:
        return None
    key = next((k for k in _LABEL_KEYS if k in rows), None)
    if key is None or len(rows) == 0:
        return None
    values = list(rows[key])
    names = _label_names(meta)
    first = next((v for v in values if v is not None), None)
    if first is None:
        return None
    if isinstance(first, list | tuple | np.ndarray):
        words = next((k for k in ("tokens", "words") if k in rows), None)
        if words and all(len(t) == len(v) for t, v in zip(rows[words], values, strict=True)):
            return LabelView(
                "tags", [tuple(_name(x, names) for x in v if _kept(x)) for v in values], names
            )
        return LabelView(
            "multi", [tuple(sorted({_name(x, names) for x in v})) for v in values], names
        )
    if isinstance(first, bool | np.bool_ | str):
        return LabelView("single", [str(v) for v in values], names)
    if isinstance(first, int | np.integer) and names:
        ids = np.asarray(values, dtype=np.int64)
        table = np.asarray(names, dtype=object)
        if ids.min() >= 0 and ids.max() < len(table):
            return LabelView("single", table[ids].tolist(), names)
    if isinstance(first, int | float | np.integer | np.floating):
        return LabelView("number", [float(v) for v in values], None)
    return None


def _name(value: Any, names: list[str] | None) -> str:
    if names and isinstance(value, int | np.integer) and 0 <= int(value) < len(names):
        return names[int(value)]
    return str(value)


def _kept(value: Any) -> bool:
    return not (isinstance(value, int | np.integer) and int(value) == -100)


def _flat_names(view: LabelView) -> list[str]:
    if view.kind == "single":
        return list(view.values)
    return [name for value in view.values for name in value]


# ---- checks on one file -------------------------------------------------------------------
def _refused(side: _Side) -> Finding:
    return Finding(
        "refused",
        "problem",
        f"training would stop on {side.name}: {side.error}",
        {},
        file=side.role,
    )


def _missing_values(side: _Side, columns: dict[str, str]) -> Finding:
    frame = side.frame
    per_column = {c: int(n) for c, n in frame.isna().sum().items() if n}
    used = list(dict.fromkeys(columns.values()))
    used_missing = {c: per_column[c] for c in used if c in per_column}
    counts = {"per_column": per_column, "used_columns": used_missing, "rows": len(frame)}
    if not used_missing:
        others = f" (other columns with gaps: {_list_counts(per_column)})" if per_column else ""
        return Finding(
            "missing_values",
            "info",
            f"{side.name}: no missing values in the columns used{others}",
            counts,
            file=side.role,
        )
    gaps = frame[used].isna()
    any_gap = gaps.any(axis=1)
    counts["rows_with_missing"] = int(any_gap.sum())
    examples = []
    for position in np.flatnonzero(any_gap.to_numpy())[:MAX_EXAMPLES]:
        example = {
            "row": int(position) + 1,
            "missing": [c for c in used if gaps.iat[position, used.index(c)]],
        }
        example.update(_row_texts(side, columns, position))
        examples.append(example)
    message = (
        f"{side.name}: {counts['rows_with_missing']:,} of {_count(len(frame), 'row')} "
        f"{_verb(counts['rows_with_missing'], 'lacks', 'lack')} a value in a column training reads "
        f"({_list_counts(used_missing)}); training skips "
        f"{_verb(counts['rows_with_missing'], 'it', 'them')}: fill the values in or remove the rows"
    )
    return Finding("missing_values", "warning", message, counts, examples, file=side.role)


def _empty_texts(side: _Side, columns: dict[str, str]) -> Finding:
    frame = side.frame
    text_columns = [columns[r] for r in _TEXT_ROLES if r in columns]
    per_column: dict[str, int] = {}
    empty = pd.Series(False, index=frame.index)
    for column in text_columns:
        blank = frame[column].notna() & _blank(frame[column])
        if blank.any():
            per_column[column] = int(blank.sum())
            empty |= blank
    counts = {"per_column": per_column, "rows": int(empty.sum())}
    if not per_column:
        return Finding(
            "empty_texts", "info", f"{side.name}: no empty texts", counts, file=side.role
        )
    examples = []
    for position in np.flatnonzero(empty.to_numpy())[:MAX_EXAMPLES]:
        cells = frame.iloc[[position]]
        blank = [c for c in per_column if cells[c].notna().iat[0] and _blank(cells[c]).iat[0]]
        examples.append(
            {"row": int(position) + 1, "empty": blank, **_row_texts(side, columns, position)}
        )
    message = (
        f"{side.name}: {_count(counts['rows'], 'row')} {'has' if counts['rows'] == 1 else 'have'} an "
        f"empty text ({_list_counts(per_column)}); "
        f"training skips {_verb(counts['rows'], 'it', 'them')}: write the text or remove the rows"
    )
    return Finding("empty_texts", "warning", message, counts, examples, file=side.role)


def _duplicates(side: _Side, columns: dict[str, str], has_eval: bool) -> Finding:
    codes, uniques = side.codes
    extra = len(codes) - len(uniques)
    counts = {"duplicate_rows": extra, "texts_repeated": 0, "rows": len(codes)}
    if extra == 0:
        return Finding(
            "duplicates", "info", f"{side.name}: no duplicate texts", counts, file=side.role
        )
    frequency = np.bincount(codes, minlength=len(uniques))
    repeated = int((frequency > 1).sum())
    counts["texts_repeated"] = repeated
    share = extra / max(len(codes), 1)
    top = np.argsort(-frequency, kind="stable")[:MAX_EXAMPLES]
    top = top[frequency[top] > 1]
    shown = [uniques[i] for i in top]
    rows_of = _locate(side, columns, shown)
    examples = [
        {"rows": rows_of.get(k, []), "text": _show(k), "times": int(frequency[i])}
        for k, i in zip(shown, top, strict=True)
    ]
    where = (
        ""
        if has_eval or side.role == "eval"
        else "; without --eval-data copies can land on both sides of the validation split"
    )
    message = (
        f"{side.name}: {_count(extra, 'row')} ({_percent(share)}) {_verb(extra, 'repeats', 'repeat')} an "
        "earlier text "
        f"({_count(repeated, 'text')} {_verb(repeated, 'appears', 'appear')} more than once): they count "
        f"more in training{where}"
    )
    severity = "warning" if share >= DUPLICATE_SHARE else "info"
    return Finding("duplicates", severity, message, counts, examples, file=side.role)


def _conflicts(side: _Side, columns: dict[str, str]) -> Finding | None:
    view = side.labels
    if view is None:
        return None
    codes, uniques = side.codes
    label_codes, label_uniques = pd.factorize(pd.Series(_hashable(view), dtype=object))
    # A text whose smallest and largest label codes differ has two different labels.
    low = np.full(len(uniques), np.iinfo(np.int64).max)
    high = np.full(len(uniques), -1)
    np.minimum.at(low, codes, label_codes)
    np.maximum.at(high, codes, label_codes)
    clashing = np.flatnonzero(low != high)
    counts = {"texts": int(len(clashing)), "rows": 0}
    if len(clashing) == 0:
        return Finding(
            "conflicting_labels",
            "info",
            f"{side.name}: no text has two different labels",
            counts,
            file=side.role,
        )
    involved = np.isin(codes, clashing)
    counts["rows"] = int(involved.sum())
    shown = clashing[:MAX_EXAMPLES]
    keys = [uniques[i] for i in shown]
    rows_of = _locate(side, columns, keys)
    examples = []
    for key, code in zip(keys, shown, strict=True):
        labels = {_show_label(label_uniques[c]) for c in np.unique(label_codes[codes == code])}
        examples.append(
            {"rows": rows_of.get(key, []), "text": _show(key), "labels": sorted(labels, key=str)}
        )
    if view.kind == "number":
        return _conflicting_numbers(side, view, codes, len(uniques), clashing, counts, examples)
    message = (
        f"{side.name}: {_count(len(clashing), 'text')} {_verb(len(clashing), 'appears', 'appear')} with "
        "different labels "
        f"({_count(counts['rows'], 'row')}); the model cannot learn both: keep the right label or "
        "remove the rows"
    )
    return Finding("conflicting_labels", "warning", message, counts, examples, file=side.role)


def _conflicting_numbers(side, view, codes, n_texts, clashing, counts, examples) -> Finding:
    """Regression: the same text with different targets is often rater noise; a gap over a
    tenth of the targets' range is worth a look."""
    values = np.asarray(view.values, dtype=float)
    low, high = np.full(n_texts, np.inf), np.full(n_texts, -np.inf)
    np.minimum.at(low, codes, values)
    np.maximum.at(high, codes, values)
    gap = float((high - low)[clashing].max())
    counts["largest_gap"] = round(gap, 6)
    span = float(np.nanmax(values) - np.nanmin(values)) if len(values) else 0.0
    message = (
        f"{side.name}: {_count(len(clashing), 'text')} {_verb(len(clashing), 'has', 'have')} different "
        f"target values ({_count(counts['rows'], 'row')}; up to {gap:.4g} apart)"
    )
    if gap > 0.1 * span:
        message += ": check them, or average the values of each text"
        return Finding("conflicting_labels", "warning", message, counts, examples, file=side.role)
    return Finding("conflicting_labels", "info", message, counts, examples, file=side.role)


# ---- labels -------------------------------------------------------------------------------
def _label_balance(train: _Side, evaluation: _Side | None) -> Finding | None:
    view = train.labels
    if view is None:
        return None
    if view.kind == "number":
        return _number_summary(train, evaluation)
    counts: dict[str, Any] = {"kind": view.kind}
    if view.kind == "tags":
        return _tag_balance(train, evaluation)
    per_label = _name_counts(view)
    if view.names:  # in the label set's order; a label no row carries counts 0
        per_label = {name: per_label.get(name, 0) for name in view.names} | per_label
    counts["labels"] = per_label
    if view.kind == "multi":
        sizes = np.fromiter((len(v) for v in view.values), dtype=np.int64, count=len(view.values))
        counts["labels_per_row"] = round(float(sizes.mean()), 3) if len(sizes) else 0.0
        counts["rows_without_label"] = int((sizes == 0).sum())
    if (
        evaluation is not None
        and evaluation.labels is not None
        and evaluation.labels.kind == view.kind
    ):
        counts["eval_labels"] = _name_counts(evaluation.labels)
    present = {k: v for k, v in per_label.items() if v > 0}
    what = "labels" if view.kind == "single" else "labels (multi-label)"
    if not present:
        return Finding("label_balance", "problem", f"{train.name}: no row has a label", counts)
    majority, minority = max(present, key=present.get), min(present, key=present.get)
    ratio = present[majority] / present[minority]
    counts["imbalance_ratio"] = round(ratio, 2)
    counts["majority"], counts["minority"] = majority, minority
    spread = ", ".join(f"{k} {v:,}" for k, v in list(per_label.items())[:8])
    more = f", … ({len(per_label)} in all)" if len(per_label) > 8 else ""
    absent = [k for k, v in per_label.items() if v == 0]
    if absent:
        message = (
            f"{train.name}: no row carries {_quoted(absent)}; the model cannot learn "
            f"{'it' if len(absent) == 1 else 'them'}: add examples"
        )
        return Finding("label_balance", "warning", message, counts)
    if ratio > IMBALANCE_RATIO:
        message = (
            f"{train.name}: {len(per_label)} {what} are imbalanced {ratio:.0f}:1 ({majority!r} "
            f"{present[majority]:,} vs {minority!r} {present[minority]:,}); add examples of the rare "
            "labels, or train with --class-weights"
        )
        return Finding("label_balance", "warning", message, counts)
    if present[minority] < 2 and view.kind == "single":
        message = (
            f"{train.name}: {minority!r} has a single example; the model can hardly learn it and "
            "a validation split cannot hold it: add examples"
        )
        return Finding("label_balance", "warning", message, counts)
    message = (
        f"{train.name}: {len(per_label)} {what}: {spread}{more} (largest/smallest {ratio:.1f}:1)"
    )
    return Finding("label_balance", "info", message, counts)


def _tag_balance(train: _Side, evaluation: _Side | None) -> Finding:
    view = train.labels
    assert view is not None
    tags = _name_counts(view)
    entities = _entity_counts(view.values)
    counts: dict[str, Any] = {
        "kind": "tags",
        "tags": tags,
        "entities": entities,
        "tokens": int(sum(tags.values())),
    }
    if (
        evaluation is not None
        and evaluation.labels is not None
        and evaluation.labels.kind == "tags"
    ):
        counts["eval_entities"] = _entity_counts(evaluation.labels.values)
    if not entities:
        return Finding(
            "label_balance",
            "warning",
            f"{train.name}: no token is tagged as an entity (all tags are O); nothing to learn",
            counts,
        )
    majority, minority = max(entities, key=entities.get), min(entities, key=entities.get)
    ratio = entities[majority] / entities[minority]
    counts["imbalance_ratio"] = round(ratio, 2)
    spread = ", ".join(f"{k} {v:,}" for k, v in list(entities.items())[:8])
    if ratio > IMBALANCE_RATIO:
        message = (
            f"{train.name}: entity types are imbalanced {ratio:.0f}:1 ({majority} {entities[majority]:,} "
            f"vs {minority} {entities[minority]:,}); add sentences with {minority} entities"
        )
        return Finding("label_balance", "warning", message, counts)
    message = (
        f"{train.name}: {len(entities)} entity types: {spread} (largest/smallest {ratio:.1f}:1)"
    )
    return Finding("label_balance", "info", message, counts)


def _entity_counts(tag_rows: list[tuple[str, ...]]) -> dict[str, int]:
    """Entities (spans) per type: a span starts at B-/S-/U-, or at an I- whose type differs
    from the tag before it (IOB1)."""
    lengths = np.fromiter((len(r) for r in tag_rows), dtype=np.int64, count=len(tag_rows))
    flat = pd.Series([t for r in tag_rows for t in r], dtype=object)
    if flat.empty:
        return {}
    prefix = flat.str[:2]
    kind = flat.where(~prefix.isin(_ENTITY_PREFIXES), flat.str[2:])
    outside = flat.isin(_OUTSIDE)
    previous = kind.shift(1)
    sentence_start = np.zeros(len(flat), dtype=bool)
    sentence_start[(np.cumsum(lengths) - lengths)[lengths > 0]] = True  # first token of a sentence
    starts = ~outside & (
        prefix.isin(("B-", "S-", "U-"))
        | sentence_start
        | (previous != kind)
        | previous.isin(_OUTSIDE)
    )
    counts = kind[starts].value_counts()
    return {str(k): int(v) for k, v in counts.items()}


def _number_summary(train: _Side, evaluation: _Side | None) -> Finding:
    values = np.asarray(train.labels.values, dtype=float)  # type: ignore[union-attr]
    finite = values[np.isfinite(values)]
    counts: dict[str, Any] = {
        "kind": "number",
        "rows": len(values),
        "not_finite": int(len(values) - len(finite)),
    }
    if len(finite) == 0:
        return Finding(
            "label_balance", "problem", f"{train.name}: no target value is a finite number", counts
        )
    stats = {
        "mean": float(finite.mean()),
        "std": float(finite.std()),
        "min": float(finite.min()),
        "max": float(finite.max()),
    }
    counts.update({k: round(v, 6) for k, v in stats.items()})
    if (
        evaluation is not None
        and evaluation.labels is not None
        and evaluation.labels.kind == "number"
    ):
        other = np.asarray(evaluation.labels.values, dtype=float)
        other = other[np.isfinite(other)]
        if len(other):
            counts["eval"] = {
                "mean": round(float(other.mean()), 6),
                "std": round(float(other.std()), 6),
                "min": float(other.min()),
                "max": float(other.max()),
            }
    summary = (
        f"mean {stats['mean']:.4g}, std {stats['std']:.4g}, "
        f"min {stats['min']:.4g}, max {stats['max']:.4g}"
    )
    if counts["not_finite"]:
        return Finding(
            "label_balance",
            "warning",
            f"{train.name}: {counts['not_finite']:,} targets are not finite numbers (NaN or "
            f"infinite); fix them ({summary})",
            counts,
        )
    if stats["std"] == 0:
        return Finding(
            "label_balance",
            "problem",
            f"{train.name}: every target is {stats['min']:g}; there is nothing to learn",
            counts,
        )
    return Finding("label_balance", "info", f"{train.name}: targets {summary}", counts)


def _unseen_labels(train: _Side, evaluation: _Side, columns: dict[str, str]) -> Finding | None:
    seen_view, eval_view = train.labels, evaluation.labels
    if seen_view is None or eval_view is None or "number" in (seen_view.kind, eval_view.kind):
        return None
    known = set(seen_view.names or _flat_names(seen_view))
    known.update(_flat_names(seen_view))
    eval_counts = _name_counts(eval_view)
    unseen = {k: v for k, v in eval_counts.items() if k not in known}
    untested = sorted(known - set(eval_counts))
    counts = {"unseen": unseen, "train_labels_missing_from_eval": untested}
    word = "tags" if eval_view.kind == "tags" else "labels"
    if not unseen:
        note = f"; {_quoted(untested)} never appear in it" if untested else ""
        return Finding(
            "unseen_eval_labels",
            "info",
            f"{evaluation.name}: every {word[:-1]} was seen in training{note}",
            counts,
            file="eval",
        )
    unit = "tokens" if eval_view.kind == "tags" else "rows"
    unseen_set = set(unseen)
    hits = []
    for position, value in enumerate(eval_view.values):
        names = {value} if eval_view.kind == "single" else set(value)
        if names & unseen_set:
            hits.append((evaluation.keys.iat[position], sorted(names & unseen_set)))
            if len(hits) == MAX_EXAMPLES:
                break
    rows_of = _locate(evaluation, columns, [key for key, _ in hits])
    examples = [
        {"rows": rows_of.get(key, [])[:1], "text": _show(key), "unseen": names}
        for key, names in hits
    ]
    message = (
        f"{evaluation.name} has {word} training never saw ({unit} per {word[:-1]}: {_list_counts(unseen)}); "
        "the model "
        f"cannot predict them: add them to the training data or remove them"
    )
    return Finding("unseen_eval_labels", "problem", message, counts, examples, file="eval")


# ---- across files -------------------------------------------------------------------------
def _leakage(train: _Side, evaluation: _Side, columns: dict[str, str]) -> Finding:
    _, train_texts = train.codes
    eval_codes, eval_texts = evaluation.codes
    shared = np.flatnonzero(eval_texts.isin(train_texts))  # distinct eval texts also in train
    inside = np.isin(eval_codes, shared)
    leaked = int(inside.sum())
    counts = {
        "eval_rows_in_train": leaked,
        "eval_rows": len(eval_codes),
        "distinct_texts": int(len(shared)),
    }
    if leaked == 0:
        return Finding(
            "leakage",
            "info",
            f"no text of {evaluation.name} is in {train.name}",
            counts,
            file="both",
        )
    share = leaked / max(len(eval_codes), 1)
    counts["share"] = round(share, 6)
    shown = [eval_texts[i] for i in shared[:MAX_EXAMPLES]]
    in_train = _locate(train, columns, shown)
    in_eval = _locate(evaluation, columns, shown)
    examples = [
        {"text": _show(k), "train_rows": in_train.get(k, []), "eval_rows": in_eval.get(k, [])}
        for k in shown
    ]
    message = (
        f"{leaked:,} of {_count(len(eval_codes), 'row')} of {evaluation.name} ({_percent(share)}) are "
        f"also in {train.name}: their scores measure memory, not generalisation; remove them from one file"
    )
    severity = "problem" if share >= LEAKAGE_PROBLEM_SHARE else "warning"
    return Finding("leakage", severity, message, counts, examples, file="both")


# ---- tokenizer checks ---------------------------------------------------------------------
def _token_checks(
    side: _Side,
    columns: dict[str, str],
    tokenizer: TextTokenizer,
    task: Task,
    config: RunConfig,
    max_length: int,
    sample: int,
) -> list[Finding]:
    rows = side.rows
    parts = [k for k in _TEXT_KEYS if rows is not None and k in rows][:2]
    if rows is None or not parts or len(rows) == 0:
        return []
    chosen = _sample_indices(len(rows), sample)
    content: list[list[list[int]]] = []
    for key in parts:
        values = [rows[key][i] for i in chosen]
        words = isinstance(values[0], list | tuple | np.ndarray)
        if words:
            values = [[str(w) for w in v] for v in values]
        else:
            values = [str(v) for v in values]
        content.append([e.ids for e in tokenizer.encode_untruncated(values, words=words)])
    extra = tokenizer.template.pair_extra if len(parts) == 2 else tokenizer.template.single_extra
    lengths = np.sum([[len(ids) for ids in part] for part in content], axis=0) + extra
    unknown, total = _unknown_counts(tokenizer, [ids for part in content for ids in part])
    if len(parts) == 2:  # per row: both parts
        half = len(chosen)
        unknown, total = unknown[:half] + unknown[half:], total[:half] + total[half:]
    sampled = {"sampled": len(chosen), "of": len(rows)}
    note = (
        f" (a sample of {len(chosen):,} of {len(rows):,} texts)" if len(chosen) < len(rows) else ""
    )
    return [
        _lengths_finding(
            side,
            columns,
            lengths,
            chosen,
            tokenizer.max_length,
            max_length,
            task,
            config,
            sampled,
            note,
        ),
        _unknown_finding(side, columns, tokenizer, unknown, total, chosen, sampled, note),
    ]


def _lengths_finding(
    side, columns, lengths, chosen, limit, asked, task, config, sampled, note
) -> Finding:
    from workbench.engine.models.family import MASKED_LM, PRETRAINING, SEQUENCE_CLASSIFICATION

    over = lengths > limit
    share = float(over.mean())
    edges = _edges(limit, int(lengths.max()))
    counts_per_bin = np.histogram(lengths, bins=[*edges, np.inf])[0]
    histogram = [
        {"min": int(lo), "max": (int(hi) - 1 if math.isfinite(hi) else None), "count": int(n)}
        for lo, hi, n in zip(edges, [*edges[1:], math.inf], counts_per_bin, strict=True)
    ]
    counts = {
        **sampled,
        "max_length": limit,
        "longer_than_max_length": int(over.sum()),
        "share": round(share, 6),
        "mean": round(float(lengths.mean()), 2),
        "median": float(np.median(lengths)),
        "p95": int(np.percentile(lengths, 95, method="higher")),
        "max": int(lengths.max()),
        "histogram": histogram,
    }
    capped = f" (the model takes at most {limit}, not {asked})" if limit < asked else ""
    longest = np.argsort(-lengths, kind="stable")[: min(MAX_EXAMPLES, int(over.sum()))]
    examples = [
        {**_sample_texts(side, columns, int(chosen[i])), "tokens": int(lengths[i])} for i in longest
    ]
    if task.head_kind == SEQUENCE_CLASSIFICATION:
        loses = {
            "tail": "lose their end",
            "head": "lose their start",
            "head+tail": "lose their middle",
        }
        effect = loses.get(config.truncation, "are cut")
        advice = (
            "raise --max-length" if limit >= asked else "choose a model that takes longer inputs"
        )
        if config.truncation == "tail":
            advice += ", or try --truncation head+tail"
        threshold = TRUNCATION_SHARE
    elif task.head_kind in (MASKED_LM, PRETRAINING):  # packed into blocks: nothing is lost
        effect, advice, threshold = f"span more than one block of {limit} tokens", "", math.inf
    else:  # long inputs become overlapping windows: context is cut, nothing is lost
        effect = "are split into overlapping windows"
        advice, threshold = "raise --max-length if most inputs are split", WINDOW_SHARE
    summary = f"median {counts['median']:g} tokens, 95% at most {counts['p95']:,}, longest {counts['max']:,}"
    if over.any():
        message = (
            f"{side.name}: {_percent(share)} of texts are longer than max_length {limit}{capped} and "
            f"{effect}; {summary}{note}"
        )
        if share > threshold:
            return Finding("token_lengths", "warning", f"{message}; {advice}", counts, examples)
        return Finding("token_lengths", "info", message, counts, examples)
    message = f"{side.name}: every text fits in max_length {limit}{capped}; {summary}{note}"
    return Finding("token_lengths", "info", message, counts)


def _unknown_finding(side, columns, tokenizer, unknown, total, chosen, sampled, note) -> Finding:
    tokens = int(total.sum())
    share = float(unknown.sum() / tokens) if tokens else 0.0
    counts = {
        **sampled,
        "tokens": tokens,
        "unknown_tokens": int(unknown.sum()),
        "share": round(share, 6),
    }
    if tokenizer.unk_id is None:
        return Finding(
            "unknown_tokens",
            "info",
            f"{side.name}: the tokenizer has no unknown token (it reads any text as bytes)",
            counts,
        )
    per_text = np.divide(unknown, np.maximum(total, 1))
    examples: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i in np.argsort(-per_text, kind="stable"):
        if unknown[i] == 0 or len(examples) == MAX_EXAMPLES:
            break
        example = _sample_texts(side, columns, int(chosen[i]))
        key = json.dumps(example, ensure_ascii=False, default=str)
        if key not in seen:  # a repeated text is one example
            seen.add(key)
            examples.append({**example, "unknown_share": round(float(per_text[i]), 4)})
    unk = tokenizer.id_to_token(tokenizer.unk_id) or "unknown"
    if share >= UNKNOWN_PROBLEM:
        message = (
            f"{side.name}: {_percent(share)} of tokens are {unk}{note}: most of this text is unknown to "
            "the model's vocabulary; choose a model whose vocabulary covers it (e.g. a multilingual or "
            "Chinese BERT folder) with --model"
        )
        return Finding("unknown_tokens", "problem", message, counts, examples)
    if share >= UNKNOWN_WARNING:
        message = (
            f"{side.name}: {_percent(share)} of tokens are {unk}{note}; the model sees those characters "
            "as one unknown symbol: a model whose vocabulary covers them may do better"
        )
        return Finding("unknown_tokens", "warning", message, counts, examples)
    return Finding(
        "unknown_tokens",
        "info",
        f"{side.name}: {_percent(share)} of tokens are {unk}{note}",
        counts,
        examples,
    )


def _unknown_counts(
    tokenizer: TextTokenizer, ids: list[list[int]]
) -> tuple[np.ndarray, np.ndarray]:
    """(unknown tokens, tokens) per encoded text."""
    total = np.fromiter((len(i) for i in ids), dtype=np.int64, count=len(ids))
    if tokenizer.unk_id is None:
        return np.zeros_like(total), total
    unk = tokenizer.unk_id
    unknown = np.fromiter(
        (sum(1 for t in i if t == unk) for i in ids), dtype=np.int64, count=len(ids)
    )
    return unknown, total


def _edges(limit: int, longest: int) -> list[float]:
    """Bin starts: powers of two, with max_length + 1 as an edge so the cut shows."""
    top = max(limit, longest) + 1
    edges = {0, limit + 1}
    step = 16
    while step < top:
        edges.add(step + 1)
        step *= 2
    return sorted(e for e in edges if e <= top)


# ---- helpers ------------------------------------------------------------------------------
def _sample_indices(n: int, sample: int) -> np.ndarray:
    """At most `sample` row positions, seeded, in order (the same report every time)."""
    if n <= sample:
        return np.arange(n)
    return np.sort(np.random.default_rng(0).choice(n, size=sample, replace=False))


def _as_text(series: pd.Series) -> pd.Series:
    """Strings; lists of words joined by spaces (CoNLL tokens)."""
    if _is_lists(series):
        return series.map(
            lambda v: " ".join(map(str, v)) if isinstance(v, list | tuple | np.ndarray) else str(v)
        ).astype(object)
    if series.dtype == object and pd.api.types.infer_dtype(series, skipna=False) == "string":
        return series  # Python strings already (what tasks' examples give): no copy
    return series.astype(str).astype(object)  # object strings hash faster than Arrow ones


def _join(parts: list[pd.Series]) -> pd.Series:
    key = parts[0].reset_index(drop=True)
    for part in parts[1:]:
        key = key.str.cat(part.reset_index(drop=True), sep=_SEPARATOR)
    return key


def _is_lists(series: pd.Series) -> bool:
    if series.dtype != object:
        return False
    for value in series.head(1000):  # a value of the first rows that is not missing
        if isinstance(value, list | tuple | np.ndarray):
            return True
        if not _missing(value):
            return False
    return False


def _blank(series: pd.Series) -> pd.Series:
    """Whether each value is an empty text: whitespace only, or an empty list of words."""
    if _is_lists(series):
        return series.map(lambda v: isinstance(v, list | tuple | np.ndarray) and len(v) == 0)
    if series.dtype == object or pd.api.types.is_string_dtype(series):
        return series.astype(str).str.strip() == ""
    return pd.Series(False, index=series.index)


def _hashable(view: LabelView) -> list[Any]:
    """One comparable value per row: a name, a number, or a row's names joined."""
    if view.kind in ("single", "number"):
        return view.values
    return [_SEPARATOR.join(v) for v in view.values]


def _name_counts(view: LabelView) -> dict[str, int]:
    names = pd.Series(_flat_names(view), dtype=object)
    return {str(k): int(v) for k, v in names.value_counts().items()}


def _locate(side: _Side, columns: dict[str, str], keys: list[str]) -> dict[str, list[int]]:
    """1-based table row numbers (header not counted) of each key, at most a few each."""
    raw = side.raw_keys(columns)
    if raw is None or not keys:
        return {}
    found_at = raw.isin(keys).to_numpy()
    out: dict[str, list[int]] = {}
    for position, key in zip(np.flatnonzero(found_at), raw[found_at].tolist(), strict=True):
        rows = out.setdefault(key, [])
        if len(rows) < MAX_EXAMPLES:
            rows.append(int(position) + 1)
    return out


def _row_texts(side: _Side, columns: dict[str, str], position: int) -> dict:
    """The text (and label) of a table row, trimmed, for an example (missing values left out)."""
    out: dict[str, Any] = {}
    for role in (*_TEXT_ROLES, "label_column"):
        column = columns.get(role)
        if column is None:
            continue
        value = side.frame[column].iat[position]
        if isinstance(value, list | tuple | np.ndarray):
            value = " ".join(map(str, value))
        if not _missing(value):
            key = {"text_column": "text", "label_column": "label"}.get(
                role, role.removesuffix("_column")
            )
            out[key] = _trim(str(value))
    return out


def _sample_texts(side: _Side, columns: dict[str, str], row: int) -> dict[str, Any]:
    """An example from a Rows position: its text, and its table row where it can be found."""
    key = side.keys.iat[row]
    rows = _locate(side, columns, [key]).get(key, [])
    return {"rows": rows[:1], "text": _show(key)}


def _missing(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _show(key: str) -> str:
    return _trim(str(key).replace(_SEPARATOR, " ‖ "))


def _show_label(value: Any) -> Any:
    if isinstance(value, tuple):
        value = _SEPARATOR.join(value)
    if isinstance(value, str) and _SEPARATOR in value:
        return _trim(value.replace(_SEPARATOR, ", "))
    return value


def _verb(n: int, one: str, many: str) -> str:
    return one if n == 1 else many


def _count(n: int, word: str) -> str:
    """ "1 row", "2 rows"."""
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


def _trim(text: str, limit: int = TEXT_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _percent(share: float) -> str:
    if share == 0:
        return "0%"
    if share < 0.001:
        return "<0.1%"
    return f"{share * 100:.1f}%" if share < 0.1 else f"{share * 100:.0f}%"


def _quoted(names: list[str], limit: int = 5) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _list_counts(counts: dict[str, int], limit: int = 5) -> str:
    items = list(counts.items())
    shown = ", ".join(f"{k!r} {v:,}" for k, v in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _used(side: _Side) -> int | None:
    return None if side.error else len(side.rows) if side.rows is not None else None


def _tokenizer_folder(name: str | Path) -> Path:
    from workbench.engine.models.registry import default_model_path, is_default

    if is_default(str(name)):
        return default_model_path()
    folder = Path(name).expanduser()
    if (folder / "model" / "tokenizer.json").exists() or (folder / "model" / "vocab.txt").exists():
        return folder / "model"  # a run folder
    if not folder.is_dir():
        raise UserError(f'unknown model {str(name)!r}: it is neither "default" nor a folder')
    return folder


def _plain(value: Any) -> Any:
    """JSON values only (numpy scalars and tuples turned into Python ones)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        value = float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, np.bool_):
        return bool(value)
    return value


# ---- the readable report --------------------------------------------------------------------
def format_report(report: dict[str, Any]) -> str:
    """The report as lines for a terminal: problems first, examples indented under each."""
    lines = []
    for side in report["rows"].values():
        used = "" if side["used"] is None else f", {side['used']:,} used by training"
        lines.append(f"{side['file']}: {side['read']:,} rows{used}")
    columns = ", ".join(f"{k.removesuffix('_column')}={v!r}" for k, v in report["columns"].items())
    lines.append(
        f"task {report['task']}; columns {columns}; model {report['model']}, "
        f"max_length {report['max_length']}"
    )
    for notice in report["notices"]:
        lines.append(f"note: {notice}")
    order = {s: i for i, s in enumerate(reversed(SEVERITIES))}
    for finding in sorted(report["findings"], key=lambda f: order[f["severity"]]):
        lines.append(
            f"{finding['severity'].upper() if finding['severity'] == 'problem' else finding['severity']:8} "
            f"{finding['message']}"
        )
        for example in finding["examples"]:
            lines.append("           " + _format_example(example))
    summary = report["summary"]
    lines.append(
        f"{summary['problem']} problem{'s' * (summary['problem'] != 1)}, "
        f"{summary['warning']} warning{'s' * (summary['warning'] != 1)}, {summary['info']} fine"
    )
    return "\n".join(lines)


def _format_example(example: dict[str, Any]) -> str:
    parts = []
    for key in ("row", "rows", "train_rows", "eval_rows"):
        value = example.get(key)
        if value:
            numbers = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
            where = {"train_rows": "train ", "eval_rows": "eval "}.get(key, "")
            parts.append(f"{where}row {numbers}")
    rest = []
    for key, value in example.items():
        if key in ("row", "rows", "train_rows", "eval_rows"):
            continue
        if key == "text" and value is not None:
            rest.insert(0, '"' + str(value).replace("\n", " ") + '"')
        elif value is None:
            rest.append(f"{key}: (missing)")
        elif isinstance(value, list):
            rest.append(f"{key}: {(' | ' if key == 'labels' else ', ').join(map(str, value))}")
        else:
            rest.append(f"{key}: {value}")
    head = "; ".join(parts)
    return (head + ": " if head else "") + "  ".join(rest)
