"""Choosing a task: the Model page's chooser and support check, the Data page's roles, header
switch and background counts, the task inferred from a file, the hyperparameters' task
defaults, the RunConfig the panels make, the export formats, and closing during a run."""

from __future__ import annotations

import dataclasses
import threading
import time

import pandas as pd
import pytest
from gui_fakes import FakeTrain, fake_load_predictor
from PySide6.QtCore import QCoreApplication, Qt

import workbench.engine.tasks as registry
import workbench.engine.tasks.suggest as suggest_module
from workbench import engine
from workbench.engine.models.family import SEQUENCE_CLASSIFICATION
from workbench.engine.tasks.base import ANSWER, CONTEXT, LABEL, QUESTION, TEXT, TEXT_PAIR, Task
from workbench.gui.main_window import MainWindow
from workbench.gui.panels import data as data_module
from workbench.gui.panels.data import MESSAGES as DATA_MESSAGES
from workbench.gui.panels.data import DataPanel
from workbench.gui.panels.export import ExportPanel
from workbench.gui.panels.hyperparams import HyperparamsPanel
from workbench.gui.panels.model import ModelPanel
from workbench.gui.panels.train import TrainPanel
from workbench.gui.task_list import task_descriptions


# ---- fake tasks registered for a test (the GUI must work with whatever the registry holds) --
class FakePairTask(Task):
    name = "fake-pair"
    title = "Fake pair classification"
    description = "Two texts and one label per row."
    head_kind = SEQUENCE_CLASSIFICATION
    primary_metric = "accuracy"
    roles = (TEXT, TEXT_PAIR, LABEL)
    defaults = {"epochs": 3, "learning_rate": 2e-5}

    def guess_columns(self, frame):
        columns = list(frame.columns)
        return {
            "text_column": "sentence1" if "sentence1" in columns else None,
            "text_pair_column": "sentence2" if "sentence2" in columns else None,
            "label_column": "label" if "label" in columns else None,
        }


class FakeQATask(Task):
    name = "fake-qa"
    title = "Fake question answering"
    description = "Questions over contexts; the answer is optional."
    head_kind = SEQUENCE_CLASSIFICATION
    primary_metric = "f1"
    roles = (QUESTION, CONTEXT, dataclasses.replace(ANSWER, required=False))
    defaults = {"max_length": 384}

    def guess_columns(self, frame):
        columns = list(frame.columns)
        return {
            "question_column": "question" if "question" in columns else None,
            "context_column": "context" if "context" in columns else None,
            "answer_column": None,
        }


class FakeSeq2SeqTask(Task):
    name = "fake-seq2seq"
    title = "Fake summarisation"
    description = "A head no model family has."
    head_kind = "seq2seq"
    primary_metric = "rouge"
    roles = (TEXT, LABEL)


FAKES = {task.name: task for task in (FakePairTask(), FakeQATask(), FakeSeq2SeqTask())}


@pytest.fixture
def fake_tasks(monkeypatch):
    """The real registry plus the fakes, for the engine API and RunConfig's checks alike."""
    real = registry.get_task
    names = (*registry.TASK_NAMES, *FAKES)
    monkeypatch.setattr(registry, "get_task", lambda name: FAKES.get(name) or real(name))
    monkeypatch.setattr(registry, "TASK_NAMES", names)
    monkeypatch.setattr(suggest_module, "TASK_NAMES", names)
    return FAKES


@pytest.fixture
def errors(monkeypatch):
    shown: list[tuple[str, str]] = []
    monkeypatch.setattr(
        TrainPanel, "show_error", staticmethod(lambda parent, title, text: shown.append(text))
    )
    return shown


def write_pairs(path):
    pd.DataFrame(
        {
            "sentence1": [f"the first sentence {i}" for i in range(40)],
            "sentence2": [f"and the second one {i}" for i in range(40)],
            "label": ["same", "different"] * 20,
        }
    ).to_csv(path, index=False)
    return path


def write_conll(path):
    path.write_text(
        "-DOCSTART- -X- O O\n\nEU B-ORG\nrejects O\nGerman B-MISC\ncall O\n\n"
        "Peter B-PER\nBlackburn I-PER\n\nBRUSSELS B-LOC\n1996-08-22 O\n",
        encoding="utf-8",
    )
    return path


