"""A per-class (per-label, per-entity-type) report: precision, recall, F1 and support.

Precision, recall and F1 are 0–1 shares written like F1 everywhere else (``88.9%``); the
support is a count. The table is as wide as its columns need, so Support is never clipped,
and as high as its rows (up to a limit, then it scrolls). Clicking a row emits its name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QAbstractScrollArea,
    QHeaderView,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from workbench.gui.metric_format import MISSING, format_metric

COLUMNS = (
    ("precision", "Precision"),
    ("recall", "Recall"),
    ("f1", "F1"),
    ("support", "Support"),
)
SHARE_FORMAT = "f1"  # precision and recall are shares like F1: the same format
MAX_HEIGHT = 360


def format_report_value(key: str, value: Any) -> str:
    if key == "support":
        try:
            return f"{int(value):,}"
        except (TypeError, ValueError):
            return MISSING
    return format_metric(SHARE_FORMAT, value)


class ReportTableWidget(QTableWidget):
    sig_row_clicked = Signal(str)  # the row's name (a label or an entity type)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, len(COLUMNS), parent)
        self.setHorizontalHeaderLabels([title for _, title in COLUMNS])
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setMinimumSectionSize(72)
        header.setStretchLastSection(False)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setSizeAdjustPolicy(QAbstractScrollArea.SizeAdjustPolicy.AdjustToContents)
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.names: list[str] = []
        self.cellClicked.connect(self._on_cell_clicked)
        self.verticalHeader().sectionClicked.connect(self._on_vertical_header_clicked)

    def set_report(
        self, report: Mapping[str, Any] | None, names: Sequence[str] | None = None
    ) -> None:
        """Rows in `names` order (the labels), else the report's own order."""
        report = report if isinstance(report, Mapping) else {}
        self.names = [str(n) for n in (names if names else list(report))]
        self.clearSelection()
        self.setRowCount(len(self.names))
        self.setVerticalHeaderLabels(self.names)
        for row, name in enumerate(self.names):
            entry = report.get(name)
            entry = entry if isinstance(entry, Mapping) else {}
            for column, (key, _) in enumerate(COLUMNS):
                item = QTableWidgetItem(format_report_value(key, entry.get(key)))
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.setItem(row, column, item)
        self._fit()

    def cell_text(self, name: str, key: str) -> str:
        row = self.names.index(name)
        column = [k for k, _ in COLUMNS].index(key)
        item = self.item(row, column)
        return item.text() if item else ""

    def clear_report(self) -> None:
        self.set_report({}, [])

    def _fit(self) -> None:
        self.resizeColumnsToContents()
        rows = sum(self.rowHeight(r) for r in range(self.rowCount()))
        height = self.horizontalHeader().sizeHint().height() + rows + 2 * self.frameWidth()
        self.setFixedHeight(min(MAX_HEIGHT, max(height, 60)))
        width = (
            self.verticalHeader().sizeHint().width()
            + sum(self.columnWidth(c) for c in range(self.columnCount()))
            + 2 * self.frameWidth()
            + (self.verticalScrollBar().sizeHint().width() if height > MAX_HEIGHT else 0)
        )
        self.setFixedWidth(width)

    @Slot(int, int)
    def _on_cell_clicked(self, row: int, _column: int) -> None:
        if 0 <= row < len(self.names):
            self.sig_row_clicked.emit(self.names[row])

    @Slot(int)
    def _on_vertical_header_clicked(self, row: int) -> None:
        self._on_cell_clicked(row, 0)
