"""Causal language modelling: perplexity (before → after training) and loss; the Playground
streams the continuation of a prompt with the sampling controls (`GENERATIVE`), and its
Next tokens button shows the likeliest next tokens with their probabilities."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QTextBrowser

from workbench.gui.task_views.base import EvaluateView, OutputView, as_dict, as_list, boxed, muted
from workbench.gui.task_views.masked_lm import show_perplexity
from workbench.gui.widgets.generations import generations_html
from workbench.gui.widgets.probability_bars import ProbabilityBarsWidget

TITLE = "Causal language model"
INPUTS = {
    "text": ("Prompt", "Type the start of a text, e.g. “Once upon a time”."),
}
HINT = ""  # the sampling controls beside the prompt say how it is continued
GENERATIVE = True
"""The Playground offers Generate/Stop and the sampling controls (streamed generation)."""

MESSAGES = {
    "note": "Perplexity: how surprised the model is by the held-out text (lower is better).",
    "tokens": " Scored on {count:,} predicted tokens.",
    "continuation": "Continuation",
    "next": "Likeliest next tokens",
    "empty": "(the model ended the text here)",
    "generations": "What the model writes for the first validation prompts (greedy)",
}


class CausalLMEvaluateView(EvaluateView):
    CARDS = ("perplexity", "loss")
    NOTE = MESSAGES["note"]

    def build(self) -> None:
        self.generations_view = QTextBrowser()
        self.generations_view.setObjectName("evaluateGenerations")
        self.generations_view.setMinimumHeight(140)
        self.generations_box = boxed(MESSAGES["generations"], self.generations_view)
        self.generations_box.setVisible(False)
        self.add(self.generations_box, 1)

    def show_details(self, metrics: dict[str, Any]) -> None:
        generations = [as_dict(g) for g in as_list(metrics.get("generations"))]
        self.generations_view.setHtml(generations_html([(-1, generations)] if generations else []))
        self.generations_box.setVisible(bool(generations))
        show_perplexity(self.cards, metrics)
        tokens = metrics.get("predicted_tokens")
        note = MESSAGES["note"]
        if isinstance(tokens, int) and not isinstance(tokens, bool):
            note += MESSAGES["tokens"].format(count=tokens)
        self.note.setText(note)


class CausalLMOutputView(OutputView):
    def build(self) -> None:
        self.add(muted(MESSAGES["continuation"]))
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.text.setTextFormat(Qt.TextFormat.PlainText)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.text.setStyleSheet("font-size: 15px;")
        self.add(self.text)
        self.add(muted(MESSAGES["next"]))
        self.bars = ProbabilityBarsWidget()
        self.add(self.bars)

    def show_output(self, result: dict[str, Any], inputs: dict[str, str]) -> None:
        continuation = str(result.get("continuation", ""))
        prompt = str(result.get("text", inputs.get("text", "")))
        self.text.setText(prompt + continuation if continuation else MESSAGES["empty"])
        scores: dict[str, float] = {}
        for item in (as_dict(i) for i in as_list(result.get("next_tokens"))):
            token, probability = repr(str(item.get("token", "")))[1:-1], item.get("probability")
            if isinstance(probability, (int, float)) and token not in scores:
                scores[token] = float(probability)
        self.bars.set_scores(scores)

    def clear(self) -> None:
        self.text.setText("")
        self.bars.set_scores({})


EVALUATE_VIEW = CausalLMEvaluateView
OUTPUT_VIEW = CausalLMOutputView