def make_window(qtbot, path, train_fn=None) -> MainWindow:
    window = MainWindow(
        data_path=path, train_fn=train_fn or FakeTrain(), load_predictor_fn=fake_load_predictor
    )
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: window.data_panel.frame() is not None, timeout=10_000)
    qtbot.waitUntil(lambda: bool(window.model_panel.description), timeout=30_000)
    return window


def load(qtbot, panel: DataPanel, path, **kwargs) -> None:
    with qtbot.waitSignal(panel.sig_data_loaded, timeout=10_000):
        panel.open_file(path, **kwargs)


def form_labels(panel: DataPanel) -> list[str]:
    form = panel.columns_form
    return [
        form.labelForField(combo).text()
        for combo in panel.role_combos.values()
        if form.labelForField(combo) is not None
    ]


# ---- the Model page ----------------------------------------------------------------------
def test_the_task_chooser_lists_the_registry_with_descriptions(qtbot, fake_tasks):
    panel = ModelPanel()
    qtbot.addWidget(panel)
    expected = task_descriptions()
    combo = panel.task_combo
    assert [combo.itemText(i) for i in range(combo.count())] == [t["title"] for t in expected]
    assert [combo.itemData(i, Qt.ItemDataRole.ToolTipRole) for i in range(combo.count())] == [
        t["description"] for t in expected
    ]
    assert panel.task() == "text-classification"
    with qtbot.waitSignal(panel.sig_task_changed) as blocker:
        combo.setCurrentIndex(combo.findData("fake-pair"))
    assert blocker.args == ["fake-pair"]
    assert panel.task_hint.text() == FakePairTask.description
    assert panel.config_values()["task"] == "fake-pair"
    assert not panel.set_task("no-such-task") and panel.task() == "fake-pair"


def test_the_model_box_shows_family_exact_parameters_size_and_tasks(qtbot):
    panel = ModelPanel()
    qtbot.addWidget(panel)
    qtbot.waitUntil(lambda: bool(panel.description), timeout=30_000)
    described = engine.describe_model("default")
    labels = panel.value_labels
    assert labels["family"].text() == described["family"] == "bert"
    assert labels["parameters"].text() == f"{described['parameters']:,}"  # exact, not ≈
    assert labels["size_bytes"].text().endswith("MB")
    titles = {t["name"]: t["title"] for t in task_descriptions()}
    assert labels["tasks"].text() == ", ".join(titles[name] for name in described["tasks"])


def test_a_model_that_cannot_do_the_task_is_flagged_and_blocks_training(
    qtbot, small_csv, fake_tasks, errors
):
    fake = FakeTrain()
    window = make_window(qtbot, small_csv, fake)
    model = window.model_panel
    assert "fake-seq2seq" not in model.description["tasks"]
    assert model.problem() is None and model.support_message.isHidden()
    model.set_task("fake-seq2seq")
    assert model.support_message.kind == "error"
    assert "cannot do Fake summarisation" in model.support_message.text()
    assert "bert family" in model.support_message.text()
    assert not window.start_training()
    assert errors == [model.problem()] and fake.configs == []
    model.set_task("text-classification")
    assert model.problem() is None and model.support_message.isHidden()


def test_a_model_whose_family_lacks_the_head_is_flagged(qtbot):
    """As a RoBERTa folder would be for a head only BERT has (its `tasks` list lacks it)."""
    panel = ModelPanel()
    qtbot.addWidget(panel)
    qtbot.waitUntil(lambda: bool(panel.description), timeout=30_000)
    panel.description = {**panel.description, "name": "roberta-x", "family": "roberta"}
    panel.description["tasks"] = [t for t in panel.description["tasks"] if t != panel.task()]
    assert "roberta-x cannot do Text classification" in panel.problem()


