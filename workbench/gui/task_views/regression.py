"""Regression: Pearson, Spearman and MSE, a predicted-vs-true scatter with the identity line,
and the examples sorted by their error; the Playground shows the predicted number."""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import QLabel

from workbench.gui.metric_format import format_metric
from workbench.gui.task_views.base import EvaluateView, OutputView, as_list, boxed, muted
from workbench.gui.widgets.examples_table import Column, ExamplesTableWidget
from workbench.gui.widgets.scatter_plot import ScatterPlotWidget

TITLE = "Regression"
INPUTS = {
    "text": ("Text", "Type a text to score, e.g. “The service was quick and friendly.”"),
    "text_pair": ("Second text", "The second text of the pair (this model scores pairs)."),
}
HINT = ""
VALUE = "value"  # no metric name: format_metric writes four significant digits

MESSAGES = {
    "scatter": "Predicted against true values",
    "examples": "Examples",
    "caption": "{count:,} examples, the largest error first. Click a point to find its example.",
    "no_examples": "These results list no examples (evaluations during training and on "
    "another file keep only the numbers).",
}

EXAMPLE_COLUMNS = (
    Column("Text", "text", stretch=True),
    Column("True", VALUE),
    Column("Predicted", VALUE),
    Column("Abs. error", VALUE),
)


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


class RegressionEvaluateView(EvaluateView):
    CARDS = ("pearson", "spearman", "mse")

    def build(self) -> None:
        self.scatter = ScatterPlotWidget()
        self.add(boxed(MESSAGES["scatter"], self.scatter))
        self.examples = ExamplesTableWidget()
        self.examples.set_columns(EXAMPLE_COLUMNS)
        self.examples.sort_by("Abs. error", descending=True)
        self.examples_caption = muted()
        self.examples_box = boxed(MESSAGES["examples"], self.examples_caption, self.examples)
        self.add(self.examples_box, 1)
        self.scatter.sig_point_clicked.connect(self._on_scatter_point_clicked)

    def show_details(self, metrics: dict[str, Any]) -> None:
        rows = []
        for raw in as_list(metrics.get("examples")):
            row = as_list(raw)
            if len(row) < 3:
                continue
            true, predicted = _number(row[1]), _number(row[2])
            error = abs(predicted - true) if true is not None and predicted is not None else None
            rows.append([row[0], true, predicted, error])
        self.rows = rows
        self.scatter.set_points([r[1] for r in rows], [r[2] for r in rows], [r[0] for r in rows])
        self.examples.set_rows(rows)
        self.examples_caption.setText(
            MESSAGES["caption"].format(count=len(rows)) if rows else MESSAGES["no_examples"]
        )
        self.examples_box.setVisible(bool(metrics))
        self.examples.setVisible(bool(rows))  # else the caption says why

    @Slot(int)
    def _on_scatter_point_clicked(self, index: int) -> None:
        self.examples.select_row(index)


class RegressionOutputView(OutputView):
    def build(self) -> None:
        self.value_label = QLabel("—")
        self.value_label.setStyleSheet("font-size: 30px; font-weight: 600;")
        self.value_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.add(muted("Predicted value"))
        self.add(self.value_label)

    def show_output(self, result: dict[str, Any], inputs: dict[str, str]) -> None:
        self.value_label.setText(format_metric(VALUE, result.get("value")))

    def clear(self) -> None:
        self.value_label.setText("—")


EVALUATE_VIEW = RegressionEvaluateView
OUTPUT_VIEW = RegressionOutputView
