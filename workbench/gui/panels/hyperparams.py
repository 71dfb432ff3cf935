"""Hyperparameters: the numbers of a run, with RunConfig's defaults and its validation."""

from __future__ import annotations

import dataclasses
from typing import Any

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from workbench.config import PRECISIONS, RunConfig
from workbench.errors import UserError
from workbench.gui import settings as ui_settings
from workbench.gui.widgets.inline_message import InlineMessageWidget

MESSAGES = {
    "bad_number": "{title} must be a number like 1e-4 or 0.0001, got {text!r}.",
    "eval_epoch": "end of each epoch",
    "hints": {
        "epochs": "Passes over the training data.",
        "batch_size": "Examples per step; lower it if memory runs out.",
        "learning_rate": "AdamW step size, e.g. 1.25e-4 or 5e-5.",
        "warmup_ratio": "Share of the steps in which the learning rate rises from 0.",
        "weight_decay": "Decoupled weight decay of AdamW.",
        "dropout": "0 for one epoch; about 0.1 when training several.",
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
    ("Optimisation", ("epochs", "batch_size", "learning_rate", "warmup_ratio", "weight_decay", "dropout")),
    ("Input", ("max_length",)),
    ("Evaluation", ("eval_every_steps", "eval_split")),
    ("Reproducibility and speed", ("seed", "precision")),
)
NAMES = tuple(name for _, names in GROUPS for name in names)


def default_values() -> dict[str, Any]:
    """RunConfig's own defaults for the fields this panel shows."""
    defaults = {f.name: f.default for f in dataclasses.fields(RunConfig)}
    return {name: defaults[name] for name in NAMES}


def _spin(low: int, high: int, step: int = 1) -> QSpinBox:
    box = QSpinBox()
    box.setRange(low, high)
    box.setSingleStep(step)
    box.setGroupSeparatorShown(True)
    return box


def _double(low: float, high: float, step: float, decimals: int) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(low, high)
    box.setSingleStep(step)
    box.setDecimals(decimals)
    return box


class HyperparamsPanel(QWidget):
    sig_values_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._loading = False
        self._build()
        self.set_values(self._saved_values())
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

        columns = (QVBoxLayout(), QVBoxLayout())
        for index, (title, names) in enumerate(GROUPS):
            box = QGroupBox(title)
            form = QFormLayout(box)
            form.setVerticalSpacing(4)
            for name in names:
                editor = self.editors[name]
                editor.setFixedWidth(200)
                editor.setToolTip(MESSAGES["hints"][name])
                hint = QLabel(MESSAGES["hints"][name])
                hint.setWordWrap(True)
                hint.setStyleSheet("color: palette(placeholder-text); font-size: 11px;")
                form.addRow(f"{TITLES[name]}:", editor)
                form.addRow("", hint)
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

        layout = QVBoxLayout(self)
        layout.addLayout(grid)
        layout.addLayout(buttons)
        layout.addStretch(1)

        self.reset_button.clicked.connect(self._on_reset_button_clicked)
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
                editor.setText(f"{float(value):g}")
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
        RunConfig(**values)  # the same checks the CLI applies
        return values

    config_values = values

    def validate(self) -> str | None:
        """Show the first problem inline and return it (None when all values work)."""
        try:
            self.values()
        except UserError as exc:
            self.message.show_message(str(exc))
            return str(exc)
        self.message.clear_message()
        return None

    def reset(self) -> None:
        self.set_values(default_values())
        self._save()

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
