"""Multi-label classification: any number of labels per text (emotions, topics, tags).

Every label is its own yes/no: the head has one output per label, trained with binary
cross-entropy, and a label is predicted when its probability reaches a threshold. The
threshold is tuned on the validation data after training (rare labels rarely reach 0.5)
and saved with the model, so predict and evaluate use it too.

Labels come as lists (JSON Lines, Parquet), as JSON or Python list strings
(`["joy", "love"]`), or as one string with a delimiter (`joy;love`): the delimiter is
detected among `,` `;` `|` (then whitespace), and what was detected is said in a notice.
"""

from __future__ import annotations

import ast
import dataclasses
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.engine.data.columns import guess_columns
from workbench.engine.metrics.multilabel import multilabel_metrics, tune_threshold
from workbench.engine.models.family import SEQUENCE_CLASSIFICATION
from workbench.engine.tasks.base import LABEL, TEXT, Features, Rows, Task, TaskData
from workbench.errors import UserError
from workbench.lazy import pandas as pd

if TYPE_CHECKING:
    import torch

    from workbench.config import RunConfig
    from workbench.engine.tokenizer import TextTokenizer

DELIMITERS = (",", ";", "|")
WHITESPACE = "whitespace"
_DELIMITER_NAMES = {
    ",": "commas (,)",
    ";": "semicolons (;)",
    "|": "bars (|)",
    WHITESPACE: "whitespace",
}
_LABELS_NAMES = ("labels", "label", "tags", "categories", "topics", "emotions", "classes", "genres")
DEFAULT_THRESHOLD = 0.5


LABELS = dataclasses.replace(LABEL, title="Labels")  # a list (or delimited string) per row


def detect_label_format(values: Sequence[Any], preferred: str | None = None) -> dict[str, Any]:
    """How a column holds several labels per row: {"kind": "lists" | "json" | "delimited" |
    "single", "delimiter": one of DELIMITERS, "whitespace" or None}.

    A delimiter is the candidate found in the most rows; a tie goes to the one whose pieces
    are whitespace-free (labels are usually words or ids), then to `,` `;` `|` in that order.
    Whitespace is a delimiter only when none of the three appears. `preferred` (the format
    the model was trained with) wins whenever it appears at all."""
    present = [v for v in values if not _missing(v)]
    if present and all(isinstance(v, list | tuple | np.ndarray) for v in present):
        return {"kind": "lists", "delimiter": None}
    texts = [str(v).strip() for v in present]
    if texts and all(t.startswith("[") and t.endswith("]") for t in texts):
        if all(_parse_list(t) is not None for t in texts):
            return {"kind": "json", "delimiter": None}
    if preferred and any(_split(t, preferred) != [t] for t in texts):
        return {"kind": "delimited", "delimiter": preferred}
    best, best_key = None, None
    for order, delimiter in enumerate(DELIMITERS):
        rows = sum(delimiter in t for t in texts)
        if rows == 0:
            continue
        pieces = [p for t in texts for p in _split(t, delimiter)]
        spaceless = sum(not any(ch.isspace() for ch in p) for p in pieces) / max(len(pieces), 1)
        key = (rows, spaceless, -order)
        if best_key is None or key > best_key:
            best, best_key = delimiter, key
    if best is None and any(len(t.split()) > 1 for t in texts):
        best = WHITESPACE
    if best is None:
        return {"kind": "single", "delimiter": None}
    return {"kind": "delimited", "delimiter": best}


def split_labels(value: Any, label_format: dict[str, Any]) -> list[str]:
    """One row's label names, as read with `label_format`; [] for an empty list."""
    kind = label_format["kind"]
    if isinstance(value, list | tuple | np.ndarray):
        items = list(value)
    elif kind == "json" or (isinstance(value, str) and value.strip().startswith("[")):
        items = _parse_list(str(value).strip())
        if items is None:
            raise UserError(f"cannot read the labels {str(value)[:60]!r} as a list")
    elif kind == "delimited":
        items = _split(str(value), label_format["delimiter"])
    else:
        items = [value]
    names = [_label_name(item) for item in items]
    return list(dict.fromkeys(n for n in names if n))


def describe_format(label_format: dict[str, Any], column: str, name: str) -> str:
    kind = label_format["kind"]
    if kind == "lists":
        how = "as lists"
    elif kind == "json":
        how = "as JSON lists"
    elif kind == "delimited":
        how = f"as labels separated by {_DELIMITER_NAMES[label_format['delimiter']]} (detected)"
    else:
        how = "as one label per row (no delimiter , ; or | found)"
    return f"multi-label: read column {column!r} of {name} {how}"


