"""The view of a task this GUI has no own view for: every known scalar metric as a card, the
report if there is one, and a prediction as plain lines of text."""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

from workbench.gui.metric_format import scalar_metrics
from workbench.gui.task_views.base import EvaluateView, OutputView, as_dict, boxed
from workbench.gui.widgets.report_table import ReportTableWidget

TITLE = "Other task"
INPUTS = {
    "text": ("Text", "Type or paste a text here."),
    "text_pair": ("Second text", "The second text of the pair."),
    "context": ("Context", "The passage to read."),
}
HINT = ""

MESSAGES = {"report": "Report"}


class GenericEvaluateView(EvaluateView):
    def build(self) -> None:
        self.report = ReportTableWidget()
        self.report_box = boxed(MESSAGES["report"], self.report)
        self.report_box.setVisible(False)
        self.add(self.report_box)

    def show_metrics(self, metrics: Any) -> None:
        names = [name for name, _ in scalar_metrics(as_dict(metrics))]
        self.cards.set_names(names)
        super().show_metrics(metrics)

    def show_details(self, metrics: dict[str, Any]) -> None:
        report = as_dict(metrics.get("report"))
        self.report.set_report(report)
        self.report_box.setVisible(bool(report))


class GenericOutputView(OutputView):
    def build(self) -> None:
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.text.setTextFormat(Qt.TextFormat.PlainText)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.add(self.text)

    def show_output(self, result: dict[str, Any], inputs: dict[str, str]) -> None:
        self.text.setText(json.dumps(result, indent=2, ensure_ascii=False, default=str))

    def clear(self) -> None:
        self.text.setText("")


EVALUATE_VIEW = GenericEvaluateView
OUTPUT_VIEW = GenericOutputView
