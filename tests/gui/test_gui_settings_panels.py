"""Model and Hyperparameters panels."""

from __future__ import annotations

import dataclasses

import pytest
from PySide6.QtCore import Qt

import workbench.config
from workbench.config import RunConfig
from workbench.errors import UserError
from workbench.gui.panels.hyperparams import HyperparamsPanel, default_values
from workbench.gui.panels.model import ModelPanel


def test_hyperparams_defaults_are_runconfig_defaults(qtbot):
    panel = HyperparamsPanel()
    qtbot.addWidget(panel)
    general = getattr(workbench.config, "GENERAL_DEFAULTS", {})  # for defaults of None
    defaults = {
        f.name: general.get(f.name) if f.default is None else f.default
        for f in dataclasses.fields(RunConfig)
    }
    values = panel.values()
    assert values == {name: defaults[name] for name in values}
    assert values == default_values()


def test_hyperparams_bad_value_is_rejected_with_a_message(qtbot):
    panel = HyperparamsPanel()
    qtbot.addWidget(panel)
    lr = panel.editors["learning_rate"]
    lr.clear()
    qtbot.keyClicks(lr, "abc")
    assert panel.message.kind == "error"
    assert "Learning rate must be a number" in panel.message.text()
    with pytest.raises(UserError):
        panel.values()
    lr.setText("0")
    assert "Learning rate must be greater than 0" in panel.message.text()  # the page's name
    lr.setText("5e-5")
    assert panel.message.isHidden()
    assert panel.values()["learning_rate"] == 5e-5


def test_hyperparams_are_remembered_and_reset(qtbot):
    first = HyperparamsPanel()
    qtbot.addWidget(first)
    first.editors["epochs"].setValue(3)
    first.editors["precision"].setCurrentIndex(first.editors["precision"].findData("fp32"))
    second = HyperparamsPanel()
    qtbot.addWidget(second)
    assert second.values()["epochs"] == 3 and second.values()["precision"] == "fp32"
    qtbot.mouseClick(second.reset_button, Qt.MouseButton.LeftButton)
    assert second.values() == default_values()
    third = HyperparamsPanel()
    qtbot.addWidget(third)
    assert third.values() == default_values()


def test_model_panel_describes_the_default(qtbot):
    panel = ModelPanel()
    qtbot.addWidget(panel)
    qtbot.waitUntil(lambda: bool(panel.description), timeout=30_000)  # read off the GUI thread
    assert panel.config_values() == {"model": "default", "task": "text-classification"}
    assert "MiniLM" in panel.value_labels["name"].text()
    assert panel.value_labels["layers"].text() == "6"
    assert panel.task_combo.currentText() == "Text classification"


def test_model_panel_rejects_a_folder_that_is_not_a_model(qtbot, tmp_path, monkeypatch):
    monkeypatch.setattr(ModelPanel, "choose_folder", staticmethod(lambda *a: str(tmp_path)))
    panel = ModelPanel()
    qtbot.addWidget(panel)
    with qtbot.waitSignal(panel.sig_model_failed, timeout=30_000):
        qtbot.mouseClick(panel.choose_button, Qt.MouseButton.LeftButton)
    assert panel.message.kind == "error"
    assert "config.json" in panel.message.text()
    assert panel.config_values()["model"] == "default"  # the last good choice stays


def test_model_panel_accepts_a_model_folder(qtbot, monkeypatch):
    from workbench import engine

    folder = str(engine.resolve_model("default"))
    monkeypatch.setattr(ModelPanel, "choose_folder", staticmethod(lambda *a: folder))
    panel = ModelPanel()
    qtbot.addWidget(panel)
    with qtbot.waitSignal(panel.sig_model_changed):
        qtbot.mouseClick(panel.choose_button, Qt.MouseButton.LeftButton)
    assert panel.config_values()["model"] == folder
    assert panel.message.isHidden()
