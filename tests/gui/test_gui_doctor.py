"""The data doctor on the Data page: the report list, the automatic (debounced) check off the
GUI thread, stale reports dropped, the unknown-token warning on the Data and Model pages, and
the preview's list cells."""

from __future__ import annotations

import threading

import pandas as pd
import pytest
from gui_fakes import FakeTrain, fake_load_predictor
from PySide6.QtCore import Qt

from workbench import engine
from workbench.errors import UserError
from workbench.gui.main_window import MainWindow
from workbench.gui.panels import data as data_module
from workbench.gui.panels.data import MESSAGES, DataPanel
from workbench.gui.widgets.dataframe_model import DataFrameModel
from workbench.gui.widgets.doctor_report import DoctorReportWidget, gui_wording

CHINESE = ["这个耳机音质很好", "很差的产品，不推荐", "我非常喜欢这个手机", "物流太慢了"]


def report(*findings: dict, model: str = "default") -> dict:
    summary = {s: sum(f["severity"] == s for f in findings) for s in ("info", "warning", "problem")}
    return {
        "task": "text-classification",
        "model": model,
        "data": "reviews.csv",
        "eval_data": None,
        "columns": {"text_column": "text", "label_column": "label"},
        "rows": {"train": {"file": "reviews.csv", "read": 40, "used": 38}},
        "max_length": 128,
        "notices": [],
        "findings": list(findings),
        "summary": summary,
    }


def finding(check: str, severity: str, message: str, examples=(), **counts) -> dict:
    return {
        "check": check,
        "severity": severity,
        "file": "train",
        "message": message,
        "counts": counts,
        "examples": list(examples),
    }


class FakeDiagnose:
    """Stands in for engine.diagnose: records each call (and its thread); may wait for a go."""

    def __init__(self, make_report=None, wait: bool = False) -> None:
        self.calls: list[dict] = []
        self.threads: list[threading.Thread] = []
        self.make_report = make_report or (lambda config: report())
        self.go = threading.Event()
        if not wait:
            self.go.set()

    def __call__(self, config, sample=5000, frame=None, eval_frame=None):
        self.calls.append({"config": config, "frame": frame, "eval_frame": eval_frame})
        self.threads.append(threading.current_thread())
        self.go.wait(10)
        return self.make_report(config)


def write_csv(path, texts, labels=("good", "bad")):
    rows = [(f"{t} {i}", labels[i % len(labels)]) for i, t in enumerate(texts * 10)]
    pd.DataFrame(rows, columns=["text", "label"]).to_csv(path, index=False)
    return path


def make_window(qtbot, path) -> MainWindow:
    window = MainWindow(
        data_path=path, train_fn=FakeTrain(steps=3), load_predictor_fn=fake_load_predictor
    )
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: window.data_panel.frame() is not None, timeout=20_000)
    return window


# ---- the report widget ----------------------------------------------------------------------
def test_the_report_lists_problems_first_with_their_examples(qtbot):
    widget = DoctorReportWidget()
    qtbot.addWidget(widget)
    duplicate = {"rows": [3, 9], "text": "great phone", "times": 2}
    widget.show_report(
        report(
            finding("missing_values", "info", "reviews.csv: no missing values"),
            finding(
                "duplicates",
                "warning",
                "reviews.csv: 2 rows repeat; without --eval-data copies can land on both sides",
                [duplicate, duplicate],  # the same example twice is listed once
            ),
            finding(
                "unknown_tokens",
                "problem",
                "reviews.csv: 83% of tokens are [UNK]; choose another model with --model",
                [{"rows": [1], "text": "这个耳机音质很好", "unknown_share": 0.875}],
            ),
        )
    )
    widget.show()
    assert [item.check for item in widget.items] == [
        "unknown_tokens",
        "duplicates",
        "missing_values",
    ]
    assert widget.counts() == {"problem": 1, "warning": 1, "info": 1}
    assert widget.worst() == "problem"
    assert widget.summary_label.text() == "1 problem · 1 warning · 1 check fine"
    assert "40 rows read, 38 used by training" in widget.scope_label.text()
    problem = widget.item("unknown_tokens")
    assert problem.message_label.text().endswith("choose another model on the Model page")
    assert "--" not in widget.item("duplicates").message_label.text()
    duplicates = widget.item("duplicates")
    assert duplicates.example_lines == ["row 3, 9: “great phone” · times: 2"]
    assert "row 3, 9" in duplicates.message_label.toolTip()
    assert not duplicates.is_expanded()
    qtbot.mouseClick(duplicates.toggle, Qt.MouseButton.LeftButton)
    assert duplicates.is_expanded() and duplicates.toggle.text() == "Hide examples"
    assert "great phone" in duplicates.examples_label.text()
    assert not widget.item("missing_values").toggle.isVisibleTo(widget)  # nothing to show
    widget.clear()
    assert widget.items == [] and widget.worst() is None


