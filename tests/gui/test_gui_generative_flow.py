"""A user's generative flow on the real engine, in a 1024×640 window: causal-LM fine-tuning of
a tiny random GPT-2 with LoRA (the learning rate left at its LoRA default) → the Train page's
generation view shows the validation prompts' outputs at each evaluation → the Playground
streams a continuation (and Stop ends one) → Export writes a merged model folder.

Set WORKBENCH_GUI_SHOTS to a folder to also save each page as a PNG (to look at them).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest
from PySide6.QtCore import Qt

from workbench.config import LORA_LEARNING_RATE
from workbench.gui.main_window import MainWindow
from workbench.gui.metric_format import format_scientific
from workbench.gui.panels.export import ExportPanel
from workbench.gui.panels.train import TrainPanel

pytestmark = pytest.mark.slow

SMALL = (1024, 640)
LEFT = Qt.MouseButton.LeftButton
SHOTS = os.environ.get("WORKBENCH_GUI_SHOTS")
WAIT = 180_000  # ms; a loaded 2-core machine trains this in well under it
TEXTS = [
    "The quick brown fox jumps over the lazy dog and runs into the woods.",
    "A small model writes a short story about a cat and a hat.",
    "Hello world! Hello again, world, and hello to everyone here.",
]


def shoot(window: MainWindow, qtbot, name: str) -> None:
    if SHOTS:
        qtbot.wait(50)
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        window.grab().save(str(Path(SHOTS) / f"generative-{name}.png"))


def test_lora_fine_tuning_then_streamed_generation_and_export(qtbot, tmp_path, monkeypatch):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from tiny_gpt2 import write_tiny_gpt2

    from workbench import engine
    from workbench.engine.generation.generate import GenerationSettings

    errors: list = []
    monkeypatch.setattr(TrainPanel, "show_error", staticmethod(lambda *a: errors.append(a)))
    exported_to = tmp_path / "export"
    monkeypatch.setattr(ExportPanel, "choose_folder", staticmethod(lambda *a: str(exported_to)))
    tqdm = pytest.importorskip("tqdm")
    # transformers' save_pretrained shows a progress bar: no monitor thread outlives the test.
    monkeypatch.setattr(tqdm.tqdm, "monitor_interval", 0)
    model = write_tiny_gpt2(tmp_path / "gpt2")
    data = tmp_path / "stories.csv"
    pd.DataFrame({"text": TEXTS * 12}).to_csv(data, index=False)

    window = MainWindow(data_path=data)
    qtbot.addWidget(window)
    window.show()
    window.resize(*SMALL)
    qtbot.waitUntil(lambda: window.data_panel.frame() is not None, timeout=30_000)

    # Model: the tiny GPT-2, causal LM, LoRA rank 4.
    panel = window.model_panel
    with qtbot.waitSignal(panel.sig_model_changed, timeout=WAIT):
        panel.set_model(model)
    panel.set_task("causal-lm")
    assert panel.problem() is None
    panel.scope.set_mode("lora")
    panel.scope.rank_spin.setValue(4)
    hyper = window.hyperparams_panel
    assert hyper.editors["learning_rate"].text() == format_scientific(LORA_LEARNING_RATE)
    assert "with LoRA" in hyper.hint_labels["learning_rate"].text()
    data_panel = window.data_panel
    qtbot.waitUntil(
        lambda: data_panel.task() == "causal-lm" and not data_panel.is_busy(), timeout=60_000
    )
    assert data_panel.problem() is None, data_panel.problem()
    hyper.set_values(
        {"epochs": 1, "batch_size": 4, "max_length": 32, "eval_every_steps": 2, "precision": "fp32"}
    )
    shoot(window, qtbot, "2-model")

    # Train: the generation view fills at each evaluation (step 0 is before training).
    window.show_page("train")
    with qtbot.waitSignal(window.runner.sig_run_finished, timeout=WAIT) as finished:
        qtbot.mouseClick(window.train_panel.train_button, LEFT)
    event = finished.args[0]
    assert event.status == "completed", event.error
    assert errors == []
    run_config = (Path(event.run_dir) / "config.toml").read_text(encoding="utf-8")
    assert "lora_rank = 4" in run_config and "learning_rate = 0.005" in run_config
    train = window.train_panel
    assert train.generations_box.isVisibleTo(train)
    steps = [step for step, _ in train.generations]
    assert steps[0] == 0 and len(steps) >= 3
    shown = train.generations_view.toPlainText()
    for generation in train.generations[-1][1]:
        assert generation["prompt"] in shown
    assert event.metrics["generations"] == train.generations[-1][1]
    train.plot.refresh()
    shoot(window, qtbot, "3-train")

    # Playground: Stop ends a generation before its first token here (the generator is
    # still loading when Stop is pressed), then a greedy one streams in full.
    playground = window.playground_panel
    window.show_page("playground")
    qtbot.waitUntil(playground.is_ready, timeout=WAIT)
    assert playground.generative and playground.settings_box.isVisible()
    prompt = "The quick brown"
    playground.text_edit.setPlainText(prompt)
    playground.generation_settings.set_settings({"max_new_tokens": 100, "temperature": 0.8})
    with qtbot.waitSignal(playground.sig_generation_finished, timeout=WAIT) as stopped:
        qtbot.mouseClick(playground.generate_button, LEFT)
        assert not playground.generate_button.isEnabled()
        qtbot.mouseClick(playground.stop_button, LEFT)
    assert stopped.args[0]["stopped"] and len(stopped.args[0]["token_ids"]) <= 2
    assert playground.generate_button.isEnabled()

    pieces: list[str] = []
    playground.service.sig_piece.connect(lambda _id, piece: pieces.append(piece))
    playground.generation_settings.set_settings({"max_new_tokens": 12, "temperature": 0.0})
    with qtbot.waitSignal(playground.sig_generation_finished, timeout=WAIT) as done:
        qtbot.mouseClick(playground.generate_button, LEFT)
    result = done.args[0]
    assert "error" not in result, result
    assert "".join(pieces) == playground.generated_text() == result["text"]
    assert playground.generation_output.toPlainText() == prompt + result["text"]
    expected = engine.load_generator(event.run_dir).start(
        prompt, GenerationSettings(max_new_tokens=12, temperature=0.0)
    )
    assert "".join(expected) == result["text"]  # what `workbench generate` would print
    shoot(window, qtbot, "5-playground")

    # Export: the merged model folder transformers reads.
    export = window.export_panel
    window.show_page("export")
    qtbot.waitUntil(lambda: bool(export.export_format()), timeout=WAIT)
    qtbot.mouseClick(export.browse_button, LEFT)
    with qtbot.waitSignal(export.sig_exported, timeout=WAIT):
        qtbot.mouseClick(export.export_button, LEFT)
    assert export.message.kind == "success", export.message.text()
    written = Path(export.exported_path)
    config = json.loads((written / "config.json").read_text(encoding="utf-8"))
    assert config["workbench"]["task"] == "causal-lm" and (written / "model.safetensors").is_file()
    shoot(window, qtbot, "6-export")
    window.close()
