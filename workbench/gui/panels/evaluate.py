"""Evaluate: accuracy, macro-F1 and loss, the per-class report and the confusion matrix."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from workbench.engine.events import EvalFinished, RunFinished
from workbench.gui.widgets.confusion_matrix import ConfusionMatrixWidget

MESSAGES = {
    "empty": "Train a model to see how well it does on the evaluation data.",
    "during": "Evaluation at step {step} (epoch {epoch:.2f}); training goes on.",
    "final": "Final evaluation of the {status} run in {run_dir}.",
    "failed": "The last run failed before it could be evaluated.",
    "last_only": "The run {status} without a final evaluation; showing the last one during training.",
}

CARDS = (
    ("accuracy", "Accuracy", "{:.1%}"),
    ("f1_macro", "Macro F1", "{:.3f}"),
    ("loss", "Loss", "{:.4f}"),
)
REPORT_COLUMNS = (
    ("precision", "Precision"),
    ("recall", "Recall"),
    ("f1", "F1"),
    ("support", "Support"),
)


class EvaluatePanel(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.metrics: dict[str, Any] = {}
        self._build()

    def _build(self) -> None:
        self.caption = QLabel(MESSAGES["empty"])
        self.caption.setWordWrap(True)
        self.card_values: dict[str, QLabel] = {}
        cards = QHBoxLayout()
        for key, title, _ in CARDS:
            frame = QFrame()
            frame.setFrameShape(QFrame.Shape.StyledPanel)
            frame_layout = QVBoxLayout(frame)
            caption = QLabel(title)
            caption.setStyleSheet("color: palette(placeholder-text);")
            value = QLabel("—")
            value.setStyleSheet("font-size: 26px; font-weight: 600;")
            frame_layout.addWidget(caption)
            frame_layout.addWidget(value)
            cards.addWidget(frame, 1)
            self.card_values[key] = value

        self.report_table = QTableWidget(0, len(REPORT_COLUMNS))
        self.report_table.setHorizontalHeaderLabels([title for _, title in REPORT_COLUMNS])
        self.report_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.report_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.report_table.setMinimumWidth(380)
        report_box = QGroupBox("Per class")
        QVBoxLayout(report_box).addWidget(self.report_table)

        self.matrix = ConfusionMatrixWidget()
        matrix_box = QGroupBox("Confusion matrix")
        QVBoxLayout(matrix_box).addWidget(self.matrix)

        details = QHBoxLayout()
        details.setAlignment(Qt.AlignmentFlag.AlignTop)
        details.addWidget(report_box, 1)
        details.addWidget(matrix_box, 1)

        layout = QVBoxLayout(self)
        layout.addWidget(self.caption)
        layout.addLayout(cards)
        layout.addLayout(details)
        layout.addStretch(1)

    # ---- public API ---------------------------------------------------------------------
    def connect_runner(self, runner) -> None:
        runner.sig_eval_finished.connect(self._on_runner_eval_finished)
        runner.sig_run_finished.connect(self._on_runner_run_finished)

    def show_metrics(self, metrics: dict[str, Any], caption: str) -> None:
        self.metrics = dict(metrics)
        self.caption.setText(caption)
        for key, _, pattern in CARDS:
            value = metrics.get(key)
            self.card_values[key].setText(
                pattern.format(value) if isinstance(value, (int, float)) else "—"
            )
        labels = [str(label) for label in metrics.get("labels", [])]
        report = metrics.get("report", {}) or {}
        self.report_table.setRowCount(len(labels))
        self.report_table.setVerticalHeaderLabels(labels)
        for row, label in enumerate(labels):
            entry = report.get(label, {})
            for column, (key, _) in enumerate(REPORT_COLUMNS):
                value = entry.get(key)
                if key == "support" and isinstance(value, (int, float)):
                    text = f"{int(value):,}"
                elif isinstance(value, (int, float)):
                    text = f"{value:.3f}"
                else:
                    text = "—"
                item = QTableWidgetItem(text)
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.report_table.setItem(row, column, item)
        table = self.report_table
        rows_height = sum(table.rowHeight(r) for r in range(table.rowCount()))
        table.setFixedHeight(
            min(420, table.horizontalHeader().height() + rows_height + 2 * table.frameWidth())
        )
        matrix = metrics.get("confusion_matrix") or []
        if labels and matrix:
            self.matrix.set_matrix(labels, matrix)
        else:
            self.matrix.clear()

    # ---- slots --------------------------------------------------------------------------
    @Slot(object)
    def _on_runner_eval_finished(self, event: EvalFinished) -> None:
        self.show_metrics(
            event.metrics, MESSAGES["during"].format(step=event.step, epoch=event.epoch)
        )

    @Slot(object)
    def _on_runner_run_finished(self, event: RunFinished) -> None:
        if "accuracy" in event.metrics:
            caption = MESSAGES["final"].format(status=event.status, run_dir=event.run_dir)
            self.show_metrics(event.metrics, caption)
        elif event.status == "failed":
            self.caption.setText(MESSAGES["failed"])
        elif self.metrics:  # no final evaluation: the last one during training stays
            self.caption.setText(MESSAGES["last_only"].format(status=event.status))


if __name__ == "__main__":
    from workbench.gui.standalone import run_alone

    raise SystemExit(run_alone(EvaluatePanel))
