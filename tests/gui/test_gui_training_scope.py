"""The Model page's "What trains" controls: all weights / head only / LoRA, the counts the
engine computes for them (no weights read), and the RunConfig fields they give."""

from __future__ import annotations

from PySide6.QtCore import Qt

import workbench.engine.peft.apply  # noqa: F401  torch imported here, not in the first count
from workbench.config import RunConfig
from workbench.gui.panels.model import ModelPanel

WAIT = 180_000  # each count builds the model on the meta device (seconds; more on a busy CPU)


def counts_text(panel: ModelPanel) -> str:
    return panel.scope.counts_label.text()


def test_the_choice_shows_its_counts_and_feeds_the_run_config(qtbot):
    panel = ModelPanel()
    qtbot.addWidget(panel)
    panel.show()
    qtbot.waitUntil(lambda: counts_text(panel).startswith("Trainable: "), timeout=WAIT)
    # all weights of MiniLM with a new 2-label head (its pooler included)
    assert counts_text(panel) == "Trainable: 22,713,986 of 22,713,986 parameters (100 %)"
    scope = panel.scope
    assert scope.freeze_spin.maximum() == 6  # the bundled model's layers
    assert scope.freeze_spin.isVisible() and not scope.rank_spin.isVisible()
    assert scope.values() == {}  # full fine-tuning: RunConfig's defaults

    scope.mode_combo.setCurrentIndex(scope.mode_combo.findData("lora"))
    assert scope.rank_spin.isVisible() and not scope.freeze_spin.isVisible()
    scope.rank_spin.setValue(4)
    # 6 layers x (query, value) x rank 4 x (384 + 384), plus the 384 x 2 + 2 classifier
    qtbot.waitUntil(lambda: counts_text(panel).startswith("Trainable: 37,634 of "), timeout=WAIT)
    scope.targets_combo.setCurrentIndex(scope.targets_combo.findData("all"))
    qtbot.waitUntil(lambda: not counts_text(panel).startswith("Trainable: 37,634"), timeout=WAIT)
    qtbot.waitUntil(lambda: counts_text(panel).startswith("Trainable: "), timeout=WAIT)
    values = panel.config_values()
    assert values["lora_rank"] == 4 and values["lora_targets"] == "all"
    config = RunConfig.from_dict({**values, "data": "x.csv"})
    assert config.lora_rank == 4 and not config.head_only

    scope.mode_combo.setCurrentIndex(scope.mode_combo.findData("head"))
    qtbot.waitUntil(lambda: counts_text(panel).startswith("Trainable: 770 of "), timeout=WAIT)
    assert panel.config_values()["head_only"] is True
    assert "lora_rank" not in panel.config_values()  # RunConfig's default: off

    scope.mode_combo.setCurrentIndex(scope.mode_combo.findData("all"))
    scope.freeze_spin.setValue(6)
    qtbot.mouseClick(scope.embeddings_check, Qt.MouseButton.LeftButton)
    # the pooler (384 x 384 + 384) and the classifier
    qtbot.waitUntil(lambda: counts_text(panel).startswith("Trainable: 148,610 of "), timeout=WAIT)
    values = panel.config_values()
    assert (values["freeze_layers"], values["freeze_embeddings"]) == (6, True)
    RunConfig.from_dict({**values, "data": "x.csv"})  # a valid config
