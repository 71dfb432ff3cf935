"""Model: the pretrained model to start from (bundled default or a local folder) and the task."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from workbench import engine
from workbench.config import DEFAULT_MODEL
from workbench.errors import UserError
from workbench.gui import settings as ui_settings
from workbench.gui.messages import format_count
from workbench.gui.widgets.inline_message import InlineMessageWidget

MESSAGES = {
    "choose_title": "Choose a Hugging Face model folder",
    "folder_hint": "Any local Hugging Face folder with config.json, weights and tokenizer files "
    "(BERT-family models for now). A finished run folder works too.",
    "task_hint": {
        "text-classification": "Adds a classification head on top of the model and fine-tunes "
        "everything to predict one label per text.",
    },
    "chosen": "Using {name}.",
}

TASKS = (("Text classification", "text-classification"),)
KEY_MODEL = "model/last"

_FIELDS = (
    ("name", "Name"),
    ("model_type", "Architecture"),
    ("layers", "Layers"),
    ("hidden_size", "Hidden size"),
    ("attention_heads", "Attention heads"),
    ("parameters", "Parameters"),
    ("max_positions", "Max. tokens"),
    ("path", "Folder"),
)


def _choose_folder(parent: QWidget, title: str, folder: str) -> str:
    return QFileDialog.getExistingDirectory(parent, title, folder)


class ModelPanel(QWidget):
    sig_model_changed = Signal(str)  # the model name as RunConfig takes it

    choose_folder = staticmethod(_choose_folder)  # tests replace this to answer the dialog

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model_name = DEFAULT_MODEL
        self.description: dict = {}
        self._build()
        self.set_model(DEFAULT_MODEL)

    def _build(self) -> None:
        self.value_labels: dict[str, QLabel] = {}
        model_box = QGroupBox("Pretrained model")
        form = QFormLayout()
        for key, title in _FIELDS:
            label = QLabel("—")
            label.setWordWrap(key == "path")
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.value_labels[key] = label
            form.addRow(f"{title}:", label)
        self.default_button = QPushButton("Use default")
        self.choose_button = QPushButton("Choose folder…")
        buttons = QHBoxLayout()
        buttons.addWidget(self.default_button)
        buttons.addWidget(self.choose_button)
        buttons.addStretch(1)
        hint = QLabel(MESSAGES["folder_hint"])
        hint.setWordWrap(True)
        hint.setStyleSheet("color: palette(placeholder-text);")
        self.message = InlineMessageWidget()
        model_layout = QVBoxLayout(model_box)
        model_layout.addLayout(form)
        model_layout.addSpacing(8)
        model_layout.addLayout(buttons)
        model_layout.addWidget(hint)
        model_layout.addWidget(self.message)

        self.task_combo = QComboBox()
        self.task_combo.setMinimumWidth(240)
        self.task_combo.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        for title, task in TASKS:
            self.task_combo.addItem(title, task)
        self.task_hint = QLabel()
        self.task_hint.setWordWrap(True)
        self.task_hint.setStyleSheet("color: palette(placeholder-text);")
        task_box = QGroupBox("Task")
        task_layout = QFormLayout(task_box)
        task_layout.addRow("Task head:", self.task_combo)
        task_layout.addRow("", self.task_hint)

        layout = QVBoxLayout(self)
        layout.addWidget(model_box)
        layout.addWidget(task_box)
        layout.addStretch(1)

        self.default_button.clicked.connect(self._on_default_button_clicked)
        self.choose_button.clicked.connect(self._on_choose_button_clicked)
        self.task_combo.currentIndexChanged.connect(self._on_task_combo_changed)
        self._on_task_combo_changed()

    # ---- public API ---------------------------------------------------------------------
    def set_model(self, name: str) -> bool:
        """Use `name` ("default" or a folder); an unusable folder is reported inline."""
        try:
            description = engine.describe_model(name)
        except UserError as exc:
            self.message.show_message(str(exc))
            return False
        self.model_name = str(name)
        self.description = description
        self._show_description(description)
        self.message.clear_message()
        self.sig_model_changed.emit(self.model_name)
        return True

    def task(self) -> str:
        return str(self.task_combo.currentData())

    def config_values(self) -> dict[str, object]:
        return {"model": self.model_name, "task": self.task()}

    # ---- slots --------------------------------------------------------------------------
    @Slot()
    def _on_default_button_clicked(self) -> None:
        self.set_model(DEFAULT_MODEL)

    @Slot()
    def _on_choose_button_clicked(self) -> None:
        folder = ui_settings.last_folder(ui_settings.KEY_MODEL_FOLDER)
        path = self.choose_folder(self, MESSAGES["choose_title"], folder)
        if path:
            ui_settings.remember_folder(ui_settings.KEY_MODEL_FOLDER, path)
            self.set_model(path)

    @Slot()
    def _on_task_combo_changed(self) -> None:
        self.task_hint.setText(MESSAGES["task_hint"].get(self.task(), ""))

    def _show_description(self, description: dict) -> None:
        for key, label in self.value_labels.items():
            value = description.get(key)
            if key == "parameters" and value:
                text = f"≈ {format_count(int(value))}"
            else:
                text = "—" if value in (None, "", 0) else str(value)
            label.setText(text)


if __name__ == "__main__":
    from workbench.gui.standalone import run_alone

    raise SystemExit(run_alone(ModelPanel))
