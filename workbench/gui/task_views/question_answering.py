"""Extractive question answering: F1 and exact match, and each question with its context,
the gold and the predicted answer highlighted (green where they agree); the Playground
highlights the answer in the context, with its score and the runners-up."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout

from workbench.engine.metrics.squad import f1 as answer_f1
from workbench.gui.metric_format import format_metric
from workbench.gui.task_views.base import (
    SHARE,
    EvaluateView,
    OutputView,
    as_dict,
    as_list,
    boxed,
    muted,
)
from workbench.gui.widgets.entity_highlighter import ColorMap, EntityHighlighterWidget, Span
from workbench.gui.widgets.examples_table import Column, ExamplesTableWidget

TITLE = "Question answering"
INPUTS = {
    "text": ("Question", "Ask a question the context answers, e.g. “Where was Marie Curie born?”"),
    "context": (
        "Context",
        "Paste the passage that holds the answer, e.g. “Marie Curie was born in Warsaw in 1867 "
        "and moved to Paris in 1891.”",
    ),
}
HINT = ""

GOLD, PREDICTED = "gold", "predicted"
BOTH = f"{GOLD}+{PREDICTED}"
ANSWER = "answer"
COLORS = {GOLD: "#a5d8ff", PREDICTED: "#ffd8a8", BOTH: "#b2f2bb", ANSWER: "#b2f2bb"}

MESSAGES = {
    "questions": "Questions",
    "caption": "{count:,} questions, the worst answered (lowest F1) first. Select one to see "
    "its context.",
    "no_examples": "These results list no questions (evaluations during training and on "
    "another file keep only the numbers).",
    "position": "Question {n:,} of {total:,}",
    "none_selected": "Select a question above.",
    "previous": "◀ Previous",
    "next": "Next ▶",
    "titles": {GOLD: "Gold answer", PREDICTED: "Predicted answer", BOTH: "Both agree"},
    "answer_title": {ANSWER: "Answer"},
    "no_answer": "(no answer)",
    "answer_line": "Predicted: {predicted}   ·   Gold: {gold}   ·   Score {score}",
    "score": "Score {score}",
    "top_k": "Other candidates",
    "candidate": "{n}. {answer} ({score})",
}

QUESTION_COLUMNS = (
    Column("Question", "text", stretch=True),
    Column("Predicted answer", "text"),
    Column("Gold answers", "text"),
    Column("Score", "share"),
    Column("F1", "f1"),
)


def find_span(context: str, answer: str, near: Sequence[Span] = ()) -> Span | None:
    """Where `answer` is in the context: the occurrence overlapping a span in `near` (the
    gold answers) if there is one, else the first; None when it is not there."""
    if not answer:
        return None
    starts, position = [], context.find(answer)
    while position >= 0 and len(starts) < 50:
        starts.append(position)
        position = context.find(answer, position + 1)
    if not starts:
        return None
    for start in starts:
        if any(start < s.end and s.start < start + len(answer) for s in near):
            return Span(start, start + len(answer), PREDICTED)
    return Span(starts[0], starts[0] + len(answer), PREDICTED)


def _score_f1(predicted: str, golds: list[str]) -> float | None:
    try:
        return answer_f1(predicted, golds)
    except Exception:  # no gold answers to compare with
        return None


class QAEvaluateView(EvaluateView):
    CARDS = ("f1", "exact_match", "loss")

    def build(self) -> None:
        self.questions: list[dict[str, Any]] = []
        self.table = ExamplesTableWidget(noun="questions")
        self.table.set_columns(QUESTION_COLUMNS)
        self.table.sort_by("F1", descending=False)
        self.table.view.setMinimumHeight(160)
        self.caption = muted()
        self.position = muted(MESSAGES["none_selected"])
        self.previous_button = QPushButton(MESSAGES["previous"])
        self.next_button = QPushButton(MESSAGES["next"])
        self.question_label = QLabel()
        self.question_label.setWordWrap(True)
        self.question_label.setStyleSheet("font-weight: 600;")
        self.question_label.setTextFormat(Qt.TextFormat.PlainText)
        self.answer_label = muted()
        self.answer_label.setTextFormat(Qt.TextFormat.PlainText)
        self.context_view = EntityHighlighterWidget(
            show_tags=False, max_height=220, colors=ColorMap(fixed=COLORS)
        )
        self.context_view.set_titles(MESSAGES["titles"])
        browse = QHBoxLayout()
        browse.addWidget(self.position, 1)
        browse.addWidget(self.previous_button, 0, Qt.AlignmentFlag.AlignTop)
        browse.addWidget(self.next_button, 0, Qt.AlignmentFlag.AlignTop)
        box = boxed(MESSAGES["questions"], self.caption, self.table)
        inner = box.layout()
        assert isinstance(inner, QVBoxLayout)
        inner.addLayout(browse)
        inner.addWidget(self.question_label)
        inner.addWidget(self.answer_label)
        inner.addWidget(self.context_view)
        self.questions_box = box
        self.add(box, 1)
        self.table.sig_row_selected.connect(self._on_table_row_selected)
        self.previous_button.clicked.connect(self._on_previous_button_clicked)
        self.next_button.clicked.connect(self._on_next_button_clicked)

    def show_details(self, metrics: dict[str, Any]) -> None:
        self.questions = []
        rows = []
        for raw in as_list(metrics.get("examples")):
            row = as_list(raw)
            if len(row) < 4:
                continue
            question, context = str(row[0]), str(row[1])
            golds = [str(g) for g in as_list(row[2]) if g is not None]
            predicted = "" if row[3] is None else str(row[3])
            score = row[4] if len(row) > 4 else None
            gold_spans = []
            for gold in golds:
                span = find_span(context, gold)
                if span is not None:
                    gold_spans.append(Span(span.start, span.end, GOLD))
            predicted_span = find_span(context, predicted, gold_spans)
            spans = gold_spans + ([predicted_span] if predicted_span else [])
            self.questions.append(
                {
                    "question": question,
                    "context": context,
                    "golds": golds,
                    "predicted": predicted,
                    "score": score,
                    "spans": spans,
                }
            )
            rows.append([question, predicted, golds, score, _score_f1(predicted, golds)])
        self.table.set_rows(rows)
        self.caption.setText(
            MESSAGES["caption"].format(count=len(rows)) if rows else MESSAGES["no_examples"]
        )
        self.questions_box.setVisible(bool(metrics))
        self._set_detail_visible(bool(rows))  # else the caption says why
        self.show_question(-1)
        if rows:
            self.table.select_shown(0)

    def _set_detail_visible(self, visible: bool) -> None:
        for widget in (
            self.table,
            self.position,
            self.previous_button,
            self.next_button,
            self.question_label,
            self.answer_label,
            self.context_view,
        ):
            widget.setVisible(visible)

    def show_question(self, index: int) -> None:
        if not 0 <= index < len(self.questions):
            self.question_label.setText("")
            self.answer_label.setText("")
            self.context_view.clear()
            self.position.setText(MESSAGES["none_selected"])
            return
        item = self.questions[index]
        self.question_label.setText(item["question"])
        self.answer_label.setText(
            MESSAGES["answer_line"].format(
                predicted=item["predicted"] or MESSAGES["no_answer"],
                gold=" | ".join(item["golds"]) or MESSAGES["no_answer"],
                score=format_metric(SHARE, item["score"]),
            )
        )
        self.context_view.set_text(item["context"], item["spans"])
        self.position.setText(
            MESSAGES["position"].format(
                n=self.table.current_position() + 1, total=len(self.table.shown_indexes())
            )
        )

    @Slot(int)
    def _on_table_row_selected(self, row: int) -> None:
        self.show_question(row)

    @Slot()
    def _on_previous_button_clicked(self) -> None:
        self.table.step(-1)

    @Slot()
    def _on_next_button_clicked(self) -> None:
        self.table.step(1)


class QAOutputView(OutputView):
    def build(self) -> None:
        self.answer_label = QLabel("—")
        self.answer_label.setWordWrap(True)
        self.answer_label.setStyleSheet("font-size: 22px; font-weight: 600;")
        self.answer_label.setTextFormat(Qt.TextFormat.PlainText)
        self.answer_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.score_label = muted()
        self.context_view = EntityHighlighterWidget(
            show_tags=False, max_height=200, colors=ColorMap(fixed=COLORS)
        )
        self.context_view.set_titles(MESSAGES["answer_title"])
        self.top_k_title = muted(MESSAGES["top_k"])
        self.top_k_label = QLabel()
        self.top_k_label.setWordWrap(True)
        self.top_k_label.setTextFormat(Qt.TextFormat.PlainText)
        for widget in (
            self.answer_label,
            self.score_label,
            self.context_view,
            self.top_k_title,
            self.top_k_label,
        ):
            self.add(widget)

    def show_output(self, result: dict[str, Any], inputs: dict[str, str]) -> None:
        answer = str(result.get("answer") or "")
        self.answer_label.setText(answer or MESSAGES["no_answer"])
        self.score_label.setText(
            MESSAGES["score"].format(score=format_metric(SHARE, result.get("score")))
        )
        context = inputs.get("context", "")
        span = {"start": result.get("start"), "end": result.get("end"), "type": ANSWER}
        self.context_view.set_text(context, [span] if answer else [])
        others = []
        for n, raw in enumerate(as_list(result.get("top_k"))[1:], start=2):
            entry = as_dict(raw) if not isinstance(raw, str) else {"answer": raw}
            others.append(
                MESSAGES["candidate"].format(
                    n=n,
                    answer=entry.get("answer") or MESSAGES["no_answer"],
                    score=format_metric(SHARE, entry.get("score")),
                )
            )
        self.top_k_label.setText("\n".join(others))
        self.top_k_title.setVisible(bool(others))
        self.top_k_label.setVisible(bool(others))

    def clear(self) -> None:
        self.answer_label.setText("—")
        self.score_label.setText("")
        self.context_view.clear()
        self.top_k_label.setText("")


EVALUATE_VIEW = QAEvaluateView
OUTPUT_VIEW = QAOutputView
