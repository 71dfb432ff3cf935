"""Data: pick the training file (dialog or drag-and-drop), preview it, choose the columns."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from workbench.engine.data import SUPPORTED_SUFFIXES, guess_columns, label_counts, load_table
from workbench.gui import settings as ui_settings
from workbench.gui.tasks import Task, run_task
from workbench.gui.widgets.dataframe_model import DataFrameModel
from workbench.gui.widgets.inline_message import InlineMessageWidget

MESSAGES = {
    "drop_hint": "Open a CSV, TSV, JSON Lines or Parquet file, or drop one onto this page.",
    "loading": "Reading {name}…",
    "summary": "{rows:,} rows · {columns} columns",
    "no_data": "Open a training data file first.",
    "no_text": "Choose the column that holds the text.",
    "no_label": "Choose the column that holds the label; this file needs a text and a label column.",
    "missing_column": "{path} has no column {column!r}; pick one of: {available}.",
    "same_column": "The text and the label must be different columns.",
    "one_class": "The label column {column!r} has only one class ({label!r}); text classification "
    "needs at least two. Add examples of another class or pick another label column.",
    "no_labels": "The label column {column!r} is empty.",
    "many_labels": "The label column {column!r} has {n:,} different values — is it really the label?",
    "eval_none": "Optional. Without it, a share of the training data is held out for evaluation.",
    "eval_ok": "{rows:,} rows",
    "eval_missing": "The evaluation file has no column {column!r}.",
    "open_title": "Open training data",
    "open_eval_title": "Open evaluation data",
    "unsupported": "{name}: unsupported file type; use one of {suffixes}.",
}

KEY_LAST_FILE = "data/last_file"


def file_filter() -> str:
    patterns = " ".join(f"*{s}" for s in SUPPORTED_SUFFIXES)
    return f"Data files ({patterns});;All files (*)"


@dataclass(frozen=True)
class TableInfo:
    """What the panel needs from a file, computed off the GUI thread."""

    path: str
    frame: pd.DataFrame
    text: str | None
    label: str | None
    counts: dict[str, int]


def read_table_info(path: str) -> TableInfo:
    frame = load_table(path)
    guess = guess_columns(frame)
    counts = label_counts(frame, guess.label) if guess.label else {}
    return TableInfo(str(path), frame, guess.text, guess.label, counts)


def _choose_file(parent: QWidget, title: str, folder: str) -> str:
    path, _ = QFileDialog.getOpenFileName(parent, title, folder, file_filter())
    return path


class DataPanel(QWidget):
    sig_data_loaded = Signal(str)  # path
    sig_data_failed = Signal(str)  # message
    sig_eval_checked = Signal(str)  # path ("" when cleared)
    sig_selection_changed = Signal()

    choose_file = staticmethod(_choose_file)  # tests replace this to answer the dialog

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)
        self.path = ""
        self.eval_path = ""
        self.eval_columns: list[str] = []
        self._frame: pd.DataFrame | None = None
        self._counts: dict[str, int] = {}
        self._task: Task | None = None
        self._eval_task: Task | None = None
        self._updating = False
        self._build()

    # ---- layout -------------------------------------------------------------------------
    def _build(self) -> None:
        self.path_edit = QLineEdit(readOnly=True, placeholderText="No file")
        self.open_button = QPushButton("Open…")
        self.summary_label = QLabel(MESSAGES["drop_hint"])
        self.summary_label.setStyleSheet("color: palette(placeholder-text);")
        self.message = InlineMessageWidget()

        file_row = QHBoxLayout()
        file_row.addWidget(self.path_edit, 1)
        file_row.addWidget(self.open_button)
        file_box = QGroupBox("Training data")
        file_layout = QVBoxLayout(file_box)
        file_layout.addLayout(file_row)
        file_layout.addWidget(self.summary_label)

        self.text_combo = QComboBox()
        self.label_combo = QComboBox()
        for combo in (self.text_combo, self.label_combo):
            combo.setMinimumWidth(160)
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        columns_box = QGroupBox("Columns")
        columns_form = QFormLayout(columns_box)
        columns_form.addRow("Text column:", self.text_combo)
        columns_form.addRow("Label column:", self.label_combo)

        self.counts_table = QTableWidget(0, 3)
        self.counts_table.setHorizontalHeaderLabels(["Label", "Rows", "Share"])
        self.counts_table.verticalHeader().setVisible(False)
        self.counts_table.verticalHeader().setDefaultSectionSize(24)
        self.counts_table.setWordWrap(False)
        self.counts_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.counts_table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        counts_box = QGroupBox("Labels")
        QVBoxLayout(counts_box).addWidget(self.counts_table)

        self.eval_edit = QLineEdit(readOnly=True, placeholderText="None")
        self.eval_button = QPushButton("Choose…")
        self.eval_clear_button = QPushButton("Clear")
        self.eval_hint = QLabel(MESSAGES["eval_none"])
        self.eval_hint.setWordWrap(True)
        self.eval_hint.setStyleSheet("color: palette(placeholder-text);")
        eval_row = QHBoxLayout()
        eval_row.addWidget(self.eval_edit, 1)
        eval_row.addWidget(self.eval_button)
        eval_row.addWidget(self.eval_clear_button)
        eval_box = QGroupBox("Evaluation data (optional)")
        eval_layout = QVBoxLayout(eval_box)
        eval_layout.addLayout(eval_row)
        eval_layout.addWidget(self.eval_hint)

        self.preview_model = DataFrameModel(parent=self)
        self.preview = QTableView()
        self.preview.setModel(self.preview_model)
        self.preview.setWordWrap(False)
        self.preview.setAlternatingRowColors(True)
        self.preview.horizontalHeader().setStretchLastSection(True)
        self.preview.verticalHeader().setDefaultSectionSize(24)
        preview_box = QGroupBox("Preview")
        QVBoxLayout(preview_box).addWidget(self.preview)

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(columns_box)
        left_layout.addWidget(counts_box, 1)
        left_layout.addWidget(eval_box)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(preview_box)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([340, 700])

        layout = QVBoxLayout(self)
        layout.addWidget(file_box)
        layout.addWidget(self.message)
        layout.addWidget(splitter, 1)

        self.open_button.clicked.connect(self._on_open_button_clicked)
        self.eval_button.clicked.connect(self._on_eval_button_clicked)
        self.eval_clear_button.clicked.connect(self._on_eval_clear_button_clicked)
        self.text_combo.currentIndexChanged.connect(self._on_columns_changed)
        self.label_combo.currentIndexChanged.connect(self._on_columns_changed)

    # ---- public API ---------------------------------------------------------------------
    def open_file(self, path: str | Path) -> Task:
        """Read `path` in the background; sig_data_loaded or sig_data_failed follows."""
        path = str(path)
        self.message.show_message(MESSAGES["loading"].format(name=Path(path).name), "info")
        self.open_button.setEnabled(False)
        self._task = run_task(read_table_info, path)
        self._task.sig_succeeded.connect(self._on_load_task_succeeded)
        self._task.sig_failed.connect(self._on_load_task_failed)
        return self._task

    def open_eval_file(self, path: str | Path) -> Task:
        path = str(path)
        self._eval_task = run_task(load_table, path)
        self._eval_task.setProperty("path", path)
        self._eval_task.sig_succeeded.connect(self._on_eval_task_succeeded)
        self._eval_task.sig_failed.connect(self._on_eval_task_failed)
        return self._eval_task

    def frame(self) -> pd.DataFrame | None:
        return self._frame

    def counts(self) -> dict[str, int]:
        return dict(self._counts)

    def text_column(self) -> str | None:
        return self.text_combo.currentText() or None

    def label_column(self) -> str | None:
        return self.label_combo.currentText() or None

    def set_columns(self, text: str | None, label: str | None) -> None:
        """Select columns by name; a name the file lacks is reported inline."""
        available = [] if self._frame is None else list(self._frame.columns)
        for column in (text, label):
            if column is not None and column not in available:
                self.message.show_message(
                    MESSAGES["missing_column"].format(
                        path=Path(self.path).name or "the data",
                        column=column,
                        available=", ".join(available) or "(none)",
                    )
                )
                return
        self._updating = True
        self.text_combo.setCurrentIndex(available.index(text) if text else -1)
        self.label_combo.setCurrentIndex(available.index(label) if label else -1)
        self._updating = False
        self._refresh_selection()

    def problem(self) -> str | None:
        """The first reason this data cannot be trained on, or None."""
        if self._frame is None:
            return MESSAGES["no_data"]
        text, label = self.text_column(), self.label_column()
        if not text:
            return MESSAGES["no_text"]
        if not label:
            return MESSAGES["no_label"]
        if text == label:
            return MESSAGES["same_column"]
        if not self._counts:
            return MESSAGES["no_labels"].format(column=label)
        if len(self._counts) < 2:
            return MESSAGES["one_class"].format(column=label, label=next(iter(self._counts)))
        if self.eval_path and label not in self.eval_columns:
            return MESSAGES["eval_missing"].format(column=label)
        if self.eval_path and text not in self.eval_columns:
            return MESSAGES["eval_missing"].format(column=text)
        return None

    def config_values(self) -> dict[str, object]:
        """The RunConfig fields this panel decides."""
        return {
            "data": self.path,
            "eval_data": self.eval_path or None,
            "text_column": self.text_column(),
            "label_column": self.label_column(),
        }

    # ---- drag and drop ------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if _dropped_file(event) is not None:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        path = _dropped_file(event)
        if path is None:
            event.ignore()
            return
        event.acceptProposedAction()
        self.open_file(path)

    # ---- slots --------------------------------------------------------------------------
    @Slot()
    def _on_open_button_clicked(self) -> None:
        folder = ui_settings.last_folder(ui_settings.KEY_DATA_FOLDER)
        path = self.choose_file(self, MESSAGES["open_title"], folder)
        if path:
            ui_settings.remember_folder(ui_settings.KEY_DATA_FOLDER, path)
            self.open_file(path)

    @Slot()
    def _on_eval_button_clicked(self) -> None:
        folder = ui_settings.last_folder(ui_settings.KEY_DATA_FOLDER)
        path = self.choose_file(self, MESSAGES["open_eval_title"], folder)
        if path:
            self.open_eval_file(path)

    @Slot()
    def _on_eval_clear_button_clicked(self) -> None:
        self.eval_path = ""
        self.eval_columns = []
        self.eval_edit.clear()
        self.eval_hint.setText(MESSAGES["eval_none"])
        self._refresh_selection()
        self.sig_eval_checked.emit("")

    @Slot(object)
    def _on_load_task_succeeded(self, info: TableInfo) -> None:
        if self.sender() is not self._task:
            return  # a newer file was opened meanwhile
        self.open_button.setEnabled(True)
        self._show_table(info)
        ui_settings.settings().setValue(KEY_LAST_FILE, info.path)
        self.sig_data_loaded.emit(info.path)

    @Slot(str)
    def _on_load_task_failed(self, message: str) -> None:
        if self.sender() is not self._task:
            return
        self.open_button.setEnabled(True)
        self.message.show_message(message)
        self.sig_data_failed.emit(message)

    @Slot(object)
    def _on_eval_task_succeeded(self, frame: pd.DataFrame) -> None:
        self.eval_path = str(self.sender().property("path"))
        self.eval_columns = list(frame.columns)
        self.eval_edit.setText(self.eval_path)
        self.eval_hint.setText(MESSAGES["eval_ok"].format(rows=len(frame)))
        self._refresh_selection()
        self.sig_eval_checked.emit(self.eval_path)

    @Slot(str)
    def _on_eval_task_failed(self, message: str) -> None:
        self.message.show_message(message)

    @Slot()
    def _on_columns_changed(self) -> None:
        if self._updating:
            return
        label = self.label_column()
        self._counts = label_counts(self._frame, label) if self._frame is not None and label else {}
        self._refresh_selection()

    # ---- helpers ------------------------------------------------------------------------
    def _show_table(self, info: TableInfo) -> None:
        self.path = info.path
        self._frame = info.frame
        self._counts = dict(info.counts)
        self.path_edit.setText(info.path)
        self.path_edit.setToolTip(info.path)
        self.summary_label.setText(
            MESSAGES["summary"].format(rows=len(info.frame), columns=len(info.frame.columns))
        )
        self.preview_model.set_frame(info.frame)
        self.preview.resizeColumnsToContents()
        for column in range(self.preview_model.columnCount()):
            self.preview.setColumnWidth(column, min(self.preview.columnWidth(column), 420))
        columns = list(info.frame.columns)
        self._updating = True
        for combo, chosen in ((self.text_combo, info.text), (self.label_combo, info.label)):
            combo.clear()
            combo.addItems(columns)
            combo.setCurrentIndex(columns.index(chosen) if chosen in columns else -1)
        self._updating = False
        self._refresh_selection()

    def _refresh_selection(self) -> None:
        self._fill_counts()
        problem = self.problem()
        label = self.label_column()
        if problem:
            self.message.show_message(problem)
        elif label and len(self._counts) > 50 and len(self._counts) > 0.5 * len(self._frame):
            self.message.show_message(
                MESSAGES["many_labels"].format(column=label, n=len(self._counts)), "info"
            )
        else:
            self.message.clear_message()
        self.sig_selection_changed.emit()

    def _fill_counts(self) -> None:
        total = sum(self._counts.values()) or 1
        shown = list(self._counts.items())[:500]
        self.counts_table.setRowCount(len(shown))
        for row, (label, count) in enumerate(shown):
            cells = (label, f"{count:,}", f"{count / total:.1%}")
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if column:
                    item.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
                self.counts_table.setItem(row, column, item)
        self.counts_table.resizeColumnToContents(1)
        self.counts_table.resizeColumnToContents(2)


def _dropped_file(event: QDragEnterEvent | QDropEvent) -> str | None:
    mime = event.mimeData()
    if not mime.hasUrls():
        return None
    for url in mime.urls():
        if url.isLocalFile() and Path(url.toLocalFile()).suffix.lower() in SUPPORTED_SUFFIXES:
            return url.toLocalFile()
    return None


if __name__ == "__main__":
    from workbench.gui.standalone import ensure_app, run_alone
    from workbench.resources import sample_data_path

    ensure_app()

    def _make() -> DataPanel:
        panel = DataPanel()
        if sample_data_path().exists():
            panel.open_file(sample_data_path())
        return panel

    raise SystemExit(run_alone(_make))
