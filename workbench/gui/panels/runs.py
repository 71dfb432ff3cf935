"""Runs: every run on disk in a sortable, filterable table; open, rename, annotate, delete.

The table is read from the run folders (`workbench.engine.run_index.list_runs`) off the GUI
thread, whenever the page is shown, when the runs folder changes (a QFileSystemWatcher on it,
and on the folders of running runs), and every few seconds while a run is running (a killed
process changes no file). "Open" loads the run's results in the background and emits
`sig_run_opened`; the main window hands the run to Evaluate, Playground and Export the way
it does after training.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QFileSystemWatcher,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    QTimer,
    Signal,
    Slot,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from workbench import runs
from workbench.engine import run_index
from workbench.engine.run_index import RunInfo
from workbench.gui.messages import format_seconds
from workbench.gui.metric_format import MISSING, format_metric, metric_title
from workbench.gui.tasks import Task, run_task
from workbench.gui.widgets.inline_message import InlineMessageWidget

MESSAGES = {
    "filter": "Filter runs by name, task, model, data, status or note…",
    "count": "{shown} of {total} runs",
    "count_all": "{total} runs",
    "none": "No runs yet: the runs you train appear here, with their results.",
    "reading": "Reading the runs folder…",
    "open": "Open",
    "open_tip": "Show this run on Evaluate, Playground and Export",
    "rename": "Rename…",
    "note": "Note…",
    "delete": "Delete…",
    "resume": "Resume",
    "resume_tip": "Continue this run from its last checkpoint (on the Train page)",
    "resume_busy": "A run is training; resume this one when it has finished.",
    "resuming": "Resuming “{name}” from step {step}: see the Train page.",
    "refresh": "Refresh",
    "folder": "Runs folder: {root}",
    "rename_title": "Rename run",
    "rename_label": "Name shown for this run (the folder keeps its name):",
    "note_title": "Note",
    "note_label": "A note kept with this run:",
    "delete_title": "Delete run",
    "delete_question": "Delete the run “{name}” and everything in its folder?\n\n{path}\n({size})\n\n"
    "This cannot be undone.",
    "deleted": "Deleted the run “{name}”.",
    "running_delete": "“{name}” is still running; stop it before deleting it.",
    "opening": "Opening “{name}”…",
    "opened": "Opened “{name}” on Evaluate, Playground and Export.",
    "no_model": "“{name}” has no trained model ({status}); it cannot be opened.",
    "note_line": "Note: {note}",
    "columns": (
        "Name",
        "Date",
        "Task",
        "Model",
        "Data",
        "Result",
        "Status",
        "Duration",
        "Size",
    ),
    "status": {
        "completed": "Completed",
        "stopped": "Stopped",
        "failed": "Failed",
        "running": "Running",
        "killed": "Killed",
    },
    "status_tip": {
        "killed": "The process ended without finishing (closed, crashed or killed).",
        "running": "A process is writing this run now.",
    },
}

COLUMNS = ("name", "started", "task", "model", "data", "metric", "status", "duration", "size")
# Columns whose texts are short and bounded take their content's width at the first listing;
# model and data (paths of any length) keep a fixed width, elided; the name takes the rest.
FIT_COLUMNS = ("started", "task", "metric", "status", "duration", "size")
SORT_ROLE = Qt.ItemDataRole.UserRole
RUN_ROLE = Qt.ItemDataRole.UserRole + 1
_ROOT = QModelIndex()  # the invisible parent of a table's rows
KEY_LAST_RUN = "runs/last"  # QSettings: the run opened last, reopened at start
POLL_MS = 5000  # while a run is running: a killed process leaves no change to watch
DEBOUNCE_MS = 250  # a run writes several files at once: one listing for the burst
# A new folder is seen before its config.toml is written (only the runs folder itself is
# watched): list once more a little later, when it is a run.
SETTLE_MS = 1500

ListFn = Callable[[Path], list[RunInfo]]
AskText = Callable[[QWidget, str, str, str], "str | None"]


@dataclass(frozen=True)
class ResumeRequest:
    """What the training runner is given instead of a RunConfig to continue a run."""

    run_dir: str


def train_or_resume(
    train_fn: Callable[..., Any], resume_fn: Callable[..., Any]
) -> Callable[..., Any]:
    """One function for the training runner: a RunConfig trains, a ResumeRequest resumes
    (`engine.resume`, same events and stop flag as `engine.train`)."""

    def run(config: Any, on_event: Callable[[Any], None], should_stop: Callable[[], bool]):
        if isinstance(config, ResumeRequest):
            return resume_fn(config.run_dir, on_event=on_event, should_stop=should_stop)
        return train_fn(config, on_event=on_event, should_stop=should_stop)

    return run


def _list_runs(root: Path) -> list[RunInfo]:
    """The listing, run on a worker thread (the folder is created so it can be watched)."""
    root.mkdir(parents=True, exist_ok=True)
    return run_index.list_runs(root)


def _ask_name(parent: QWidget, title: str, label: str, current: str) -> str | None:
    text, ok = QInputDialog.getText(parent, title, label, QLineEdit.EchoMode.Normal, current)
    return text if ok else None


def _ask_note(parent: QWidget, title: str, label: str, current: str) -> str | None:
    text, ok = QInputDialog.getMultiLineText(parent, title, label, current)
    return text if ok else None


def _confirm(parent: QWidget, title: str, question: str) -> bool:
    answer = QMessageBox.question(
        parent,
        title,
        question,
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
        QMessageBox.StandardButton.Cancel,
    )
    return answer == QMessageBox.StandardButton.Yes


def format_size(size: int) -> str:
    for unit, scale in (("GB", 2**30), ("MB", 2**20), ("kB", 2**10)):
        if size >= scale:
            return f"{size / scale:,.1f} {unit}"
    return f"{size} B"


class RunsTableModel(QAbstractTableModel):
    """The listed runs, one per row; SORT_ROLE gives raw values (dates, numbers) to sort on."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runs: list[RunInfo] = []

    def set_runs(self, listed: list[RunInfo]) -> None:
        self.beginResetModel()
        self.runs = list(listed)
        self.endResetModel()

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = _ROOT) -> int:
        return 0 if parent.isValid() else len(self.runs)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = _ROOT) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return MESSAGES["columns"][section]
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = 0) -> Any:
        if not index.isValid():
            return None
        info = self.runs[index.row()]
        column = COLUMNS[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return _display(info, column)
        if role == SORT_ROLE:
            return _sort_value(info, column)
        if role == RUN_ROLE:
            return info
        if role == Qt.ItemDataRole.ToolTipRole:
            return _tooltip(info, column)
        if role == Qt.ItemDataRole.TextAlignmentRole and column in ("metric", "duration", "size"):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


def _display(info: RunInfo, column: str) -> str:
    if column == "name":
        return info.name + (" ✎" if info.note else "")
    if column == "started":
        return _format_date(info.started)
    if column == "task":
        return info.task_title or info.task or MISSING
    if column == "model":
        return Path(info.model).name if info.model else MISSING
    if column == "data":
        return Path(info.data).name if info.data else MISSING
    if column == "metric":
        if info.metric is None or not info.primary_metric:
            return MISSING
        value = format_metric(info.primary_metric, info.metric)
        return f"{metric_title(info.primary_metric)} {value}"
    if column == "status":
        return MESSAGES["status"].get(info.status, info.status)
    if column == "duration":
        return format_seconds(info.duration) if info.duration is not None else MISSING
    return format_size(info.size)


def _format_date(stamp: float, now: float | None = None) -> str:
    """ "Dec 01 14:16" this year (the table stays narrow), "2025-12-01 14:16" before."""
    when, today = time.localtime(stamp), time.localtime(now)
    pattern = "%b %d %H:%M" if when.tm_year == today.tm_year else "%Y-%m-%d %H:%M"
    return time.strftime(pattern, when)


def _sort_value(info: RunInfo, column: str) -> Any:
    if column == "started":
        return info.started
    if column == "metric":
        return info.metric if info.metric is not None else float("-inf")
    if column == "duration":
        return info.duration if info.duration is not None else -1.0
    if column == "size":
        return info.size
    return _display(info, column).casefold()


def _tooltip(info: RunInfo, column: str) -> str:
    if column == "name":
        return "\n".join(x for x in (info.path, info.note) if x)
    if column in ("model", "data"):
        return getattr(info, column)
    if column in ("task", "metric"):
        return _display(info, column)
    if column == "status":
        return info.error or MESSAGES["status_tip"].get(info.status, "")
    return ""


class RunsFilterModel(QSortFilterProxyModel):
    """Sorts on SORT_ROLE; the filter text matches any column, the note or the folder."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSortRole(SORT_ROLE)
        self.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self._words: list[str] = []

    def set_filter_text(self, text: str) -> None:
        if hasattr(self, "beginFilterChange"):  # Qt 6.9+
            self.beginFilterChange()
            self._words = text.casefold().split()
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:
            self._words = text.casefold().split()
            self.invalidateRowsFilter()

    def filterAcceptsRow(self, row: int, parent: QModelIndex | QPersistentModelIndex) -> bool:
        if not self._words:
            return True
        model = self.sourceModel()
        info: RunInfo = model.index(row, 0, parent).data(RUN_ROLE)
        haystack = " ".join(
            [_display(info, column) for column in COLUMNS] + [info.note, info.folder, info.status]
        ).casefold()
        return all(word in haystack for word in self._words)


class RunsPanel(QWidget):
    sig_runs_listed = Signal(list)  # list[RunInfo], after each listing
    sig_run_opened = Signal(dict)  # {"info": RunInfo as a dict, "metrics": the final results}
    sig_run_open_failed = Signal(str)
    sig_run_changed = Signal(str)  # a run renamed, annotated or deleted (its path)
    sig_resume_requested = Signal(str)  # the run folder to continue

    # Tests replace these to answer the dialogs.
    ask_name = staticmethod(_ask_name)
    ask_note = staticmethod(_ask_note)
    confirm = staticmethod(_confirm)

    def __init__(
        self,
        root: str | Path | None = None,
        list_fn: ListFn | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.root = Path(root) if root is not None else runs.default_runs_dir()
        self._list_fn = list_fn or _list_runs
        self._list_task: Task | None = None
        self._refresh_again = False
        self._action_task: Task | None = None
        self._action: tuple[str, str] = ("", "")
        self._action_fn: Callable[..., Any] | None = None
        self._open_task: Task | None = None
        self.listed_once = False
        self._sized = False
        self._run_active = False  # a run trains in this window: no Resume meanwhile
        self._build()
        self.watcher = QFileSystemWatcher(self)
        self.watcher.directoryChanged.connect(self._on_watcher_changed)
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(DEBOUNCE_MS)
        self._debounce.timeout.connect(self.refresh)
        self._settle = QTimer(self)
        self._settle.setSingleShot(True)
        self._settle.setInterval(SETTLE_MS)
        self._settle.timeout.connect(self.refresh)
        self._poll = QTimer(self)
        self._poll.setInterval(POLL_MS)
        self._poll.timeout.connect(self.refresh)

    def _build(self) -> None:
        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText(MESSAGES["filter"])
        self.filter_edit.setClearButtonEnabled(True)
        self.count_label = QLabel(MESSAGES["reading"])
        self.model = RunsTableModel(self)
        self.proxy = RunsFilterModel(self)
        self.proxy.setSourceModel(self.model)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(COLUMNS.index("started"), Qt.SortOrder.DescendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(False)
        # Sized so that every column fits beside the sidebar at 1024×640; the name takes the
        # rest, and longer texts are elided (the tooltip has them whole).
        for column, width in zip(COLUMNS, (140, 96, 116, 72, 88, 106, 72, 60, 62), strict=True):
            self.table.setColumnWidth(COLUMNS.index(column), width)
        header.setMinimumSectionSize(48)
        header.setSectionResizeMode(COLUMNS.index("name"), QHeaderView.ResizeMode.Stretch)

        self.open_button = QPushButton(MESSAGES["open"])
        self.open_button.setToolTip(MESSAGES["open_tip"])
        self.rename_button = QPushButton(MESSAGES["rename"])
        self.note_button = QPushButton(MESSAGES["note"])
        self.delete_button = QPushButton(MESSAGES["delete"])
        self.resume_button = QPushButton(MESSAGES["resume"])
        self.resume_button.setToolTip(MESSAGES["resume_tip"])
        self.refresh_button = QPushButton(MESSAGES["refresh"])
        buttons = QHBoxLayout()
        for button in (self.open_button, self.rename_button, self.note_button):
            buttons.addWidget(button)
        buttons.addWidget(self.delete_button)
        buttons.addWidget(self.resume_button)
        buttons.addStretch(1)
        buttons.addWidget(self.refresh_button)
        top = QHBoxLayout()
        top.addWidget(self.filter_edit, 1)
        top.addWidget(self.count_label)
        self.note_label = QLabel()
        self.note_label.setWordWrap(True)
        self.note_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.note_label.setVisible(False)
        self.message = InlineMessageWidget()
        self.folder_label = QLabel(MESSAGES["folder"].format(root=self.root))
        self.folder_label.setStyleSheet("color: palette(placeholder-text);")
        self.folder_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.note_label)
        layout.addLayout(buttons)
        layout.addWidget(self.message)
        layout.addWidget(self.folder_label)

        self.filter_edit.textChanged.connect(self._on_filter_edit_changed)
        self.table.selectionModel().selectionChanged.connect(self._on_table_selection_changed)
        self.table.doubleClicked.connect(self._on_table_double_clicked)
        self.open_button.clicked.connect(self._on_open_button_clicked)
        self.rename_button.clicked.connect(self._on_rename_button_clicked)
        self.note_button.clicked.connect(self._on_note_button_clicked)
        self.delete_button.clicked.connect(self._on_delete_button_clicked)
        self.resume_button.clicked.connect(self._on_resume_button_clicked)
        self.refresh_button.clicked.connect(self.refresh)
        self._update_enabled()

    # ---- public API ---------------------------------------------------------------------
    def refresh(self) -> None:
        """List the runs folder again in the background (once more if one is in flight)."""
        if self._list_task is not None:
            self._refresh_again = True
            return
        self._list_task = run_task(self._list_fn, self.root)
        self._list_task.sig_succeeded.connect(self._on_list_task_succeeded)
        self._list_task.sig_failed.connect(self._on_list_task_failed)
        self._list_task.sig_finished.connect(self._on_list_task_finished)

    def is_listing(self) -> bool:
        return self._list_task is not None

    def runs(self) -> list[RunInfo]:
        return list(self.model.runs)

    def shown_runs(self) -> list[RunInfo]:
        """The runs as the table shows them: filtered and sorted."""
        return [self.proxy.index(r, 0).data(RUN_ROLE) for r in range(self.proxy.rowCount())]

    def selected_run(self) -> RunInfo | None:
        rows = self.table.selectionModel().selectedRows()
        return rows[0].data(RUN_ROLE) if rows else None

    def select_run(self, path: str) -> bool:
        for row in range(self.proxy.rowCount()):
            index = self.proxy.index(row, 0)
            if index.data(RUN_ROLE).path == str(path):
                self.table.selectRow(row)
                return True
        return False

    def open_run(self, path: str) -> None:
        """Read the run's results off the GUI thread; sig_run_opened follows."""
        if self._open_task is not None:
            return
        name = Path(path).name
        info = next((r for r in self.model.runs if r.path == str(path)), None)
        if info is not None:
            name = info.name
        self.message.show_message(MESSAGES["opening"].format(name=name), "info")
        self._open_task = run_task(run_index.load_run_results, path)
        self._open_task.sig_succeeded.connect(self._on_open_task_succeeded)
        self._open_task.sig_failed.connect(self._on_open_task_failed)
        self._open_task.sig_finished.connect(self._on_open_task_finished)
        self._update_enabled()

    def set_run_active(self, active: bool) -> None:
        """While this window trains, Resume waits (one run at a time)."""
        self._run_active = bool(active)
        self._update_enabled()

    def is_busy(self) -> bool:
        return any(t is not None for t in (self._list_task, self._action_task, self._open_task))

    # ---- slots --------------------------------------------------------------------------
    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.refresh()  # another process may have added or deleted runs meanwhile

    @Slot(str)
    def _on_watcher_changed(self, _path: str) -> None:
        self._debounce.start()
        self._settle.start()

    @Slot(object)
    def _on_list_task_succeeded(self, listed: object) -> None:
        listed = list(listed) if isinstance(listed, list) else []
        selected = self.selected_run()
        self.model.set_runs(listed)
        if selected is not None:
            self.select_run(selected.path)
        self._watch(listed)
        if listed and not self._sized:  # once: the user's own widths are kept after that
            self._sized = True
            for column in FIT_COLUMNS:
                self.table.resizeColumnToContents(COLUMNS.index(column))
        self.listed_once = True
        self._update_count()
        self._update_enabled()
        self.sig_runs_listed.emit(listed)

    @Slot(str)
    def _on_list_task_failed(self, message: str) -> None:
        self.message.show_message(message)

    @Slot()
    def _on_list_task_finished(self) -> None:
        self._list_task = None
        if self._refresh_again:
            self._refresh_again = False
            self.refresh()

    @Slot(str)
    def _on_filter_edit_changed(self, text: str) -> None:
        self.proxy.set_filter_text(text)
        self._update_count()

    @Slot()
    def _on_table_selection_changed(self) -> None:
        info = self.selected_run()
        note = info.note if info is not None else ""
        self.note_label.setText(MESSAGES["note_line"].format(note=note) if note else "")
        self.note_label.setVisible(bool(note))
        self._update_enabled()

    @Slot(QModelIndex)
    def _on_table_double_clicked(self, index: QModelIndex) -> None:
        info = index.data(RUN_ROLE)
        if info is not None and info.has_model:
            self.open_run(info.path)

    @Slot()
    def _on_open_button_clicked(self) -> None:
        info = self.selected_run()
        if info is None:
            return
        if not info.has_model:
            status = MESSAGES["status"].get(info.status, info.status).lower()
            self.message.show_message(MESSAGES["no_model"].format(name=info.name, status=status))
            return
        self.open_run(info.path)

    @Slot()
    def _on_rename_button_clicked(self) -> None:
        info = self.selected_run()
        if info is None:
            return
        name = self.ask_name(self, MESSAGES["rename_title"], MESSAGES["rename_label"], info.name)
        if name is not None:
            self._change(run_index.rename_run, info.path, name)

    @Slot()
    def _on_note_button_clicked(self) -> None:
        info = self.selected_run()
        if info is None:
            return
        note = self.ask_note(self, MESSAGES["note_title"], MESSAGES["note_label"], info.note)
        if note is not None:
            self._change(run_index.set_run_note, info.path, note)

    @Slot()
    def _on_delete_button_clicked(self) -> None:
        info = self.selected_run()
        if info is None:
            return
        if info.status == "running":
            self.message.show_message(MESSAGES["running_delete"].format(name=info.name))
            return
        question = MESSAGES["delete_question"].format(
            name=info.name, path=info.path, size=format_size(info.size)
        )
        if self.confirm(self, MESSAGES["delete_title"], question):
            self._change(run_index.delete_run, info.path)

    @Slot()
    def _on_resume_button_clicked(self) -> None:
        info = self.selected_run()
        if info is None or not info.resumable:
            return
        if self._run_active:
            self.message.show_message(MESSAGES["resume_busy"], "info")
            return
        step = info.resume_step if info.resume_step is not None else "?"
        self.message.show_message(MESSAGES["resuming"].format(name=info.name, step=step), "info")
        self.sig_resume_requested.emit(info.path)

    @Slot(object)
    def _on_action_task_succeeded(self, _result: object) -> None:
        path, name = self._action
        if self._action_fn is run_index.delete_run:
            self.message.show_message(MESSAGES["deleted"].format(name=name), "success")
        else:
            self.message.clear_message()
        self.sig_run_changed.emit(path)

    @Slot(str)
    def _on_action_task_failed(self, message: str) -> None:
        self.message.show_message(message)

    @Slot()
    def _on_action_task_finished(self) -> None:
        self._action_task = None
        self._update_enabled()
        self.refresh()

    @Slot(object)
    def _on_open_task_succeeded(self, opened: object) -> None:
        opened = opened if isinstance(opened, dict) else {}
        name = str(opened.get("info", {}).get("name", ""))
        self.message.show_message(MESSAGES["opened"].format(name=name), "success")
        self.sig_run_opened.emit(opened)

    @Slot(str)
    def _on_open_task_failed(self, message: str) -> None:
        self.message.show_message(message)
        self.sig_run_open_failed.emit(message)

    @Slot()
    def _on_open_task_finished(self) -> None:
        self._open_task = None
        self._update_enabled()

    # ---- helpers ------------------------------------------------------------------------
    def _change(self, fn: Callable[..., Any], path: str, *args: Any) -> None:
        """Run a change to one run folder in the background, then list again."""
        if self._action_task is not None:
            return
        info = next((r for r in self.model.runs if r.path == path), None)
        self._action = (path, info.name if info else Path(path).name)
        self._action_fn = fn
        self._action_task = run_task(fn, path, *args, self.root)
        self._action_task.sig_succeeded.connect(self._on_action_task_succeeded)
        self._action_task.sig_failed.connect(self._on_action_task_failed)
        self._action_task.sig_finished.connect(self._on_action_task_finished)
        self._update_enabled()

    def _watch(self, listed: list[RunInfo]) -> None:
        """The runs folder, and the folders of running runs (their results appear there)."""
        wanted = {str(self.root)} | {r.path for r in listed if r.status == "running"}
        current = set(self.watcher.directories())
        if current - wanted:
            self.watcher.removePaths(sorted(current - wanted))
        if wanted - current:
            self.watcher.addPaths(sorted(wanted - current))  # a vanished one is skipped
        running = any(r.status == "running" for r in listed)
        if running and not self._poll.isActive():
            self._poll.start()
        elif not running:
            self._poll.stop()

    def _update_count(self) -> None:
        total, shown = self.model.rowCount(), self.proxy.rowCount()
        if not total:
            self.count_label.setText(MESSAGES["count_all"].format(total=0))
            if not self.message.text():
                self.message.show_message(MESSAGES["none"], "info")
        elif shown == total:
            self.count_label.setText(MESSAGES["count_all"].format(total=total))
        else:
            self.count_label.setText(MESSAGES["count"].format(shown=shown, total=total))
        if total and self.message.text() == MESSAGES["none"]:
            self.message.clear_message()

    def _update_enabled(self) -> None:
        info = self.selected_run()
        idle = self._action_task is None
        self.open_button.setEnabled(info is not None and info.has_model and self._open_task is None)
        for button in (self.rename_button, self.note_button):
            button.setEnabled(info is not None and idle)
        self.delete_button.setEnabled(info is not None and idle and info.status != "running")
        resumable = info is not None and info.resumable and info.status != "running"
        self.resume_button.setEnabled(resumable and not self._run_active)
        self.resume_button.setToolTip(
            info.resume_reason
            if info is not None and info.resume_reason
            else MESSAGES["resume_tip"]
        )


if __name__ == "__main__":
    from workbench.gui.standalone import run_alone

    raise SystemExit(run_alone(RunsPanel))
