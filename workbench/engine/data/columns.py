"""Guess which column holds the text and which the label, so most files need no setup."""

from __future__ import annotations

from dataclasses import dataclass

from workbench.lazy import pandas as pd

_TEXT_NAMES = ("text", "sentence", "review", "content", "document", "comment", "utterance", "tweet")
_LABEL_NAMES = ("label", "labels", "class", "category", "sentiment", "target", "y")


@dataclass(frozen=True)
class ColumnGuess:
    text: str | None
    label: str | None


def guess_columns(frame: pd.DataFrame) -> ColumnGuess:
    """By name first, then by content: text is the string column with the longest
    entries, the label a different column with few distinct values."""
    columns = list(frame.columns)
    lower = {c.lower().strip(): c for c in columns}
    text = next((lower[n] for n in _TEXT_NAMES if n in lower), None)
    label = next((lower[n] for n in _LABEL_NAMES if n in lower and lower[n] != text), None)
    sample = frame.head(2000)
    if text is None:
        lengths = {
            c: sample[c].astype(str).str.len().mean()
            for c in columns
            if c != label and _is_text(sample[c])
        }
        text = max(lengths, key=lengths.get) if lengths else None
    if label is None:
        candidates = [c for c in columns if c != text]
        if candidates:
            label = min(candidates, key=lambda c: sample[c].nunique(dropna=True))
    return ColumnGuess(text=text, label=label)


def _is_text(column: pd.Series) -> bool:
    return column.dtype == object or pd.api.types.is_string_dtype(column)
