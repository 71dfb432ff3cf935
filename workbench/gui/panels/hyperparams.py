"""Hyperparameters: the numbers of a run, with RunConfig's defaults and its validation.

The learning rate shows the rate the run will use by default: the task's, or the task's
LoRA rate when LoRA is on (the Model page says, `set_lora`). While it shows that default the
run gets None ("the task's default", as the CLI without --lr), so the engine's choice
applies; a rate the user typed is sent as typed.
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

import workbench.config
from workbench.config import LORA_LEARNING_RATE, PRECISIONS, RunConfig
from workbench.engine.training import launch
from workbench.errors import UserError
from workbench.gui import settings as ui_settings
from workbench.gui.metric_format import format_scientific
from workbench.gui.widgets.inline_message import InlineMessageWidget

MESSAGES = {
    "bad_number": "{title} must be a number like 1e-4 or 5e-5, got {text!r}.",
    "run_active": "A run is in progress: changes apply to the next run.",
    "eval_epoch": "end of each epoch",
    "all_gpus": "Use all {count} GPUs",
    "all_gpus_hint": (
        "One training process per GPU ({devices}) through torchrun; the batch size is the "
        "whole step's, shared among them."
    ),
    "hints": {
        "epochs": "Passes over the training data.",
        "batch_size": "Examples per step; lower it if memory runs out.",
        "learning_rate": "AdamW step size, e.g. 1.25e-4 or 5e-5.",
        "learning_rate_default": "AdamW step size; default {rate}{lora}.",
        "lora_default": " with LoRA ({rate} without)",
        "lora_other": " ({rate} with LoRA)",
        "warmup_ratio": "Share of the steps in which the learning rate rises from 0.",
        "weight_decay": "Decoupled weight decay of AdamW.",
        "dropout": "0 by default; try 0.1 if a long run overfits.",
        "max_length": "Longer texts are cut to this many tokens.",
        "eval_every_steps": "Also evaluate during an epoch, every N steps.",
        "eval_split": "Held out for evaluation when no evaluation file is given.",
        "seed": "Same seed, same data and settings: same result.",
        "precision": "auto uses bf16 only where it is fast, fp32 elsewhere.",
    },
    "precision": {
        "auto": "auto",
        "fp32": "fp32 (full)",
        "bf16": "bf16 (mixed)",
        "fp16": "fp16 (mixed)",
    },
}

TITLES = {
    "epochs": "Epochs",
    "batch_size": "Batch size",
    "learning_rate": "Learning rate",
    "warmup_ratio": "Warm-up ratio",
    "weight_decay": "Weight decay",
    "dropout": "Dropout",
    "max_length": "Max. length (tokens)",
    "eval_every_steps": "Evaluate every",
    "eval_split": "Validation share",
    "seed": "Seed",
    "precision": "Precision",
}

GROUPS = (
    (
        "Optimisation",
        ("epochs", "batch_size", "learning_rate", "warmup_ratio", "weight_decay", "dropout"),
    ),
    ("Input", ("max_length",)),
    ("Evaluation", ("eval_every_steps", "eval_split")),
    ("Reproducibility and speed", ("seed", "precision")),
)
NAMES = tuple(name for _, names in GROUPS for name in names)


def default_values() -> dict[str, Any]:
    """RunConfig's own defaults for the fields this panel shows (a field whose default is
    None, "the task's choice", shows the general default the config module names)."""
    general = getattr(workbench.config, "GENERAL_DEFAULTS", {})
    defaults = {f.name: f.default for f in dataclasses.fields(RunConfig)}
    return {name: general.get(name) if defaults[name] is None else defaults[name] for name in NAMES}


def _spin(low: int, high: int, step: int = 1) -> QSpinBox:
    box = QSpinBox()
    box.setRange(low, high)
    box.setSingleStep(step)
    box.setGroupSeparatorShown(True)
    return box


class _TrimmedDoubleSpinBox(QDoubleSpinBox):
    """Shows 0.1 and 0.01 rather than 0.100 and 0.0100 (the precision stays `decimals`)."""

    def textFromValue(self, value: float) -> str:
        text = f"{value:.{self.decimals()}f}"
        return text.rstrip("0").rstrip(".") if "." in text else text


def _double(low: float, high: float, step: float, decimals: int) -> QDoubleSpinBox:
    box = _TrimmedDoubleSpinBox()
    box.setRange(low, high)
    box.setSingleStep(step)
    box.setDecimals(decimals)
    return box


class HyperparamsPanel(QWidget):
    sig_values_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._loading = False
        self._run_active = False
        self._lora = False
        self._task_defaults: dict[str, Any] | None = None
        self._build()
        self.set_values(self._saved_values())
        self._show_rate_hint()
        self.validate()

    def _build(self) -> None:
        self.editors: dict[str, QWidget] = {
            "epochs": _spin(1, 1000),
            "batch_size": _spin(1, 4096),
            "learning_rate": QLineEdit(),
            "warmup_ratio": _double(0.0, 1.0, 0.05, 3),
            "weight_decay": _double(0.0, 10.0, 0.01, 4),
            "dropout": _double(0.0, 0.9, 0.05, 2),
            "max_length": _spin(8, 8192, 16),
            "eval_every_steps": _spin(0, 10_000_000, 50),
            "eval_split": _double(0.01, 0.9, 0.05, 2),
            "seed": _spin(0, 2**31 - 1),
            "precision": QComboBox(),
        }
        self.editors["eval_every_steps"].setSpecialValueText(MESSAGES["eval_epoch"])
        self.editors["eval_every_steps"].setSuffix(" steps")
        for precision in PRECISIONS:
            self.editors["precision"].addItem(
                MESSAGES["precision"].get(precision, precision), precision
            )

        # Offered only where there is more than one CUDA GPU (counted without torch).
        self.gpu_count = launch.cuda_device_count()
        devices = ", ".join(f"cuda:{i}" for i in range(self.gpu_count))
        self.gpus_box = QCheckBox(MESSAGES["all_gpus"].format(count=self.gpu_count))
        self.gpus_box.setToolTip(MESSAGES["all_gpus_hint"].format(devices=devices))
        self.gpus_box.setVisible(self.gpu_count > 1)

        self.hint_labels: dict[str, QLabel] = {}
        columns = (QVBoxLayout(), QVBoxLayout())
        for index, (title, names) in enumerate(GROUPS):
            box = QGroupBox(title)
            form = QFormLayout(box)
            form.setVerticalSpacing(4)
            form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
            for name in names:
                editor = self.editors[name]
                editor.setMinimumWidth(120)
                editor.setMaximumWidth(220)
                editor.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
                editor.setToolTip(MESSAGES["hints"][name])
                hint = QLabel(MESSAGES["hints"][name])
                hint.setWordWrap(True)
                hint.setStyleSheet("color: palette(placeholder-text); font-size: 11px;")
                self.hint_labels[name] = hint
                form.addRow(f"{TITLES[name]}:", editor)
                form.addRow("", hint)
            if index == len(GROUPS) - 1 and self.gpu_count > 1:  # speed: all GPUs
                gpus_hint = QLabel(self.gpus_box.toolTip())
                gpus_hint.setWordWrap(True)
                gpus_hint.setStyleSheet("color: palette(placeholder-text); font-size: 11px;")
                form.addRow("", self.gpus_box)
                form.addRow("", gpus_hint)
            columns[0 if index == 0 else 1].addWidget(box)
        grid = QHBoxLayout()
        grid.setSpacing(16)
        for column in columns:
            column.addStretch(1)
            grid.addLayout(column, 1)

        self.reset_button = QPushButton("Reset to defaults")
        self.message = InlineMessageWidget()
        buttons = QHBoxLayout()
        buttons.addWidget(self.message, 1)
        buttons.addStretch(0)
        buttons.addWidget(self.reset_button)

        # The fields scroll when the window is too small for them; the run note stays on top.
        fields = QWidget()
        fields.setObjectName("hyperparamsFields")
        fields_layout = QVBoxLayout(fields)
        fields_layout.setContentsMargins(0, 0, 4, 0)
        fields_layout.addLayout(grid)
        fields_layout.addLayout(buttons)
        fields_layout.addStretch(1)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.scroll.setWidget(fields)
        self.scroll.setStyleSheet("QScrollArea, #hyperparamsFields { background: transparent; }")
        self.scroll.viewport().setAutoFillBackground(False)

        self.run_note = QLabel(MESSAGES["run_active"])
        self.run_note.setObjectName("runNote")
        self.run_note.setWordWrap(True)
        self.run_note.setStyleSheet(
            "#runNote { background: #e8f0fd; color: #1d3f7a; border: 1px solid #bcd0f2;"
            " border-radius: 4px; padding: 5px 8px; }"
        )
        self.run_note.setVisible(False)

        layout = QVBoxLayout(self)
        layout.addWidget(self.run_note)
        layout.addWidget(self.scroll, 1)

        self.reset_button.clicked.connect(self._on_reset_button_clicked)
        self.gpus_box.toggled.connect(self._on_editor_changed)
        for editor in self.editors.values():
            for signal_name in ("valueChanged", "textChanged", "currentIndexChanged"):
                if isinstance(editor, QLineEdit) and signal_name == "valueChanged":
                    continue
                signal = getattr(editor, signal_name, None)
                if signal is not None:
                    signal.connect(self._on_editor_changed)
                    break

    # ---- public API ---------------------------------------------------------------------
    def set_values(self, values: dict[str, Any]) -> None:
        self._loading = True
        for name, value in values.items():
            editor = self.editors.get(name)
            if editor is None:
                continue
            if isinstance(editor, QLineEdit):
                editor.setText(format_scientific(float(value)))
            elif isinstance(editor, QComboBox):
                index = editor.findData(value)
                editor.setCurrentIndex(max(index, 0))
            elif isinstance(editor, QSpinBox):
                editor.setValue(int(value))
            else:
                editor.setValue(float(value))
        self._loading = False
        self.validate()

    def values(self) -> dict[str, Any]:
        """The RunConfig fields this panel decides; UserError for a value that cannot work."""
        values: dict[str, Any] = {}
        for name, editor in self.editors.items():
            if isinstance(editor, QLineEdit):
                text = editor.text().strip()
                try:
                    values[name] = float(text)
                except ValueError:
                    raise UserError(
                        MESSAGES["bad_number"].format(title=TITLES[name], text=text)
                    ) from None
            elif isinstance(editor, QComboBox):
                values[name] = editor.currentData()
            else:
                values[name] = editor.value()
        try:
            RunConfig(**values)  # the same checks the CLI applies
        except UserError as exc:  # named as this page names them, not by their field
            text = str(exc)
            for name, title in TITLES.items():
                text = re.sub(rf"(?<![\w-]){name}(?!\w)", title, text)
            raise UserError(text) from None
        return values

    def config_values(self) -> dict[str, Any]:
        """`values()` for the RunConfig: a learning rate still at its default is None, so the
        run takes the engine's default for the task (and for LoRA)."""
        values = self.values()
        if self.is_default_rate(values["learning_rate"]):
            values["learning_rate"] = None
        return values

    def default_rate(self) -> float:
        """The learning rate a run uses when none is given (LoRA's when it is on)."""
        defaults = self._task_defaults or default_values()
        lora = defaults.get("lora_learning_rate", LORA_LEARNING_RATE)
        return float(lora if self._lora else defaults["learning_rate"])

    def is_default_rate(self, rate: float) -> bool:
        return math.isclose(float(rate), self.default_rate(), rel_tol=1e-9)

    def set_lora(self, on: bool) -> None:
        """LoRA on or off on the Model page: a rate still at its default follows it."""
        on = bool(on)
        if on == self._lora:
            return
        was_default = self._shows_default_rate()
        self._lora = on
        if was_default:
            self.set_values({"learning_rate": self.default_rate()})
        self._show_rate_hint()

    def processes(self) -> int:
        """Training processes for the next run: every GPU when "Use all N GPUs" is on."""
        return self.gpu_count if self.gpu_count > 1 and self.gpus_box.isChecked() else 1

    def validate(self) -> str | None:
        """Show the first problem inline and return it (None when all values work)."""
        try:
            values = self.values()
            problem = launch.batch_size_problem(int(values["batch_size"]), self.processes())
            if problem:
                raise UserError(problem)
        except UserError as exc:
            self.message.show_message(str(exc))
            return str(exc)
        self.message.clear_message()
        return None

    def reset(self) -> None:
        self.set_values({**default_values(), "learning_rate": self.default_rate()})
        self._save()

    def apply_task_defaults(self, defaults: dict[str, Any]) -> None:
        """Show a task's own epochs, learning rate, batch size and max length (from
        `engine.task_defaults`). A value the user moved off the previous task's default is
        theirs and stays; the rest follow the task. Not saved: only the user's edits are."""
        previous = self._task_defaults or default_values()
        was_default = self._shows_default_rate()
        changed: dict[str, Any] = {}
        for name in ("epochs", "learning_rate", "batch_size", "max_length"):
            if name not in defaults or previous.get(name) is None or name == "learning_rate":
                continue
            editor = self.editors[name]
            try:
                shown = float(editor.text()) if isinstance(editor, QLineEdit) else editor.value()
            except ValueError:
                continue  # an unparsable entry is the user's; validate() reports it
            if math.isclose(shown, float(previous[name]), rel_tol=1e-9):
                changed[name] = defaults[name]
        self._task_defaults = {**previous, **defaults}
        if was_default:
            changed["learning_rate"] = self.default_rate()
        if changed:
            self.set_values(changed)
        self._show_rate_hint()

    @Slot(bool)
    def set_run_active(self, active: bool) -> None:
        """While a run goes on, say that edits apply to the next run (they stay editable)."""
        self._run_active = active
        self.run_note.setVisible(active)

    def is_run_active(self) -> bool:
        return self._run_active

    def _shows_default_rate(self) -> bool:
        try:
            return self.is_default_rate(float(self.editors["learning_rate"].text()))
        except ValueError:
            return False  # an unparsable entry is the user's; validate() reports it

    def _show_rate_hint(self) -> None:
        defaults = self._task_defaults or default_values()
        full = float(defaults["learning_rate"])
        lora = float(defaults.get("lora_learning_rate", LORA_LEARNING_RATE))
        rate, other = (lora, full) if self._lora else (full, lora)
        key = "lora_default" if self._lora else "lora_other"
        extra = MESSAGES["hints"][key].format(rate=format_scientific(other))
        self.hint_labels["learning_rate"].setText(
            MESSAGES["hints"]["learning_rate_default"].format(
                rate=format_scientific(rate), lora=extra
            )
        )

    # ---- slots --------------------------------------------------------------------------
    @Slot()
    def _on_reset_button_clicked(self) -> None:
        self.reset()

    @Slot()
    def _on_editor_changed(self) -> None:
        if self._loading:
            return
        if self.validate() is None:
            self._save()
        self.sig_values_changed.emit()

    # ---- settings -----------------------------------------------------------------------
    def _saved_values(self) -> dict[str, Any]:
        values = default_values()
        store = ui_settings.settings()
        store.beginGroup(ui_settings.HYPERPARAMS_GROUP)
        for name, default in values.items():
            if store.contains(name):
                values[name] = _coerce(store.value(name), default)
        store.endGroup()
        return values

    def _save(self) -> None:
        values = self.values()
        store = ui_settings.settings()
        store.beginGroup(ui_settings.HYPERPARAMS_GROUP)
        for name, value in values.items():
            if name == "learning_rate" and self.is_default_rate(value):
                store.remove(name)  # the default: it follows the task and LoRA next time
            else:
                store.setValue(name, value)
        store.endGroup()


def _coerce(value: Any, default: Any) -> Any:
    """QSettings may give strings back (INI files); keep the default's type."""
    try:
        return type(default)(value)
    except (TypeError, ValueError):
        return default


if __name__ == "__main__":
    from workbench.gui.standalone import run_alone

    raise SystemExit(run_alone(HyperparamsPanel))
