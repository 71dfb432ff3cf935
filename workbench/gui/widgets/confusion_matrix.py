"""A confusion matrix: rows are true labels, columns predicted, cells coloured by row share.

Clicking a cell emits its (true, predicted) indices, so a view can list those examples;
the chosen cell is drawn in bold.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal, Slot
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QAbstractScrollArea,
    QHeaderView,
    QLabel,
    QSizePolicy,
    QTableView,
    QVBoxLayout,
    QWidget,
)

_Index = QModelIndex | QPersistentModelIndex
_BASE = QColor(30, 110, 200)
CELL_WIDTH = 96  # at most; narrower when the labels are short
MIN_CELL_WIDTH = 48
CELL_HEIGHT = 40
MAX_FIT = (560, 420)  # shown whole up to this size, then it scrolls
MIN_FIT_WIDTH = 280


class ConfusionMatrixModel(QAbstractTableModel):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._labels: list[str] = []
        self._counts: list[list[int]] = []
        self._row_totals: list[int] = []
        self.marked: tuple[int, int] | None = None

    def set_marked(self, cell: tuple[int, int] | None) -> None:
        """The chosen cell; the widget repaints (no dataChanged emitted from Python, which
        leaks a reference to True per emit on PySide6 6.12 with Python 3.11)."""
        self.marked = cell

    def set_matrix(self, labels: list[str], counts: list[list[int]]) -> None:
        self.beginResetModel()
        self._labels = [str(label) for label in labels]
        self._counts = [[int(c) for c in row] for row in counts]
        self._row_totals = [sum(row) for row in self._counts]
        self.marked = None
        self.endResetModel()

    def count(self, true_index: int, predicted_index: int) -> int:
        return self._counts[true_index][predicted_index]

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._counts)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._labels)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        r, c = index.row(), index.column()
        count = self._counts[r][c]
        share = count / self._row_totals[r] if self._row_totals[r] else 0.0
        if role == Qt.ItemDataRole.DisplayRole:
            return str(count)
        if role == Qt.ItemDataRole.BackgroundRole:
            color = QColor(_BASE)
            color.setAlphaF(0.08 + 0.85 * share if count else 0.0)
            return color
        if role == Qt.ItemDataRole.ForegroundRole:
            return QColor("white") if share > 0.55 else None
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return Qt.AlignmentFlag.AlignCenter
        if role == Qt.ItemDataRole.FontRole and self.marked == (r, c):
            font = QFont()
            font.setBold(True)
            font.setUnderline(True)
            return font
        if role == Qt.ItemDataRole.ToolTipRole:
            return (
                f"true {self._labels[r]!r}, predicted {self._labels[c]!r}: "
                f"{count} ({share:.0%} of {self._labels[r]!r})"
            )
        return None

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and 0 <= section < len(self._labels):
            return self._labels[section]
        return None


class ConfusionMatrixWidget(QWidget):
    """The matrix with its axis titles: "true label" down the side, "predicted" on top."""

    sig_cell_clicked = Signal(int, int)  # true index, predicted index

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = ConfusionMatrixModel(self)
        self.view = QTableView(self)
        self.view.setModel(self.model)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.view.setShowGrid(True)
        for header, size in (
            (self.view.horizontalHeader(), CELL_WIDTH),
            (self.view.verticalHeader(), CELL_HEIGHT),
        ):
            header.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
            header.setDefaultSectionSize(size)
        self.view.setSizeAdjustPolicy(QAbstractScrollArea.SizeAdjustPolicy.AdjustToContents)
        self.view.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Maximum)
        self.view.clicked.connect(self._on_view_clicked)
        axes = QLabel("Rows: true label  ·  Columns: predicted label")
        axes.setStyleSheet("color: palette(placeholder-text);")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(axes)
        layout.addWidget(self.view)
        layout.addStretch(1)

    def set_matrix(self, labels: list[str], counts: list[list[int]]) -> None:
        self.model.set_matrix(labels, counts)
        self._fit()

    def _fit(self) -> None:
        """Cells as wide as the longest label needs, the whole matrix shown while it fits."""
        header = self.view.horizontalHeader()
        widest = max(
            (header.fontMetrics().horizontalAdvance(name) for name in self.model._labels),
            default=0,
        )
        width = max(MIN_CELL_WIDTH, min(CELL_WIDTH, widest + 24))
        header.setDefaultSectionSize(width)
        n = self.model.rowCount()
        frame = 2 * self.view.frameWidth()
        full_width = self.view.verticalHeader().sizeHint().width() + n * width + frame
        full_height = header.sizeHint().height() + n * CELL_HEIGHT + frame
        # Whole while it fits; in a narrow window it scrolls rather than widen the page.
        self.view.setMinimumSize(min(full_width, MIN_FIT_WIDTH), min(full_height, MAX_FIT[1]))

    def clear(self) -> None:
        self.model.set_matrix([], [])
        self.view.setMinimumSize(0, 0)

    def mark(self, cell: tuple[int, int] | None) -> None:
        """Draw this (true, predicted) cell as the chosen one (None: no cell)."""
        self.model.set_marked(cell)
        self.view.viewport().update()

    def click_cell(self, true_index: int, predicted_index: int) -> None:
        """What a click on the cell does (for keyboard users and tests)."""
        self._on_view_clicked(self.model.index(true_index, predicted_index))

    @Slot(QModelIndex)
    def _on_view_clicked(self, index: QModelIndex) -> None:
        if index.isValid():
            self.sig_cell_clicked.emit(index.row(), index.column())
