"""A table of evaluation examples: sortable by any column, filtered by a search box.

The rows are plain lists given by a task view (text, labels, confidence, loss …). Each column
says how its values are written: `text`, `share` (a probability, written as a percentage
like every 0–1 score), or a metric name for `metric_format` ("loss" gives 0.4200). Sorting
uses the raw values, so 9% sorts below 10%. Qt asks only for the cells it draws, so a few
thousand examples cost nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    Signal,
    Slot,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from workbench.gui.metric_format import format_metric

_Index = QModelIndex | QPersistentModelIndex
SORT_ROLE = Qt.ItemDataRole.UserRole + 1
ROW_ROLE = Qt.ItemDataRole.UserRole + 2
MAX_CELL_CHARS = 300
SHARE = "accuracy"  # a probability is a 0–1 share: written like accuracy (81.2%)

MESSAGES = {
    "filter": "Filter: type words to find in the {noun}",
    "count": "{shown:,} of {total:,} {noun}",
    "none": "No {noun}",
}


@dataclass(frozen=True)
class Column:
    title: str
    kind: str = "text"  # "text", "share", or a metric name for format_metric
    stretch: bool = False


def format_cell(kind: str, value: Any) -> str:
    if kind == "text":
        if value is None:
            return ""
        if isinstance(value, (list, tuple)):
            return " | ".join(str(v) for v in value)
        return str(value)
    return format_metric(SHARE if kind == "share" else kind, value)


def _sort_key(kind: str, value: Any) -> Any:
    if kind == "text":
        return format_cell(kind, value).casefold()
    try:
        number = float(value)
    except (TypeError, ValueError):
        return float("-inf")
    return number if number == number else float("-inf")


class ExamplesModel(QAbstractTableModel):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.columns: list[Column] = []
        self.rows: list[Sequence[Any]] = []

    def set_data(self, columns: Sequence[Column], rows: Sequence[Sequence[Any]]) -> None:
        self.beginResetModel()
        self.columns = list(columns)
        self.rows = list(rows)
        self.endResetModel()

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.columns)

    def _value(self, row: int, column: int) -> Any:
        values = self.rows[row]
        return values[column] if column < len(values) else None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        column = self.columns[index.column()]
        value = self._value(index.row(), index.column())
        if role == Qt.ItemDataRole.DisplayRole:
            text = format_cell(column.kind, value).replace("\n", " ")
            return text if len(text) <= MAX_CELL_CHARS else text[: MAX_CELL_CHARS - 1] + "…"
        if role == Qt.ItemDataRole.ToolTipRole and column.kind == "text":
            text = format_cell(column.kind, value)
            return text if len(text) > 60 else None
        if role == SORT_ROLE:
            return _sort_key(column.kind, value)
        if role == ROW_ROLE:
            return index.row()
        if role == Qt.ItemDataRole.TextAlignmentRole and column.kind != "text":
            return Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        return None

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal:
            return self.columns[section].title if 0 <= section < len(self.columns) else None
        return str(section + 1)


class _FilterProxy(QSortFilterProxyModel):
    """Keeps the rows whose text columns contain every word of the filter (any case)."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._words: list[str] = []
        self.setSortRole(SORT_ROLE)

    def set_words(self, text: str) -> None:
        if hasattr(self, "beginFilterChange"):  # Qt 6.9+
            self.beginFilterChange()
            self._words = text.casefold().split()
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:
            self._words = text.casefold().split()
            self.invalidateRowsFilter()

    def filterAcceptsRow(self, source_row: int, source_parent: _Index) -> bool:
        if not self._words:
            return True
        model = self.sourceModel()
        assert isinstance(model, ExamplesModel)
        haystack = " ".join(
            format_cell(c.kind, model._value(source_row, i)).casefold()
            for i, c in enumerate(model.columns)
            if c.kind == "text"
        )
        return all(word in haystack for word in self._words)