def test_cli_flags_read_as_the_window_s_settings():
    assert gui_wording("raise --max-length if most inputs are split") == (
        "raise Max. length on the Hyperparameters page if most inputs are split"
    )
    assert gui_wording("name it with --label-column") == "name it under Columns on this page"
    assert "the CLI's --class-weights" in gui_wording("or train with --class-weights")


# ---- the check on the Data page -------------------------------------------------------------
def test_loading_a_chinese_file_warns_that_the_model_does_not_know_its_words(qtbot, tmp_path):
    """The real doctor, started by itself once the file is read and its columns guessed."""
    path = write_csv(tmp_path / "zh.csv", CHINESE)
    window = make_window(qtbot, path)
    data = window.data_panel
    with qtbot.waitSignal(data.sig_data_checked, timeout=60_000) as checked:
        pass
    shown = checked.args[0]
    assert shown["task"] == "text-classification" and shown["columns"]["text_column"] == "text"
    unknown = data.doctor_view.item("unknown_tokens")
    assert unknown is not None and unknown.severity == "problem"
    assert data.doctor_view.items[0].severity == "problem"  # problems first
    share = next(f for f in shown["findings"] if f["check"] == "unknown_tokens")["counts"]["share"]
    assert share > 0.5
    assert data.vocabulary_message.isVisibleTo(data)
    assert data.vocabulary_message.kind == "warning"
    text = data.vocabulary_message.text()
    assert f"{share:.0%} of the text's tokens are unknown to all-MiniLM-L6-v2" in text
    assert "on the Model page" in text
    assert window.model_panel.vocabulary_warning() == data.vocabulary_warning
    assert window.model_panel.vocabulary_message.isVisibleTo(window.model_panel)
    assert "1 problem" in data.tabs.tabText(1)


def test_the_automatic_check_runs_once_off_the_gui_thread(qtbot, tmp_path, monkeypatch):
    fake = FakeDiagnose()
    monkeypatch.setattr(engine, "diagnose", fake)
    window = make_window(qtbot, write_csv(tmp_path / "en.csv", ["good phone", "bad phone"]))
    data = window.data_panel
    qtbot.waitUntil(lambda: bool(data.report()), timeout=20_000)
    qtbot.waitUntil(lambda: not data.is_checking(), timeout=20_000)
    assert len(fake.calls) == 1  # several changes while loading, one check after the last
    assert fake.threads[0] is not threading.main_thread()
    config = fake.calls[0]["config"]
    assert (config.data, config.task, config.model) == (data.path, "text-classification", "default")
    assert (config.text_column, config.label_column) == ("text", "label")
    assert fake.calls[0]["frame"] is data.frame()  # the frame already read, not the file again
    assert data.vocabulary_message.isHidden() and window.model_panel.vocabulary_warning() is None
    # Nothing changed: pressing the button checks again anyway.
    with qtbot.waitSignal(data.sig_data_checked, timeout=20_000):
        qtbot.mouseClick(data.check_button, Qt.MouseButton.LeftButton)
    assert len(fake.calls) == 2 and data.tabs.currentIndex() == 1