# ---- the Data page -----------------------------------------------------------------------
def test_choosing_a_task_changes_the_data_roles(qtbot, tmp_path, fake_tasks):
    window = make_window(qtbot, write_pairs(tmp_path / "pairs.csv"))
    data = window.data_panel
    assert list(data.role_combos) == ["text_column", "label_column"]
    window.model_panel.set_task("fake-pair")
    assert list(data.role_combos) == ["text_column", "text_pair_column", "label_column"]
    qtbot.waitUntil(lambda: data.role("text_pair_column") == "sentence2", timeout=10_000)
    assert data.roles() == {
        "text_column": "sentence1",
        "text_pair_column": "sentence2",
        "label_column": "label",
    }
    assert form_labels(data) == ["Text *:", "Second text *:", "Label *:"]
    assert data.problem() is None

    window.model_panel.set_task("fake-qa")
    assert list(data.role_combos) == ["question_column", "context_column", "answer_column"]
    answer = data.role_combos["answer_column"]
    assert answer.itemText(0) == DATA_MESSAGES["none"] and answer.currentData() is None
    assert form_labels(data)[-1] == "Answer:" and data.legend.isVisibleTo(data)
    assert data.counts_box.isHidden()  # nothing to count for this task
    qtbot.waitUntil(lambda: not data.is_busy(), timeout=10_000)
    assert "question" in data.problem()  # the file has no question column


def test_the_run_config_from_the_panels_carries_the_task_and_roles(
    qtbot, tmp_path, fake_tasks, errors
):
    fake = FakeTrain(steps=3)
    window = make_window(qtbot, write_pairs(tmp_path / "pairs.csv"), fake)
    window.model_panel.set_task("fake-pair")
    qtbot.waitUntil(lambda: not window.data_panel.is_busy(), timeout=10_000)
    with qtbot.waitSignal(window.runner.sig_run_finished, timeout=10_000):
        assert window.start_training()
    config = fake.configs[0]
    assert config.task == "fake-pair"
    assert (config.text_column, config.text_pair_column, config.label_column) == (
        "sentence1",
        "sentence2",
        "label",
    )
    assert config.question_column is None and config.header == "auto"
    # The task's defaults reached the Hyperparameters page, and so the run (a learning rate
    # left at its default is sent as None: the engine's default for the task, or for LoRA).
    assert (config.epochs, config.learning_rate) == (3, None)
    assert config.with_task_defaults().learning_rate == 2e-5
    assert errors == []


def test_a_conll_file_switches_the_task_to_token_classification(qtbot, tmp_path):
    if "token-classification" not in registry.TASK_NAMES:
        pytest.skip("token classification is not registered yet")
    window = make_window(qtbot, write_conll(tmp_path / "ner.conll"))
    data = window.data_panel
    qtbot.waitUntil(lambda: window.model_panel.task() == "token-classification", timeout=10_000)
    assert data.task() == "token-classification"
    assert data.task_notice.isVisibleTo(data) and data.task_notice.kind == "info"
    assert "NER data" in data.task_notice.text()
    assert "Token classification" in data.task_notice.text()
    assert data.roles() == engine.guess_roles("token-classification", data.frame())
    assert data.counts()["O"] == 3 and data.counts()["B-PER"] == 1  # tokens per tag
    assert window.data_status.text() == f"ner.conll · 3 rows · {len(data.counts())} tags"
    defaults = engine.task_defaults("token-classification")
    assert window.hyperparams_panel.values()["learning_rate"] == defaults["learning_rate"]
    assert not data.header_check.isVisibleTo(data)  # not a delimited file
    assert "CoNLL" in data.notices_label.text()


