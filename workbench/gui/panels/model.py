"""Model: the task to learn, and the pretrained model to start from (bundled or a local folder).

The task list is the engine's task registry; the model's facts (family, exact parameter count,
size on disk, the tasks its family has heads for) are read off the GUI thread, since reading
them opens the model's files. A model that cannot do the chosen task is said here, before a
run is asked for, and `problem()` blocks training with that reason.
"""

from __future__ import annotations

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
    QMenu,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from workbench import engine
from workbench.config import DEFAULT_MODEL
from workbench.gui import settings as ui_settings
from workbench.gui.task_list import tasks_by_name
from workbench.gui.tasks import Task, run_task
from workbench.gui.widgets.inline_message import InlineMessageWidget
from workbench.gui.widgets.training_scope import TrainingScopeWidget

MESSAGES = {
    "choose_title": "Choose a Hugging Face model folder",
    "folder_hint": "Any local Hugging Face folder with config.json, weights and tokenizer files "
    "(BERT, RoBERTa and DistilBERT models). A finished run folder works too.",
    "reading": "Reading {name}…",
    "cannot_do": "{model} cannot do {task}: its {family} family has no head for it. Choose "
    "another task or a model that supports it.",
    "cannot_do_any": "{model} cannot do {task}, nor any other task Workbench knows.",
    "unknown_task": "Unknown task {name!r}; choose one of: {names}.",
    "listing": "Looking for models on this machine…",
    "unsupported": "Not supported",
    "none": "—",
}

# (description key, title); the two columns of the model's facts, then full-width rows.
_LEFT_FIELDS = (
    ("name", "Name"),
    ("family", "Family"),
    ("model_type", "Architecture"),
    ("parameters", "Parameters"),
    ("size_bytes", "Size on disk"),
)
_RIGHT_FIELDS = (
    ("layers", "Layers"),
    ("hidden_size", "Hidden size"),
    ("attention_heads", "Attention heads"),
    ("max_positions", "Max. tokens"),
)
_WIDE_FIELDS = (("tasks", "Tasks"), ("path", "Folder"))


