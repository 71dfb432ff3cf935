"""Train: start and stop a run, watch its progress and live curves."""

from __future__ import annotations

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
    QVBoxLayout,
    QWidget,
)

from workbench.engine.events import EvalFinished, Notice, RunFinished, RunStarted, StepLogged
from workbench.gui.messages import format_seconds
from workbench.gui.widgets.curve_plot import CurvePlotWidget

MESSAGES = {
    "idle": "Ready. Press Train to fine-tune the model on the data.",
    "preparing": "Preparing: reading data, loading the model…",
    "started": "Training {train:,} examples ({eval:,} held for evaluation) on {device} ({precision}).",
    "stopping": "Stopping after the current step; the model so far is saved and evaluated…",
    "completed": "Finished.",
    "stopped": "Stopped; the model trained so far was saved.",
    "failed": "The run failed: {error}",
    "error_title": "Training failed",
    "config_title": "Cannot start training",
    "eval_line": "step {step}: eval loss {loss}, accuracy {accuracy}",
    "progress": "step %v / %m",
    "not_started": "not started",
    "run_dir": "Run folder: {run_dir}",
}


def _show_error(parent: QWidget, title: str, text: str) -> None:
    QMessageBox.critical(parent, title, text)


def _fmt(value: object, pattern: str = "{:.4f}") -> str:
    return pattern.format(value) if isinstance(value, (int, float)) else "—"


