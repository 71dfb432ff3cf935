"""Export: write the last finished run's model in one of the engine's export formats.

The formats are the engine's exporter registry (`engine.export_formats()`), listed off the
GUI thread (the exporter modules import torch); writing and checking an export runs off it
too."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from workbench import engine
from workbench.gui import settings as ui_settings
from workbench.gui.tasks import Task, run_task
from workbench.gui.widgets.inline_message import InlineMessageWidget

MESSAGES = {
    "no_run": "Train a model first: export uses the last finished run.",
    "run": "{run_dir}",
    "no_folder": "Choose the folder to export to.",
    "export_as": "Export as {title}",
    "export": "Export",
    "reading_formats": "Reading the export formats…",
    "exporting": "Exporting…",
    "done": "Exported to {path}",
    "choose_title": "Export to folder",
}


def _choose_folder(parent: QWidget, title: str, folder: str) -> str:
    return QFileDialog.getExistingDirectory(parent, title, folder)


class ExportPanel(QWidget):
    sig_exported = Signal(str)  # the written folder
    sig_export_failed = Signal(str)  # message

    choose_folder = staticmethod(_choose_folder)  # tests replace this to answer the dialog

    def __init__(
        self, export_fn: Callable[..., Any] | None = None, parent: QWidget | None = None
    ) -> None:
        """`export_fn(run_dir, output, format)` writes the export (default: the engine's)."""
        super().__init__(parent)
        self._export_fn = export_fn or engine.export_model
        self.formats: dict[str, dict[str, str]] = {}
        self.run_dir = ""
        self.exported_path = ""
        self._task: Task | None = None
        self._shown_format = ""
        self._build()
        self._update_enabled()
        self._formats_task: Task | None = run_task(engine.export_formats)
        self._formats_task.sig_succeeded.connect(self._on_formats_task_succeeded)
        self._formats_task.sig_failed.connect(self._on_formats_task_failed)

    def _build(self) -> None:
        self.run_label = QLabel(MESSAGES["no_run"])
        self.run_label.setWordWrap(True)
        self.run_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        run_box = QGroupBox("Trained model")
        QVBoxLayout(run_box).addWidget(self.run_label)

        self.format_combo = QComboBox()
        self.format_combo.setMinimumWidth(220)
        self.format_combo.setPlaceholderText(MESSAGES["reading_formats"])
        self.format_hint = QLabel()
        self.format_hint.setWordWrap(True)
        self.format_hint.setStyleSheet("color: palette(placeholder-text);")
        format_row = QHBoxLayout()
        format_row.addWidget(self.format_combo)
        format_row.addStretch(1)

        self.folder_edit = QLineEdit(placeholderText="Output folder")
        self.browse_button = QPushButton("Browse…")
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder_edit, 1)
        folder_row.addWidget(self.browse_button)
        self.export_button = QPushButton()
        self.export_button.setProperty("primary", True)  # styled by resources/styles
        self.message = InlineMessageWidget()
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        button_row = QHBoxLayout()
        button_row.addWidget(self.export_button)
        button_row.addStretch(1)
        export_box = QGroupBox("Export")
        # A grid, not a QFormLayout: the form gives a wrapped label the height of its size
        # hint (several lines at a narrow width), which left gaps around the hint and message.
        form = QGridLayout(export_box)
        form.setColumnStretch(1, 1)
        form.addWidget(QLabel("Format:"), 0, 0)
        form.addLayout(format_row, 0, 1)
        form.addWidget(self.format_hint, 1, 1)
        form.addWidget(QLabel("Folder:"), 2, 0)
        form.addLayout(folder_row, 2, 1)
        form.addLayout(button_row, 3, 1)
        form.addWidget(self.message, 4, 1)

        layout = QVBoxLayout(self)
        layout.addWidget(run_box)
        layout.addWidget(export_box)
        layout.addStretch(1)

        self.browse_button.clicked.connect(self._on_browse_button_clicked)
        self.export_button.clicked.connect(self._on_export_button_clicked)
        self.folder_edit.textChanged.connect(self._on_folder_edit_changed)
        self.format_combo.currentIndexChanged.connect(self._on_format_combo_changed)
        self._show_format()

    # ---- public API ---------------------------------------------------------------------
    def set_run(self, run_dir: str) -> None:
        self.run_dir = str(run_dir)
        self.run_label.setText(MESSAGES["run"].format(run_dir=self.run_dir))
        parent = ui_settings.last_folder(ui_settings.KEY_EXPORT_FOLDER)
        self.folder_edit.setText(str(Path(parent) / self._default_folder_name()))
        self.message.clear_message()
        self._update_enabled()

    def export_format(self) -> str:
        """The chosen format's name ("" until the list has been read)."""
        return str(self.format_combo.currentData() or "")

    def set_formats(self, formats: list[dict[str, str]]) -> None:
        """Fill the list (name, title, description per format), keeping the choice if listed."""
        chosen = self.export_format()
        self.formats = {info["name"]: info for info in formats}
        self.format_combo.blockSignals(True)
        self.format_combo.clear()
        for index, info in enumerate(self.formats.values()):
            self.format_combo.addItem(info["title"], info["name"])
            self.format_combo.setItemData(index, info["description"], Qt.ItemDataRole.ToolTipRole)
        self.format_combo.setCurrentIndex(max(0, self.format_combo.findData(chosen)))
        self.format_combo.blockSignals(False)
        self._on_format_combo_changed()
        self._update_enabled()

    def export(self) -> Task | None:
        output = self.folder_edit.text().strip()
        if not output:
            self.message.show_message(MESSAGES["no_folder"])
            return None
        self.message.show_message(MESSAGES["exporting"], "info")
        self.export_button.setEnabled(False)
        ui_settings.remember_folder(ui_settings.KEY_EXPORT_FOLDER, Path(output).parent)
        self._task = run_task(self._export_fn, self.run_dir, output, self.export_format())
        self._task.sig_succeeded.connect(self._on_export_task_succeeded)
        self._task.sig_failed.connect(self._on_export_task_failed)
        return self._task

    # ---- slots --------------------------------------------------------------------------
    @Slot()
    def _on_browse_button_clicked(self) -> None:
        start = self.folder_edit.text().strip() or ui_settings.last_folder(
            ui_settings.KEY_EXPORT_FOLDER
        )
        folder = self.choose_folder(self, MESSAGES["choose_title"], str(Path(start).parent))
        if folder:
            self.folder_edit.setText(folder)

    @Slot()
    def _on_export_button_clicked(self) -> None:
        self.export()

    @Slot()
    def _on_folder_edit_changed(self) -> None:
        self._update_enabled()

    @Slot()
    def _on_format_combo_changed(self) -> None:
        # The suggested folder follows the format, unless the user typed their own.
        folder = Path(self.folder_edit.text().strip())
        if self.run_dir and folder.name == self._default_folder_name(self._shown_format):
            self.folder_edit.setText(str(folder.parent / self._default_folder_name()))
        self._show_format()

    @Slot(object)
    def _on_formats_task_succeeded(self, formats: list[dict[str, str]]) -> None:
        self._formats_task = None
        self.set_formats(formats)

    @Slot(str)
    def _on_formats_task_failed(self, message: str) -> None:
        self._formats_task = None
        self.message.show_message(message)

    @Slot(object)
    def _on_export_task_succeeded(self, path: object) -> None:
        self.exported_path = str(path)
        self.message.show_message(MESSAGES["done"].format(path=self.exported_path), "success")
        self._update_enabled()
        self.sig_exported.emit(self.exported_path)

    @Slot(str)
    def _on_export_task_failed(self, message: str) -> None:
        self.message.show_message(message)
        self._update_enabled()
        self.sig_export_failed.emit(message)

    def _default_folder_name(self, format_name: str | None = None) -> str:
        suffix = format_name if format_name is not None else self.export_format()
        return f"{Path(self.run_dir).name}-{suffix}" if suffix else Path(self.run_dir).name

    def _show_format(self) -> None:
        self._shown_format = self.export_format()
        info = self.formats.get(self._shown_format)
        self.format_hint.setText(str(info["description"]) if info else "")
        self.format_hint.setVisible(bool(info))
        self.export_button.setText(
            MESSAGES["export_as"].format(title=info["title"]) if info else MESSAGES["export"]
        )

    def _update_enabled(self) -> None:
        has_run = bool(self.run_dir)
        for widget in (self.folder_edit, self.browse_button):
            widget.setEnabled(has_run)
        self.export_button.setEnabled(
            has_run and bool(self.export_format()) and bool(self.folder_edit.text().strip())
        )


if __name__ == "__main__":
    import sys

    from workbench.gui.standalone import ensure_app, run_alone

    ensure_app()

    def _make() -> ExportPanel:
        panel = ExportPanel()
        if len(sys.argv) > 1:
            panel.set_run(sys.argv[1])
        return panel

    raise SystemExit(run_alone(_make))