def format_bytes(size: int) -> str:
    """91.6 MB, 1.3 GB, 850 kB (decimal units, as file managers show them)."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size:,} B"


def _choose_folder(parent: QWidget, title: str, folder: str) -> str:
    return QFileDialog.getExistingDirectory(parent, title, folder)


class ModelPanel(QWidget):
    sig_model_changed = Signal(str)  # the model name as RunConfig takes it
    sig_model_failed = Signal(str)  # message: the folder is not a usable model
    sig_task_changed = Signal(str)  # the task name as RunConfig takes it

    choose_folder = staticmethod(_choose_folder)  # tests replace this to answer the dialog

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model_name = DEFAULT_MODEL
        self.description: dict[str, Any] = {}
        self.tasks = tasks_by_name()
        self._describe_task: Task | None = None
        self._list_task: Task | None = None
        self._count_task: Task | None = None
        self._build()
        self.set_model(DEFAULT_MODEL)

    # ---- layout -------------------------------------------------------------------------
    def _build(self) -> None:
        self.task_combo = QComboBox()
        self.task_combo.setMinimumWidth(260)
        self.task_combo.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        for index, info in enumerate(self.tasks.values()):
            self.task_combo.addItem(info["title"], info["name"])
            self.task_combo.setItemData(index, info["description"], Qt.ItemDataRole.ToolTipRole)
        self.task_hint = QLabel()
        self.task_hint.setWordWrap(True)
        self.task_hint.setStyleSheet("color: palette(placeholder-text);")
        self.support_message = InlineMessageWidget()
        task_row = QHBoxLayout()
        task_row.addWidget(QLabel("Task:"))
        task_row.addWidget(self.task_combo)
        task_row.addStretch(1)
        task_box = QGroupBox("Task")
        task_layout = QVBoxLayout(task_box)
        task_layout.addLayout(task_row)
        task_layout.addWidget(self.task_hint)
        task_layout.addWidget(self.support_message)

        # Facts in two title/value column pairs, then the long ones across the whole width.
        self.value_labels: dict[str, QLabel] = {}
        facts = QGridLayout()
        facts.setHorizontalSpacing(12)
        facts.setVerticalSpacing(4)
        for pair, fields in enumerate((_LEFT_FIELDS, _RIGHT_FIELDS)):
            for row, (key, title) in enumerate(fields):
                facts.addWidget(QLabel(f"{title}:"), row, 2 * pair)
                facts.addWidget(self._value_label(key), row, 2 * pair + 1)
        for offset, (key, title) in enumerate(_WIDE_FIELDS):
            row = len(_LEFT_FIELDS) + offset
            label = self._value_label(key)
            label.setWordWrap(True)
            facts.addWidget(QLabel(f"{title}:"), row, 0, Qt.AlignmentFlag.AlignTop)
            facts.addWidget(label, row, 1, 1, 4)
        facts.setColumnStretch(1, 1)
        facts.setColumnStretch(3, 1)
        facts.setColumnStretch(4, 2)
        facts.setColumnMinimumWidth(2, 0)

        self.default_button = QPushButton("Use default")
        self.choose_button = QPushButton("Choose folder…")
        # the bundled models and the Hugging Face cache's, grouped by family (engine.list_models)
        self.machine_button = QPushButton("On this machine…")
        self.machine_button.setToolTip(
            "The bundled models and every model in your Hugging Face cache"
        )
        self.models_menu = QMenu(self)
        buttons = QHBoxLayout()
        buttons.addWidget(self.default_button)
        buttons.addWidget(self.machine_button)
        buttons.addWidget(self.choose_button)
        buttons.addStretch(1)
        hint = QLabel(MESSAGES["folder_hint"])
        hint.setWordWrap(True)
        hint.setStyleSheet("color: palette(placeholder-text);")
        self.message = InlineMessageWidget()
        self.vocabulary_message = InlineMessageWidget(prominent=True)
        model_box = QGroupBox("Pretrained model")
        model_layout = QVBoxLayout(model_box)
        model_layout.addLayout(facts)
        model_layout.addWidget(self.vocabulary_message)
        model_layout.addSpacing(6)
        model_layout.addLayout(buttons)
        model_layout.addWidget(hint)
        model_layout.addWidget(self.message)

        layout = QVBoxLayout(self)
        layout.addWidget(task_box)
        layout.addWidget(model_box)
        self.scope = TrainingScopeWidget()  # what trains: all, head only, LoRA; and how much
        layout.addWidget(self.scope)
        layout.addStretch(1)
        self.scope.sig_values_changed.connect(self._on_scope_values_changed)

        self.default_button.clicked.connect(self._on_default_button_clicked)
        self.choose_button.clicked.connect(self._on_choose_button_clicked)
        self.machine_button.clicked.connect(self._on_machine_button_clicked)
        self.task_combo.currentIndexChanged.connect(self._on_task_combo_changed)
        self._show_task()

    def _value_label(self, key: str) -> QLabel:
        label = QLabel(MESSAGES["none"])
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.value_labels[key] = label
        return label

    # ---- public API ---------------------------------------------------------------------
    def set_model(self, name: str | Path) -> Task:
        """Use `name` ("default" or a folder), read off the GUI thread: sig_model_changed
        follows, or sig_model_failed with the reason (the last good model stays)."""
        name = str(name)
        self.message.show_message(MESSAGES["reading"].format(name=Path(name).name or name), "info")
        self._describe_task = run_task(engine.describe_model, name)
        self._describe_task.setProperty("model", name)
        self._describe_task.sig_succeeded.connect(self._on_describe_task_succeeded)
        self._describe_task.sig_failed.connect(self._on_describe_task_failed)
        return self._describe_task

    def is_describing(self) -> bool:
        return self._describe_task is not None

    def task(self) -> str:
        return str(self.task_combo.currentData())

    def task_info(self) -> dict[str, Any]:
        return dict(self.tasks.get(self.task(), {}))

    def task_title(self, name: str | None = None) -> str:
        info = self.tasks.get(name or self.task(), {})
        return str(info.get("title", name or self.task()))

    def set_task(self, name: str) -> bool:
        """Choose a task by name (sig_task_changed follows when it changes); an unknown name
        is reported inline and the choice stays."""
        index = self.task_combo.findData(name)
        if index < 0:
            self.support_message.show_message(
                MESSAGES["unknown_task"].format(name=name, names=", ".join(self.tasks))
            )
            return False
        self.task_combo.setCurrentIndex(index)
        return True

    def problem(self) -> str | None:
        """Why the chosen model cannot do the chosen task, or None (also while it is read:
        then the engine checks when the run starts)."""
        supported = self.description.get("tasks")
        if not self.description or supported is None or self.task() in supported:
            return None
        model = str(self.description.get("name", self.model_name))
        family = str(self.description.get("family", "model"))
        task = self.task_title()
        if not supported:
            return MESSAGES["cannot_do_any"].format(model=model, task=task)
        return MESSAGES["cannot_do"].format(model=model, task=task, family=family)

    def config_values(self) -> dict[str, object]:
        return {"model": self.model_name, "task": self.task(), **self.scope.values()}

    def set_vocabulary_warning(self, text: str | None) -> None:
        """Mark the current model as not covering the training data's text (the Data page's
        check found many unknown tokens), or clear the mark with None."""
        if text:
            self.vocabulary_message.show_message(text, "warning")
        else:
            self.vocabulary_message.clear_message()
        self.value_labels["name"].setToolTip(text or "")

    def vocabulary_warning(self) -> str | None:
        return self.vocabulary_message.text() or None

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
    def _on_machine_button_clicked(self) -> None:
        """List the models off the GUI thread (it reads every cached model's config), then
        offer them in a menu under the button."""
        if self._list_task is not None:
            return
        self.message.show_message(MESSAGES["listing"], "info")
        self._list_task = run_task(engine.list_models)
        self._list_task.sig_succeeded.connect(self._on_list_task_succeeded)
        self._list_task.sig_failed.connect(self._on_list_task_failed)

    @Slot(object)
    def _on_list_task_succeeded(self, models: list[dict[str, Any]]) -> None:
        self._list_task = None
        self.message.clear_message()
        self.fill_models_menu(models)
        below = self.machine_button.mapToGlobal(self.machine_button.rect().bottomLeft())
        self.models_menu.popup(below)

    @Slot(str)
    def _on_list_task_failed(self, message: str) -> None:
        self._list_task = None
        self.message.show_message(message)

    def fill_models_menu(self, models: list[dict[str, Any]]) -> None:
        """One section per family (size and parameters beside each name); the models
        Workbench cannot read last, greyed out, the reason in their tooltip."""
        menu = self.models_menu
        menu.clear()
        menu.setToolTipsVisible(True)
        groups: dict[str, list[dict[str, Any]]] = {}
        for model in models:
            family = str(model.get("family")) if model.get("supported") else ""
            groups.setdefault(family, []).append(model)
        for family in sorted(groups, key=lambda name: (name == "", name)):
            menu.addSection(family or MESSAGES["unsupported"])
            for model in groups[family]:
                facts = [format_bytes(int(model["size_bytes"]))] if model.get("size_bytes") else []
                if model.get("parameters"):
                    facts.append(f"{int(model['parameters']) / 1e6:,.1f}M parameters")
                text = str(model.get("name")) + (f"  ({', '.join(facts)})" if facts else "")
                name = str(model.get("model") or model.get("path"))
                action = menu.addAction(text)
                action.setData(name)
                if model.get("supported"):
                    action.setToolTip(str(model.get("path", "")))
                    action.triggered.connect(lambda _=False, name=name: self.set_model(name))
                else:
                    action.setEnabled(False)
                    action.setToolTip(str(model.get("reason", "")))

    @Slot()
    def _on_task_combo_changed(self) -> None:
        self._show_task()
        self.sig_task_changed.emit(self.task())
        self._count_parameters()

    @Slot()
    def _on_scope_values_changed(self) -> None:
        self._count_parameters()

    @Slot(object)
    def _on_count_task_succeeded(self, counts: dict[str, int]) -> None:
        if self.sender() is self._count_task:
            self._count_task = None
            self.scope.show_counts(counts)

    @Slot(str)
    def _on_count_task_failed(self, message: str) -> None:
        if self.sender() is self._count_task:
            self._count_task = None
            self.scope.show_counts(None, problem=message)

    @Slot(object)
    def _on_describe_task_succeeded(self, description: dict[str, Any]) -> None:
        if self.sender() is not self._describe_task:
            return  # another model was chosen meanwhile
        self._describe_task = None
        self.model_name = str(self.sender().property("model"))
        self.description = dict(description)
        self._show_description(self.description)
        self.message.clear_message()
        self._show_support()
        self.scope.set_layer_count(int(self.description.get("layers") or 0))
        self._count_parameters()
        self.sig_model_changed.emit(self.model_name)

    @Slot(str)
    def _on_describe_task_failed(self, message: str) -> None:
        if self.sender() is not self._describe_task:
            return
        self._describe_task = None
        self.message.show_message(message)
        self.sig_model_failed.emit(message)

    # ---- display helpers ----------------------------------------------------------------
    def _count_parameters(self) -> None:
        """Trainable vs total parameters of the current choice, from the engine (off the GUI
        thread: it imports torch); a newer request makes an older answer stale."""
        if not self.description or self.problem():
            return
        self.scope.show_counts(None)
        values = self.scope.values()
        self._count_task = run_task(engine.parameter_counts, self.model_name, self.task(), values)
        self._count_task.sig_succeeded.connect(self._on_count_task_succeeded)
        self._count_task.sig_failed.connect(self._on_count_task_failed)

    def _show_task(self) -> None:
        self.task_hint.setText(str(self.task_info().get("description", "")))
        self._show_support()

    def _show_support(self) -> None:
        problem = self.problem()
        if problem:
            self.support_message.show_message(problem)
        else:
            self.support_message.clear_message()

    def _show_description(self, description: dict[str, Any]) -> None:
        for key, label in self.value_labels.items():
            value = description.get(key)
            if key == "parameters" and value:
                text = f"{int(value):,}"
            elif key == "size_bytes" and value:
                text = format_bytes(int(value))
            elif key == "tasks":
                text = ", ".join(self.task_title(name) for name in value or []) or "none"
            else:
                text = MESSAGES["none"] if value in (None, "", 0) else str(value)
            label.setText(text)
        if not description.get("parameters"):
            self.value_labels["parameters"].setToolTip("Unknown for .bin checkpoints")


if __name__ == "__main__":
    from workbench.gui.standalone import run_alone

    raise SystemExit(run_alone(ModelPanel))
