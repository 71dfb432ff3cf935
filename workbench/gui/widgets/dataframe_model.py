"""A read-only table model over a pandas DataFrame.

Qt asks `data()` only for the cells it draws, so a million-row frame costs nothing until
scrolled to; long texts are cut for display (the full text is the tooltip). A cell holding
a list (CoNLL's tokens and tags) reads as its words joined by spaces, not as a Python list.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

if TYPE_CHECKING:
    import pandas as pd  # imported when a frame is first needed: the window shows without it

_Index = QModelIndex | QPersistentModelIndex
MAX_CELL_CHARS = 200


def cell_text(value: Any) -> str:
    """A cell as text: a list (or array) of words as the words joined by spaces; SQuAD's
    answers ({"text", "answer_start"} each) as “text” @ start, separated by bars."""
    if isinstance(value, list | tuple | np.ndarray):
        if any(isinstance(v, dict) for v in value):
            return " | ".join(cell_text(v) for v in value)
        return " ".join(cell_text(v) for v in value)
    if isinstance(value, dict) and "text" in value:
        start = value.get("answer_start")
        return f"“{value['text']}”" + ("" if start is None else f" @ {start}")
    return str(value)


class DataFrameModel(QAbstractTableModel):
    def __init__(self, frame: pd.DataFrame | None = None, parent=None) -> None:
        super().__init__(parent)
        self._frame = frame  # None: empty (no pandas needed until a frame is asked for)

    def frame(self) -> pd.DataFrame:
        if self._frame is None:
            import pandas as pd

            self._frame = pd.DataFrame()
        return self._frame

    def set_frame(self, frame: pd.DataFrame) -> None:
        self.beginResetModel()
        self._frame = frame
        self.endResetModel()

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() or self._frame is None else len(self._frame)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() or self._frame is None else len(self._frame.columns)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or self._frame is None:
            return None
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            value = self._frame.iat[index.row(), index.column()]
            if value is None or (isinstance(value, float) and value != value):
                return "" if role == Qt.ItemDataRole.DisplayRole else None
            text = cell_text(value)
            if role == Qt.ItemDataRole.DisplayRole:
                text = text.replace("\n", " ")
                return text if len(text) <= MAX_CELL_CHARS else text[: MAX_CELL_CHARS - 1] + "…"
            return text if len(text) > 40 else None
        if role == Qt.ItemDataRole.TextAlignmentRole:
            value = self._frame.iat[index.row(), index.column()]
            if isinstance(value, int | float | np.number) and not isinstance(value, bool):
                return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal:
            if self._frame is not None and 0 <= section < len(self._frame.columns):
                return str(self._frame.columns[section])
            return None
        return str(section + 1)
