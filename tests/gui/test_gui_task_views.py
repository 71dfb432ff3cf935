"""The per-task Evaluate and Playground views, driven with hand-made metrics and predictors."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import task_view_fakes as fakes
from PySide6.QtCore import QObject, QPoint, Qt, Signal

from workbench.engine.events import EvalFinished, RunFinished, RunStarted
from workbench.gui import task_views
from workbench.gui.metric_format import MISSING
from workbench.gui.panels.evaluate import EvaluatePanel
from workbench.gui.panels.playground import PlaygroundPanel
from workbench.gui.widgets.entity_highlighter import (
    EntityHighlighterWidget,
    Span,
    segments,
)
from workbench.gui.widgets.examples_table import Column, ExamplesTableWidget

LEFT = Qt.MouseButton.LeftButton


def make_evaluate(qtbot, task: str = "text-classification", **kwargs) -> EvaluatePanel:
    panel = EvaluatePanel(**kwargs)
    qtbot.addWidget(panel)
    panel.resize(1000, 900)
    panel.set_task(task)
    panel.show()
    qtbot.waitExposed(panel)
    return panel


def click_header(qtbot, table: ExamplesTableWidget, title: str) -> None:
    header = table.view.horizontalHeader()
    column = [c.title for c in table.model.columns].index(title)
    x = header.sectionViewportPosition(column) + header.sectionSize(column) // 2
    qtbot.mouseClick(header.viewport(), LEFT, pos=QPoint(x, header.height() // 2))


# ---- the registry -------------------------------------------------------------------------
def test_every_engine_task_has_its_own_view_and_unknown_ones_get_the_generic_view():
    from workbench.engine.tasks import TASK_NAMES

    for name in TASK_NAMES:
        assert task_views.view_for(name) is not task_views.GENERIC, f"no view for {name}"
    assert task_views.view_for("speech-to-text") is task_views.GENERIC
    for name, module in {**task_views.VIEWS, "generic": task_views.GENERIC}.items():
        for attribute in ("EVALUATE_VIEW", "OUTPUT_VIEW", "INPUTS", "HINT", "TITLE"):
            assert hasattr(module, attribute), (name, attribute)
    assert task_views.input_titles("question-answering")["text"][0] == "Question"
    assert task_views.input_titles("question-answering")["text_pair"][0] == "Second text"


# ---- classification -----------------------------------------------------------------------
def test_classification_view_shows_cards_report_and_matrix(qtbot):
    panel = make_evaluate(qtbot)
    panel.show_metrics(fakes.classification_metrics(), "Final.")
    cards = panel.view.cards.texts()
    assert list(cards) == ["accuracy", "f1_macro", "loss"]  # the primary metric first
    assert cards == {"accuracy": "83.3%", "f1_macro": "77.8%", "loss": "0.5123"}
    assert panel.card_values["accuracy"].text() == "83.3%"
    report = panel.view.report
    assert report.names == ["negative", "neutral", "positive"]
    assert report.cell_text("negative", "precision") == "85.1%"
    assert report.cell_text("positive", "support") == "70"
    assert panel.matrix.model.count(2, 2) == 65
    assert "Measured on all 150 examples" in panel.caption.text()


def test_the_report_shows_every_column_whole(qtbot):
    panel = make_evaluate(qtbot)
    panel.resize(780, 500)
    panel.show_metrics(fakes.classification_metrics(), "Final.")
    qtbot.wait(20)
    table = panel.view.report
    columns = sum(table.columnWidth(c) for c in range(table.columnCount()))
    assert table.viewport().width() >= columns  # Support is not clipped
    header = table.horizontalHeader()
    support = table.columnCount() - 1
    assert header.sectionSize(support) >= header.sectionSizeHint(support)


def test_clicking_a_matrix_cell_lists_its_examples_sortable_by_loss(qtbot):
    panel = make_evaluate(qtbot)
    panel.show_metrics(fakes.classification_metrics(), "Final.")
    view = panel.view
    assert len(view.examples.shown_rows()) == 8  # all of them at first
    matrix = view.matrix.view
    cell = matrix.visualRect(view.matrix.model.index(1, 0))  # true neutral, predicted negative
    qtbot.mouseClick(matrix.viewport(), LEFT, pos=cell.center())
    rows = view.examples.shown_rows()
    assert {(r[1], r[2]) for r in rows} == {("neutral", "negative")}
    assert sorted(r[0] for r in rows) == ["meh", "works, I guess"]
    assert view.matrix.model.marked == (1, 0)
    assert "true “neutral” predicted as “negative”" in view.examples_caption.text()
    assert [r[0] for r in rows] == ["works, I guess", "meh"]  # highest loss first
    click_header(qtbot, view.examples, "Loss")
    assert [r[0] for r in view.examples.shown_rows()] == ["meh", "works, I guess"]
    click_header(qtbot, view.examples, "Confidence")
    confidences = [r[3] for r in view.examples.shown_rows()]
    assert confidences == sorted(confidences)
    qtbot.mouseClick(view.show_all_button, LEFT)
    assert len(view.examples.shown_rows()) == 8 and view.matrix.model.marked is None


def test_clicking_a_class_lists_its_examples(qtbot):
    panel = make_evaluate(qtbot)
    panel.show_metrics(fakes.classification_metrics(), "Final.")
    view = panel.view
    row = view.report.visualRect(view.report.model().index(2, 0))  # "positive"
    qtbot.mouseClick(view.report.viewport(), LEFT, pos=row.center())
    rows = view.examples.shown_rows()
    assert len(rows) == 3 and {r[1] for r in rows} == {"positive"}


def test_the_filter_box_filters_the_examples(qtbot):
    panel = make_evaluate(qtbot)
    panel.show_metrics(fakes.classification_metrics(), "Final.")
    table = panel.view.examples
    qtbot.keyClicks(table.filter_edit, "BATTERY")
    assert [r[0] for r in table.shown_rows()] == ["the battery died after a week"]
    assert table.count_label.text() == "1 of 8 examples"
    table.filter_edit.clear()
    qtbot.keyClicks(table.filter_edit, "guess works")  # every word, in any order
    assert [r[0] for r in table.shown_rows()] == ["works, I guess"]
    table.filter_edit.clear()
    qtbot.keyClicks(table.filter_edit, "no such words")
    assert table.shown_rows() == []


def test_evaluate_on_another_file_runs_in_the_background_and_shows_its_metrics(
    qtbot, monkeypatch, tmp_path
):
    calls = []

    def fake_evaluate(run_dir, path):
        calls.append((run_dir, path, threading.current_thread() is threading.main_thread()))
        metrics = fakes.classification_metrics()
        metrics.pop("examples")  # engine.evaluate keeps only the numbers
        return {**metrics, "accuracy": 0.5}

    data = tmp_path / "other.csv"
    monkeypatch.setattr(EvaluatePanel, "ask_data_file", staticmethod(lambda *a: str(data)))
    panel = make_evaluate(qtbot, evaluate_fn=fake_evaluate)
    assert not panel.evaluate_button.isEnabled()  # no trained model yet
    panel.set_run(str(tmp_path / "run-1"))
    with qtbot.waitSignal(panel.sig_file_evaluated, timeout=10_000):
        qtbot.mouseClick(panel.evaluate_button, LEFT)
    assert calls == [(str(tmp_path / "run-1"), str(data), False)]  # not on the GUI thread
    assert panel.card_values["accuracy"].text() == "50.0%"
    assert "other.csv" in panel.caption.text() and panel.message.kind == "success"
    assert "no examples" in panel.view.examples_caption.text()
    assert not panel.view.examples.isVisibleTo(panel)  # no empty table under the caption
    qtbot.waitUntil(panel.evaluate_button.isEnabled)


def test_evaluate_on_another_file_shows_a_failure(qtbot, monkeypatch, tmp_path):
    from workbench.errors import UserError

    def failing(run_dir, path):
        raise UserError("other.csv has no column 'label'; name it with --label-column")

    monkeypatch.setattr(EvaluatePanel, "ask_data_file", staticmethod(lambda *a: "other.csv"))
    panel = make_evaluate(qtbot, evaluate_fn=failing)
    panel.show_metrics(fakes.classification_metrics(), "Final.")
    panel.set_run("/runs/run-1")
    with qtbot.waitSignal(panel.sig_file_evaluation_failed, timeout=10_000):
        qtbot.mouseClick(panel.evaluate_button, LEFT)
    assert panel.message.kind == "error" and "--label-column" in panel.message.text()
    assert panel.card_values["accuracy"].text() == "83.3%"  # the shown results stay
    qtbot.waitUntil(panel.evaluate_button.isEnabled)


class FakeRunner(QObject):
    sig_run_started = Signal(object)
    sig_eval_finished = Signal(object)
    sig_run_finished = Signal(object)


def test_a_runs_events_switch_to_its_tasks_view(qtbot):
    panel = make_evaluate(qtbot)
    runner = FakeRunner()
    panel.connect_runner(runner)
    runner.sig_run_started.emit(
        RunStarted("/runs/r", 10, 90, 10, [], "cpu", "fp32", task="regression")
    )
    assert panel.task == "regression" and "first evaluation" in panel.caption.text()
    sample = {**fakes.regression_metrics(), "evaluated_on": "sample"}
    runner.sig_eval_finished.emit(EvalFinished(5, 0.5, sample))
    assert panel.view.cards.texts()["pearson"] == "0.912"
    assert "sample of 5 examples" in panel.caption.text()
    panel.set_task("text-classification")  # the user looks at another task meanwhile
    runner.sig_run_finished.emit(RunFinished("completed", "/runs/r", fakes.regression_metrics()))
    assert panel.task == "regression" and panel.view.scatter.point_count() == 5
    assert panel.run_dir == "/runs/r" and panel.evaluate_button.isEnabled()
    runner.sig_run_finished.emit(RunFinished("failed", "", error="boom"))
    assert "failed" in panel.caption.text()


def test_set_task_switches_the_view_and_clears_it(qtbot):
    panel = make_evaluate(qtbot)
    panel.show_metrics(fakes.classification_metrics(), "Final.")
    panel.set_task("text-classification")  # the same task keeps its results
    assert panel.card_values["accuracy"].text() == "83.3%"
    panel.set_task("token-classification")
    assert panel.task == "token-classification" and panel.metrics == {}
    assert set(panel.view.cards.texts().values()) == {MISSING}
    assert panel.matrix is None
    panel.set_task("text-classification")
    assert panel.card_values["accuracy"].text() == MISSING
    assert panel.views["text-classification"].isVisible()
    assert not panel.views["token-classification"].isVisible()


GARBAGE = {
    "accuracy": "high",
    "labels": None,
    "report": 3,
    "confusion_matrix": "x",
    "examples": [None, [1], ["text", "x", None, "y", None], [["a"], ["B-X"], None]],
    "threshold": None,
    "perplexity_before": "n/a",
}


@pytest.mark.parametrize("task", [*task_views.VIEWS, "some-new-task"])
def test_missing_or_malformed_keys_show_dashes_not_errors(qtbot, task):
    panel = make_evaluate(qtbot, task)
    panel.show_metrics({}, "Empty.")
    assert all(v == MISSING for v in panel.view.cards.texts().values())
    panel.show_metrics(GARBAGE, "Garbage.")
    panel.show_metrics(fakes.METRICS.get(task, fakes.classification_metrics)(), "Real.")
    panel.clear()
    assert all(v == MISSING for v in panel.view.cards.texts().values())


# ---- the other tasks' evaluate views ------------------------------------------------------
def test_pair_view_shows_the_positive_labels_f1_when_there_is_one(qtbot):
    panel = make_evaluate(qtbot, "pair-classification")
    panel.show_metrics(fakes.pair_metrics(), "Final.")
    cards = panel.view.cards
    assert cards.frames["f1"].isHidden()  # three NLI classes: no positive label
    assert panel.matrix.model.rowCount() == 3
    panel.show_metrics(fakes.binary_pair_metrics(), "Final.")
    assert not cards.frames["f1"].isHidden()
    assert cards.texts()["f1"] == "80.5%" and cards.titles["f1"].text() == "F1 (duplicate)"


def test_regression_view_draws_each_example_and_the_identity_line(qtbot):
    panel = make_evaluate(qtbot, "regression")
    panel.show_metrics(fakes.regression_metrics(), "Final.")
    view = panel.view
    assert view.cards.texts() == {"pearson": "0.912", "spearman": "0.887", "mse": "0.4321"}
    assert view.scatter.point_count() == 5
    assert view.scatter.x.tolist() == [4.8, 0.4, 4.2, 1.0, 3.4]
    assert view.scatter.y.tolist() == [4.6, 1.1, 3.9, 2.6, 3.5]
    x, y = view.scatter.identity.getData()
    assert x.tolist() == y.tolist() == [0.4, 4.8]  # y = x across the data
    first = view.examples.shown_rows()[0]  # the largest error first
    assert first[0].startswith("The sky is blue") and first[3] == pytest.approx(1.6)
    view.scatter.sig_point_clicked.emit(4)  # a click on "She cooks pasta"
    position = view.examples.current_position()
    assert view.examples.shown_rows()[position][0].startswith("She cooks pasta")


def test_multi_label_view_shows_the_threshold_the_report_and_the_examples(qtbot):
    panel = make_evaluate(qtbot, "multi-label-classification")
    panel.show_metrics(fakes.multi_label_metrics(), "Final.")
    view = panel.view
    assert view.cards.texts() == {
        "f1_micro": "80.1%",
        "f1_macro": "61.5%",
        "threshold": "0.35",
        "loss": "0.2211",
    }
    assert "at least 0.35" in view.note.text() and view.note.isVisible()
    assert view.report.names == ["battery", "screen", "price", "shipping"]
    assert view.report.cell_text("shipping", "f1") == "0.0%"
    assert view.examples.shown_rows()[0][0] == "Arrived late, battery weak"  # most wrong
    view.report.sig_row_clicked.emit("price")
    assert sorted(r[0] for r in view.examples.shown_rows()) == [
        "Arrived late, battery weak",
        "Great screen but pricey",
    ]


def test_token_view_highlights_gold_and_predicted_entities(qtbot):
    panel = make_evaluate(qtbot, "token-classification")
    panel.show_metrics(fakes.token_metrics(), "Final.")
    view = panel.view
    assert view.cards.texts()["entity_f1"] == "90.1%"
    assert view.report.names == ["LOC", "MISC", "ORG", "PER"]
    assert view.report.cell_text("LOC", "support") == "1,668"
    text = "Angela Merkel visited Paris with Airbus staff ."
    assert view.gold_view.text == text  # the most wrong sentence is selected first
    assert view.gold_view.spans == [Span(0, 13, "PER"), Span(22, 27, "LOC"), Span(33, 39, "ORG")]
    assert [text[s.start : s.end] for s in view.predicted_view.spans] == [
        "Angela Merkel",
        "Paris",
        "Airbus",
    ]
    assert view.gold_view.highlighted() == [
        ("Angela Merkel", "PER"),
        ("Paris", "LOC"),
        ("Airbus", "ORG"),
    ]
    assert view.predicted_view.highlighted()[1] == ("Paris", "ORG")
    assert view.colors.color("ORG") != view.colors.color("LOC")
    assert "2 of 3 gold entities found, 1 wrong" in view.position.text()
    qtbot.mouseClick(view.next_button, LEFT)
    assert view.gold_view.text == "EU rejects German call"
    assert view.gold_view.highlighted() == [("EU", "ORG"), ("German", "MISC")]
    assert view.predicted_view.highlighted() == []


def test_token_view_reads_plain_tags_without_prefixes(qtbot):
    panel = make_evaluate(qtbot, "token-classification")
    metrics = {
        "scheme": "IO",
        "examples": [
            [["New", "York", "is", "big"], ["LOC", "LOC", "O", "O"], ["LOC", "O", "O", "O"]]
        ],
    }
    panel.show_metrics(metrics, "Final.")
    assert panel.view.gold_view.highlighted() == [("New York", "LOC")]
    assert panel.view.predicted_view.highlighted() == [("New", "LOC")]


def test_qa_view_highlights_the_predicted_and_gold_answers(qtbot):
    panel = make_evaluate(qtbot, "question-answering")
    panel.show_metrics(fakes.qa_metrics(), "Final.")
    view = panel.view
    assert view.cards.texts() == {"f1": "81.2%", "exact_match": "70.0%", "loss": "1.2340"}
    assert view.question_label.text() == "When did she move to Paris?"  # lowest F1 first
    context = fakes.QA_CONTEXT
    shown = view.context_view.highlighted()
    assert ("1867", "predicted") in shown and ("in 1891", "gold") in shown
    spans = {s.kind: s for s in view.context_view.spans}
    assert context[spans["predicted"].start : spans["predicted"].end] == "1867"
    qtbot.mouseClick(view.next_button, LEFT)
    assert view.question_label.text() == "Whom did she meet?"
    assert view.context_view.highlighted() == [
        ("met ", "predicted"),
        ("Pierre Curie", "gold+predicted"),
    ]
    qtbot.mouseClick(view.next_button, LEFT)
    assert view.context_view.highlighted() == [("Warsaw", "gold+predicted")]
    assert "Score 93.0%" in view.answer_label.text()
    qtbot.mouseClick(view.previous_button, LEFT)
    assert view.question_label.text() == "Whom did she meet?"


def test_masked_lm_view_shows_perplexity_before_and_after(qtbot):
    panel = make_evaluate(qtbot, "masked-lm")
    panel.show_metrics(fakes.masked_lm_metrics(), "Final.")
    cards = panel.view.cards
    assert cards.texts()["perplexity"] == "35.20 → 12.40"
    assert cards.titles["perplexity"].text() == "Perplexity (before → after)"
    assert cards.frames["nsp_accuracy"].isHidden()
    assert "15,000 masked tokens" in panel.view.note.text()
    panel.show_metrics({**fakes.masked_lm_metrics(before=False), "nsp_accuracy": 0.9}, "Final.")
    assert cards.texts()["perplexity"] == "12.40" and cards.texts()["nsp_accuracy"] == "90.0%"


def test_causal_lm_view_shows_perplexity_before_and_after(qtbot):
    panel = make_evaluate(qtbot, "causal-lm")
    panel.show_metrics(fakes.causal_lm_metrics(), "Final.")
    cards = panel.view.cards
    assert cards.texts()["perplexity"] == "410.00 → 20.50"
    assert "12,345 predicted tokens" in panel.view.note.text()


def test_the_playground_continues_a_prompt_and_lists_the_next_tokens(qtbot):
    panel, _ = make_playground(qtbot, "causal-lm")
    assert panel.input_titles["text"].text() == "Prompt"
    predict(qtbot, panel, {"text": "Once"})
    view = panel.output_view
    assert view.text.text() == "Once upon a time"
    assert view.bars.shown == [(" upon", 0.6), ("\\n", 0.1)]  # a newline shown as \n
    panel.shutdown()


def test_seq2seq_view_shows_rouge_and_bleu_and_what_the_model_wrote(qtbot):
    panel = make_evaluate(qtbot, "seq2seq")
    panel.show_metrics(fakes.seq2seq_metrics(), "Final.")
    cards = panel.view.cards
    assert cards.texts() == {
        "rougeL": "31.2%",
        "rouge1": "35.6%",
        "rouge2": "12.1%",
        "bleu": "8.7%",
        "loss": "2.4100",
    }
    assert cards.titles["rougeL"].text() == "ROUGE-L"
    assert panel.view.examples_box.isVisible()
    shown = panel.view.examples_view.toPlainText()
    for text in ("Are you coming tonight?", "will come at eight", "comes tonight at eight"):
        assert text in shown


def test_seq2seq_playground_shows_the_generated_text(qtbot):
    panel, _ = make_playground(qtbot, "seq2seq")
    assert panel.input_titles["text"].text() == "Source text"
    predict(qtbot, panel, {"text": "#Person1#: Hello. #Person2#: Hi."})
    assert panel.output_view.text.text() == "A short summary."
    panel.shutdown()


def test_an_unknown_task_shows_every_known_metric(qtbot):
    panel = make_evaluate(qtbot, "some-new-task")
    panel.show_metrics({"f1": 0.5, "loss": 1.0, "report": {"a": {"f1": 0.5}}}, "Final.")
    assert panel.view.cards.texts() == {"f1": "50.0%", "loss": "1.0000"}
    assert panel.view.report_box.isVisible()


# ---- widgets ------------------------------------------------------------------------------
def test_emitting_from_python_does_not_leak_references_to_true():
    """PySide6 6.12 drops a reference to True per emit from Python: on Python 3.11 the app
    aborts after a few thousand emits ("bool_dealloc"). pyproject.toml keeps it out."""
    import sys

    class Emitter(QObject):
        sig_pinged = Signal()

    emitter = Emitter()
    before = sys.getrefcount(True)
    for _ in range(1000):
        emitter.sig_pinged.emit()
    assert before - sys.getrefcount(True) < 10


def test_overlapping_spans_are_cut_into_combined_segments():
    spans = [Span(2, 6, "gold"), Span(4, 8, "predicted")]
    assert segments(10, spans) == [
        (0, 2, ""),
        (2, 4, "gold"),
        (4, 6, "gold+predicted"),
        (6, 8, "predicted"),
        (8, 10, ""),
    ]


def test_the_highlighter_skips_bad_spans_and_never_reads_markup(qtbot):
    widget = EntityHighlighterWidget()
    qtbot.addWidget(widget)
    text = "<b>Bob</b> & Alice"
    widget.set_text(
        text,
        [
            {"start": 3, "end": 6, "type": "PER"},
            {"start": 13, "end": 18, "type": "PER"},
            {"start": 5, "end": 99, "type": "X"},
            {"start": "a"},
        ],
    )
    assert widget.highlighted() == [("Bob", "PER"), ("Alice", "PER")]
    assert widget.browser.toPlainText() == "<b>Bob PER </b> & Alice PER"
    assert "PER" in widget.legend.text() and "X" not in widget.legend.text()


def test_examples_table_sorts_numbers_as_numbers(qtbot):
    table = ExamplesTableWidget()
    qtbot.addWidget(table)
    table.set_columns([Column("Text"), Column("Confidence", "share")])
    table.set_rows([["a", 0.09], ["b", 0.1], ["c", None], ["d", 0.5]])
    table.sort_by("Confidence", descending=False)
    assert [r[0] for r in table.shown_rows()] == ["c", "a", "b", "d"]
    assert table.model.data(table.model.index(0, 1)) == "9.0%"
    assert table.model.data(table.model.index(2, 1)) == MISSING


# ---- the playground -----------------------------------------------------------------------
def make_playground(qtbot, task: str) -> tuple[PlaygroundPanel, object]:
    loader = fakes.fake_task_loader(task)
    panel = PlaygroundPanel(loader)
    qtbot.addWidget(panel)
    panel.resize(1000, 700)
    panel.show()
    with qtbot.waitSignal(panel.service.sig_loaded, timeout=10_000):
        panel.set_model("/runs/run-1")
    return panel, loader


@pytest.mark.parametrize(
    ("task", "inputs", "titles"),
    [
        ("text-classification", ("text",), {}),
        ("pair-classification", ("text", "text_pair"), {"text_pair": "Second text"}),
        ("question-answering", ("text", "context"), {"text": "Question", "context": "Context"}),
        ("masked-lm", ("text",), {}),
    ],
)
def test_the_playground_offers_the_inputs_of_the_loaded_model(qtbot, task, inputs, titles):
    panel, _ = make_playground(qtbot, task)
    assert panel.task == task and panel.shown_inputs() == inputs
    for name, title in titles.items():
        assert panel.input_titles[name].text() == title and panel.input_titles[name].isVisible()
    assert panel.hint_label.isVisible() == (task == "masked-lm")
    assert task_views.view_for(task).TITLE in panel.status_label.text()
    panel.shutdown()


def predict(qtbot, panel: PlaygroundPanel, values: dict[str, str]) -> dict:
    for name, value in values.items():
        panel._edit(name).setPlainText(value)
    with qtbot.waitSignal(panel.sig_prediction_shown, timeout=10_000) as blocker:
        qtbot.mouseClick(panel.predict_button, LEFT)
    return blocker.args[0]


def test_the_playground_waits_for_a_model(qtbot):
    panel = PlaygroundPanel(fakes.fake_task_loader("text-classification"))
    qtbot.addWidget(panel)
    assert panel.result_placeholder.isVisibleTo(panel)
    panel.text_edit.setPlainText("hello")
    panel.predict()  # nothing loaded: no request is sent, the user is told
    assert "Train a model first" in panel.message.text() and panel.service._thread is None


def test_the_playground_sends_pairs_and_shows_label_and_bars(qtbot):
    panel, loader = make_playground(qtbot, "pair-classification")
    predict(qtbot, panel, {"text": "A man plays.", "text_pair": "Music is made."})
    assert loader.predictors[0].calls == [
        {"texts": ["A man plays."], "text_pairs": ["Music is made."], "contexts": None}
    ]
    assert panel.label_value.text() == "entailment"
    assert [label for label, _ in panel.bars.shown] == ["entailment", "neutral", "contradiction"]
    panel.shutdown()


def test_the_playground_shows_multi_label_chips_over_the_threshold(qtbot):
    panel, _ = make_playground(qtbot, "multi-label-classification")
    predict(qtbot, panel, {"text": "Battery great"})
    view = panel.output_view
    assert view.chips.shown == ["battery", "screen"]
    assert "0.35" in view.chips_title.text()
    assert [label for label, _ in view.bars.shown] == ["battery", "screen", "price"]
    panel.shutdown()


def test_the_playground_shows_a_regression_value(qtbot):
    panel, _ = make_playground(qtbot, "regression")
    predict(qtbot, panel, {"text": "Quick service"})
    assert panel.output_view.value_label.text() == "3.142"
    panel.shutdown()


def test_the_playground_highlights_entities_inline(qtbot):
    panel, _ = make_playground(qtbot, "token-classification")
    text = "Yesterday Angela Merkel visited Paris."
    predict(qtbot, panel, {"text": text})
    view = panel.output_view
    assert view.highlighter.spans == [Span(10, 23, "PER"), Span(32, 37, "LOC")]
    assert view.highlighter.highlighted() == [("Angela Merkel", "PER"), ("Paris", "LOC")]
    legend = view.highlighter.legend.text()
    assert all(kind in legend for kind in ("PER", "LOC", "ORG"))  # every type the model knows
    assert "Angela Merkel — PER (97.0%)" in view.entities_label.text()
    panel.shutdown()


def test_the_playground_highlights_the_answer_in_the_context(qtbot):
    panel, loader = make_playground(qtbot, "question-answering")
    predict(qtbot, panel, {"text": "Where was she born?", "context": fakes.QA_CONTEXT})
    assert loader.predictors[0].calls[0]["contexts"] == [fakes.QA_CONTEXT]
    view = panel.output_view
    assert view.answer_label.text() == "Warsaw" and view.score_label.text() == "Score 91.0%"
    assert view.context_view.highlighted() == [("Warsaw", "answer")]
    assert view.top_k_label.text() == "2. Paris (6.0%)"
    panel.shutdown()


def test_the_playground_asks_for_a_missing_context(qtbot):
    panel, loader = make_playground(qtbot, "question-answering")
    panel.text_edit.setPlainText("Where?")
    qtbot.mouseClick(panel.predict_button, LEFT)
    assert panel.message.text() == "Type the context first." and panel.message.kind == "info"
    assert loader.predictors[0].calls == [] and panel.predict_button.isEnabled()
    panel.shutdown()


def test_the_playground_lists_the_fills_of_each_mask(qtbot):
    panel, _ = make_playground(qtbot, "masked-lm")
    assert "[MASK]" in panel.hint_label.text()
    predict(qtbot, panel, {"text": "Paris is the [MASK] of France."})
    view = panel.output_view
    assert view.shown == [[("capital", 0.82), ("heart", 0.05)]]
    assert view.masks[0].best.text() == "Paris is the capital of France."
    panel.shutdown()


def test_the_playground_shows_an_unknown_tasks_result_as_text(qtbot):
    panel, _ = make_playground(qtbot, "some-new-task")
    predict(qtbot, panel, {"text": "hello"})
    assert '"something"' in panel.output_view.text.text()
    assert "some-new-task" in panel.status_label.text()
    panel.shutdown()


def test_loading_another_tasks_model_swaps_inputs_and_output(qtbot):
    tasks = iter(["question-answering", "text-classification"])

    def load(source):
        return fakes.FakeTaskPredictor(next(tasks))

    panel = PlaygroundPanel(load)
    qtbot.addWidget(panel)
    with qtbot.waitSignal(panel.service.sig_loaded, timeout=10_000):
        panel.set_model("/runs/qa")
    assert panel.shown_inputs() == ("text", "context")
    with qtbot.waitSignal(panel.service.sig_loaded, timeout=10_000):
        panel.set_model("/runs/cls")
    assert panel.shown_inputs() == ("text",) and panel.task == "text-classification"
    assert not panel.output_views["question-answering"].isVisibleTo(panel)
    panel.shutdown()


# ---- a small window, with every task's results -------------------------------------------
def test_every_tasks_pages_fit_a_small_window(qtbot, small_csv):
    from gui_fakes import FakeTrain
    from test_gui_small_window import SMALL, cut_labels, small_plots

    from workbench.gui.main_window import MainWindow

    def load(source):  # "/runs/<task>" loads a fake predictor of that task
        return fakes.FakeTaskPredictor(source.rsplit("/", 1)[-1])

    window = MainWindow(data_path=small_csv, train_fn=FakeTrain(steps=2), load_predictor_fn=load)
    qtbot.addWidget(window)
    window.show()
    window.resize(*SMALL)
    qtbot.waitUntil(lambda: (window.width(), window.height()) == SMALL)
    inputs = {
        "text": "Angela Merkel visited Paris, the [MASK] of France.",
        "text_pair": "Someone travelled.",
        "context": fakes.QA_CONTEXT,
    }
    problems = []
    for task, metrics in fakes.METRICS.items():
        window.show_page("evaluate")
        window.evaluate_panel.set_task(task)
        window.evaluate_panel.show_metrics(metrics(), "Final evaluation of the completed run.")
        qtbot.wait(50)
        page = window.stack.currentWidget()
        problems += [f"{task} evaluate: {p}" for p in cut_labels(page) + small_plots(page)]
        window.show_page("playground")
        playground = window.playground_panel
        with qtbot.waitSignal(playground.service.sig_loaded, timeout=10_000):
            playground.set_model(f"/runs/{task}")
        for name in playground.inputs:
            playground._edit(name).setPlainText(inputs[name])
        with qtbot.waitSignal(playground.sig_prediction_shown, timeout=10_000):
            qtbot.mouseClick(playground.predict_button, LEFT)
        qtbot.wait(50)
        page = window.stack.currentWidget()
        problems += [f"{task} playground: {p}" for p in cut_labels(page) + small_plots(page)]
    assert problems == []
    window.close()


# ---- a real run ---------------------------------------------------------------------------
DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


@pytest.mark.slow
def test_a_real_token_classification_run_fills_both_views(qtbot, tmp_path):
    conll = DATA / "conll2003" / "train.txt"
    if not conll.exists():
        pytest.skip("CoNLL-2003 is not in shared/data")
    from workbench import engine
    from workbench.config import RunConfig

    sentences = conll.read_text(encoding="utf-8").split("\n\n")[:80]
    data = tmp_path / "ner.txt"
    data.write_text("\n\n".join(sentences) + "\n", encoding="utf-8")
    config = RunConfig(
        data=str(data), task="token-classification", epochs=1, batch_size=16, max_length=48
    )
    events = []
    result = engine.train(config, on_event=events.append)
    assert result.status == "completed"
    runner = FakeRunner()
    panel = make_evaluate(qtbot)
    panel.connect_runner(runner)
    runner.sig_run_started.emit(next(e for e in events if isinstance(e, RunStarted)))
    runner.sig_run_finished.emit(next(e for e in events if isinstance(e, RunFinished)))
    view = panel.view
    assert panel.task == "token-classification" and view.metrics["entity_f1"] >= 0
    assert view.card_values["token_accuracy"].text().endswith("%")
    assert set(view.report.names) <= {"LOC", "MISC", "ORG", "PER"} and view.report.names
    assert view.table.shown_rows() and view.gold_view.highlighted()  # gold entities drawn
    for kind in view.gold_view.spans:
        assert view.gold_view.text[kind.start : kind.end].strip()

    playground = PlaygroundPanel()  # the real engine.load_predictor
    qtbot.addWidget(playground)
    with qtbot.waitSignal(playground.service.sig_loaded, timeout=120_000):
        playground.set_model(str(result.run_dir))
    assert playground.task == "token-classification" and playground.shown_inputs() == ("text",)
    text = "Angela Merkel visited Paris with Airbus staff."
    result = predict(qtbot, playground, {"text": text})
    view = playground.output_view
    for entity in result["entities"]:  # whatever it found is drawn where it is
        assert (
            text[entity["start"] : entity["end"]],
            entity["type"],
        ) in view.highlighter.highlighted()
    legend = view.highlighter.legend.text()
    assert all(kind in legend for kind in ("LOC", "MISC", "ORG", "PER"))
    playground.shutdown()
