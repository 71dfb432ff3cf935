"""The whole window on the real engine: train, stop, evaluate, predict, export, reload."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from workbench.gui.main_window import MainWindow
from workbench.gui.panels.export import ExportPanel
from workbench.gui.panels.train import TrainPanel
from workbench.resources import sample_data_path

TEXT = "这个耳机音质很好 — the sound is great and the battery lasts all day."


@pytest.fixture
def data_file(small_csv):
    sample = sample_data_path()
    return sample if sample.exists() else small_csv


def test_train_stop_evaluate_predict_export(qtbot, tmp_path, data_file, monkeypatch):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    errors: list = []
    monkeypatch.setattr(TrainPanel, "show_error", staticmethod(lambda *args: errors.append(args)))
    monkeypatch.setattr(ExportPanel, "choose_folder", staticmethod(lambda *a: str(tmp_path)))

    window = MainWindow(data_path=data_file)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: window.data_panel.frame() is not None, timeout=30_000)
    assert window.data_panel.problem() is None
    window.hyperparams_panel.set_values(
        {
            "epochs": 20,
            "batch_size": 8,
            "max_length": 32,
            "eval_every_steps": 5,
            "precision": "fp32",
        }
    )

    # Train, wait for the curve, stop.
    window.show_page("train")
    train = window.train_panel
    qtbot.mouseClick(train.train_button, Qt.MouseButton.LeftButton)
    assert window.runner.is_running() and not train.train_button.isEnabled()
    qtbot.waitUntil(lambda: train.plot.drawn_counts()["train_loss"] >= 1, timeout=120_000)
    qtbot.waitUntil(lambda: train.plot.drawn_counts()["eval_accuracy"] >= 1, timeout=120_000)
    with qtbot.waitSignal(window.runner.sig_run_finished, timeout=120_000) as finished:
        qtbot.mouseClick(train.stop_button, Qt.MouseButton.LeftButton)
    event = finished.args[0]
    assert event.status == "stopped", event.error
    assert errors == []
    assert train.train_button.isEnabled() and not train.stop_button.isEnabled()
    assert event.run_dir and str(tmp_path / "home") in event.run_dir  # WORKBENCH_HOME is used

    # Evaluate shows the final metrics (or, without them, the last evaluation during training).
    shown_metrics = window.evaluate_panel.metrics
    assert "accuracy" in shown_metrics, "no evaluation reached the Evaluate panel"
    if "accuracy" in event.metrics:
        assert shown_metrics["accuracy"] == event.metrics["accuracy"]
    accuracy = shown_metrics["accuracy"]
    assert window.evaluate_panel.card_values["accuracy"].text() == f"{accuracy:.1%}"
    labels = shown_metrics["labels"]
    assert window.evaluate_panel.matrix.model.rowCount() == len(labels) >= 2

    # Playground: label and probabilities for a Unicode text.
    playground = window.playground_panel
    window.show_page("playground")
    qtbot.waitUntil(playground.is_ready, timeout=60_000)
    playground.text_edit.setPlainText(TEXT)
    with qtbot.waitSignal(playground.sig_prediction_shown, timeout=60_000) as shown:
        qtbot.mouseClick(playground.predict_button, Qt.MouseButton.LeftButton)
    result = shown.args[0]
    scores = result["scores"]
    assert set(scores) == set(labels)
    assert abs(sum(scores.values()) - 1.0) < 1e-5
    assert result["label"] == max(scores, key=scores.get) == playground.label_value.text()

    # Export, then load the folder with transformers and compare the probabilities.
    export = window.export_panel
    window.show_page("export")
    assert export.run_dir == event.run_dir
    output = tmp_path / "exported"
    export.folder_edit.setText(str(output))
    with qtbot.waitSignal(export.sig_exported, timeout=60_000):
        qtbot.mouseClick(export.export_button, Qt.MouseButton.LeftButton)
    assert export.message.kind == "success"
    tokenizer = transformers.AutoTokenizer.from_pretrained(output)
    model = transformers.AutoModelForSequenceClassification.from_pretrained(output).eval()
    with torch.no_grad():
        inputs = tokenizer([TEXT], return_tensors="pt", truncation=True, max_length=32)
        probs = torch.softmax(model(**inputs).logits.double(), dim=-1)[0]
    reference = {model.config.id2label[i]: float(p) for i, p in enumerate(probs)}
    assert reference.keys() == scores.keys()
    for label, p in scores.items():
        assert abs(p - reference[label]) < 1e-5, (label, p, reference[label])
    window.close()
