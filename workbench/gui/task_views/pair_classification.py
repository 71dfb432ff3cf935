"""Pair classification (NLI, paraphrase): the classification view with the positive class's
F1 as a card when the labels have one; the Playground takes two texts."""

from __future__ import annotations

from typing import Any

from workbench.gui.metric_format import metric_title
from workbench.gui.task_views.text_classification import (
    ClassificationEvaluateView,
    ClassificationOutputView,
)

TITLE = "Pair classification"
INPUTS = {
    "text": ("First text", "The first text of the pair, e.g. “A man is playing a guitar.”"),
    "text_pair": ("Second text", "The second text, e.g. “Someone is making music.”"),
}
HINT = ""

MESSAGES = {"f1_title": "{title} ({label})"}


class PairEvaluateView(ClassificationEvaluateView):
    CARDS = ("accuracy", "f1", "f1_macro", "loss")

    def show_details(self, metrics: dict[str, Any]) -> None:
        super().show_details(metrics)
        positive = metrics.get("positive_label")
        self.cards.set_card_visible("f1", "f1" in metrics or not metrics)
        title = metric_title("f1")
        if positive is not None:
            title = MESSAGES["f1_title"].format(title=title, label=positive)
        self.cards.set_title("f1", title)


EVALUATE_VIEW = PairEvaluateView
OUTPUT_VIEW = ClassificationOutputView
