"""Export: write the last finished run's model as a Hugging Face folder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QFileDialog,
    QFormLayout,
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
    "hf_hint": "A folder with config.json, model.safetensors and the tokenizer, which "
    "transformers loads with AutoModelForSequenceClassification.from_pretrained(folder).",
    "no_folder": "Choose the folder to export to.",
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
        self, export_fn: Callable[..., Any] = engine.export_hf, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self._export_fn = export_fn
        self.run_dir = ""
        self.exported_path = ""
        self._task: Task | None = None
        self._build()
        self._update_enabled()

    def _build(self) -> None:
        self.run_label = QLabel(MESSAGES["no_run"])
        self.run_label.setWordWrap(True)
        self.run_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        run_box = QGroupBox("Trained model")
        QVBoxLayout(run_box).addWidget(self.run_label)

        self.folder_edit = QLineEdit(placeholderText="Output folder")
        self.browse_button = QPushButton("Browse…")
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder_edit, 1)
        folder_row.addWidget(self.browse_button)
        self.export_button = QPushButton("Export as Hugging Face folder")
        self.export_button.setProperty("primary", True)  # styled by resources/styles
        hint = QLabel(MESSAGES["hf_hint"])
        hint.setWordWrap(True)
        hint.setStyleSheet("color: palette(placeholder-text);")
        self.message = InlineMessageWidget()
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        button_row = QHBoxLayout()
        button_row.addWidget(self.export_button)
        button_row.addStretch(1)
        hf_box = QGroupBox("Hugging Face folder")
        form = QFormLayout(hf_box)
        form.addRow("Folder:", folder_row)
        form.addRow("", hint)
        form.addRow("", button_row)
        form.addRow("", self.message)

        layout = QVBoxLayout(self)
        layout.addWidget(run_box)
        layout.addWidget(hf_box)
        layout.addStretch(1)

        self.browse_button.clicked.connect(self._on_browse_button_clicked)
        self.export_button.clicked.connect(self._on_export_button_clicked)
        self.folder_edit.textChanged.connect(self._on_folder_edit_changed)

    # ---- public API ---------------------------------------------------------------------
    def set_run(self, run_dir: str) -> None:
        self.run_dir = str(run_dir)
        self.run_label.setText(MESSAGES["run"].format(run_dir=self.run_dir))
        parent = ui_settings.last_folder(ui_settings.KEY_EXPORT_FOLDER)
        self.folder_edit.setText(str(Path(parent) / f"{Path(self.run_dir).name}-hf"))
        self.message.clear_message()
        self._update_enabled()

    def export(self) -> Task | None:
        output = self.folder_edit.text().strip()
        if not output:
            self.message.show_message(MESSAGES["no_folder"])
            return None
        self.message.show_message(MESSAGES["exporting"], "info")
        self.export_button.setEnabled(False)
        ui_settings.remember_folder(ui_settings.KEY_EXPORT_FOLDER, Path(output).parent)
        self._task = run_task(self._export_fn, self.run_dir, output)
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

    def _update_enabled(self) -> None:
        has_run = bool(self.run_dir)
        for widget in (self.folder_edit, self.browse_button):
            widget.setEnabled(has_run)
        self.export_button.setEnabled(has_run and bool(self.folder_edit.text().strip()))


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
