"""Train: start and stop a run, watch its progress and live curves; for a generative task,
what the model writes for a few fixed validation prompts at each evaluation (the engine's
`generations` in EvalFinished), so the user sees it learn."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from workbench.engine.events import (
    EvalFinished,
    Notice,
    RunFinished,
    RunStarted,
    StepLogged,
    StepSkipped,
)
from workbench.gui.messages import format_seconds
from workbench.gui.metric_format import format_metric, metric_title, scalar_metrics
from workbench.gui.panels.save_problem import SaveProblemDialog, why_text
from workbench.gui.widgets.curve_plot import CurvePlotWidget
from workbench.gui.widgets.generations import generations_html
from workbench.gui.widgets.inline_message import InlineMessageWidget

MESSAGES = {
    "idle": "Ready. Press Train to fine-tune the model on the data.",
    "preparing": "Preparing: reading data, loading the model…",
    "started": "Training {train:,} examples ({eval:,} held for evaluation) on {device} ({precision}).",
    "stopping": "Stopping after the current step; the model so far is saved and evaluated…",
    "completed": "Finished.",
    "stopped": "Stopped; the model trained so far was saved.",
    "failed": "The run failed: {error}",
    "error_title": "Training failed",
    "save_waiting": "Not saved: {why} The model is kept in memory; see the dialog.",
    "saving_again": "Saving in {where}…",
    "failed_details": "\n\nDetails: {run_log} and the app log, {app_log}.",
    "config_title": "Cannot start training",
    "eval_line": "Evaluation at step {step:,} (epoch {epoch:.2f}): {metrics}",
    "metric_item": "{title} {value}",
    "metric_separator": ", ",
    "no_metrics": "no scores",
    "progress": "step {step:,} of {total:,} ({percent:.0f}%)",
    "progress_finished": {
        "completed": "finished: {step:,} steps",
        "stopped": "stopped at step {step:,} of {total:,}",
        "failed": "failed at step {step:,} of {total:,}",
    },
    "eta_finished": {"completed": "done", "stopped": "stopped", "failed": "—"},
    "speed_average": "The average over the whole run.",
    "speed_window": "Over the steps since the last update.",
    "not_started": "not started",
    "run_dir": "Run folder: {run_dir}",
    "stats": {
        "epoch": "Epoch",
        "loss": "Loss",
        "metric": "Accuracy",
        "speed": "Examples/s",
        "elapsed": "Elapsed",
        "eta": "Remaining",
    },
    "log_placeholder": "Notices and evaluations appear here.",
    "skipped": "{count:,} step{s} skipped (marked × on the loss curve): the loss or gradients "
    "were not finite, so {its} update{s} {was} not applied. Last: step {step:,}, {reason} "
    "({in_row} in a row; the run stops at {limit}).",
    "skipped_unknown_limit": "{count:,} step{s} skipped (marked × on the loss curve): the loss "
    "or gradients were not finite, so {its} update{s} {was} not applied. Last: step {step:,}, "
    "{reason} ({in_row} in a row).",
    "skipped_log": "Step {step:,} skipped ({in_row} in a row): {reason}",
    "skipped_status": " {count:,} step{s} skipped (not finite).",
    "generations": "Generations",
    "generations_tip": "The greedy continuation of the first validation prompts at each "
    "evaluation (step 0: before training), newest first.",
}

DEFAULT_METRIC = "accuracy"  # until RunStarted names the task's primary metric


def _show_error(parent: QWidget, title: str, text: str) -> None:
    QMessageBox.critical(parent, title, text)


def describe_metrics(metrics: dict[str, Any], primary: str | None = None) -> str:
    """The scalar metrics as text, primary first: "Accuracy 81.2%, Macro F1 80.9%, Loss 0.4200"."""
    items = [
        MESSAGES["metric_item"].format(title=metric_title(name), value=format_metric(name, value))
        for name, value in scalar_metrics(metrics, primary)
    ]
    return MESSAGES["metric_separator"].join(items) or MESSAGES["no_metrics"]


def describe_notice(message: object) -> str:
    """A notice as one readable line, even if an engine sends a dict instead of a sentence."""
    if isinstance(message, dict):
        return MESSAGES["metric_separator"].join(f"{k}: {v}" for k, v in message.items())
    text = str(message).strip()
    first = text.split(" ", 1)[0]
    if "." not in first and "/" not in first:  # a sentence, not one that starts with a file
        text = text[:1].upper() + text[1:]
    return text


class TrainPanel(QWidget):
    sig_train_requested = Signal()
    sig_stop_requested = Signal()

    show_error = staticmethod(_show_error)  # tests replace this so no modal dialog blocks

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.run_dir = ""
        self.last_status = ""
        self.primary_metric = DEFAULT_METRIC
        self._step = 0
        self._total_steps = 0
        self.skipped_count = 0
        self.max_bad_steps: int | None = None  # the run's limit, when the window knows it
        self.save_dialog: SaveProblemDialog | None = None  # a failed save's open question
        self._build()
        self.set_running(False)

    def _build(self) -> None:
        self.train_button = QPushButton("Train")
        self.train_button.setDefault(True)
        self.train_button.setMinimumWidth(110)
        self.train_button.setStyleSheet("QPushButton:enabled { font-weight: 600; }")
        self.train_button.setProperty("primary", True)  # styled by resources/styles
        self.stop_button = QPushButton("Stop")
        self.stop_button.setMinimumWidth(90)
        self.status_label = QLabel(MESSAGES["idle"])
        self.status_label.setWordWrap(True)
        buttons = QHBoxLayout()
        buttons.addWidget(self.train_button)
        buttons.addWidget(self.stop_button)
        buttons.addSpacing(12)
        buttons.addWidget(self.status_label, 1)

        # The bar draws no text: text over its fill is hard to read, so a label says it.
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setTextVisible(False)
        self.progress.setFixedHeight(8)
        self.progress_label = QLabel(MESSAGES["not_started"])
        self.progress_label.setObjectName("progressText")
        self.progress_label.setMinimumWidth(
            self.progress_label.fontMetrics().horizontalAdvance(
                MESSAGES["progress"].format(step=8_888, total=8_888, percent=100)
            )
        )
        self.progress_label.setAlignment(
            Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        )
        bar_row = QHBoxLayout()
        bar_row.setSpacing(12)
        bar_row.addWidget(self.progress, 1, Qt.AlignmentFlag.AlignVCenter)
        bar_row.addWidget(self.progress_label)

        self.stat_labels: dict[str, QLabel] = {}
        self.stat_captions: dict[str, QLabel] = {}
        stats = QGridLayout()
        stats.setHorizontalSpacing(24)
        stats.setVerticalSpacing(0)
        for column, (key, title) in enumerate(MESSAGES["stats"].items()):
            caption = QLabel(title)
            caption.setStyleSheet("color: palette(placeholder-text);")
            value = QLabel("—")
            value.setStyleSheet("font-size: 15px; font-weight: 600;")
            stats.addWidget(caption, 0, column)
            stats.addWidget(value, 1, column)
            self.stat_labels[key] = value
            self.stat_captions[key] = caption
        stats.setColumnStretch(len(MESSAGES["stats"]), 1)
        progress_box = QGroupBox("Progress")
        progress_layout = QVBoxLayout(progress_box)
        progress_layout.setSpacing(6)
        progress_layout.addLayout(bar_row)
        progress_layout.addLayout(stats)
        self.skipped_label = InlineMessageWidget()
        self.skipped_label.setObjectName("skippedSteps")
        progress_layout.addWidget(self.skipped_label)

        self.plot = CurvePlotWidget(metric=self.primary_metric)
        plot_box = QGroupBox("Curves")
        plot_layout = QVBoxLayout(plot_box)
        plot_layout.setContentsMargins(6, 6, 6, 6)
        plot_layout.addWidget(self.plot)

        self.generations_view = QTextBrowser()
        self.generations_view.setObjectName("generationsView")
        self.generations_view.setOpenLinks(False)
        self.generations_box = QGroupBox(MESSAGES["generations"])
        self.generations_box.setToolTip(MESSAGES["generations_tip"])
        generations_layout = QVBoxLayout(self.generations_box)
        generations_layout.setContentsMargins(6, 6, 6, 6)
        generations_layout.addWidget(self.generations_view)
        self.generations_box.setVisible(False)  # until an evaluation brings generations
        self.generations: list[tuple[int, list[dict[str, Any]]]] = []
        middle = QHBoxLayout()
        middle.setSpacing(6)
        middle.addWidget(plot_box, 1)
        middle.addWidget(self.generations_box, 1)

        self.run_dir_label = QLabel("")
        self.run_dir_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.run_dir_label.setWordWrap(True)
        self.run_dir_label.setVisible(False)
        self.log = QPlainTextEdit(readOnly=True)
        self.log.setMaximumBlockCount(2000)
        self.log.setFixedHeight(4 * self.log.fontMetrics().lineSpacing() + 12)
        self.log.setPlaceholderText(MESSAGES["log_placeholder"])
        log_box = QGroupBox("Run")
        log_layout = QVBoxLayout(log_box)
        log_layout.setSpacing(4)
        log_layout.addWidget(self.run_dir_label)
        log_layout.addWidget(self.log)

        layout = QVBoxLayout(self)
        layout.setSpacing(6)
        layout.addLayout(buttons)
        layout.addWidget(progress_box)
        layout.addLayout(middle, 1)
        layout.addWidget(log_box)

        self.train_button.clicked.connect(self._on_train_button_clicked)
        self.stop_button.clicked.connect(self._on_stop_button_clicked)

    # ---- public API ---------------------------------------------------------------------
    def connect_runner(self, runner) -> None:
        """Subscribe to a TrainingRunner's signals (and let Stop reach it)."""
        runner.sig_run_started.connect(self._on_runner_run_started)
        runner.sig_step_logged.connect(self._on_runner_step_logged)
        skipped = getattr(runner, "sig_step_skipped", None)  # test fakes may lack it
        if skipped is not None:
            skipped.connect(self._on_runner_step_skipped)
        runner.sig_eval_finished.connect(self._on_runner_eval_finished)
        runner.sig_notice.connect(self._on_runner_notice)
        progress = getattr(runner, "sig_progress", None)  # test fakes may lack it
        if progress is not None:
            progress.connect(self._on_runner_progress)
        runner.sig_run_finished.connect(self._on_runner_run_finished)
        runner.sig_running_changed.connect(self.set_running)
        save_failed = getattr(runner, "sig_save_failed", None)  # test fakes may lack it
        if save_failed is not None:
            save_failed.connect(self._on_runner_save_failed)
        self.sig_stop_requested.connect(runner.stop)

    def raise_save_dialog(self) -> bool:
        """Bring the open "could not save" question to the front; False if none is open."""
        dialog = self.save_dialog
        if dialog is None or dialog.question.answered.is_set():
            return False
        dialog.show()
        dialog.raise_()
        dialog.activateWindow()
        return True

    @Slot(bool)
    def set_running(self, running: bool) -> None:
        self.train_button.setEnabled(not running)
        self.stop_button.setEnabled(running)

    def reset(self) -> None:
        self.plot.clear()
        self.log.clear()
        self.generations = []
        self.generations_view.clear()
        self.generations_box.setVisible(False)
        self.run_dir = ""
        self._step = self._total_steps = 0
        self.skipped_count = 0
        self.skipped_label.clear_message()
        self._show_run_dir("")
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress_label.setText(MESSAGES["not_started"])
        for label in self.stat_labels.values():
            label.setText("—")
        self.stat_labels["speed"].setToolTip("")

    def set_primary_metric(self, name: str) -> None:
        """The metric the second plot and the stats show (the task's primary one)."""
        self.primary_metric = name
        self.plot.set_metric(name)
        self.stat_captions["metric"].setText(metric_title(name))
        self.stat_labels["metric"].setText("—")

    def show_config_error(self, message: str) -> None:
        self.show_error(self, MESSAGES["config_title"], message)

    def mark_preparing(self) -> None:
        self.reset()
        self.status_label.setText(MESSAGES["preparing"])

    def show_generations(self, step: int, generations: Any) -> None:
        """Add one evaluation's generations ([{prompt, output, reference}]) to the view."""
        shown = (
            [g for g in generations if isinstance(g, dict)] if isinstance(generations, list) else []
        )
        if not shown:
            return
        self.generations = [(s, g) for s, g in self.generations if s != step] + [(step, shown)]
        self.generations_view.setHtml(generations_html(self.generations))
        self.generations_box.setVisible(True)

    # ---- display helpers (no business logic: they only put numbers into widgets) --------
    def _show_run_dir(self, run_dir: str) -> None:
        self.run_dir_label.setText(MESSAGES["run_dir"].format(run_dir=run_dir) if run_dir else "")
        self.run_dir_label.setVisible(bool(run_dir))

    def _show_progress(self, step: int, total: int) -> None:
        self._step, self._total_steps = step, total
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(min(step, max(1, total)))
        percent = 100.0 * step / total if total else 0.0
        self.progress_label.setText(
            MESSAGES["progress"].format(step=step, total=total, percent=percent)
        )

    # ---- slots --------------------------------------------------------------------------
    @Slot()
    def _on_train_button_clicked(self) -> None:
        self.sig_train_requested.emit()

    @Slot()
    def _on_stop_button_clicked(self) -> None:
        self.stop_button.setEnabled(False)
        self.status_label.setText(MESSAGES["stopping"])
        self.sig_stop_requested.emit()

    @Slot(object)
    def _on_runner_run_started(self, event: RunStarted) -> None:
        self.run_dir = event.run_dir
        self._show_run_dir(event.run_dir)
        self.set_primary_metric(getattr(event, "primary_metric", None) or DEFAULT_METRIC)
        self.plot.set_total_steps(event.total_steps)
        self._show_progress(0, event.total_steps)
        if self.stop_button.isEnabled():
            self.status_label.setText(
                MESSAGES["started"].format(
                    train=event.num_train_examples,
                    eval=event.num_eval_examples,
                    device=event.device,
                    precision=event.precision,
                )
            )

    @Slot(object)
    def _on_runner_step_logged(self, event: StepLogged) -> None:
        self.plot.add_train_loss(event.step, event.loss)
        self._show_progress(event.step, event.total_steps)
        self.stat_labels["epoch"].setText(f"{event.epoch:.2f}")
        self.stat_labels["loss"].setText(format_metric("loss", event.loss))
        self.stat_labels["speed"].setText(f"{event.examples_per_second:,.1f}")
        self.stat_labels["speed"].setToolTip(MESSAGES["speed_window"])
        self.stat_labels["elapsed"].setText(format_seconds(event.elapsed_seconds))
        self.stat_labels["eta"].setText(format_seconds(event.eta_seconds))

    @Slot(object)
    def _on_runner_step_skipped(self, event: StepSkipped) -> None:
        """A non-finite step: a cross on the curve, the count, and a line in the log."""
        self.skipped_count += 1
        self.plot.add_skipped(event.step)
        self._show_progress(event.step, event.total_steps)
        self.stat_labels["epoch"].setText(f"{event.epoch:.2f}")
        one = self.skipped_count == 1
        words = dict(
            count=self.skipped_count,
            s="" if one else "s",
            its="its" if one else "their",
            was="was" if one else "were",
            step=event.step,
            reason=event.reason,
            in_row=event.in_row,
            limit=self.max_bad_steps,
        )
        key = "skipped" if self.max_bad_steps else "skipped_unknown_limit"
        self.skipped_label.show_message(MESSAGES[key].format(**words), "warning")
        self.log.appendPlainText(MESSAGES["skipped_log"].format(**words))

    @Slot(object)
    def _on_runner_eval_finished(self, event: EvalFinished) -> None:
        value = event.metrics.get(self.primary_metric)
        self.plot.add_eval(event.step, event.metrics.get("loss"), value)
        self.stat_labels["metric"].setText(format_metric(self.primary_metric, value))
        self.log.appendPlainText(
            MESSAGES["eval_line"].format(
                step=event.step,
                epoch=event.epoch,
                metrics=describe_metrics(event.metrics, self.primary_metric),
            )
        )
        if "generations" in event.metrics:
            self.show_generations(event.step, event.metrics["generations"])

    @Slot(object)
    def _on_runner_notice(self, event: Notice) -> None:
        self.log.appendPlainText(describe_notice(event.message))

    @Slot(object)
    def _on_runner_progress(self, event: Any) -> None:
        """Reading or tokenising a big file before the first step: say how far it is."""
        self.status_label.setText(event.message)

    @Slot(object)
    def _on_runner_save_failed(self, question: Any) -> None:
        """The disk is full (or read-only): ask, without blocking the window."""
        text = MESSAGES["save_waiting"].format(why=why_text(question.failure))
        self.status_label.setText(text)
        self.log.appendPlainText(text)
        self.stop_button.setEnabled(False)  # training has stopped; the dialog decides
        dialog = SaveProblemDialog(question, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.sig_answered.connect(self._on_save_dialog_answered)
        dialog.destroyed.connect(self._on_save_dialog_destroyed)
        self.save_dialog = dialog
        dialog.open()

    @Slot(object)
    def _on_save_dialog_answered(self, answer: Any) -> None:
        if answer is None:
            return  # the run fails with what it could not save; RunFinished says so
        where = self.run_dir if answer == "retry" else str(answer)
        self.status_label.setText(MESSAGES["saving_again"].format(where=where))

    @Slot()
    def _on_save_dialog_destroyed(self) -> None:
        self.save_dialog = None

    @Slot(object)
    def _on_runner_run_finished(self, event: RunFinished) -> None:
        self.last_status = event.status
        self.plot.refresh()
        if event.run_dir:
            self.run_dir = event.run_dir
            self._show_run_dir(event.run_dir)
        if event.status == "completed":
            self._show_progress(self._total_steps, self._total_steps)
        finished = MESSAGES["progress_finished"].get(event.status)
        if finished and self._total_steps:
            self.progress_label.setText(finished.format(step=self._step, total=self._total_steps))
        self.stat_labels["eta"].setText(MESSAGES["eta_finished"].get(event.status, "—"))
        average = event.metrics.get("train_examples_per_second")
        if isinstance(average, (int, float)) and average > 0:
            self.stat_labels["speed"].setText(f"{average:,.1f}")
            self.stat_labels["speed"].setToolTip(MESSAGES["speed_average"])
        value = event.metrics.get(self.primary_metric)
        if value is not None:
            self.stat_labels["metric"].setText(format_metric(self.primary_metric, value))
        if event.status == "failed":
            text = MESSAGES["failed"].format(error=event.error or "unknown error")
            self.status_label.setText(text)
            self.log.appendPlainText(text)
            error = event.error or "unknown error"
            self.show_error(self, MESSAGES["error_title"], error + self._log_places(event))
        else:
            text = MESSAGES.get(event.status, event.status)
            if self.skipped_count:
                one = self.skipped_count == 1
                text += MESSAGES["skipped_status"].format(
                    count=self.skipped_count, s="" if one else "s"
                )
            self.status_label.setText(text)

    @staticmethod
    def _log_places(event: RunFinished) -> str:
        """Where a failure is written down: the run's log.txt and the app log."""
        from workbench import applog

        if not applog.is_set_up():
            return ""
        run_log = f"{event.run_dir}/log.txt" if event.run_dir else "the run's log.txt"
        return MESSAGES["failed_details"].format(run_log=run_log, app_log=applog.log_path())


if __name__ == "__main__":
    from workbench.gui.standalone import run_alone

    raise SystemExit(run_alone(TrainPanel))
