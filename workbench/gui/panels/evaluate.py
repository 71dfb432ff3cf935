"""Evaluate: the task's metrics, drawn by the task's view (cards, report, confusion matrix,
highlighted entities, answers in their context, a scatter of predicted against true …).

The view follows the task: `set_task(name)` (the Model page's choice) and the task of the
run in progress (RunStarted.task; RunFinished metrics do not name it). "Evaluate on another
file…" runs `engine.evaluate(run_dir, path)` off the GUI thread and shows its metrics in
the same view.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from workbench import engine
from workbench.engine.events import EvalFinished, RunFinished, RunStarted
from workbench.gui import task_views
from workbench.gui.metric_format import scalar_metrics
from workbench.gui.predictor_service import DEFAULT_TASK
from workbench.gui.task_views.base import EvaluateView
from workbench.gui.tasks import Task, run_task
from workbench.gui.widgets.inline_message import InlineMessageWidget

EvaluateFn = Callable[[str, str], dict]

MESSAGES = {
    "empty": "Train a model to see how well it does on the evaluation data.",
    "during": "Evaluation at step {step} (epoch {epoch:.2f}); training goes on.",
    "final": "Final evaluation of the {status} run in {run_dir}.",
    "waiting": "Training: the first evaluation comes after a few steps.",
    "failed": "The last run failed before it could be evaluated.",
    "last_only": "The run {status} without a final evaluation; showing the last one during training.",
    "file": "Evaluation of {run} on {file}.",
    "scope_sample": " Measured on a sample of {count:,} examples.",
    "scope_all": " Measured on all {count:,} examples.",
    "scope_count": " Measured on {count:,} examples.",
    "evaluate_file": "Evaluate on another file…",
    "evaluate_tip": "Score the last trained model on a labelled file with the same columns",
    "no_run": "Train a model first: evaluating a file needs a trained model.",
    "evaluating": "Evaluating on {file}…",
    "evaluated": "Evaluated on {file}.",
    "choose_title": "Choose a labelled file to evaluate on",
    "file_filter": "Data files (*.csv *.tsv *.txt *.json *.jsonl *.xlsx *.parquet *.conll);;"
    "All files (*)",
}


def _ask_data_file(parent: QWidget, title: str, folder: str) -> str:
    path, _ = QFileDialog.getOpenFileName(parent, title, folder, MESSAGES["file_filter"])
    return path


def has_results(metrics: dict[str, Any]) -> bool:
    """Whether a metrics dict holds an evaluation (a failed run's has none)."""
    return bool(scalar_metrics(metrics)) or "report" in metrics


class EvaluatePanel(QWidget):
    sig_metrics_shown = Signal(str, dict)  # task, metrics
    sig_file_evaluated = Signal(dict)  # metrics of "Evaluate on another file…"
    sig_file_evaluation_failed = Signal(str)

    ask_data_file = staticmethod(_ask_data_file)  # tests replace this to answer the dialog

    def __init__(
        self, evaluate_fn: EvaluateFn | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self._evaluate_fn = evaluate_fn or engine.evaluate
        self.metrics: dict[str, Any] = {}
        self.task = DEFAULT_TASK
        self.run_task = ""  # the task of the run whose events arrive
        self.run_dir = ""
        self.views: dict[str, EvaluateView] = {}
        self._file_task: Task | None = None
        self._file_path = ""
        self._build()
        self._switch(self.task)

    def _build(self) -> None:
        self.caption = QLabel(MESSAGES["empty"])
        self.caption.setWordWrap(True)
        self.evaluate_button = QPushButton(MESSAGES["evaluate_file"])
        self.evaluate_button.setToolTip(MESSAGES["evaluate_tip"])
        self.message = InlineMessageWidget()
        top = QHBoxLayout()
        top.addWidget(self.caption, 1)
        top.addWidget(self.evaluate_button)
        content = QWidget()
        content.setObjectName("evaluateContent")
        # Only the current view is visible, so the page is as tall as that view alone.
        self.views_layout = QVBoxLayout(content)
        self.views_layout.setContentsMargins(0, 0, 4, 0)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setWidget(content)
        self.scroll.setStyleSheet("QScrollArea, #evaluateContent { background: transparent; }")
        self.scroll.viewport().setAutoFillBackground(False)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.message)
        layout.addWidget(self.scroll, 1)
        self.evaluate_button.clicked.connect(self._on_evaluate_button_clicked)
        self._update_enabled()

    # ---- the current view ---------------------------------------------------------------
    @property
    def view(self) -> EvaluateView:
        return self._view(self.task)

    def _view(self, task: str) -> EvaluateView:
        if task not in self.views:
            view = task_views.view_for(task).EVALUATE_VIEW()
            view.setVisible(False)
            self.views[task] = view
            self.views_layout.addWidget(view)
        return self.views[task]

    def _switch(self, task: str) -> None:
        self.task = str(task or DEFAULT_TASK)
        current = self._view(self.task)
        for view in self.views.values():
            view.setVisible(view is current)

    @property
    def card_values(self) -> dict[str, QLabel]:
        return self.view.card_values

    @property
    def matrix(self):
        """The confusion matrix of a classification view (None for other tasks)."""
        return getattr(self.view, "matrix", None)

    # ---- public API ---------------------------------------------------------------------
    def connect_runner(self, runner) -> None:
        runner.sig_run_started.connect(self._on_runner_run_started)
        runner.sig_eval_finished.connect(self._on_runner_eval_finished)
        runner.sig_run_finished.connect(self._on_runner_run_finished)

    def set_task(self, name: str) -> None:
        """Show the view of another task (its results cleared); the same task keeps them."""
        if str(name) == self.task:
            return
        self._switch(name)
        self.clear()

    def set_run(self, run_dir: str) -> None:
        """The trained model that "Evaluate on another file…" scores."""
        self.run_dir = str(run_dir or "")
        self._update_enabled()

    def clear(self) -> None:
        self.metrics = {}
        self.view.clear()
        self.caption.setText(MESSAGES["empty"])

    def show_metrics(self, metrics: dict[str, Any], caption: str, task: str | None = None) -> None:
        """Draw `metrics` in the view of `task` (default: the current one)."""
        if task and task != self.task:
            self._switch(task)
        self.metrics = dict(metrics) if isinstance(metrics, dict) else {}
        self.caption.setText(caption + _scope(self.metrics))
        self.view.show_metrics(self.metrics)
        self.sig_metrics_shown.emit(self.task, self.metrics)

    def evaluate_file(self, path: str) -> None:
        """Score the current run's model on `path` in the background; the view shows it."""
        if not self.run_dir:
            self.message.show_message(MESSAGES["no_run"], "info")
            return
        self._file_path = str(path)
        self.message.show_message(MESSAGES["evaluating"].format(file=Path(path).name), "info")
        self._file_task = run_task(self._evaluate_fn, self.run_dir, self._file_path)
        self._file_task.sig_succeeded.connect(self._on_file_task_succeeded)
        self._file_task.sig_failed.connect(self._on_file_task_failed)
        self._file_task.sig_finished.connect(self._on_file_task_finished)
        self._update_enabled()

    def is_evaluating(self) -> bool:
        return self._file_task is not None

    # ---- slots --------------------------------------------------------------------------
    @Slot()
    def _on_evaluate_button_clicked(self) -> None:
        folder = str(Path(self._file_path).parent) if self._file_path else ""
        path = self.ask_data_file(self, MESSAGES["choose_title"], folder)
        if path:
            self.evaluate_file(path)

    @Slot(object)
    def _on_file_task_succeeded(self, metrics: object) -> None:
        metrics = metrics if isinstance(metrics, dict) else {}
        name = Path(self._file_path).name
        caption = MESSAGES["file"].format(run=Path(self.run_dir).name, file=name)
        self.show_metrics(metrics, caption, self.run_task or self.task)
        self.message.show_message(MESSAGES["evaluated"].format(file=name), "success")
        self.sig_file_evaluated.emit(metrics)

    @Slot(str)
    def _on_file_task_failed(self, message: str) -> None:
        self.message.show_message(message)
        self.sig_file_evaluation_failed.emit(message)

    @Slot()
    def _on_file_task_finished(self) -> None:
        self._file_task = None
        self._update_enabled()

    @Slot(object)
    def _on_runner_run_started(self, event: RunStarted) -> None:
        self.run_task = str(getattr(event, "task", "") or DEFAULT_TASK)
        if self.run_task != self.task:
            self._switch(self.run_task)
        self.clear()
        self.caption.setText(MESSAGES["waiting"])

    @Slot(object)
    def _on_runner_eval_finished(self, event: EvalFinished) -> None:
        self.show_metrics(
            event.metrics,
            MESSAGES["during"].format(step=event.step, epoch=event.epoch),
            self.run_task or None,
        )

    @Slot(object)
    def _on_runner_run_finished(self, event: RunFinished) -> None:
        metrics = event.metrics if isinstance(event.metrics, dict) else {}
        if event.status in ("completed", "stopped") and event.run_dir:
            self.set_run(event.run_dir)
        if has_results(metrics):
            caption = MESSAGES["final"].format(status=event.status, run_dir=event.run_dir)
            self.show_metrics(metrics, caption, self.run_task or None)
        elif event.status == "failed":
            self.message.clear_message()
            self.caption.setText(MESSAGES["failed"])
        elif self.metrics:  # no final evaluation: the last one during training stays
            self.caption.setText(MESSAGES["last_only"].format(status=event.status))

    def _update_enabled(self) -> None:
        self.evaluate_button.setEnabled(bool(self.run_dir) and self._file_task is None)


def _scope(metrics: dict[str, Any]) -> str:
    count = metrics.get("num_examples")
    if not isinstance(count, int) or isinstance(count, bool):
        return ""
    where = metrics.get("evaluated_on")
    key = {"sample": "scope_sample", "all": "scope_all"}.get(str(where), "scope_count")
    return MESSAGES[key].format(count=count)


if __name__ == "__main__":
    from workbench.gui.standalone import run_alone

    raise SystemExit(run_alone(EvaluatePanel))