def test_a_headerless_csv_shows_no_header_and_the_switch_rereads(qtbot, tmp_path):
    path = tmp_path / "agnews.csv"
    path.write_text(
        '"3","Wall St. Bears Claw Back Into the Black","Reuters - Short-sellers, Wall Street\'s '
        'dwindling band of ultra-cynics, are seeing green again."\n'
        '"3","Carlyle Looks Toward Commercial Aerospace","Reuters - Private investment firm '
        'Carlyle Group, which has a reputation for making well-timed deals."\n'
        '"4","Oil and Economy Cloud Stocks\' Outlook","Reuters - Soaring crude prices plus '
        'worries about the economy and the outlook for earnings are expected."\n'
        '"2","Iraq Halts Oil Exports from Main Southern Pipeline","Reuters - Authorities have '
        'halted oil export flows from the main pipeline in southern Iraq after."\n',
        encoding="utf-8",
    )
    panel = DataPanel()
    qtbot.addWidget(panel)
    load(qtbot, panel, path)
    check = panel.header_check
    assert check.isVisibleTo(panel) and not check.isChecked()
    assert check.text() == DATA_MESSAGES["header_detected"]
    assert list(panel.frame().columns) == ["column_1", "column_2", "column_3"]
    assert "no header row" in panel.notices_label.text()
    assert panel.config_values()["header"] == "auto"
    with qtbot.waitSignal(panel.sig_data_loaded, timeout=10_000):
        check.click()  # the user says the first row is a header
    assert panel.header() == "yes" and panel.config_values()["header"] == "yes"
    assert list(panel.frame().columns)[0] == "3" and len(panel.frame()) == 3
    assert check.isChecked() and check.text() == DATA_MESSAGES["header"]
    with qtbot.waitSignal(panel.sig_data_loaded, timeout=10_000):
        check.click()
    assert panel.header() == "no" and len(panel.frame()) == 4


def test_label_counts_arrive_without_blocking_the_slot(qtbot, tmp_path, monkeypatch):
    path = tmp_path / "two.csv"
    pd.DataFrame(
        {
            "text": [f"text number {i}" for i in range(100)],
            "label": ["x", "y"] * 50,
            "topic": ["a", "b", "c", "d"] * 25,
        }
    ).to_csv(path, index=False)
    panel = DataPanel()
    qtbot.addWidget(panel)
    load(qtbot, panel, path)
    assert panel.counts() == {"x": 50, "y": 50}

    release = threading.Event()
    real_count = data_module.count_values

    def slow_count(frame, column):
        release.wait(10)  # as a million-row column would take
        return real_count(frame, column)

    monkeypatch.setattr(data_module, "count_values", slow_count)
    started = time.perf_counter()
    panel.label_combo.setCurrentText("topic")
    assert time.perf_counter() - started < 0.5  # the slot returned while the count runs
    assert panel.counts() == {} and panel.counts_status.isVisibleTo(panel)
    assert panel.counts_status.text() == DATA_MESSAGES["counting"]
    panel.text_combo.setCurrentText("label")  # still responsive to the user meanwhile
    assert panel.text_column() == "label"
    panel.text_combo.setCurrentText("text")
    release.set()
    qtbot.waitUntil(lambda: panel.counts() == {"a": 25, "b": 25, "c": 25, "d": 25})
    assert panel.counts_table.rowCount() == 4 and not panel.counts_status.isVisibleTo(panel)
    assert panel.problem() is None


def test_a_newer_count_wins_over_an_older_one(qtbot, small_csv, monkeypatch):
    panel = DataPanel()
    qtbot.addWidget(panel)
    load(qtbot, panel, small_csv)
    release = threading.Event()
    real_count = data_module.count_values

    def count(frame, column):
        if column == "text":
            release.wait(10)  # the older request finishes last
        return real_count(frame, column)

    monkeypatch.setattr(data_module, "count_values", count)
    panel.label_combo.setCurrentText("text")
    panel.label_combo.setCurrentText("label")
    qtbot.waitUntil(lambda: panel.counts() == {"negative": 100, "positive": 100})
    release.set()
    from workbench.gui.tasks import wait_for_tasks

    wait_for_tasks()
    QCoreApplication.processEvents()  # deliver the stale result, if it would be taken
    assert panel.counts() == {"negative": 100, "positive": 100}