class MultiLabelClassification(Task):
    name = "multi-label-classification"
    title = "Multi-label classification"
    description = (
        "Fine-tunes the model to predict any number of labels per text (emotions, topics, "
        "tags); the decision threshold is tuned on the validation data."
    )
    head_kind = SEQUENCE_CLASSIFICATION
    primary_metric = "f1_micro"
    metric_names = ("f1_micro", "f1_macro", "loss")
    roles = (TEXT, LABELS)

    # ---- reading data --------------------------------------------------------------------
    def read(self, config, load) -> TaskData:
        data = super().read(config, load)
        label_column = data.columns["label_column"]
        data.notices.append(
            describe_format(data.meta["format"], label_column, _name(config.data))
            + f": {len(data.meta['labels'])} labels, {data.meta['labels_per_text']:.2f} per text"
        )
        if config.class_weights:
            data.notices.append(
                "class weights are not used for multi-label classification; the tuned "
                "threshold takes care of rare labels"
            )
        return data

    def guess_columns(self, frame: pd.DataFrame) -> dict[str, str | None]:
        sample = frame.head(500)
        lists = [c for c in frame.columns if _holds_lists(sample[c])]
        # The shared guess reads plain columns only (a list is no text, and not hashable).
        guess = guess_columns(frame.drop(columns=lists))
        text = guess.text
        lower = {str(c).lower().strip(): c for c in frame.columns if c != text}
        label = next((lower[n] for n in _LABELS_NAMES if n in lower), None)
        if label is None and lists:
            label = lists[0]
        if label is None:
            scored = []
            for column in frame.columns:
                values = sample[column].dropna()
                if column != text and len(values) and pd.api.types.is_string_dtype(values):
                    share = float(values.astype(str).str.contains(r"[,;|]").mean())
                    if share > 0.05:
                        scored.append((share, column))
            label = max(scored, key=lambda s: s[0])[1] if scored else guess.label
        return {"text_column": text, "label_column": label}

    def examples(self, frame, columns, meta, name, config):
        text_column, label_column = columns["text_column"], columns["label_column"]
        raw = frame[label_column]
        if raw.map(_missing).all():
            raise UserError(
                f"the label column {label_column!r} of {name} has no values; pick the column "
                "that holds the labels with --label-column"
            )
        label_format = detect_label_format(
            raw.tolist(), None if meta is None else meta["format"].get("delimiter")
        )
        keep = ~raw.map(_missing) & frame[text_column].notna()
        keep &= frame[text_column].astype(str).str.strip() != ""
        if not keep.any():
            raise UserError(
                f"the text column {text_column!r} of {name} is empty where labels are given; "
                "pick the column that holds the text with --text-column"
            )
        names = [split_labels(v, label_format) for v in raw[keep]]
        if meta is None:
            labels = sorted({n for row in names for n in row}, key=_sort_key)
            if len(labels) < 2:
                raise UserError(
                    f"{name} has fewer than two labels in column {label_column!r}; multi-label "
                    "classification needs at least two: pick the labels column with --label-column"
                )
            meta = {
                "labels": labels,
                "threshold": DEFAULT_THRESHOLD,
                "format": label_format,
                "labels_per_text": float(np.mean([len(row) for row in names])),
            }
        index = {label: i for i, label in enumerate(meta["labels"])}
        unknown = sorted({n for row in names for n in row} - set(index), key=_sort_key)
        if unknown:
            shown = ", ".join(map(repr, unknown[:5]))
            raise UserError(
                f"{name} has labels the model was not trained on: {shown}; the known labels are "
                f"{', '.join(map(repr, meta['labels'][:20]))}"
            )
        rows = Rows(
            {
                "text": frame[text_column][keep].astype(str).tolist(),
                "labels": [[index[n] for n in row] for row in names],
            }
        )
        return rows, meta

    # ---- the model ------------------------------------------------------------------------
    def head_matches(self, saved: dict[str, Any] | None, meta: dict[str, Any]) -> bool:
        return saved is not None and saved.get("labels") == meta["labels"]

    def export_fields(self, meta: dict[str, Any]) -> dict[str, Any]:
        return {**super().export_fields(meta), "problem_type": "multi_label_classification"}

    # ---- tensors --------------------------------------------------------------------------
    def encode(self, rows: Rows, tokenizer: TextTokenizer, config: RunConfig, meta) -> Features:
        values = {}
        if "labels" in rows:
            values["labels"] = multi_hot(rows["labels"], len(meta["labels"]))
        return Features({"input_ids": tokenizer.encode(rows["text"], config.truncation)}, values)

    def loss(self, logits, batch, meta) -> torch.Tensor:
        import torch.nn.functional as F

        # (B, L) logits against (B, L) 0/1 targets, mean over both.
        return F.binary_cross_entropy_with_logits(logits.float(), batch["labels"].float())

    # ---- results --------------------------------------------------------------------------
    def tune(self, outputs, features, rows, meta) -> dict[str, Any]:
        true = multi_hot(rows["labels"], len(meta["labels"]))
        return {"threshold": tune_threshold(true, sigmoid(np.stack(outputs)))}

    def metrics(self, outputs, features, rows, meta) -> dict[str, Any]:
        logits = np.stack(outputs).astype(np.float64)
        true = multi_hot(rows["labels"], len(meta["labels"]))
        probs = sigmoid(logits)
        threshold = float(meta.get("threshold", DEFAULT_THRESHOLD))
        metrics = multilabel_metrics(true, probs, meta["labels"], threshold)
        return {
            "f1_micro": metrics["f1_micro"],
            "f1_macro": metrics["f1_macro"],
            "loss": binary_cross_entropy(logits, true),
            "threshold": threshold,
            "num_examples": int(len(true)),
            "labels": list(meta["labels"]),
            "report": metrics["report"],
            "examples": example_labels(rows, probs, meta["labels"], threshold),
        }

    def predict(self, outputs, features, rows, meta) -> list[dict[str, Any]]:
        labels = meta["labels"]
        threshold = float(meta.get("threshold", DEFAULT_THRESHOLD))
        out = []
        for row in sigmoid(np.stack(outputs).astype(np.float64)):
            out.append(
                {
                    "labels": [
                        label for label, p in zip(labels, row, strict=True) if p >= threshold
                    ],
                    "scores": {label: float(p) for label, p in zip(labels, row, strict=True)},
                }
            )
        return out


