from __future__ import annotations

from pathlib import Path

from gui_fakes import fake_load_predictor
from PySide6.QtCore import Qt

from workbench.errors import UserError
from workbench.gui.panels.export import ExportPanel
from workbench.gui.panels.playground import PlaygroundPanel


def make_playground(qtbot) -> PlaygroundPanel:
    panel = PlaygroundPanel(fake_load_predictor)
    qtbot.addWidget(panel)
    return panel


def test_playground_is_disabled_until_a_model_is_loaded(qtbot):
    panel = make_playground(qtbot)
    assert not panel.predict_button.isEnabled() and not panel.text_edit.isEnabled()
    assert "Train a model first" in panel.status_label.text()
    with qtbot.waitSignal(panel.service.sig_loaded, timeout=10_000):
        panel.set_model("/runs/run-1")
    assert panel.is_ready() and panel.predict_button.isEnabled()
    panel.shutdown()


def test_playground_predicts_unicode_text_and_sorts_the_bars(qtbot):
    panel = make_playground(qtbot)
    with qtbot.waitSignal(panel.service.sig_loaded, timeout=10_000):
        panel.set_model("/runs/run-1")
    panel.text_edit.setPlainText("这个产品很好")
    with qtbot.waitSignal(panel.sig_prediction_shown, timeout=10_000) as blocker:
        qtbot.mouseClick(panel.predict_button, Qt.MouseButton.LeftButton)
    result = blocker.args[0]
    assert result["label"] == "positive"  # the fake saw the Chinese text intact
    assert panel.label_value.text() == "positive"
    assert [label for label, _ in panel.bars.shown] == ["positive", "negative"]
    assert abs(sum(result["scores"].values()) - 1.0) < 1e-9
    panel.shutdown()


def test_playground_ctrl_enter_predicts(qtbot):
    panel = make_playground(qtbot)
    panel.show()
    with qtbot.waitSignal(panel.service.sig_loaded, timeout=10_000):
        panel.set_model("/runs/run-1")
    panel.text_edit.setFocus()
    qtbot.keyClicks(panel.text_edit, "I love it")
    with qtbot.waitSignal(panel.sig_prediction_shown, timeout=10_000):
        qtbot.keyClick(panel.text_edit, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert panel.text_edit.toPlainText() == "I love it"  # the shortcut did not type a newline
    panel.shutdown()


def test_playground_load_failure_is_shown(qtbot):
    panel = make_playground(qtbot)
    with qtbot.waitSignal(panel.service.sig_failed, timeout=10_000):
        panel.set_model("/runs/missing")
    assert panel.message.kind == "error" and "no trained model" in panel.message.text()
    assert not panel.predict_button.isEnabled()
    panel.shutdown()


def make_export(qtbot, export_fn) -> ExportPanel:
    panel = ExportPanel(export_fn=export_fn)
    qtbot.addWidget(panel)
    qtbot.waitUntil(lambda: panel.format_combo.count() > 0, timeout=30_000)  # read off-thread
    return panel


def test_export_writes_off_the_gui_thread_and_reports(qtbot, tmp_path):
    calls = []

    def fake_export(run_dir, output, format):
        calls.append((run_dir, output, format))
        Path(output).mkdir(parents=True)
        return Path(output)

    panel = make_export(qtbot, fake_export)
    assert not panel.export_button.isEnabled()
    panel.set_run(str(tmp_path / "run-1"))
    assert panel.export_format() == "hf"
    assert panel.folder_edit.text().endswith("run-1-hf")
    out = tmp_path / "exported"
    panel.folder_edit.setText(str(out))
    with qtbot.waitSignal(panel.sig_exported, timeout=10_000):
        qtbot.mouseClick(panel.export_button, Qt.MouseButton.LeftButton)
    assert calls == [(str(tmp_path / "run-1"), str(out), "hf")]
    assert panel.message.kind == "success" and str(out) in panel.message.text()


def test_export_failure_is_shown(qtbot, tmp_path):
    def failing_export(run_dir, output, format):
        raise UserError(f"{run_dir} has no model; train first")

    panel = make_export(qtbot, failing_export)
    panel.set_run("/runs/run-2")
    with qtbot.waitSignal(panel.sig_export_failed, timeout=10_000):
        qtbot.mouseClick(panel.export_button, Qt.MouseButton.LeftButton)
    assert panel.message.kind == "error" and "has no model" in panel.message.text()
    assert panel.export_button.isEnabled()
