"""One user's flow per registered task, on the real engine, in a 1024×640 window.

Open a small data file of the task's kind, choose the task on the Model page, put each column
in its role (where the guess is not right), set tiny hyperparameters, press Train, then check
that the Evaluate page shows the task's view with its primary metric, that the Playground
predicts the task's kind of result, and that Export writes a folder transformers can read.

Set WORKBENCH_GUI_SHOTS to a folder to also save each page as a PNG (to look at them).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from PySide6.QtCore import Qt

from workbench import engine
from workbench.engine.tasks import TASK_NAMES
from workbench.gui import task_views
from workbench.gui.main_window import MainWindow
from workbench.gui.metric_format import MISSING
from workbench.gui.panels.data import DataPanel
from workbench.gui.panels.export import ExportPanel
from workbench.gui.panels.train import TrainPanel

pytestmark = pytest.mark.slow

SMALL = (1024, 640)
LEFT = Qt.MouseButton.LeftButton
SHOTS = os.environ.get("WORKBENCH_GUI_SHOTS")
WAIT = 180_000  # ms; a loaded 2-core machine trains a tiny run in well under this

POSITIVE = ["great phone", "I love it", "works well", "very happy", "fast and good"]
NEGATIVE = ["terrible phone", "I hate it", "broke fast", "very sad", "slow and bad"]


# ---- a small data file per task -------------------------------------------------------------
def write_text_classification(folder: Path) -> Path:
    rows = [(f"{p} {i}", "positive") for i, p in enumerate(POSITIVE * 4)]
    rows += [(f"{n} {i}", "negative") for i, n in enumerate(NEGATIVE * 4)]
    path = folder / "reviews.csv"
    pd.DataFrame(rows, columns=["review", "sentiment"]).to_csv(path, index=False)
    return path


def write_pair_classification(folder: Path) -> Path:
    rows = []
    for i in range(20):
        first = f"the cat sat on mat {i}"
        rows.append((first, f"a cat was on the mat {i}", "same"))
        rows.append((first, f"stocks fell sharply today {i}", "different"))
    path = folder / "pairs.tsv"
    pd.DataFrame(rows, columns=["sentence1", "sentence2", "label"]).to_csv(
        path, sep="\t", index=False
    )
    return path


def write_regression(folder: Path) -> Path:
    rows = [(f"{p} {i}", 4.0 + (i % 3) / 4) for i, p in enumerate(POSITIVE * 4)]
    rows += [(f"{n} {i}", 1.0 + (i % 3) / 4) for i, n in enumerate(NEGATIVE * 4)]
    path = folder / "ratings.csv"
    pd.DataFrame(rows, columns=["text", "score"]).to_csv(path, index=False)
    return path


def write_multi_label(folder: Path) -> Path:
    topics = [
        ("battery lasts long", "battery"),
        ("screen is sharp", "screen"),
        ("cheap price", "price"),
        ("battery and screen both fine", "battery;screen"),
        ("good price, big battery", "battery;price"),
    ]
    rows = [(f"{text} {i}", labels) for i, (text, labels) in enumerate(topics * 8)]
    path = folder / "topics.csv"
    pd.DataFrame(rows, columns=["text", "labels"]).to_csv(path, index=False)
    return path


def write_token_classification(folder: Path) -> Path:
    names = ["Peter", "Anna", "Marie", "John", "Ravi"]
    places = ["Paris", "Berlin", "Rome", "Oslo", "Lima"]
    sentences = []
    for i in range(40):
        name, place = names[i % 5], places[(i // 5) % 5]
        sentences.append(f"{name} B-PER\nlives O\nin O\n{place} B-LOC\n. O")
    path = folder / "ner.conll"
    path.write_text("\n\n".join(sentences) + "\n", encoding="utf-8")
    return path


def write_question_answering(folder: Path) -> Path:
    people = [("Marie", "Warsaw"), ("Ada", "London"), ("Alan", "Paris"), ("Nils", "Oslo")]
    paragraphs = []
    for i in range(40):
        person, city = people[i % 4]
        context = f"{person} was born in {city} in {1800 + i}."
        paragraphs.append(
            {
                "context": context,
                "qas": [
                    {
                        "id": f"q{i}",
                        "question": f"Where was {person} born?",
                        "answers": [{"text": city, "answer_start": context.index(city)}],
                    }
                ],
            }
        )
    path = folder / "squad.json"
    path.write_text(json.dumps({"data": [{"title": "t", "paragraphs": paragraphs}]}), "utf-8")
    return path


def write_masked_lm(folder: Path) -> Path:
    lines = [
        f"the {w} sat on the mat and looked at the door {i}."
        for i, w in enumerate(["cat", "dog", "bird", "child", "man", "woman", "boy", "girl"] * 8)
    ]
    path = folder / "corpus.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _share(result: dict) -> float:
    return sum(result["scores"].values())


def check_label(result: dict) -> None:
    assert result["label"] in result["scores"]
    assert math.isclose(_share(result), 1.0, abs_tol=1e-4)


def check_value(result: dict) -> None:
    assert isinstance(result["value"], float) and math.isfinite(result["value"])


def check_labels(result: dict) -> None:
    assert set(result["labels"]) <= set(result["scores"]) == {"battery", "screen", "price"}


def check_entities(result: dict) -> None:
    assert isinstance(result["entities"], list) and result["tokens"][0] == "Anna"
    assert len(result["tags"]) == len(result["tokens"])


def check_answer(result: dict) -> None:
    context = "Ada was born in London in 1815."
    assert result["answer"] == context[result["start"] : result["end"]]


def check_fills(result: dict) -> None:
    (mask,) = result["masks"]
    assert mask["fills"] and all(0 <= f["score"] <= 1 for f in mask["fills"])


# task -> (writer, roles the run must use, Playground inputs, result check, max_length)
FLOWS: dict[str, tuple[Callable, dict, dict, Callable, int]] = {
    "text-classification": (
        write_text_classification,
        {"text_column": "review", "label_column": "sentiment"},
        {"text": "I love this phone"},
        check_label,
        32,
    ),
    "pair-classification": (
        write_pair_classification,
        {"text_column": "sentence1", "text_pair_column": "sentence2", "label_column": "label"},
        {"text": "the dog sat on the rug", "text_pair": "a dog was on the rug"},
        check_label,
        32,
    ),
    "regression": (
        write_regression,
        {"text_column": "text", "label_column": "score"},
        {"text": "very happy with it"},
        check_value,
        32,
    ),
    "multi-label-classification": (
        write_multi_label,
        {"text_column": "text", "label_column": "labels"},
        {"text": "the battery lasts and the screen is sharp"},
        check_labels,
        32,
    ),
    "token-classification": (
        write_token_classification,
        {"text_column": "tokens", "label_column": "tags"},
        {"text": "Anna lives in Berlin ."},
        check_entities,
        32,
    ),
    "question-answering": (
        write_question_answering,
        {"question_column": "question", "context_column": "context", "answer_column": "answers"},
        {"text": "Where was Ada born?", "context": "Ada was born in London in 1815."},
        check_answer,
        48,
    ),
    "masked-lm": (
        write_masked_lm,
        {"text_column": "text"},
        {"text": "the cat sat on the {mask} ."},
        check_fills,
        32,
    ),
}


def _flow_param(task: str):
    if task not in FLOWS:
        return pytest.param(task, marks=pytest.mark.skip(reason=f"no data helper for {task}"))
    return task


def shoot(window: MainWindow, qtbot, task: str, name: str) -> None:
    """Save the window as a PNG when WORKBENCH_GUI_SHOTS names a folder."""
    if not SHOTS:
        return
    qtbot.wait(50)  # let the layouts settle
    folder = Path(SHOTS)
    folder.mkdir(parents=True, exist_ok=True)
    window.grab().save(str(folder / f"{task}-{name}.png"))


def choose_combo_data(combo, value) -> None:
    index = combo.findData(value)
    assert index >= 0, (value, [combo.itemData(i) for i in range(combo.count())])
    combo.setCurrentIndex(index)


@pytest.mark.parametrize("task", [_flow_param(task) for task in TASK_NAMES])
def test_a_users_flow(qtbot, tmp_path, monkeypatch, task):
    pytest.importorskip("torch")
    write, roles, inputs, check_result, max_length = FLOWS[task]
    errors: list = []
    monkeypatch.setattr(TrainPanel, "show_error", staticmethod(lambda *args: errors.append(args)))
    exported_to = tmp_path / f"export-{task}"
    monkeypatch.setattr(ExportPanel, "choose_folder", staticmethod(lambda *a: str(exported_to)))
    info = {t["name"]: t for t in engine.list_tasks()}[task]

    # Data: open the file with the Open… button (the dialog answered), like a user.
    path = write(tmp_path)
    monkeypatch.setattr(DataPanel, "choose_file", staticmethod(lambda *a: str(path)))
    window = MainWindow(data_path=tmp_path / "no-such-file.csv")
    qtbot.addWidget(window)
    window.show()
    window.resize(*SMALL)
    data = window.data_panel
    with qtbot.waitSignal(data.sig_data_loaded, timeout=30_000):
        qtbot.mouseClick(data.open_button, LEFT)

    # Model: choose the task in the combo (a no-op when the file already suggested it).
    window.show_page("model")
    choose_combo_data(window.model_panel.task_combo, task)
    assert window.model_panel.task() == task and window.model_panel.problem() is None
    qtbot.waitUntil(lambda: data.task() == task and not data.is_busy(), timeout=30_000)

    # Columns: put each in its role where the guess is not right.
    for field, column in roles.items():
        if data.role(field) != column:
            choose_combo_data(data.role_combos[field], column)
    qtbot.waitUntil(lambda: not data.is_busy(), timeout=30_000)
    assert {f: data.role(f) for f in roles} == roles
    assert data.problem() is None, data.problem()

    # The data check runs by itself once the columns are set, on the real doctor.
    qtbot.waitUntil(lambda: bool(data.report()) and not data.is_checking(), timeout=60_000)
    report = data.report()
    assert report["task"] == task
    assert not [f["message"] for f in report["findings"] if f["check"] == "refused"]
    assert data.check_status.kind != "error", data.check_status.text()
    window.show_page("data")
    shoot(window, qtbot, task, "1-data")
    data.tabs.setCurrentIndex(1)
    shoot(window, qtbot, task, "1-data-check")
    data.tabs.setCurrentIndex(0)
    window.show_page("model")
    shoot(window, qtbot, task, "2-model")

    # Hyperparameters: tiny.
    window.hyperparams_panel.set_values(
        {
            "epochs": 1,
            "batch_size": 8,
            "max_length": max_length,
            "eval_every_steps": 1000,  # only the final evaluation: faster
            "precision": "fp32",
        }
    )

    window.show_page("hyperparams")
    shoot(window, qtbot, task, "2-hyperparams")

    # Train, and wait for the run to finish.
    window.show_page("train")
    with qtbot.waitSignal(window.runner.sig_run_finished, timeout=WAIT) as finished:
        qtbot.mouseClick(window.train_panel.train_button, LEFT)
    event = finished.args[0]
    assert event.status == "completed", event.error
    assert errors == []
    window.train_panel.plot.refresh()
    shoot(window, qtbot, task, "3-train")

    # Evaluate: the task's own view, its primary metric on the first card.
    evaluate = window.evaluate_panel
    window.show_page("evaluate")
    primary = info["primary_metric"]
    assert evaluate.task == task
    assert isinstance(evaluate.view, task_views.view_for(task).EVALUATE_VIEW)
    assert evaluate.view.CARDS[0] == primary
    assert isinstance(evaluate.metrics.get(primary), float), evaluate.metrics
    assert evaluate.card_values[primary].text() not in ("", MISSING)
    assert evaluate.view.isVisibleTo(evaluate)
    shoot(window, qtbot, task, "4-evaluate")

    # Playground: the task's inputs, the task's kind of result.
    playground = window.playground_panel
    window.show_page("playground")
    qtbot.waitUntil(playground.is_ready, timeout=WAIT)
    assert playground.task == task
    assert playground.shown_inputs() == tuple(inputs)
    mask = (playground.info.mask_token if playground.info else None) or "[MASK]"
    for name, value in inputs.items():
        edit = playground._edit(name)
        edit.setFocus()
        qtbot.keyClicks(edit, value.format(mask=mask))
    with qtbot.waitSignal(playground.sig_prediction_shown, timeout=WAIT) as shown:
        qtbot.mouseClick(playground.predict_button, LEFT)
    check_result(shown.args[0])
    assert playground.message.kind != "error", playground.message.text()
    shoot(window, qtbot, task, "5-playground")

    # Export: the folder dialog answered, then the files transformers reads.
    export = window.export_panel
    window.show_page("export")
    assert export.run_dir == event.run_dir
    qtbot.waitUntil(lambda: bool(export.export_format()), timeout=WAIT)
    qtbot.mouseClick(export.browse_button, LEFT)
    assert export.folder_edit.text() == str(exported_to)
    with qtbot.waitSignal(export.sig_exported, timeout=WAIT):
        qtbot.mouseClick(export.export_button, LEFT)
    assert export.message.kind == "success", export.message.text()
    written = Path(export.exported_path)
    assert (written / "config.json").is_file() and (written / "model.safetensors").is_file()
    config = json.loads((written / "config.json").read_text(encoding="utf-8"))
    assert config["workbench"]["task"] == task
    shoot(window, qtbot, task, "6-export")
    window.close()
