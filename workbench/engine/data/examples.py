"""From a DataFrame and two column names to (texts, label ids), with the checks a user needs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from workbench.engine.data.sequences import TextColumn
from workbench.errors import UserError
from workbench.lazy import pandas as pd


@dataclass
class LabelledTexts:
    texts: list[str]
    label_ids: list[int]

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, indices: list[int] | np.ndarray) -> LabelledTexts:
        return LabelledTexts([self.texts[i] for i in indices], [self.label_ids[i] for i in indices])


def label_counts(frame: pd.DataFrame, label_column: str) -> dict[str, int]:
    """How many rows carry each label, most frequent first (for the Data panel)."""
    counts = frame[label_column].dropna().map(_label_name).value_counts()
    return {str(k): int(v) for k, v in counts.items()}


def check_columns(
    frame: pd.DataFrame,
    text_column: str,
    label_column: str | None,
    name: str,
    text_flag: str = "--text-column",
) -> None:
    available = ", ".join(map(str, frame.columns))
    for role, column in (("text", text_column), ("label", label_column)):
        if column is not None and column not in frame.columns:
            option = text_flag if role == "text" else "--label-column"
            raise UserError(
                f"{name} has no column {column!r}; pick the {role} column with {option} "
                f"(available: {available})"
            )


def make_examples(
    frame: pd.DataFrame,
    text_column: str,
    label_column: str,
    labels: list[str] | None = None,
    name: str = "data",
) -> tuple[LabelledTexts, list[str]]:
    """Texts and label ids. With `labels` given (eval data, a trained model), rows must use
    those labels; otherwise the label set is read from the data, sorted."""
    columns, labels = labelled_columns(frame, [text_column], label_column, labels, name)
    return LabelledTexts(list(columns[text_column]), columns["label"]), labels


def labelled_columns(
    frame: pd.DataFrame,
    text_columns: list[str],
    label_column: str,
    labels: list[str] | None = None,
    name: str = "data",
    flags: tuple[str, ...] = ("--text-column",),
) -> tuple[dict[str, list], list[str]]:
    """{text column: texts, ..., "label": label ids} for rows whose texts and label are all
    present, and the label names (read from the data, sorted, unless `labels` is given)."""
    for column, flag in zip(text_columns, flags, strict=False):
        check_columns(frame, column, None, name, flag)
    check_columns(frame, text_columns[0], label_column, name)
    raw_labels = frame[label_column]
    if raw_labels.notna().sum() == 0:
        raise UserError(
            f"the label column {label_column!r} of {name} has no values; pick the column that "
            "holds the labels with --label-column"
        )
    keep = raw_labels.notna()
    for column in text_columns:
        keep &= frame[column].notna() & (frame[column].astype(str).str.strip() != "")
    if not keep.any():
        column = text_columns[0]
        raise UserError(
            f"the text column {column!r} of {name} is empty where labels are given; pick the "
            "column that holds the text with --text-column"
        )
    # Name each distinct value once (a million rows have a handful of labels).
    codes, uniques = pd.factorize(raw_labels[keep])
    unique_names = [_label_name(v) for v in uniques]
    names = set(unique_names)
    if labels is None:
        labels = sorted(names, key=_label_sort_key)
        fractional = [v for v in uniques if isinstance(v, float) and not float(v).is_integer()]
        if fractional and len(fractional) * 2 > len(uniques):
            # 0.37, 1.25, …: a score to predict, not classes (each value would be its own class).
            shown = ", ".join(f"{v:g}" for v in fractional[:3])
            raise UserError(
                f"the label column {label_column!r} of {name} holds decimal numbers ({shown}, …), "
                "not classes; to predict a number use --task regression, or pick the column "
                "with the classes with --label-column"
            )
        if len(labels) < 2:
            raise UserError(
                f"{name} has only one class ({labels[0]!r}) in column {label_column!r}; "
                "classification needs at least two: add examples of another class "
                "or pick another label column with --label-column"
            )
    index = {label: i for i, label in enumerate(labels)}
    unknown = sorted(names - set(index), key=_label_sort_key)
    if unknown:
        shown = ", ".join(map(repr, unknown[:5]))
        raise UserError(
            f"{name} has labels the model was not trained on: {shown}; "
            f"the known labels are {', '.join(map(repr, labels[:20]))}"
        )
    # Texts stay in the table's compact string array (a 300 MB file has millions of rows).
    columns: dict[str, Any] = {c: TextColumn.from_series(frame[c][keep]) for c in text_columns}
    columns["label"] = np.asarray([index[n] for n in unique_names], dtype=np.int64)[codes].tolist()
    return columns, labels


def stratified_split(
    data: LabelledTexts, fraction: float, seed: int
) -> tuple[LabelledTexts, LabelledTexts]:
    """Hold out `fraction` of each class (at least one example of each class with two or more)."""
    train, held = stratified_indices(data.label_ids, fraction, seed)
    return data.subset(train), data.subset(held)


def stratified_indices(
    label_ids: list[int], fraction: float, seed: int
) -> tuple[np.ndarray, list[int]]:
    """(kept, held-out) indices: `fraction` of each class held out, seeded."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(label_ids)
    held: list[int] = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        rng.shuffle(members)
        n = int(round(len(members) * fraction))
        if len(members) >= 2:
            n = min(max(n, 1), len(members) - 1)
        else:
            n = 0
        held.extend(members[:n].tolist())
    kept = np.ones(len(labels), dtype=bool)
    kept[held] = False
    train = np.flatnonzero(kept)  # ascending, as numpy (millions of rows: no list of ints)
    if not held:
        if len(labels) > 1 and len(np.unique(labels)) == len(labels):
            raise UserError(
                f"every one of the {len(labels):,} examples has a label of its own, so none can be "
                "held out for validation; check --label-column (is it an id or a free text?) "
                "or give --eval-data"
            )
        raise UserError(
            "too few examples to hold out a validation split; add data or give --eval-data"
        )
    return train, sorted(held)


def _label_name(value: object) -> str:
    # 1 and 1.0 (pandas turns int columns with gaps into floats) are the same label.
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (np.integer,)):
        return str(int(value))
    return str(value).strip()


def _label_sort_key(label: str) -> tuple[int, float | str]:
    try:
        return (0, float(label))
    except ValueError:
        return (1, label)