def test_a_data_file_suggesting_a_task_switches_it_with_a_notice(
    qtbot, tmp_path, fake_tasks, monkeypatch
):
    path = tmp_path / "qa.jsonl"
    pd.DataFrame({"question": ["who?", "where?"], "context": ["Ann did it.", "In Paris."]}).to_json(
        path, orient="records", lines=True
    )
    # As the engine suggests question answering for question + context columns, the fake one.
    monkeypatch.setattr(
        engine,
        "suggest_task",
        lambda frame: "fake-qa" if {"question", "context"} <= set(frame.columns) else None,
    )
    window = make_window(qtbot, path)
    qtbot.waitUntil(lambda: window.model_panel.task() == "fake-qa", timeout=10_000)
    data = window.data_panel
    assert data.roles() == {
        "question_column": "question",
        "context_column": "context",
        "answer_column": None,
    }
    assert "Fake question answering" in data.task_notice.text()
    assert window.data_status.text() == "qa.jsonl · 2 rows"  # no labels to count
    assert window.hyperparams_panel.values()["max_length"] == 384
    window.model_panel.set_task("text-classification")  # the user overrides the suggestion
    assert data.task() == "text-classification" and data.task_notice.isHidden()


# ---- hyperparameters ---------------------------------------------------------------------
def test_task_defaults_apply_except_to_values_the_user_changed(qtbot):
    panel = HyperparamsPanel()
    qtbot.addWidget(panel)
    panel.editors["batch_size"].setValue(8)  # the user's own choice
    panel.apply_task_defaults(
        {"epochs": 3, "learning_rate": 2e-5, "batch_size": 32, "max_length": 256}
    )
    values = panel.values()
    assert (values["epochs"], values["learning_rate"], values["max_length"]) == (3, 2e-5, 256)
    assert values["batch_size"] == 8
    # Back to a task with the general defaults: what followed the task follows again.
    panel.apply_task_defaults({"epochs": 1, "learning_rate": 1.25e-4, "batch_size": 32})
    values = panel.values()
    assert (values["epochs"], values["learning_rate"], values["batch_size"]) == (1, 1.25e-4, 8)
    assert values["max_length"] == 256  # this task does not say: it stays
    # Not saved: the next start shows the saved (user's) values again.
    again = HyperparamsPanel()
    qtbot.addWidget(again)
    assert again.values()["batch_size"] == 8 and again.values()["epochs"] == 1


# ---- export ------------------------------------------------------------------------------
def test_the_export_list_shows_the_registry_formats(qtbot, tmp_path):
    panel = ExportPanel(export_fn=lambda run, output, format: output)
    qtbot.addWidget(panel)
    formats = engine.export_formats()
    combo = panel.format_combo
    qtbot.waitUntil(lambda: combo.count() == len(formats), timeout=30_000)
    assert [combo.itemData(i) for i in range(combo.count())] == [f["name"] for f in formats]
    assert [combo.itemText(i) for i in range(combo.count())] == [f["title"] for f in formats]
    assert panel.format_hint.text() == formats[0]["description"]
    assert panel.export_button.text() == f"Export as {formats[0]['title']}"
    panel.set_formats([*formats, {"name": "onnx", "title": "ONNX", "description": "A graph."}])
    panel.set_run(str(tmp_path / "run-7"))
    combo.setCurrentIndex(combo.findData("onnx"))
    assert panel.folder_edit.text().endswith("run-7-onnx")  # the suggested folder follows
    assert panel.format_hint.text() == "A graph."


# ---- closing -----------------------------------------------------------------------------
def test_closing_the_app_during_a_run_ends_the_app(qtbot, small_csv, monkeypatch, errors):
    """The real entry point: the window goes at once, and exec() returns once the run ends."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from workbench.gui import app as gui_app

    fake = FakeTrain(steps=5, wait_for_stop=True)
    monkeypatch.setattr(engine, "train", fake)
    seen: dict[str, float] = {}

    def drive() -> None:
        window = next(
            w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()
        )
        if window.data_panel.frame() is None:
            QTimer.singleShot(50, drive)
            return
        if not window.runner.is_running():
            window.start_training()
        if not fake.started.is_set():
            QTimer.singleShot(50, drive)
            return
        seen["closing"] = time.perf_counter()
        window.close()
        seen["closed"] = time.perf_counter()

    QTimer.singleShot(0, drive)
    assert gui_app.main([str(small_csv)]) == 0
    assert seen["closed"] - seen["closing"] < 0.5
    assert fake.configs and time.perf_counter() - seen["closing"] < 10
    assert errors == []
