"""Which task a table's shape suggests, so the GUI can pre-select it (never forced)."""

from __future__ import annotations

from workbench.engine.tasks import TASK_NAMES
from workbench.lazy import pandas as pd


def suggest_task(frame: pd.DataFrame) -> str | None:
    columns = {str(c).lower() for c in frame.columns}
    sample = frame.head(50)

    def is_lists(column: str) -> bool:
        values = sample[column].dropna()
        return len(values) > 0 and all(isinstance(v, list | tuple) for v in values)

    def registered(name: str) -> str | None:
        return name if name in TASK_NAMES else None

    list_columns = [c for c in frame.columns if is_lists(c)]
    if {"tokens", "tags"} <= columns or len(list_columns) >= 2:
        return registered("token-classification")
    if {"question", "context"} <= columns:
        return registered("question-answering")
    if list(frame.columns) == ["text"]:
        return registered("masked-lm")
    return None