class ExamplesTableWidget(QWidget):
    """A caption, a filter box and the table; `sig_row_selected(row)` gives the row's index
    in the list passed to `set_rows` (-1 when nothing is selected)."""

    sig_row_selected = Signal(int)

    def __init__(self, parent: QWidget | None = None, noun: str = "examples") -> None:
        super().__init__(parent)
        self.noun = noun
        self.model = ExamplesModel(self)
        self.proxy = _FilterProxy(self)
        self.proxy.setSourceModel(self.model)
        self.caption = QLabel()
        self.caption.setWordWrap(True)
        self.count_label = QLabel(MESSAGES["none"].format(noun=noun))
        self.count_label.setStyleSheet("color: palette(placeholder-text);")
        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText(MESSAGES["filter"].format(noun=noun))
        self.filter_edit.setClearButtonEnabled(True)
        self.view = QTableView()
        self.view.setModel(self.proxy)
        self.view.setSortingEnabled(True)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setWordWrap(False)
        self.view.setAlternatingRowColors(True)
        self.view.verticalHeader().setVisible(False)
        self.view.verticalHeader().setDefaultSectionSize(24)
        self.view.setMinimumHeight(200)
        top = QHBoxLayout()
        top.addWidget(self.filter_edit, 1)
        top.addWidget(self.count_label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.caption)
        layout.addLayout(top)
        layout.addWidget(self.view, 1)
        self.caption.setVisible(False)
        self.filter_edit.textChanged.connect(self._on_filter_edit_text_changed)
        self.view.selectionModel().currentRowChanged.connect(self._on_view_current_row_changed)
        self.proxy.rowsInserted.connect(self._update_count)
        self.proxy.rowsRemoved.connect(self._update_count)
        self.proxy.modelReset.connect(self._update_count)
        self.proxy.layoutChanged.connect(self._update_count)

    # ---- public API ---------------------------------------------------------------------
    def set_columns(self, columns: Sequence[Column]) -> None:
        self.model.set_data(columns, [])
        self._layout_columns()

    def set_rows(self, rows: Sequence[Sequence[Any]], caption: str = "") -> None:
        """Show `rows` (lists in column order), keeping the current sort and filter."""
        self.model.set_data(self.model.columns, rows)
        self.caption.setText(caption)
        self.caption.setVisible(bool(caption))
        self._update_count()

    def sort_by(self, title: str, descending: bool = True) -> None:
        column = [c.title for c in self.model.columns].index(title)
        order = Qt.SortOrder.DescendingOrder if descending else Qt.SortOrder.AscendingOrder
        self.view.sortByColumn(column, order)

    def set_filter(self, text: str) -> None:
        self.filter_edit.setText(text)

    def shown_rows(self) -> list[Sequence[Any]]:
        """The rows as the user sees them: filtered and sorted."""
        return [self.model.rows[i] for i in self.shown_indexes()]

    def shown_indexes(self) -> list[int]:
        return [
            self.proxy.data(self.proxy.index(r, 0), ROW_ROLE) for r in range(self.proxy.rowCount())
        ]

    def select_shown(self, position: int) -> None:
        """Select the `position`-th row as shown (clamped); nothing when the table is empty."""
        count = self.proxy.rowCount()
        if not count:
            return
        position = max(0, min(position, count - 1))
        self.view.selectRow(position)
        self.view.scrollTo(self.proxy.index(position, 0))

    def select_row(self, row: int) -> None:
        """Select the row `row` of the list given to set_rows (cleared filter if hidden)."""
        shown = self.shown_indexes()
        if row not in shown and self.filter_edit.text():
            self.filter_edit.clear()
            shown = self.shown_indexes()
        if row in shown:
            self.select_shown(shown.index(row))

    def current_position(self) -> int:
        index = self.view.currentIndex()
        return index.row() if index.isValid() else -1

    def step(self, delta: int) -> None:
        """Move the selection up or down (Previous / Next buttons)."""
        position = self.current_position()
        self.select_shown(0 if position < 0 else position + delta)

    # ---- internals ----------------------------------------------------------------------
    def _layout_columns(self) -> None:
        header = self.view.horizontalHeader()
        for i, column in enumerate(self.model.columns):
            mode = (
                QHeaderView.ResizeMode.Stretch
                if column.stretch
                else QHeaderView.ResizeMode.ResizeToContents
            )
            header.setSectionResizeMode(i, mode)

    @Slot()
    def _update_count(self, *_args: object) -> None:
        total = self.model.rowCount()
        shown = self.proxy.rowCount()
        self.count_label.setText(
            MESSAGES["count"].format(shown=shown, total=total, noun=self.noun)
            if total
            else MESSAGES["none"].format(noun=self.noun)
        )

    @Slot(str)
    def _on_filter_edit_text_changed(self, text: str) -> None:
        self.proxy.set_words(text)
        self._update_count()

    @Slot(QModelIndex, QModelIndex)
    def _on_view_current_row_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        row = (
            self.proxy.data(self.proxy.index(current.row(), 0), ROW_ROLE)
            if current.isValid()
            else -1
        )
        self.sig_row_selected.emit(-1 if row is None else int(row))
