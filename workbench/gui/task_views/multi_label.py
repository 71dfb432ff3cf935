"""Multi-label classification: micro and macro F1, the tuned threshold, the per-label report
and the examples with their true and predicted label sets; the Playground shows the labels
over the threshold as chips above a bar per label."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Slot
from PySide6.QtWidgets import QHBoxLayout, QLabel, QWidget

from workbench.gui.metric_format import format_metric
from workbench.gui.task_views.base import (
    EvaluateView,
    OutputView,
    as_dict,
    as_list,
    boxed,
    muted,
)
from workbench.gui.widgets.entity_highlighter import ColorMap
from workbench.gui.widgets.examples_table import Column, ExamplesTableWidget
from workbench.gui.widgets.probability_bars import ProbabilityBarsWidget
from workbench.gui.widgets.report_table import ReportTableWidget

TITLE = "Multi-label classification"
INPUTS = {
    "text": ("Text", "Type a text to tag, e.g. “Great camera, but the battery dies by noon.”"),
}
HINT = ""

MESSAGES = {
    "report": "Per label",
    "threshold": "A label is predicted when its probability is at least {threshold} "
    "(the threshold was tuned on the validation data).",
    "examples": "Examples",
    "all": "{count:,} examples, the most wrong first. Click a label to see the examples that "
    "have it or were given it.",
    "label": "{count:,} examples that have “{label}” or were given it.",
    "no_examples": "These results list no examples (evaluations during training and on "
    "another file keep only the numbers).",
    "chips": "Labels over the threshold",
    "chips_with": "Labels over the threshold ({threshold})",
    "none": "No label reaches the threshold.",
}

EXAMPLE_COLUMNS = (
    Column("Text", "text", stretch=True),
    Column("True labels", "text"),
    Column("Predicted labels", "text"),
    Column("Wrong", "errors"),
)


class MultiLabelEvaluateView(EvaluateView):
    CARDS = ("f1_micro", "f1_macro", "threshold", "loss")

    def build(self) -> None:
        self.report = ReportTableWidget()
        self.add(boxed(MESSAGES["report"], self.report))
        self.examples = ExamplesTableWidget()
        self.examples.set_columns(EXAMPLE_COLUMNS)
        self.examples.sort_by("Wrong", descending=True)
        self.examples_caption = muted()
        self.examples_box = boxed(MESSAGES["examples"], self.examples_caption, self.examples)
        self.add(self.examples_box, 1)
        self.rows: list[list[Any]] = []
        self.report.sig_row_clicked.connect(self._on_report_row_clicked)

    def show_details(self, metrics: dict[str, Any]) -> None:
        threshold = metrics.get("threshold")
        text = format_metric("threshold", threshold)
        self.note.setText(MESSAGES["threshold"].format(threshold=text))
        self.note.setVisible(threshold is not None)
        report = as_dict(metrics.get("report"))
        labels = [str(label) for label in as_list(metrics.get("labels"))]
        self.report.set_report(report, labels or list(report))
        self.rows = []
        for raw in as_list(metrics.get("examples")):
            row = as_list(raw)
            if len(row) < 3:
                continue
            true = [str(x) for x in as_list(row[1])]
            predicted = [str(x) for x in as_list(row[2])]
            wrong = len(set(true) ^ set(predicted))
            self.rows.append([row[0], true, predicted, wrong])
        self.examples_box.setVisible(bool(metrics))
        self.examples.setVisible(bool(self.rows))  # else the caption says why
        self.show_label(None)

    def show_label(self, label: str | None) -> None:
        if label is None:
            rows = self.rows
            caption = MESSAGES["all"].format(count=len(rows))
        else:
            rows = [r for r in self.rows if label in r[1] or label in r[2]]
            caption = MESSAGES["label"].format(count=len(rows), label=label)
        if not self.rows:
            caption = MESSAGES["no_examples"]
        self.examples_caption.setText(caption)
        self.examples.set_rows(rows)

    @Slot(str)
    def _on_report_row_clicked(self, label: str) -> None:
        self.show_label(label)


class ChipsWidget(QWidget):
    """Label names as rounded chips, coloured like the same label everywhere in the view."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._chips: list[QLabel] = []
        self.colors = ColorMap()
        self.empty = muted(MESSAGES["none"])
        self._layout.addWidget(self.empty)
        self._layout.addStretch(1)
        self.shown: list[str] = []

    def set_labels(self, labels: list[str]) -> None:
        for chip in self._chips:
            chip.deleteLater()
        self._chips = []
        self.shown = list(labels)
        for i, label in enumerate(labels):
            chip = QLabel(label)
            chip.setStyleSheet(
                f"background: {self.colors.color(label)}; color: black; border-radius: 10px;"
                " padding: 3px 10px; font-weight: 600;"
            )
            self._layout.insertWidget(i, chip)
            self._chips.append(chip)
        self.empty.setVisible(not labels)


class MultiLabelOutputView(OutputView):
    def build(self) -> None:
        self.chips_title = muted(MESSAGES["chips"])
        self.chips = ChipsWidget()
        self.bars = ProbabilityBarsWidget()
        self.add(self.chips_title)
        self.add(self.chips)
        self.add(self.bars)

    def set_info(self, info: Any) -> None:
        super().set_info(info)
        threshold = getattr(info, "threshold", None)
        self.chips_title.setText(
            MESSAGES["chips_with"].format(threshold=format_metric("threshold", threshold))
            if threshold is not None
            else MESSAGES["chips"]
        )
        for label in getattr(info, "labels", []) or []:
            self.chips.colors.color(str(label))

    def show_output(self, result: dict[str, Any], inputs: dict[str, str]) -> None:
        self.chips.set_labels([str(label) for label in as_list(result.get("labels"))])
        scores = as_dict(result.get("scores"))
        self.bars.set_scores({k: v for k, v in scores.items() if isinstance(v, (int, float))})

    def clear(self) -> None:
        self.chips.set_labels([])
        self.bars.clear()


EVALUATE_VIEW = MultiLabelEvaluateView
OUTPUT_VIEW = MultiLabelOutputView
