"""Masked language modelling: perplexity (before → after training when the run measured
it) and loss; the Playground lists the likeliest words for each [MASK] with their scores."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from workbench.gui.metric_format import format_metric, metric_title
from workbench.gui.task_views.base import SHARE, EvaluateView, OutputView, as_dict, as_list, muted
from workbench.gui.widgets.probability_bars import ProbabilityBarsWidget

TITLE = "Masked language model"
MASK = "[MASK]"
INPUTS = {
    "text": (
        "Text with [MASK]",
        "Type a sentence with [MASK] where a word is missing, e.g. “Paris is the [MASK] of France.”",
    ),
}
HINT = "Put {mask} where a word is missing; each {mask} gets its own list of words."

MESSAGES = {
    "note": "Perplexity: how surprised the model is by the held-out text (lower is better).",
    "tokens": " Scored on {count:,} masked tokens.",
    "before_after": "{before} → {after}",
    "before_title": "{title} (before → after)",
    "nsp": "Next-sentence accuracy",
    "mask": "[MASK] {n}",
    "best": "{text}",
    "no_masks": "No [MASK] in the text.",
}


def show_perplexity(cards: Any, metrics: dict[str, Any]) -> None:
    """The perplexity card, as "before → after" when the run measured it before training."""
    before = metrics.get("perplexity_before")
    title = metric_title("perplexity")
    if before is None:
        cards.set_title("perplexity", title)
        return
    cards.set_title("perplexity", MESSAGES["before_title"].format(title=title))
    cards.set_value_text(
        "perplexity",
        MESSAGES["before_after"].format(
            before=format_metric("perplexity", before),
            after=format_metric("perplexity", metrics.get("perplexity")),
        ),
    )


class MaskedLMEvaluateView(EvaluateView):
    CARDS = ("perplexity", "loss", "nsp_accuracy")
    NOTE = MESSAGES["note"]

    def build(self) -> None:
        self.cards.set_title("nsp_accuracy", MESSAGES["nsp"])

    def show_details(self, metrics: dict[str, Any]) -> None:
        show_perplexity(self.cards, metrics)
        # a share, written like accuracy (the engine's name is not a known metric title)
        self.cards.set_value_text("nsp_accuracy", format_metric(SHARE, metrics.get("nsp_accuracy")))
        self.cards.set_card_visible("nsp_accuracy", "nsp_accuracy" in metrics)
        tokens = metrics.get("masked_tokens")
        note = MESSAGES["note"]
        if isinstance(tokens, int) and not isinstance(tokens, bool):
            note += MESSAGES["tokens"].format(count=tokens)
        self.note.setText(note)


class MaskFillsWidget(QWidget):
    """One mask: its title, the text with the best word filled in, and a bar per word."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = muted()
        self.best = QLabel()
        self.best.setWordWrap(True)
        self.best.setTextFormat(Qt.TextFormat.PlainText)
        self.best.setStyleSheet("font-size: 16px; font-weight: 600;")
        self.bars = ProbabilityBarsWidget()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 4)
        layout.addWidget(self.title)
        layout.addWidget(self.best)
        layout.addWidget(self.bars)


class MaskedLMOutputView(OutputView):
    def build(self) -> None:
        self.empty = muted(MESSAGES["no_masks"])
        self.empty.setVisible(False)
        self.add(self.empty)
        self.masks: list[MaskFillsWidget] = []
        self.shown: list[list[tuple[str, float]]] = []

    def show_output(self, result: dict[str, Any], inputs: dict[str, str]) -> None:
        masks = [as_dict(m) for m in as_list(result.get("masks"))]
        while len(self.masks) < len(masks):
            widget = MaskFillsWidget()
            self._layout.insertWidget(len(self.masks) + 1, widget)
            self.masks.append(widget)
        self.shown = []
        for i, widget in enumerate(self.masks):
            widget.setVisible(i < len(masks))
            if i >= len(masks):
                continue
            fills = [as_dict(f) for f in as_list(masks[i].get("fills"))]
            scores: dict[str, float] = {}
            for fill in fills:
                token, score = str(fill.get("token", "")), fill.get("score")
                if isinstance(score, (int, float)) and token not in scores:
                    scores[token] = float(score)
            widget.title.setText(MESSAGES["mask"].format(n=i + 1))
            widget.best.setText(str(fills[0].get("text", "")) if fills else "")
            widget.bars.set_scores(scores)
            self.shown.append(list(widget.bars.shown))
        self.empty.setVisible(not masks)

    def clear(self) -> None:
        for widget in self.masks:
            widget.setVisible(False)
        self.shown = []
        self.empty.setVisible(False)


EVALUATE_VIEW = MaskedLMEvaluateView
OUTPUT_VIEW = MaskedLMOutputView
