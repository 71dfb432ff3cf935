"""The main window: a sidebar of steps (Data → … → Export) over a stack of panels.

It wires the panels together: the task chosen on the Model page decides the Data page's
columns, the Hyperparameters' task defaults and the Evaluate view; a file whose shape
suggests another task switches the Model page's task. Closing during a run stops it and the
window goes at once; the app ends once the run has saved what it trained (never blocking).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, QCoreApplication, Qt, QTimer, Slot
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from workbench import engine
from workbench.engine.events import RunFinished
from workbench.errors import UserError
from workbench.gui import settings as ui_settings
from workbench.gui.panels.data import KEY_LAST_FILE, DataPanel
from workbench.gui.panels.evaluate import MESSAGES as EVALUATE_MESSAGES
from workbench.gui.panels.evaluate import EvaluatePanel, has_results
from workbench.gui.panels.export import ExportPanel
from workbench.gui.panels.hyperparams import HyperparamsPanel
from workbench.gui.panels.model import ModelPanel
from workbench.gui.panels.playground import PlaygroundPanel
from workbench.gui.panels.runs import KEY_LAST_RUN, ResumeRequest, RunsPanel, train_or_resume
from workbench.gui.panels.train import TrainPanel
from workbench.gui.predictor_service import LoadFn
from workbench.gui.run_setup import build_run_config
from workbench.gui.tasks import wait_for_tasks
from workbench.gui.worker import TrainFn, TrainingRunner, all_gpus_train_fn
from workbench.resources import sample_data_path

MESSAGES = {
    "title": "Workbench",
    "pages": {
        "data": ("Data", "The examples to learn from, and which column is which."),
        "model": ("Model", "The task to learn, and the pretrained model to start from."),
        "hyperparams": ("Hyperparameters", "How long and how fast to train."),
        "train": ("Train", "Fine-tune the model and watch it learn."),
        "evaluate": ("Evaluate", "How well the model does on data it did not train on."),
        "playground": ("Playground", "Try the trained model on your own text."),
        "export": ("Export", "Save the trained model for use elsewhere."),
        "runs": ("Runs", "Every run on disk: open one again, rename it, note or delete it."),
    },
    "no_data": "No data",
    "data_summary": "{name} · {rows:,} rows",
    "data_counts": " · {count:,} {kind}",
    "idle": "Idle",
    "running": "Training…",
    "finished": "Last run {status}",
    "about": "Workbench fine-tunes pretrained transformers on your own machine.",
}


class MainWindow(QMainWindow):
    def __init__(
        self,
        data_path: str | Path | None = None,
        train_fn: TrainFn | None = None,
        load_predictor_fn: LoadFn | None = None,
        resume_fn: TrainFn | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(MESSAGES["title"])
        self._close_when_stopped = False
        self.closed = False  # closeEvent accepted (after a run it waited for, if any)
        train = train_or_resume(train_fn or engine.train, resume_fn or engine.resume)
        self.runner = TrainingRunner(train, parent=self)
        self.data_panel = DataPanel()
        self.model_panel = ModelPanel()
        self.hyperparams_panel = HyperparamsPanel()
        self.train_panel = TrainPanel()
        self.evaluate_panel = EvaluatePanel()
        self.playground_panel = PlaygroundPanel(load_predictor_fn)
        self.export_panel = ExportPanel()
        self.runs_panel = RunsPanel()
        self._reopen_pending = True  # the first listing reopens the last run
        self.panels = {
            "data": self.data_panel,
            "model": self.model_panel,
            "hyperparams": self.hyperparams_panel,
            "train": self.train_panel,
            "evaluate": self.evaluate_panel,
            "playground": self.playground_panel,
            "export": self.export_panel,
            "runs": self.runs_panel,
        }
        self._build()
        self._connect()
        self._restore_settings()
        self._open_initial_data(data_path)
        self.runs_panel.refresh()  # in the background; the last run reopens when it is read

    # ---- layout -------------------------------------------------------------------------
    def _build(self) -> None:
        self.sidebar = QListWidget()
        self.sidebar.setFixedWidth(196)
        self.sidebar.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.sidebar.setObjectName("sidebar")
        self.sidebar.setStyleSheet(
            "#sidebar { border: none; background: palette(window); font-size: 14px; outline: 0; }"
            "#sidebar::item { padding: 9px 14px; border-radius: 6px; margin: 1px 6px; }"
            "#sidebar::item:selected { background: palette(highlight);"
            " color: palette(highlighted-text); }"
        )
        self.stack = QStackedWidget()
        for number, (key, panel) in enumerate(self.panels.items(), start=1):
            title, subtitle = MESSAGES["pages"][key]
            QListWidgetItem(f"{number}  {title}", self.sidebar)
            self.stack.addWidget(_page(title, subtitle, panel))

        central = QWidget()
        layout = QHBoxLayout(central)
        layout.setContentsMargins(0, 8, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.sidebar)
        layout.addWidget(self.stack, 1)
        self.setCentralWidget(central)

        self.data_status = QLabel(MESSAGES["no_data"])
        self.model_status = QLabel()
        self.run_status = QLabel(MESSAGES["idle"])
        for label in (self.data_status, self.model_status, self.run_status):
            self.statusBar().addPermanentWidget(label)

        file_menu = self.menuBar().addMenu("&File")
        self.open_action = QAction("&Open data…", self)
        self.open_action.setShortcut(QKeySequence.StandardKey.Open)
        file_menu.addAction(self.open_action)
        file_menu.addSeparator()
        self.quit_action = QAction("&Quit", self)
        self.quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        file_menu.addAction(self.quit_action)
        help_menu = self.menuBar().addMenu("&Help")
        self.about_action = QAction("&About Workbench", self)
        help_menu.addAction(self.about_action)

    def _connect(self) -> None:
        self.sidebar.currentRowChanged.connect(self._on_sidebar_row_changed)
        self.train_panel.connect_runner(self.runner)
        self.runner.sig_running_changed.connect(self.hyperparams_panel.set_run_active)
        self.evaluate_panel.connect_runner(self.runner)
        self.train_panel.sig_train_requested.connect(self._on_train_panel_train_requested)
        self.runner.sig_running_changed.connect(self._on_runner_running_changed)
        self.runner.sig_run_finished.connect(self._on_runner_run_finished)
        self.data_panel.sig_data_loaded.connect(self._on_data_panel_changed)
        self.data_panel.sig_selection_changed.connect(self._on_data_panel_changed)
        self.model_panel.sig_model_changed.connect(self._on_model_panel_model_changed)
        self.model_panel.sig_task_changed.connect(self._on_model_panel_task_changed)
        self.data_panel.sig_task_suggested.connect(self._on_data_panel_task_suggested)
        self.data_panel.sig_vocabulary_warning_changed.connect(
            self._on_data_panel_vocabulary_warning_changed
        )
        self.hyperparams_panel.sig_values_changed.connect(self._on_hyperparams_panel_changed)
        self.model_panel.scope.sig_values_changed.connect(self._on_model_panel_scope_changed)
        self.open_action.triggered.connect(self._on_open_action_triggered)
        self.quit_action.triggered.connect(self.close)
        self.about_action.triggered.connect(self._on_about_action_triggered)
        self.runs_panel.sig_runs_listed.connect(self._on_runs_panel_runs_listed)
        self.runs_panel.sig_run_opened.connect(self._on_runs_panel_run_opened)
        self.runs_panel.sig_resume_requested.connect(self._on_runs_panel_resume_requested)
        self.runner.sig_running_changed.connect(self.runs_panel.set_run_active)
        self._on_model_panel_model_changed(self.model_panel.model_name)
        self._on_model_panel_task_changed(self.model_panel.task())

    # ---- public API ---------------------------------------------------------------------
    def show_page(self, key: str) -> None:
        self.sidebar.setCurrentRow(list(self.panels).index(key))

    def start_training(self) -> bool:
        """Build the RunConfig from the panels and start; a problem is shown, nothing starts."""
        try:
            values = {
                **self.data_panel.config_values(),
                **self.model_panel.config_values(),
                **self.hyperparams_panel.config_values(),
            }
            config = build_run_config(
                values,
                self.model_panel.problem(),
                self.data_panel.problem(),
                roles_task=self.data_panel.task(),
            )
        except UserError as exc:
            self.train_panel.show_config_error(str(exc))
            return False
        self.train_panel.mark_preparing()
        self.train_panel.max_bad_steps = config.max_bad_steps  # named beside skipped steps
        processes = self.hyperparams_panel.processes()  # > 1: "Use all N GPUs" (torchrun)
        self.runner.start(config, all_gpus_train_fn(processes) if processes > 1 else None)
        return True

    # ---- slots --------------------------------------------------------------------------
    @Slot(int)
    def _on_sidebar_row_changed(self, row: int) -> None:
        self.stack.setCurrentIndex(row)

    @Slot()
    def _on_train_panel_train_requested(self) -> None:
        self.start_training()

    @Slot(bool)
    def _on_runner_running_changed(self, running: bool) -> None:
        if running:
            self.run_status.setText(MESSAGES["running"])

    @Slot(object)
    def _on_runner_run_finished(self, event: RunFinished) -> None:
        if self._close_when_stopped:
            QTimer.singleShot(0, self._on_close_timer_timeout)  # after the other listeners
            return
        self.run_status.setText(MESSAGES["finished"].format(status=event.status))
        model_ready = event.status in ("completed", "stopped") and event.run_dir
        if model_ready and (Path(event.run_dir) / "model").is_dir():
            self.playground_panel.set_model(event.run_dir)
            self.export_panel.set_run(event.run_dir)
            ui_settings.settings().setValue(KEY_LAST_RUN, str(event.run_dir))
            self._reopen_pending = False  # the run just trained is the one to show
        self.runs_panel.refresh()

    @Slot(list)
    def _on_runs_panel_runs_listed(self, listed: list) -> None:
        """At start, reopen the run opened last (or the newest with a model), so Evaluate,
        Playground and Export show it after a restart."""
        if not self._reopen_pending or self.runner.is_running():
            return
        self._reopen_pending = False
        usable = [info for info in listed if info.has_model]
        last = ui_settings.settings().value(KEY_LAST_RUN, "", type=str)
        chosen = next((info for info in usable if info.path == last), None)
        chosen = chosen or (usable[0] if usable else None)  # listed newest first
        if chosen is not None:
            self.runs_panel.open_run(chosen.path)

    @Slot(str)
    def _on_runs_panel_resume_requested(self, run_dir: str) -> None:
        """Continue a stopped, failed or killed run, watched on the Train page."""
        if self.runner.is_running():
            return
        self.train_panel.mark_preparing()
        self.runner.start(ResumeRequest(run_dir))
        self.show_page("train")

    @Slot(dict)
    def _on_runs_panel_run_opened(self, opened: dict) -> None:
        """A run read back from disk goes where a run that just finished goes."""
        info, metrics = opened.get("info") or {}, opened.get("metrics") or {}
        run_dir, task = str(info.get("path", "")), str(info.get("task") or "")
        if not run_dir:
            return
        self.evaluate_panel.run_task = task
        self.evaluate_panel.set_run(run_dir)
        if has_results(metrics):
            status = str(metrics.get("status") or info.get("status", ""))
            caption = EVALUATE_MESSAGES["final"].format(status=status, run_dir=run_dir)
            self.evaluate_panel.show_metrics(metrics, caption, task or None)
        self.playground_panel.set_model(run_dir)
        self.export_panel.set_run(run_dir)
        ui_settings.settings().setValue(KEY_LAST_RUN, run_dir)
        self._reopen_pending = False

    @Slot()
    def _on_data_panel_changed(self) -> None:
        panel = self.data_panel
        frame = panel.frame()
        if frame is None:
            self.data_status.setText(MESSAGES["no_data"])
            return
        text = MESSAGES["data_summary"].format(name=Path(panel.path).name, rows=len(frame))
        counts, kind = panel.counts(), panel.counts_kind()
        if counts and kind:
            text += MESSAGES["data_counts"].format(count=len(counts), kind=kind)
        self.data_status.setText(text)

    @Slot(str)
    def _on_model_panel_model_changed(self, name: str) -> None:
        title = str(self.model_panel.description.get("name", name))
        self.model_status.setText(title)
        self.data_panel.set_model(name, title)  # the data is checked with this vocabulary

    @Slot(str)
    def _on_model_panel_task_changed(self, task: str) -> None:
        self.data_panel.set_task(task)
        self.hyperparams_panel.apply_task_defaults(engine.task_defaults(task))
        self._on_hyperparams_panel_changed()
        if hasattr(self.evaluate_panel, "set_task"):  # the per-task views are being added
            self.evaluate_panel.set_task(task)

    @Slot()
    def _on_model_panel_scope_changed(self) -> None:
        """LoRA on or off: the learning rate's default follows (the Hyperparameters page)."""
        self.hyperparams_panel.set_lora(bool(self.model_panel.scope.values().get("lora_rank")))

    @Slot(str)
    def _on_data_panel_vocabulary_warning_changed(self, text: str) -> None:
        self.model_panel.set_vocabulary_warning(text or None)

    @Slot()
    def _on_hyperparams_panel_changed(self) -> None:
        """The data check measures token lengths against the max. length set here."""
        try:
            max_length = self.hyperparams_panel.values().get("max_length")
        except UserError:
            return  # a value that cannot work is reported on its page; keep the last one
        self.data_panel.set_max_length(max_length)

    @Slot(str)
    def _on_data_panel_task_suggested(self, task: str) -> None:
        self.model_panel.set_task(task)

    @Slot()
    def _on_open_action_triggered(self) -> None:
        self.show_page("data")
        self.data_panel.open_button.click()

    @Slot()
    def _on_about_action_triggered(self) -> None:
        QMessageBox.about(self, MESSAGES["title"], MESSAGES["about"])

    # ---- settings and closing -----------------------------------------------------------
    def _restore_settings(self) -> None:
        store = ui_settings.settings()
        geometry = store.value(ui_settings.KEY_GEOMETRY)
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        else:  # 1200×800, or the screen where it is smaller (every page works at 1024×640)
            screen = self.screen().availableGeometry()
            self.resize(min(1200, screen.width()), min(800, screen.height()))
        page = store.value(ui_settings.KEY_PAGE, 0, type=int)
        self.sidebar.setCurrentRow(page if 0 <= page < len(self.panels) else 0)

    def _open_initial_data(self, data_path: str | Path | None) -> None:
        if data_path is None:
            last = ui_settings.settings().value(KEY_LAST_FILE, "", type=str)
            data_path = last if last and Path(last).is_file() else sample_data_path()
        if Path(data_path).is_file():
            self.data_panel.open_file(data_path)

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self._close_when_stopped:
            store = ui_settings.settings()
            store.setValue(ui_settings.KEY_GEOMETRY, self.saveGeometry())
            store.setValue(ui_settings.KEY_PAGE, self.sidebar.currentRow())
        if self.runner.save_pending():  # the model is in memory only: answer the question
            event.ignore()
            self.train_panel.raise_save_dialog()
            return
        if self.runner.is_running():
            # The engine stops after the current step, then evaluates and saves the model
            # trained so far; that can take a while, so never wait for it here (the window
            # would freeze). Hide now, and close for real when RunFinished arrives.
            self.runner.stop()
            self._close_when_stopped = True
            event.ignore()
            self.hide()
            return
        self.runner.shutdown()  # no run: nothing to wait for
        self.playground_panel.shutdown()
        wait_for_tasks()
        self.closed = True
        super().closeEvent(event)

    @Slot()
    def _on_close_timer_timeout(self) -> None:
        """The run stopped after the window was closed: close it now, and end the app if this
        hidden window was the last one (closing a hidden window does not end it by itself)."""
        self.close()
        app = QApplication.instance()
        others = [w for w in QApplication.topLevelWidgets() if w is not self and w.isVisible()]
        if app is not None and app.quitOnLastWindowClosed() and not others:
            QCoreApplication.quit()


def _page(title: str, subtitle: str, panel: QWidget) -> QWidget:
    page = QWidget()
    layout = QVBoxLayout(page)
    layout.setContentsMargins(16, 4, 16, 8)
    heading = QLabel(title)
    heading.setStyleSheet("font-size: 20px; font-weight: 600;")
    caption = QLabel(subtitle)
    caption.setStyleSheet("color: palette(placeholder-text);")
    layout.addWidget(heading)
    layout.addWidget(caption)
    layout.addWidget(panel, 1)
    panel.layout().setContentsMargins(0, 8, 0, 0)
    return page
