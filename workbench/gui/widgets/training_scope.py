"""What a run trains: all weights (optionally freezing the embeddings or the bottom layers),
the head only, or LoRA of a chosen rank — and how many parameters that is.

The widget only holds the choice (`values()` gives RunConfig fields) and shows counts it is
given (`show_counts`); the Model page asks the engine for them off the GUI thread.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGridLayout,
    QGroupBox,
    QLabel,
    QSizePolicy,
    QSpinBox,
    QWidget,
)

from workbench.config import LORA_LEARNING_RATE, RunConfig
from workbench.gui.metric_format import format_scientific

MESSAGES = {
    "title": "What trains",
    "train": "Train:",
    "modes": {
        "all": "All weights",
        "head": "Head only",
        "lora": "LoRA",
    },
    "mode_tips": {
        "all": "Full fine-tuning: every weight trains (optionally freeze the bottom layers).",
        "head": "Only the task head's new weights train: fast, a linear probe of the model.",
        "lora": "Low-rank updates of the chosen layers and the new head train; the model is "
        "saved with the update merged in, and the adapter alone for export as PEFT.",
    },
    "rank": "rank",
    "targets": {
        "default": "query/value",
        "attention": "all attention",
        "all": "attention + MLP",
    },
    "targets_tip": "The linear layers LoRA adapts.",
    "freeze": "Freeze bottom",
    "layers": " layers",
    "embeddings": "Freeze embeddings",
    "checkpointing": "Gradient checkpointing",
    "checkpointing_tip": "Recompute activations in backward: less memory, about 30 % more time.",
    "counts": "Trainable: {trainable:,} of {total:,} parameters ({percent})",
    "counting": "Trainable parameters: counting…",
    "lora_hint": "LoRA learns with a larger rate than full fine-tuning: unless you set one, "
    "the run uses {rate} (chosen on validation data; the Hyperparameters page shows it).",
    "counts_tip": "For a new 2-output head; computed from the model's shapes, no weights read.",
}


LORA_RATE_HINT = format_scientific(LORA_LEARNING_RATE)  # bench/lora_lr.py chose it
_DEFAULTS = {f.name: f.default for f in dataclasses.fields(RunConfig)}


def _percent(trainable: int, total: int) -> str:
    share = 100.0 * trainable / total if total else 0.0
    return f"{share:.3g} %"


class TrainingScopeWidget(QGroupBox):
    sig_values_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(MESSAGES["title"], parent)
        self.mode_combo = QComboBox()
        for index, (key, title) in enumerate(MESSAGES["modes"].items()):
            self.mode_combo.addItem(title, key)
            self.mode_combo.setItemData(
                index, MESSAGES["mode_tips"][key], Qt.ItemDataRole.ToolTipRole
            )
        self.rank_label = QLabel(MESSAGES["rank"])
        self.rank_spin = QSpinBox()
        self.rank_spin.setRange(1, 256)
        self.rank_spin.setValue(8)
        self.targets_combo = QComboBox()
        for key, title in MESSAGES["targets"].items():
            self.targets_combo.addItem(title, key)
        self.targets_combo.setToolTip(MESSAGES["targets_tip"])
        self.freeze_label = QLabel(MESSAGES["freeze"])
        self.freeze_spin = QSpinBox()
        self.freeze_spin.setRange(0, 0)
        self.freeze_spin.setSuffix(MESSAGES["layers"])
        self.embeddings_check = QCheckBox(MESSAGES["embeddings"])
        self.checkpointing_check = QCheckBox(MESSAGES["checkpointing"])
        self.checkpointing_check.setToolTip(MESSAGES["checkpointing_tip"])
        self.counts_label = QLabel(MESSAGES["counting"])
        self.counts_label.setToolTip(MESSAGES["counts_tip"])
        self.counts_label.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.lora_hint = QLabel(MESSAGES["lora_hint"].format(rate=LORA_RATE_HINT))
        self.lora_hint.setWordWrap(True)
        self.lora_hint.setStyleSheet("color: palette(placeholder-text);")

        grid = QGridLayout(self)
        grid.setHorizontalSpacing(8)
        grid.setVerticalSpacing(4)
        grid.addWidget(QLabel(MESSAGES["train"]), 0, 0)
        grid.addWidget(self.mode_combo, 0, 1)
        grid.addWidget(self.rank_label, 0, 2)
        grid.addWidget(self.rank_spin, 0, 3)
        grid.addWidget(self.targets_combo, 0, 4)
        grid.addWidget(self.freeze_label, 0, 2)
        grid.addWidget(self.freeze_spin, 0, 3)
        grid.addWidget(self.embeddings_check, 0, 4)
        grid.addWidget(self.checkpointing_check, 0, 5)
        grid.addWidget(self.counts_label, 1, 0, 1, 7)
        grid.addWidget(self.lora_hint, 2, 0, 1, 7)
        grid.setColumnStretch(6, 1)

        self.mode_combo.currentIndexChanged.connect(self._on_mode_combo_changed)
        for spin in (self.rank_spin, self.freeze_spin):
            spin.valueChanged.connect(self._on_control_changed)
        self.targets_combo.currentIndexChanged.connect(self._on_control_changed)
        for check in (self.embeddings_check, self.checkpointing_check):
            check.toggled.connect(self._on_control_changed)
        self._show_mode()

    # ---- public API ---------------------------------------------------------------------
    def mode(self) -> str:
        return str(self.mode_combo.currentData())

    def set_mode(self, mode: str) -> None:
        self.mode_combo.setCurrentIndex(self.mode_combo.findData(mode))

    def set_layer_count(self, layers: int) -> None:
        """The model's layers: the most that can be frozen."""
        self.freeze_spin.setMaximum(max(0, int(layers or 0)))

    def values(self) -> dict[str, Any]:
        """RunConfig fields of the choice that differ from RunConfig's defaults (full
        fine-tuning of all weights gives {})."""
        mode = self.mode()
        values: dict[str, Any] = {
            "gradient_checkpointing": self.checkpointing_check.isChecked(),
            "head_only": mode == "head",
            "lora_rank": self.rank_spin.value() if mode == "lora" else 0,
            "lora_targets": str(self.targets_combo.currentData()) if mode == "lora" else "default",
            "freeze_layers": self.freeze_spin.value() if mode == "all" else 0,
            "freeze_embeddings": mode == "all" and self.embeddings_check.isChecked(),
        }
        return {k: v for k, v in values.items() if v != _DEFAULTS[k]}

    def show_counts(self, counts: dict[str, int] | None, problem: str | None = None) -> None:
        if problem:
            self.counts_label.setText(problem)
        elif counts is None:
            self.counts_label.setText(MESSAGES["counting"])
        else:
            trainable, total = int(counts["trainable"]), int(counts["total"])
            self.counts_label.setText(
                MESSAGES["counts"].format(
                    trainable=trainable, total=total, percent=_percent(trainable, total)
                )
            )

    # ---- slots --------------------------------------------------------------------------
    @Slot()
    def _on_mode_combo_changed(self) -> None:
        self._show_mode()
        self.sig_values_changed.emit()

    @Slot()
    def _on_control_changed(self) -> None:
        self.sig_values_changed.emit()

    def _show_mode(self) -> None:
        mode = self.mode()
        for widget in (self.rank_label, self.rank_spin, self.targets_combo, self.lora_hint):
            widget.setVisible(mode == "lora")
        for widget in (self.freeze_label, self.freeze_spin, self.embeddings_check):
            widget.setVisible(mode == "all")
        self.mode_combo.setToolTip(MESSAGES["mode_tips"][mode])
