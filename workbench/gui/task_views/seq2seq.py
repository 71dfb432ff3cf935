"""Summarisation and translation (seq2seq): ROUGE-L, ROUGE-1/2, BLEU and loss as cards, and
a few evaluation sources with their reference and what the model wrote; the Playground
streams the target for a source text with the sampling controls (`GENERATIVE`)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QTextBrowser

from workbench.gui.task_views.base import EvaluateView, OutputView, as_dict, as_list, boxed, muted
from workbench.gui.widgets.generations import generations_html

TITLE = "Summarisation / translation"
INPUTS = {
    "text": ("Source text", "Paste a dialogue or document to summarise, or a text to translate."),
}
HINT = ""
GENERATIVE = True
ECHO_PROMPT = False
"""The output is a new text (a summary, a translation), not a continuation: the Playground
shows it alone, without the source before it."""

MESSAGES = {
    "note": (
        "ROUGE and BLEU compare what the model wrote (greedy) with the reference texts: "
        "0 % shares nothing, 100 % is identical."
    ),
    "examples": "Evaluation sources: the reference and what the model wrote",
    "output": "Generated",
}


class Seq2SeqEvaluateView(EvaluateView):
    CARDS = ("rougeL", "rouge1", "rouge2", "bleu", "loss")
    NOTE = MESSAGES["note"]

    def build(self) -> None:
        self.examples_view = QTextBrowser()
        self.examples_view.setObjectName("evaluateSeq2SeqExamples")
        self.examples_view.setMinimumHeight(140)
        self.examples_box = boxed(MESSAGES["examples"], self.examples_view)
        self.examples_box.setVisible(False)
        self.add(self.examples_box, 1)

    def show_details(self, metrics: dict[str, Any]) -> None:
        examples = [as_dict(e) for e in as_list(metrics.get("examples"))]
        shown = [
            {"prompt": e.get("source"), "reference": e.get("target"), "output": e.get("generated")}
            for e in examples
        ]
        self.examples_view.setHtml(generations_html([(-1, shown)] if shown else []))
        self.examples_box.setVisible(bool(shown))


class Seq2SeqOutputView(OutputView):
    def build(self) -> None:
        self.add(muted(MESSAGES["output"]))
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.text.setTextFormat(Qt.TextFormat.PlainText)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.text.setStyleSheet("font-size: 15px;")
        self.add(self.text)

    def show_output(self, result: dict[str, Any], inputs: dict[str, str]) -> None:
        self.text.setText(str(result.get("text", "")))

    def clear(self) -> None:
        self.text.setText("")


EVALUATE_VIEW = Seq2SeqEvaluateView
OUTPUT_VIEW = Seq2SeqOutputView