class TrainPanel(QWidget):
    sig_train_requested = Signal()
    sig_stop_requested = Signal()

    show_error = staticmethod(_show_error)  # tests replace this so no modal dialog blocks

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.run_dir = ""
        self.last_status = ""
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

        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat(MESSAGES["not_started"])
        self.progress.setTextVisible(True)
        self.stat_labels: dict[str, QLabel] = {}
        stats = QGridLayout()
        stats.setHorizontalSpacing(24)
        for column, (key, title) in enumerate(
            (
                ("epoch", "Epoch"),
                ("loss", "Loss"),
                ("speed", "Examples/s"),
                ("elapsed", "Elapsed"),
                ("eta", "Remaining"),
            )
        ):
            caption = QLabel(title)
            caption.setStyleSheet("color: palette(placeholder-text);")
            value = QLabel("—")
            value.setStyleSheet("font-size: 15px; font-weight: 600;")
            stats.addWidget(caption, 0, column)
            stats.addWidget(value, 1, column)
            self.stat_labels[key] = value
        stats.setColumnStretch(5, 1)
        progress_box = QGroupBox("Progress")
        progress_layout = QVBoxLayout(progress_box)
        progress_layout.addWidget(self.progress)
        progress_layout.addLayout(stats)

        self.plot = CurvePlotWidget()
        self.plot.setMinimumHeight(200)
        plot_box = QGroupBox("Curves")
        QVBoxLayout(plot_box).addWidget(self.plot)

        self.run_dir_label = QLabel("")
        self.run_dir_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.run_dir_label.setWordWrap(True)
        self.run_dir_label.setVisible(False)
        self.log = QPlainTextEdit(readOnly=True)
        self.log.setMaximumBlockCount(2000)
        self.log.setFixedHeight(72)
        self.log.setPlaceholderText("Notices and evaluations appear here.")
        log_box = QGroupBox("Run")
        log_layout = QVBoxLayout(log_box)
        log_layout.addWidget(self.run_dir_label)
        log_layout.addWidget(self.log)

        layout = QVBoxLayout(self)
        layout.addLayout(buttons)
        layout.addWidget(progress_box)
        layout.addWidget(plot_box, 1)
        layout.addWidget(log_box)

        self.train_button.clicked.connect(self._on_train_button_clicked)
        self.stop_button.clicked.connect(self._on_stop_button_clicked)

    # ---- public API ---------------------------------------------------------------------
    def connect_runner(self, runner) -> None:
        """Subscribe to a TrainingRunner's signals (and let Stop reach it)."""
        runner.sig_run_started.connect(self._on_runner_run_started)
        runner.sig_step_logged.connect(self._on_runner_step_logged)
        runner.sig_eval_finished.connect(self._on_runner_eval_finished)
        runner.sig_notice.connect(self._on_runner_notice)
        runner.sig_run_finished.connect(self._on_runner_run_finished)
        runner.sig_running_changed.connect(self.set_running)
        self.sig_stop_requested.connect(runner.stop)

    @Slot(bool)
    def set_running(self, running: bool) -> None:
        self.train_button.setEnabled(not running)
        self.stop_button.setEnabled(running)

    def reset(self) -> None:
        self.plot.clear()
        self.log.clear()
        self.run_dir = ""
        self._show_run_dir("")
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat(MESSAGES["not_started"])
        for label in self.stat_labels.values():
            label.setText("—")

    def _show_run_dir(self, run_dir: str) -> None:
        self.run_dir_label.setText(MESSAGES["run_dir"].format(run_dir=run_dir) if run_dir else "")
        self.run_dir_label.setVisible(bool(run_dir))

    def show_config_error(self, message: str) -> None:
        self.show_error(self, MESSAGES["config_title"], message)

    # ---- slots --------------------------------------------------------------------------
    @Slot()
    def _on_train_button_clicked(self) -> None:
        self.sig_train_requested.emit()

    @Slot()
    def _on_stop_button_clicked(self) -> None:
        self.stop_button.setEnabled(False)
        self.status_label.setText(MESSAGES["stopping"])
        self.sig_stop_requested.emit()

    def mark_preparing(self) -> None:
        self.reset()
        self.status_label.setText(MESSAGES["preparing"])

    @Slot(object)
    def _on_runner_run_started(self, event: RunStarted) -> None:
        self.run_dir = event.run_dir
        self._show_run_dir(event.run_dir)
        self.progress.setRange(0, max(1, event.total_steps))
        self.progress.setValue(0)
        self.progress.setFormat(MESSAGES["progress"])
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
        self.progress.setFormat(MESSAGES["progress"])
        self.progress.setRange(0, max(1, event.total_steps))
        self.progress.setValue(min(event.step, event.total_steps))
        self.stat_labels["epoch"].setText(f"{event.epoch:.2f}")
        self.stat_labels["loss"].setText(f"{event.loss:.4f}")
        self.stat_labels["speed"].setText(f"{event.examples_per_second:,.1f}")
        self.stat_labels["elapsed"].setText(format_seconds(event.elapsed_seconds))
        self.stat_labels["eta"].setText(format_seconds(event.eta_seconds))

    @Slot(object)
    def _on_runner_eval_finished(self, event: EvalFinished) -> None:
        loss = event.metrics.get("loss")
        accuracy = event.metrics.get("accuracy")
        self.plot.add_eval(event.step, loss, accuracy)
        self.log.appendPlainText(
            MESSAGES["eval_line"].format(
                step=event.step, loss=_fmt(loss), accuracy=_fmt(accuracy, "{:.1%}")
            )
        )

    @Slot(object)
    def _on_runner_notice(self, event: Notice) -> None:
        self.log.appendPlainText(event.message)

    @Slot(object)
    def _on_runner_run_finished(self, event: RunFinished) -> None:
        self.last_status = event.status
        self.plot.refresh()
        if event.run_dir:
            self.run_dir = event.run_dir
            self._show_run_dir(event.run_dir)
        if event.status == "completed":
            self.progress.setValue(self.progress.maximum())
        if event.status == "failed":
            text = MESSAGES["failed"].format(error=event.error or "unknown error")
            self.status_label.setText(text)
            self.log.appendPlainText(text)
            self.show_error(self, MESSAGES["error_title"], event.error or "unknown error")
        else:
            self.status_label.setText(MESSAGES.get(event.status, event.status))


if __name__ == "__main__":
    from workbench.gui.standalone import run_alone

    raise SystemExit(run_alone(TrainPanel))