def test_a_new_model_clears_the_warning_and_checks_again(qtbot, tmp_path, monkeypatch):
    def make(config):
        share = 0.4 if config.model == "default" else 0.0
        severity = "problem" if share else "info"
        return report(
            finding("unknown_tokens", severity, f"{share:.0%} unknown", share=share),
            model=config.model,
        )

    fake = FakeDiagnose(make)
    monkeypatch.setattr(engine, "diagnose", fake)
    window = make_window(qtbot, write_csv(tmp_path / "en.csv", ["good phone", "bad phone"]))
    data = window.data_panel
    qtbot.waitUntil(lambda: window.model_panel.vocabulary_warning() is not None, timeout=20_000)
    assert "40%" in data.vocabulary_message.text()
    assert "40%" in window.model_panel.vocabulary_warning()
    data.set_model("/models/chinese-bert", "chinese-bert")
    assert window.model_panel.vocabulary_warning() is None  # at once: it was another model's
    assert data.vocabulary_message.isHidden()
    qtbot.waitUntil(lambda: len(fake.calls) == 2 and not data.is_checking(), timeout=20_000)
    assert fake.calls[1]["config"].model == "/models/chinese-bert"
    assert data.report()["model"] == "/models/chinese-bert"
    assert data.vocabulary_message.isHidden() and window.model_panel.vocabulary_warning() is None
    assert data.tabs.tabText(1) == MESSAGES["check_tab"]


def test_a_report_of_columns_changed_during_the_check_is_dropped(qtbot, tmp_path, monkeypatch):
    fake = FakeDiagnose(lambda config: report(model=config.text_column), wait=True)
    monkeypatch.setattr(engine, "diagnose", fake)
    path = tmp_path / "two.csv"
    pd.DataFrame(
        {"text": ["good", "bad"] * 10, "other": ["fine", "poor"] * 10, "label": ["a", "b"] * 10}
    ).to_csv(path, index=False)
    panel = DataPanel()
    qtbot.addWidget(panel)
    with qtbot.waitSignal(panel.sig_data_loaded, timeout=20_000):
        panel.open_file(path)
    qtbot.waitUntil(lambda: len(fake.calls) == 1, timeout=20_000)
    assert fake.calls[0]["config"].text_column == "text"
    panel.set_roles({"text_column": "other"})  # while the first check runs
    fake.go.set()
    qtbot.waitUntil(lambda: bool(panel.report()), timeout=20_000)
    assert len(fake.calls) == 2 and fake.calls[1]["config"].text_column == "other"
    assert panel.report()["model"] == "other"  # the report shown is of the new columns


def test_checking_without_a_label_column_says_what_is_missing(qtbot, tmp_path, monkeypatch):
    fake = FakeDiagnose()
    monkeypatch.setattr(engine, "diagnose", fake)
    path = tmp_path / "texts.csv"
    pd.DataFrame({"review": ["a long enough text here"] * 5, "stars": [1] * 5}).to_csv(path)
    panel = DataPanel()
    qtbot.addWidget(panel)
    with qtbot.waitSignal(panel.sig_data_loaded, timeout=20_000):
        panel.open_file(path)
    panel.role_combos["label_column"].setCurrentIndex(-1)
    assert panel.problem() is not None
    qtbot.mouseClick(panel.check_button, Qt.MouseButton.LeftButton)
    assert panel.check_status.text().startswith("Nothing to check yet: Choose the column")
    qtbot.waitUntil(lambda: not panel.is_checking(), timeout=20_000)
    assert fake.calls == []


def test_a_failed_check_is_shown_and_not_retried(qtbot, tmp_path, monkeypatch):
    calls = []

    def failing(config, **kwargs):
        calls.append(config)
        raise UserError("reviews.csv has no column 'label'; name it with --label-column")

    monkeypatch.setattr(engine, "diagnose", failing)
    panel = DataPanel()
    qtbot.addWidget(panel)
    with qtbot.waitSignal(panel.sig_data_loaded, timeout=20_000):
        panel.open_file(write_csv(tmp_path / "en.csv", ["good", "bad"]))
    qtbot.waitUntil(lambda: panel.check_status.kind == "error", timeout=20_000)
    assert "has no column 'label'" in panel.check_status.text()
    assert panel.doctor_view.items == [] and panel.check_button.isEnabled()
    panel.set_max_length(64)  # something else changed: that is checked
    qtbot.waitUntil(lambda: len(calls) == 2 and not panel.is_checking(), timeout=20_000)
    panel._auto_check()  # the same data again: not retried
    assert len(calls) == 2 and calls[1].max_length == 64


def test_the_check_uses_the_hyperparameters_max_length(qtbot, tmp_path, monkeypatch):
    fake = FakeDiagnose()
    monkeypatch.setattr(engine, "diagnose", fake)
    window = make_window(qtbot, write_csv(tmp_path / "en.csv", ["good", "bad"]))
    qtbot.waitUntil(lambda: len(fake.calls) == 1, timeout=20_000)
    assert fake.calls[0]["config"].max_length == window.hyperparams_panel.values()["max_length"]
    window.hyperparams_panel.editors["max_length"].setValue(48)
    qtbot.waitUntil(lambda: len(fake.calls) == 2, timeout=20_000)
    assert fake.calls[1]["config"].max_length == 48