def multi_hot(label_ids: list[list[int]], num_labels: int) -> np.ndarray:
    """(N, L) float32 targets: 1 where a row has the label."""
    out = np.zeros((len(label_ids), num_labels), dtype=np.float32)
    for i, ids in enumerate(label_ids):
        out[i, ids] = 1.0
    return out


def sigmoid(logits: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-logits))


def binary_cross_entropy(logits: np.ndarray, true: np.ndarray) -> float:
    """Mean BCE with logits over all (example, label) cells, computed stably."""
    x = np.asarray(logits, dtype=np.float64)
    y = np.asarray(true, dtype=np.float64)
    return float(np.mean(np.maximum(x, 0) - x * y + np.log1p(np.exp(-np.abs(x)))))


def example_labels(
    rows: Rows, probs: np.ndarray, labels: list[str], threshold: float, limit: int = 5000
) -> list:
    """[text, true label names, predicted label names] per example, at most `limit`."""
    out = []
    for i in range(min(len(probs), limit)):
        predicted = [labels[j] for j in np.flatnonzero(probs[i] >= threshold)]
        out.append([rows["text"][i][:500], [labels[j] for j in rows["labels"][i]], predicted])
    return out


def _split(text: str, delimiter: str) -> list[str]:
    pieces = text.split() if delimiter == WHITESPACE else text.split(delimiter)
    return [p.strip() for p in pieces if p.strip()]


def _parse_list(text: str) -> list | None:
    for parse in (json.loads, ast.literal_eval):
        try:
            value = parse(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
        if isinstance(value, list | tuple):
            return list(value)
    return None


def _holds_lists(values: pd.Series) -> bool:
    present = values.dropna()
    return len(present) > 0 and all(isinstance(v, list | tuple | np.ndarray) for v in present)


def _missing(value: Any) -> bool:
    if isinstance(value, list | tuple | np.ndarray):
        return False
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _label_name(value: Any) -> str:
    # 1 and 1.0 are the same label, as in text classification.
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, np.integer):
        return str(int(value))
    return str(value).strip()


def _sort_key(label: str) -> tuple[int, float | str]:
    try:
        return (0, float(label))
    except ValueError:
        return (1, label)


def _name(path: str) -> str:
    from pathlib import Path

    return Path(path).name


TASK = MultiLabelClassification()
