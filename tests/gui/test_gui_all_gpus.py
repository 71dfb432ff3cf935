""" "Use all N GPUs": offered only with more than one CUDA GPU (the count is faked here), it
sends the next run through torchrun (a fake of `all_gpus_train_fn` here) and names the
devices; the batch size must divide among them."""

from __future__ import annotations

import pytest
from gui_fakes import FakeTrain, fake_load_predictor
from PySide6.QtCore import Qt

from workbench.engine.training import launch
from workbench.gui import main_window as main_window_module
from workbench.gui import worker
from workbench.gui.main_window import MainWindow
from workbench.gui.panels.hyperparams import HyperparamsPanel


def _panel(qtbot, monkeypatch, gpus: int) -> HyperparamsPanel:
    monkeypatch.setattr(launch, "cuda_device_count", lambda: gpus)
    panel = HyperparamsPanel()
    qtbot.addWidget(panel)
    panel.show()
    return panel


@pytest.mark.parametrize("gpus", [0, 1])
def test_one_gpu_or_none_offers_nothing(qtbot, monkeypatch, gpus):
    panel = _panel(qtbot, monkeypatch, gpus)
    assert not panel.gpus_box.isVisible()
    panel.gpus_box.setChecked(True)  # even if set by hand: one process
    assert panel.processes() == 1


def test_several_gpus_are_offered_and_named(qtbot, monkeypatch):
    panel = _panel(qtbot, monkeypatch, 4)
    assert panel.gpus_box.isVisible() and panel.gpus_box.text() == "Use all 4 GPUs"
    assert "cuda:0, cuda:1, cuda:2, cuda:3" in panel.gpus_box.toolTip()
    assert not panel.gpus_box.isChecked() and panel.processes() == 1  # off by default
    panel.editors["batch_size"].setValue(30)
    assert panel.validate() is None
    panel.gpus_box.setChecked(True)
    assert panel.processes() == 4
    assert "multiple of 4" in panel.message.text()  # 30 does not divide among 4
    panel.editors["batch_size"].setValue(32)
    assert panel.validate() is None


def test_the_run_goes_to_torchrun_only_when_asked(qtbot, monkeypatch, small_csv, tmp_path):
    monkeypatch.setattr(launch, "cuda_device_count", lambda: 2)
    asked: list[int] = []
    on_gpus = FakeTrain(steps=2, run_dir=str(tmp_path / "gpus"))

    def fake_all_gpus(processes: int):
        asked.append(processes)
        return on_gpus

    monkeypatch.setattr(main_window_module, "all_gpus_train_fn", fake_all_gpus)
    local = FakeTrain(steps=2, run_dir=str(tmp_path / "local"))
    window = MainWindow(data_path=small_csv, train_fn=local, load_predictor_fn=fake_load_predictor)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: window.data_panel.frame() is not None, timeout=10_000)
    button = window.train_panel.train_button
    with qtbot.waitSignal(window.runner.sig_run_finished, timeout=10_000):
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert len(local.configs) == 1 and asked == []
    window.hyperparams_panel.gpus_box.setChecked(True)
    with qtbot.waitSignal(window.runner.sig_run_finished, timeout=10_000):
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert asked == [2] and len(on_gpus.configs) == 1 and len(local.configs) == 1


def test_the_all_gpus_function_is_the_launcher():
    fn = worker.all_gpus_train_fn(3)
    assert fn.func is launch.train_on_gpus and fn.keywords == {"processes": 3}