def test_the_data_page_fits_a_small_window_with_the_warning(qtbot, tmp_path, monkeypatch):
    from test_gui_small_window import SMALL, cut_labels

    share = 0.65
    message = "zh.csv: 65% of tokens are [UNK]; choose a model with --model"
    fake = FakeDiagnose(
        lambda config: report(
            finding("unknown_tokens", "problem", message, [{"rows": [1], "text": "x"}], share=share)
        )
    )
    monkeypatch.setattr(engine, "diagnose", fake)
    window = make_window(qtbot, write_csv(tmp_path / "zh.csv", CHINESE))
    window.resize(*SMALL)
    qtbot.waitUntil(lambda: bool(window.data_panel.report()), timeout=20_000)
    data = window.data_panel
    assert data.vocabulary_message.text().startswith("65% of the text's tokens are unknown")
    for key, tab in (("data", 0), ("data", 1), ("model", 0)):
        window.show_page(key)
        data.tabs.setCurrentIndex(tab)
        qtbot.wait(50)
        assert cut_labels(window.stack.currentWidget()) == [], (key, tab)


# ---- the preview and the task notice --------------------------------------------------------
def test_the_preview_shows_token_lists_as_words_and_numbers_on_the_right():
    frame = pd.DataFrame(
        {
            "tokens": [["EU", "rejects", "German", "call"]],
            "tags": [("B-ORG", "O", "B-MISC", "O")],
            "answers": [[{"text": "Warsaw", "answer_start": 12}]],
            "score": [3.5],
        }
    )
    model = DataFrameModel(frame)
    shown = [model.data(model.index(0, c)) for c in range(4)]
    assert shown == ["EU rejects German call", "B-ORG O B-MISC O", "“Warsaw” @ 12", "3.5"]
    align = Qt.ItemDataRole.TextAlignmentRole
    assert model.data(model.index(0, 3), align) & int(Qt.AlignmentFlag.AlignRight)
    assert model.data(model.index(0, 0), align) is None


@pytest.mark.skipif(
    "token-classification" not in data_module.tasks_by_name(),
    reason="token classification is not registered",
)
def test_the_task_switch_notice_is_an_info_box(qtbot, tmp_path):
    path = tmp_path / "ner.conll"
    path.write_text("EU B-ORG\nrejects O\n\nPeter B-PER\nBlackburn I-PER\n", encoding="utf-8")
    window = make_window(qtbot, path)
    data = window.data_panel
    qtbot.waitUntil(lambda: data.task_notice.isVisibleTo(data), timeout=20_000)
    assert data.task_notice.kind == "info" and data.task_notice.prominent
    assert "background" in data.task_notice.styleSheet()
    assert "placeholder-text" not in data.task_notice.styleSheet()  # not muted grey


# ---- small fixes found by looking at every page -----------------------------------------------
def test_engine_notices_read_as_sentences_in_the_training_log():
    from workbench.gui.panels.train import describe_notice

    assert describe_notice("read ner.conll as a CoNLL file") == "Read ner.conll as a CoNLL file"
    assert describe_notice("reviews.csv: 3 rows skipped") == "reviews.csv: 3 rows skipped"


def test_the_export_hint_and_message_are_as_high_as_their_text(qtbot):
    from workbench.gui.panels.export import ExportPanel

    panel = ExportPanel(export_fn=lambda *args: "/tmp/out")
    qtbot.addWidget(panel)
    panel.resize(800, 500)
    panel.show()
    description = "config.json, safetensors weights and tokenizer; loads with transformers"
    panel.set_formats([{"name": "hf", "title": "Hugging Face folder", "description": description}])
    panel.set_run("/tmp/runs/run-1")
    folder = "/tmp/pytest-of-root/pytest-160/test_a_users_flow_question_ans0/export-question"
    panel.message.show_message(f"Exported to {folder}", "success")
    qtbot.waitUntil(lambda: panel.message.isVisible())
    qtbot.wait(20)
    for label in (panel.format_hint, panel.message):  # no empty lines around the text
        assert label.height() == label.heightForWidth(label.width()), label.text()
