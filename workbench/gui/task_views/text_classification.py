"""Text classification: cards, the per-class report, the confusion matrix, and the examples
behind a cell or a class, sortable by confidence and loss; the Playground shows the label
and a bar per class."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from workbench.gui.task_views.base import (
    EvaluateView,
    OutputView,
    as_dict,
    as_list,
    boxed,
    label_name,
    muted,
)
from workbench.gui.widgets.confusion_matrix import ConfusionMatrixWidget
from workbench.gui.widgets.examples_table import Column, ExamplesTableWidget
from workbench.gui.widgets.probability_bars import ProbabilityBarsWidget
from workbench.gui.widgets.report_table import ReportTableWidget

TITLE = "Text classification"
INPUTS = {
    "text": (
        "Text",
        "Type or paste a text here, e.g. “The battery lasts all day and the screen is great.”",
    ),
}
HINT = ""

MESSAGES = {
    "report": "Per class",
    "matrix": "Confusion matrix",
    "examples": "Examples",
    "all": "All {count:,} examples, the worst predicted (highest loss) first. Click a cell of "
    "the matrix or a class to see only those.",
    "cell": "{count:,} examples of true “{true}” predicted as “{predicted}”.",
    "true": "{count:,} examples of true “{true}”.",
    "no_examples": "These results list no examples (evaluations during training and on "
    "another file keep only the numbers).",
    "show_all": "Show all",
}

EXAMPLE_COLUMNS = (
    Column("Text", "text", stretch=True),
    Column("True", "text"),
    Column("Predicted", "text"),
    Column("Confidence", "share"),
    Column("Loss", "loss"),
)


class ClassificationEvaluateView(EvaluateView):
    CARDS = ("accuracy", "f1_macro", "loss")

    def build(self) -> None:
        self.labels: list[str] = []
        self.examples_data: list[tuple[int, int, list[Any]]] = []  # (true id, predicted id, row)
        self.selection: tuple[str, Any] | None = None
        self.report = ReportTableWidget()
        self.matrix = ConfusionMatrixWidget()
        details = QHBoxLayout()
        details.setAlignment(Qt.AlignmentFlag.AlignTop)
        details.addWidget(boxed(MESSAGES["report"], self.report), 0, Qt.AlignmentFlag.AlignTop)
        details.addWidget(boxed(MESSAGES["matrix"], self.matrix), 1)
        holder = QWidget()
        holder.setLayout(details)
        details.setContentsMargins(0, 0, 0, 0)
        self.add(holder)

        self.examples = ExamplesTableWidget()
        self.examples.set_columns(EXAMPLE_COLUMNS)
        self.examples.sort_by("Loss", descending=True)
        self.show_all_button = QPushButton(MESSAGES["show_all"])
        self.show_all_button.setEnabled(False)
        self.examples_caption = muted()
        top = QHBoxLayout()
        top.addWidget(self.examples_caption, 1)
        top.addWidget(self.show_all_button, 0, Qt.AlignmentFlag.AlignTop)
        box = boxed(MESSAGES["examples"])
        inner = box.layout()
        assert isinstance(inner, QVBoxLayout)
        inner.addLayout(top)
        inner.addWidget(self.examples)
        self.examples_box = box
        self.add(box, 1)

        self.matrix.sig_cell_clicked.connect(self._on_matrix_cell_clicked)
        self.report.sig_row_clicked.connect(self._on_report_row_clicked)
        self.show_all_button.clicked.connect(self._on_show_all_button_clicked)

    def show_details(self, metrics: dict[str, Any]) -> None:
        self.labels = [str(label) for label in as_list(metrics.get("labels"))]
        report = as_dict(metrics.get("report"))
        self.report.set_report(report, self.labels or list(report))
        matrix = as_list(metrics.get("confusion_matrix"))
        try:
            if self.labels and matrix:
                self.matrix.set_matrix(self.labels, matrix)
            else:
                self.matrix.clear()
        except (TypeError, ValueError, IndexError):
            self.matrix.clear()
        self.examples_data = []
        for raw in as_list(metrics.get("examples")):
            row = as_list(raw)
            if len(row) < 3:
                continue
            true, predicted = row[1], row[2]
            shown = [
                row[0],
                label_name(self.labels, true),
                label_name(self.labels, predicted),
                row[3] if len(row) > 3 else None,
                row[4] if len(row) > 4 else None,
            ]
            self.examples_data.append((_as_int(true), _as_int(predicted), shown))
        self.examples_box.setVisible(bool(metrics))
        self.examples.setVisible(bool(self.examples_data))  # else the caption says why
        self.show_examples(None)

    # ---- selecting examples -------------------------------------------------------------
    def show_examples(self, selection: tuple[str, Any] | None) -> None:
        """None: all; ("cell", (true, predicted)); ("true", true index)."""
        self.selection = selection
        if selection is None:
            rows = [row for _, _, row in self.examples_data]
            caption = MESSAGES["all"].format(count=len(rows))
            self.matrix.mark(None)
        elif selection[0] == "cell":
            t, p = selection[1]
            rows = [row for ti, pi, row in self.examples_data if (ti, pi) == (t, p)]
            caption = MESSAGES["cell"].format(
                count=len(rows),
                true=label_name(self.labels, t),
                predicted=label_name(self.labels, p),
            )
            self.matrix.mark((t, p))
        else:
            t = selection[1]
            rows = [row for ti, _, row in self.examples_data if ti == t]
            caption = MESSAGES["true"].format(count=len(rows), true=label_name(self.labels, t))
            self.matrix.mark(None)
        if not self.examples_data:
            caption = MESSAGES["no_examples"]
        self.examples_caption.setText(caption)
        self.examples.set_rows(rows)
        self.show_all_button.setEnabled(selection is not None)

    def select_cell(self, true_index: int, predicted_index: int) -> None:
        self.show_examples(("cell", (true_index, predicted_index)))

    def select_class(self, label: str) -> None:
        if label in self.labels:
            self.show_examples(("true", self.labels.index(label)))

    @Slot(int, int)
    def _on_matrix_cell_clicked(self, true_index: int, predicted_index: int) -> None:
        self.select_cell(true_index, predicted_index)

    @Slot(str)
    def _on_report_row_clicked(self, label: str) -> None:
        self.select_class(label)

    @Slot()
    def _on_show_all_button_clicked(self) -> None:
        self.show_examples(None)


def _as_int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


class ClassificationOutputView(OutputView):
    def build(self) -> None:
        self.label_value = QLabel("—")
        self.label_value.setStyleSheet("font-size: 24px; font-weight: 600;")
        self.label_value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.bars = ProbabilityBarsWidget()
        self.add(self.label_value)
        self.add(self.bars)

    def show_output(self, result: dict[str, Any], inputs: dict[str, str]) -> None:
        self.label_value.setText(str(result.get("label", "—")))
        scores = as_dict(result.get("scores"))
        self.bars.set_scores({k: v for k, v in scores.items() if isinstance(v, (int, float))})

    def clear(self) -> None:
        self.label_value.setText("—")
        self.bars.clear()


EVALUATE_VIEW = ClassificationEvaluateView
OUTPUT_VIEW = ClassificationOutputView
