"""Data: pick the training file (dialog or drag-and-drop), preview it, choose the task's columns.

The columns asked for are the chosen task's roles (text, second text, label, question …),
pre-filled with the engine's guess. Everything that reads a file or walks a column (loading,
guessing roles, counting labels) runs off the GUI thread through `run_task`; the slots only
start that work and show what comes back, so a million-row file never freezes the window.

"Check data" runs the engine's data doctor (`engine.diagnose`) on the RunConfig these panels
would train with, by hand or a moment after the file, its columns, the task or the model
change; its findings are listed under "Data check", and an unknown-token share high enough
to hurt is also said at the top of the page (and on the Model page, through the window).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtGui import QColor, QDragEnterEvent, QDropEvent, QIcon
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from workbench import engine
from workbench.config import DEFAULT_MODEL, RunConfig
from workbench.gui import settings as ui_settings
from workbench.gui.task_list import tasks_by_name
from workbench.gui.tasks import Task, run_task
from workbench.gui.widgets.dataframe_model import DataFrameModel
from workbench.gui.widgets.doctor_report import COLOURS, ICONS, DoctorReportWidget
from workbench.gui.widgets.inline_message import InlineMessageWidget

# pandas and the engine's readers (which import it) are imported where they are used: the
# window shows without them (pandas alone took half the start-up, issue 17).
if TYPE_CHECKING:
    import pandas as pd

MESSAGES = {
    "drop_hint": "Open a CSV, TSV, JSON Lines, JSON, Parquet, Excel, CoNLL or text file, "
    "or drop one onto this page.",
    "loading": "Reading {name}…",
    "kept_previous": "Not opened: {message}\nStill using {name} (shown above, as before); "
    "open another file to replace it.",
    "summary": "{rows:,} rows · {columns} columns",
    "no_data": "Open a training data file first.",
    "no_role": "Choose the column that holds the {role}; {task} needs {needed}.",
    "missing_column": "{path} has no column {column!r}; pick one of: {available}.",
    "same_column": "The {first} and the {second} must be different columns.",
    "one_class": "The label column {column!r} has only one class ({label!r}); {task} needs at "
    "least two. Add examples of another class or pick another label column.",
    "no_labels": "The label column {column!r} is empty.",
    "many_labels": "The label column {column!r} has {n:,} different values — is it really the label?",
    "eval_none": "Optional. Without it, a share of the training data is held out for evaluation.",
    "eval_ok": "{rows:,} rows",
    "eval_missing": "The evaluation file has no column {column!r}.",
    "open_title": "Open training data",
    "open_eval_title": "Open evaluation data",
    "header": "First row is a header",
    "header_detected": "First row is a header (detected)",
    "header_advice": "; tick “First row is a header” if the first row does name them",
    "header_tip": "Whether the first row names the columns. Workbench guessed it; untick or tick "
    "to read the file again the other way.",
    "required": "{title} *:",
    "optional": "{title}:",
    "none": "(none)",
    "choose": "Choose a column",
    "legend": "* required",
    "counting": "Counting…",
    "guessing": "Looking at the columns for {task}…",
    "task_switched": "This looks like {what}; the task is now {task} — change it on the Model page.",
    "looks_like": {
        "token-classification": "NER data",
        "question-answering": "question-answering data",
        "masked-lm": "plain text without labels",
    },
    "looks_like_other": "{task} data",
    "preview_tab": "Preview",
    "check_tab": "Data check",
    "check_tab_found": "Data check ({found})",
    "tab_problems": ("1 problem", "{n} problems"),
    "tab_warnings": ("1 warning", "{n} warnings"),
    "check": "Check data",
    "check_tip": "Look for what would hurt training: label balance, duplicates, leakage into "
    "the evaluation file, empty texts, token lengths and words the model does not know.",
    "check_hint": "The data is checked a moment after the file, its columns, the task or the "
    "model change, read the way training reads it.",
    "checking": "Checking {name} for {task} with {model}…",
    "checked": "Checked {name} for {task} with {model}.",
    "check_first": "Nothing to check yet: {problem}",
    "vocabulary": "{share:.0%} of the text's tokens are unknown to {model} — choose a model "
    "whose vocabulary covers this text on the Model page.",
    "vocabulary_model": "This model's vocabulary does not cover the training data: {share:.0%} "
    "of its tokens are unknown to it. Choose a model folder whose vocabulary does (for "
    "example a multilingual or Chinese BERT).",
}
CHECK_DELAY_MS = 700  # the automatic check waits this long after the last change

KEY_LAST_FILE = "data/last_file"

# Every RunConfig field that names a column (text_column, text_pair_column, label_column …).
ROLE_FIELDS = tuple(f.name for f in dataclasses.fields(RunConfig) if f.name.endswith("_column"))

# Tasks whose label column is worth a count table, and what one value of it is called.
COUNTED = {
    "text-classification": "Label",
    "pair-classification": "Label",
    "token-classification": "Tag",
}
COUNTED_UNIT = {"Label": "Rows", "Tag": "Tokens"}  # what the counts count
_MANY_LABELS = 50


def file_filter() -> str:
    from workbench.engine.data.readers import SUPPORTED_SUFFIXES

    patterns = " ".join(f"*{s}" for s in SUPPORTED_SUFFIXES)
    return f"Data files ({patterns});;All files (*)"


# ---- work done off the GUI thread (plain functions, no Qt) ----------------------------------
@dataclass(frozen=True)
class TableInfo:
    """What the panel needs from a file, computed off the GUI thread."""

    path: str
    header: str
    """What was asked of the reader: auto, yes or no."""
    frame: pd.DataFrame
    has_header: bool | None
    """Whether the first row named the columns; None when the file is not a delimited one."""
    notices: list[str]
    suggested_task: str | None
    task: str
    """The task the roles were guessed for (the suggested one, else the one asked for)."""
    roles: dict[str, str | None]
    counts: dict[str, int] | None
    """Label (or tag) counts of the label column; None when the task has none to count."""


@dataclass(frozen=True)
class RolesInfo:
    task: str
    roles: dict[str, str | None]
    counts: dict[str, int] | None


def is_delimited(path: str | Path) -> bool:
    """Whether `load_table` reads this file as CSV/TSV (only then a header row is a question)."""
    from workbench.engine.data.conll import looks_like_conll

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        return True
    if suffix != ".txt" or looks_like_conll(path):
        return False
    with open(path, encoding="utf-8", errors="replace") as handle:
        return "\t" in handle.readline()


def count_values(frame: pd.DataFrame, column: str | None) -> dict[str, int]:
    """Rows per label, most frequent first; for a column of lists (tags), tokens per tag."""
    import pandas as pd

    from workbench.engine.data import label_counts

    if not column or column not in frame.columns:
        return {}
    values = frame[column].dropna()
    first = next(iter(values), None)
    if isinstance(first, list | tuple):
        values = values.explode().dropna()
    return label_counts(pd.DataFrame({column: values}), column)


def guess_roles(task: str, frame: pd.DataFrame, keep: dict[str, str] | None = None) -> RolesInfo:
    """The engine's guess of the task's columns, with the user's own choices (`keep`) over it,
    and the label counts where the task has a label to count."""
    roles = dict(engine.guess_roles(task, frame))
    for role, column in (keep or {}).items():
        if role in roles and column in frame.columns:
            roles[role] = column
    counts = count_values(frame, roles.get("label_column")) if task in COUNTED else None
    return RolesInfo(task, roles, counts)


def read_table_info(
    path: str, header: str = "auto", task: str = "text-classification", suggest: bool = True
) -> TableInfo:
    """Read the file, ask the engine which task its shape suggests, and guess the roles of
    that task (or of `task`, when nothing is suggested). A big CSV/TSV or JSON Lines file
    is previewed from its first rows (its notice says so); training reads all of it."""
    from workbench.engine.data.readers import preview_table

    frame = preview_table(path, header)
    delimited = is_delimited(path) if Path(path).is_file() else False
    has_header = None
    if delimited:
        has_header = header == "yes" or (
            header == "auto"
            and list(frame.columns) != [f"column_{i}" for i in range(1, len(frame.columns) + 1)]
        )
    suggested = engine.suggest_task(frame) if suggest else None
    chosen = suggested or task
    roles = guess_roles(chosen, frame)
    notices = [str(n) for n in frame.attrs.get("notices", [])]
    return TableInfo(
        str(path), header, frame, has_header, notices, suggested, chosen, roles.roles, roles.counts
    )


def diagnose_data(
    values: dict[str, object], frame: pd.DataFrame | None, eval_frame: pd.DataFrame | None
) -> dict:
    """The data doctor's report on the RunConfig made of `values` (frames already read are
    passed on, so no file is read twice; a preview of a big file's first rows is not: the
    doctor reads the whole file)."""
    if frame is not None and not frame.attrs.get("complete", True):
        frame = None
    return engine.diagnose(RunConfig.from_dict(values), frame=frame, eval_frame=eval_frame)


def vocabulary_share(report: dict) -> float | None:
    """The unknown-token share of the training data when the doctor warns about it."""
    for finding in report.get("findings") or []:
        if finding.get("check") != "unknown_tokens" or finding.get("file", "train") != "train":
            continue
        if finding.get("severity") in ("warning", "problem"):
            share = (finding.get("counts") or {}).get("share")
            return float(share) if isinstance(share, int | float) else None
    return None


def _choose_file(parent: QWidget, title: str, folder: str) -> str:
    path, _ = QFileDialog.getOpenFileName(parent, title, folder, file_filter())
    return path


class DataPanel(QWidget):
    sig_data_loaded = Signal(str)  # path
    sig_data_failed = Signal(str)  # message
    sig_eval_checked = Signal(str)  # path ("" when cleared)
    sig_selection_changed = Signal()  # roles, counts or the eval file changed
    sig_task_suggested = Signal(str)  # the file looks like another task's data: its name
    sig_data_checked = Signal(dict)  # the data doctor's report
    sig_vocabulary_warning_changed = Signal(str)  # the Model page's warning ("" for none)

    choose_file = staticmethod(_choose_file)  # tests replace this to answer the dialog

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)
        self.path = ""
        self.eval_path = ""
        self.eval_columns: list[str] = []
        self.tasks = tasks_by_name()
        self._task = "text-classification" if "text-classification" in self.tasks else ""
        self._task = self._task or next(iter(self.tasks), "")
        self._frame: pd.DataFrame | None = None
        self._counts: dict[str, int] | None = None
        self._header = "auto"
        self._user_roles: dict[str, str] = {}  # role -> column the user picked in this file
        self._load_task: Task | None = None
        self._eval_task: Task | None = None
        self._roles_task: Task | None = None
        self._count_task: Task | None = None
        self._eval_frame: pd.DataFrame | None = None
        self._model = DEFAULT_MODEL
        self._model_title = DEFAULT_MODEL
        self._max_length: int | None = None
        self._check_task: Task | None = None
        self._checked_key: tuple | None = None  # what the shown report (or the running check) is of
        self._check_again = False  # a change arrived during a check: check again after it
        self.vocabulary_warning = ""  # the Model page's text ("" when the vocabulary is fine)
        self._check_timer = QTimer(self)
        self._check_timer.setSingleShot(True)
        self._check_timer.setInterval(CHECK_DELAY_MS)
        self._check_timer.timeout.connect(self._on_check_timer_timeout)
        self._updating = False
        self.role_combos: dict[str, QComboBox] = {}
        self._build()
        self._build_role_rows()

    # ---- layout -------------------------------------------------------------------------
    def _build(self) -> None:
        self.path_edit = QLineEdit(readOnly=True, placeholderText="No file")
        self.open_button = QPushButton("Open…")
        self.summary_label = QLabel(MESSAGES["drop_hint"])
        self.summary_label.setWordWrap(True)
        self.summary_label.setStyleSheet("color: palette(placeholder-text);")
        self.header_check = QCheckBox(MESSAGES["header"])
        self.header_check.setToolTip(MESSAGES["header_tip"])
        self.header_check.setVisible(False)
        self.notices_label = QLabel()
        self.notices_label.setWordWrap(True)
        self.notices_label.setStyleSheet("color: palette(placeholder-text);")
        self.notices_label.setVisible(False)
        self.task_notice = InlineMessageWidget(prominent=True)
        self.vocabulary_message = InlineMessageWidget(prominent=True)
        self.message = InlineMessageWidget()

        file_row = QHBoxLayout()
        file_row.addWidget(self.path_edit, 1)
        file_row.addWidget(self.open_button)
        summary_row = QHBoxLayout()
        summary_row.addWidget(self.summary_label, 1)
        summary_row.addWidget(self.header_check)
        file_box = QGroupBox("Training data")
        file_layout = QVBoxLayout(file_box)
        file_layout.addLayout(file_row)
        file_layout.addLayout(summary_row)
        file_layout.addWidget(self.notices_label)

        self.columns_box = QGroupBox("Columns")
        self.columns_form = QFormLayout(self.columns_box)
        self.columns_form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)

        self.counts_table = QTableWidget(0, 3)
        self.counts_table.setHorizontalHeaderLabels(["Label", "Rows", "Share"])
        self.counts_table.verticalHeader().setVisible(False)
        self.counts_table.verticalHeader().setDefaultSectionSize(24)
        self.counts_table.setWordWrap(False)
        self.counts_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.counts_table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.counts_status = QLabel(MESSAGES["counting"])
        self.counts_status.setStyleSheet("color: palette(placeholder-text);")
        self.counts_status.setVisible(False)
        self.counts_box = QGroupBox("Labels")
        counts_layout = QVBoxLayout(self.counts_box)
        counts_layout.addWidget(self.counts_status)
        counts_layout.addWidget(self.counts_table)

        self.eval_edit = QLineEdit(readOnly=True, placeholderText="None")
        self.eval_button = QPushButton("Choose…")
        self.eval_clear_button = QPushButton("Clear")
        self.eval_hint = QLabel(MESSAGES["eval_none"])
        self.eval_hint.setWordWrap(True)
        self.eval_hint.setStyleSheet("color: palette(placeholder-text);")
        eval_row = QHBoxLayout()
        eval_row.addWidget(self.eval_edit, 1)
        eval_row.addWidget(self.eval_button)
        eval_row.addWidget(self.eval_clear_button)
        eval_box = QGroupBox("Evaluation data (optional)")
        eval_layout = QVBoxLayout(eval_box)
        eval_layout.addLayout(eval_row)
        eval_layout.addWidget(self.eval_hint)

        self.preview_model = DataFrameModel(parent=self)
        self.preview = QTableView()
        self.preview.setModel(self.preview_model)
        self.preview.setWordWrap(False)
        self.preview.setAlternatingRowColors(True)
        self.preview.horizontalHeader().setStretchLastSection(True)
        self.preview.verticalHeader().setDefaultSectionSize(24)
        self.check_button = QPushButton(MESSAGES["check"])
        self.check_button.setToolTip(MESSAGES["check_tip"])
        self.check_status = InlineMessageWidget()
        self.check_status.show_message(MESSAGES["check_hint"], "info")
        self.doctor_view = DoctorReportWidget()
        doctor_scroll = QScrollArea()
        doctor_scroll.setWidgetResizable(True)
        doctor_scroll.setFrameShape(QFrame.Shape.NoFrame)
        doctor_scroll.setWidget(self.doctor_view)
        check_row = QHBoxLayout()
        check_row.addWidget(self.check_button, 0, Qt.AlignmentFlag.AlignTop)
        check_row.addWidget(self.check_status, 1)
        check_page = QWidget()
        check_layout = QVBoxLayout(check_page)
        check_layout.addLayout(check_row)
        check_layout.addWidget(doctor_scroll, 1)
        preview_box = QTabWidget()
        preview_box.addTab(self.preview, MESSAGES["preview_tab"])
        preview_box.addTab(check_page, MESSAGES["check_tab"])
        self.tabs = preview_box

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.columns_box)
        left_layout.addWidget(self.counts_box, 1)
        left_layout.addWidget(eval_box)
        left_layout.addStretch(0)  # takes the room of the counts when the task has none
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(preview_box)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([340, 700])
        self._left_layout = left_layout

        layout = QVBoxLayout(self)
        layout.addWidget(file_box)
        layout.addWidget(self.task_notice)
        layout.addWidget(self.vocabulary_message)
        layout.addWidget(self.message)
        layout.addWidget(splitter, 1)

        self.open_button.clicked.connect(self._on_open_button_clicked)
        self.eval_button.clicked.connect(self._on_eval_button_clicked)
        self.eval_clear_button.clicked.connect(self._on_eval_clear_button_clicked)
        self.header_check.toggled.connect(self._on_header_check_toggled)
        self.check_button.clicked.connect(self._on_check_button_clicked)

    def _build_role_rows(self) -> None:
        """One combo per role of the current task (the form is rebuilt when the task changes)."""
        while self.columns_form.rowCount():
            self.columns_form.removeRow(0)  # deletes the old labels and combos
        self.role_combos = {}
        roles = self._roles()
        for field, _flag, title, required in roles:
            combo = QComboBox()
            combo.setMinimumWidth(140)
            combo.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            combo.setPlaceholderText(MESSAGES["choose"])
            combo.setProperty("role", field)
            combo.currentIndexChanged.connect(self._on_role_combo_changed)
            self.role_combos[field] = combo
            key = "required" if required else "optional"
            self.columns_form.addRow(MESSAGES[key].format(title=title), combo)
        self.legend = QLabel(MESSAGES["legend"])
        self.legend.setStyleSheet("color: palette(placeholder-text); font-size: 11px;")
        self.columns_form.addRow("", self.legend)
        self.legend.setVisible(bool(roles))
        counted = COUNTED.get(self._task)
        self.counts_box.setVisible(counted is not None)
        self._left_layout.setStretch(1, 1 if counted else 0)
        self._left_layout.setStretch(3, 0 if counted else 1)
        if counted:
            self.counts_box.setTitle(f"{counted}s")
            self.counts_table.setHorizontalHeaderLabels([counted, COUNTED_UNIT[counted], "Share"])
        self._fill_role_combos({field: self._user_roles.get(field) for field, *_ in roles})

    # ---- public API ---------------------------------------------------------------------
    def open_file(self, path: str | Path, header: str = "auto") -> Task:
        """Read `path` in the background; sig_data_loaded or sig_data_failed follows."""
        return self._read(str(path), header, suggest=True)

    def open_eval_file(self, path: str | Path) -> Task:
        from workbench.engine.data import load_table

        path = str(path)
        self._eval_task = run_task(load_table, path, self._header)
        self._eval_task.setProperty("path", path)
        self._eval_task.sig_succeeded.connect(self._on_eval_task_succeeded)
        self._eval_task.sig_failed.connect(self._on_eval_task_failed)
        return self._eval_task

    def set_header(self, has_header: bool) -> Task | None:
        """Read the file again with (or without) its first row as the column names."""
        if not self.path:
            return None
        return self._read(self.path, "yes" if has_header else "no", suggest=False)

    def task(self) -> str:
        return self._task

    def set_task(self, name: str) -> Task | None:
        """Ask for the roles of task `name`; the guess for the loaded file follows (off the GUI
        thread). Unknown names are ignored (the Model panel reports them)."""
        if name == self._task or name not in self.tasks:
            return None
        self._task = name
        self.task_notice.clear_message()
        self._counts = None
        self._build_role_rows()
        task = self._start_roles_guess()
        self._refresh_selection()
        return task

    def frame(self) -> pd.DataFrame | None:
        return self._frame

    def set_model(self, name: str | Path, title: str | None = None) -> None:
        """The model the data is checked with (the Model page's), and its name for messages;
        another model means another vocabulary, so the data is checked again."""
        name = str(name)
        self._model_title = title or Path(name).name or name
        if name == self._model:
            return
        self._model = name
        self._show_vocabulary(None)
        self._schedule_check()

    def set_max_length(self, max_length: int | None) -> None:
        """The max. length the token lengths are checked against (the Hyperparameters')."""
        if max_length != self._max_length:
            self._max_length = max_length
            self._schedule_check()

    def check_values(self) -> dict[str, object]:
        """The RunConfig fields the data doctor is given: this page's, the task and model."""
        values = {**self.config_values(), "task": self._task, "model": self._model}
        if self._max_length is not None:
            values["max_length"] = self._max_length
        return values

    def check_data(self) -> Task | None:
        """Run the data doctor now, off the GUI thread (sig_data_checked follows); None, with
        the reason shown, while the data cannot be checked yet."""
        self._check_timer.stop()
        problem = self.problem()
        if problem:
            self.check_status.show_message(MESSAGES["check_first"].format(problem=problem), "info")
            return None
        if self._check_task is not None:
            return self._check_task  # its result is checked against the data when it comes
        return self._start_check()

    def is_checking(self) -> bool:
        """Whether a check is running or about to start (the automatic one's short wait)."""
        return self._check_task is not None or self._check_timer.isActive()

    def report(self) -> dict:
        """The data doctor's last report on the current data ({} before one)."""
        return dict(self.doctor_view.report)

    def counts(self) -> dict[str, int]:
        """Label (or tag) counts, empty while they are counted or when the task has none."""
        return dict(self._counts or {})

    def counts_kind(self) -> str | None:
        """ "labels" or "tags" for the status bar; None when the task counts nothing."""
        kind = COUNTED.get(self._task)
        return f"{kind.lower()}s" if kind else None

    def is_busy(self) -> bool:
        """Whether a read, a guess or a count is still running."""
        return any(t is not None for t in (self._load_task, self._roles_task, self._count_task))

    def header(self) -> str:
        return self._header

    def role(self, field: str) -> str | None:
        combo = self.role_combos.get(field)
        return None if combo is None else combo.currentData()

    def roles(self) -> dict[str, str | None]:
        return {field: self.role(field) for field in self.role_combos}

    def text_column(self) -> str | None:
        return self.role("text_column")

    def label_column(self) -> str | None:
        return self.role("label_column")

    @property
    def text_combo(self) -> QComboBox | None:
        return self.role_combos.get("text_column")

    @property
    def label_combo(self) -> QComboBox | None:
        return self.role_combos.get("label_column")

    def set_roles(self, roles: dict[str, str | None]) -> None:
        """Select columns by role; a name the file lacks is reported inline."""
        available = [] if self._frame is None else list(self._frame.columns)
        for column in roles.values():
            if column is not None and column not in available:
                self.message.show_message(
                    MESSAGES["missing_column"].format(
                        path=Path(self.path).name or "the data",
                        column=column,
                        available=", ".join(available) or "(none)",
                    )
                )
                return
        self._user_roles.update({k: v for k, v in roles.items() if v is not None})
        self._fill_role_combos({**self.roles(), **roles})
        self._recount()

    def set_columns(self, text: str | None, label: str | None) -> None:
        self.set_roles({"text_column": text, "label_column": label})

    def problem(self) -> str | None:
        """The first reason this data cannot be trained on, or None."""
        if self._frame is None:
            return MESSAGES["no_data"]
        info = self.tasks.get(self._task, {})
        if self._roles_task is not None:
            return MESSAGES["guessing"].format(task=info.get("title", self._task))
        roles = self._roles()
        chosen = self.roles()
        needed = _join([f"a {title.lower()}" for *_, title, required in roles if required])
        for field, _flag, title, required in roles:
            if required and not chosen.get(field):
                return MESSAGES["no_role"].format(
                    role=title.lower(),
                    task=info.get("title", self._task),
                    needed=f"{needed} column" if needed else "its columns",
                )
        seen: dict[str, str] = {}
        for field, _flag, title, _required in roles:
            column = chosen.get(field)
            if column is None:
                continue
            if column in seen:
                return MESSAGES["same_column"].format(first=seen[column], second=title.lower())
            seen[column] = title.lower()
        label = chosen.get("label_column")
        if self._counts is not None and label and COUNTED.get(self._task) == "Label":
            if not self._counts:
                return MESSAGES["no_labels"].format(column=label)
            if len(self._counts) < 2:
                return MESSAGES["one_class"].format(
                    column=label,
                    label=next(iter(self._counts)),
                    task=str(info.get("title", self._task)).lower(),
                )
        if self.eval_path:
            for column in chosen.values():
                if column is not None and column not in self.eval_columns:
                    return MESSAGES["eval_missing"].format(column=column)
        return None

    def config_values(self) -> dict[str, object]:
        """The RunConfig fields this panel decides: the files, the header, every role."""
        chosen = self.roles()
        return {
            "data": self.path,
            "eval_data": self.eval_path or None,
            "header": self._header,
            **{field: chosen.get(field) for field in ROLE_FIELDS},
        }

    # ---- drag and drop ------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if _dropped_file(event) is not None:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        path = _dropped_file(event)
        if path is None:
            event.ignore()
            return
        event.acceptProposedAction()
        self.open_file(path)

    # ---- slots --------------------------------------------------------------------------
    @Slot()
    def _on_open_button_clicked(self) -> None:
        folder = ui_settings.last_folder(ui_settings.KEY_DATA_FOLDER)
        path = self.choose_file(self, MESSAGES["open_title"], folder)
        if path:
            ui_settings.remember_folder(ui_settings.KEY_DATA_FOLDER, path)
            self.open_file(path)

    @Slot()
    def _on_eval_button_clicked(self) -> None:
        folder = ui_settings.last_folder(ui_settings.KEY_DATA_FOLDER)
        path = self.choose_file(self, MESSAGES["open_eval_title"], folder)
        if path:
            self.open_eval_file(path)

    @Slot()
    def _on_eval_clear_button_clicked(self) -> None:
        self.eval_path = ""
        self.eval_columns = []
        self._eval_frame = None
        self.eval_edit.clear()
        self.eval_hint.setText(MESSAGES["eval_none"])
        self._refresh_selection()
        self.sig_eval_checked.emit("")

    @Slot(bool)
    def _on_header_check_toggled(self, checked: bool) -> None:
        if not self._updating:
            self.set_header(checked)

    @Slot(object)
    def _on_load_task_succeeded(self, info: TableInfo) -> None:
        if self.sender() is not self._load_task:
            return  # a newer file was opened meanwhile
        self._load_task = None
        self.open_button.setEnabled(True)
        self.header_check.setEnabled(True)
        suggested = info.suggested_task if info.suggested_task in self.tasks else None
        switched = suggested is not None and suggested != self._task
        self._show_table(info, suggested or self._task)
        if switched:
            title = self.tasks[suggested]["title"]
            what = MESSAGES["looks_like"].get(suggested) or MESSAGES["looks_like_other"].format(
                task=title
            )
            self.task_notice.show_message(
                MESSAGES["task_switched"].format(what=what, task=title), "info"
            )
        ui_settings.settings().setValue(KEY_LAST_FILE, info.path)
        self.sig_data_loaded.emit(info.path)
        if switched:
            self.sig_task_suggested.emit(suggested)

    @Slot(str)
    def _on_load_task_failed(self, message: str) -> None:
        if self.sender() is not self._load_task:
            return
        self._load_task = None
        self.open_button.setEnabled(True)
        self.header_check.setEnabled(True)
        # A bad file chosen over a good one: the good one stays (its columns, roles and
        # check are kept, and it is what Train uses), and the hint says so plainly.
        failed = str(self.sender().property("path") or "")
        if self._frame is not None and self.path and failed != self.path:
            text = MESSAGES["kept_previous"].format(message=message, name=Path(self.path).name)
            self.message.show_message(text, "warning")
        else:
            self.message.show_message(message)
        self.sig_data_failed.emit(message)

    @Slot(object)
    def _on_roles_task_succeeded(self, info: RolesInfo) -> None:
        if self.sender() is not self._roles_task or info.task != self._task:
            return
        self._roles_task = None
        self._fill_role_combos(info.roles)
        self._counts = info.counts
        self._refresh_selection()

    @Slot(str)
    def _on_roles_task_failed(self, message: str) -> None:
        if self.sender() is not self._roles_task:
            return
        self._roles_task = None
        self.message.show_message(message)

    @Slot(object)
    def _on_count_task_succeeded(self, counts: dict[str, int]) -> None:
        if self.sender() is not self._count_task:
            return  # the label column changed again meanwhile
        self._count_task = None
        self._counts = dict(counts)
        self._refresh_selection()

    @Slot(str)
    def _on_count_task_failed(self, message: str) -> None:
        if self.sender() is not self._count_task:
            return
        self._count_task = None
        self._counts = None
        self.counts_status.setText(message)

    @Slot(object)
    def _on_eval_task_succeeded(self, frame: pd.DataFrame) -> None:
        if self.sender() is not self._eval_task:
            return
        self._eval_task = None
        self.eval_path = str(self.sender().property("path"))
        self.eval_columns = list(frame.columns)
        self._eval_frame = frame
        self.eval_edit.setText(self.eval_path)
        self.eval_hint.setText(MESSAGES["eval_ok"].format(rows=len(frame)))
        self._refresh_selection()
        self.sig_eval_checked.emit(self.eval_path)

    @Slot(str)
    def _on_eval_task_failed(self, message: str) -> None:
        if self.sender() is not self._eval_task:
            return
        self._eval_task = None
        self.message.show_message(message)

    @Slot()
    def _on_check_button_clicked(self) -> None:
        self.tabs.setCurrentIndex(1)
        self.check_data()

    @Slot()
    def _on_check_timer_timeout(self) -> None:
        self._auto_check()

    @Slot(object)
    def _on_check_task_succeeded(self, report: dict) -> None:
        if self.sender() is not self._check_task:
            return
        self._check_task = None
        self.check_button.setEnabled(True)
        if self._check_key() != self._checked_key:
            self._auto_check()  # the data changed during the check: this report is stale
            return
        self._show_report(report)

    @Slot(str)
    def _on_check_task_failed(self, message: str) -> None:
        if self.sender() is not self._check_task:
            return
        self._check_task = None
        self.check_button.setEnabled(True)
        if self._check_key() != self._checked_key:
            self._auto_check()
            return
        self._clear_check()
        self._checked_key = self._check_key()  # the same data fails the same way: no retry
        self.check_status.show_message(message)

    @Slot()
    def _on_role_combo_changed(self) -> None:
        if self._updating:
            return
        combo = self.sender()
        field, column = str(combo.property("role")), combo.currentData()
        if column is None:
            self._user_roles.pop(field, None)
        else:
            self._user_roles[field] = column
        if field == "label_column":
            self._recount()
        else:
            self._refresh_selection()

    # ---- helpers ------------------------------------------------------------------------
    def _check_key(self, values: dict[str, object] | None = None) -> tuple:
        """What a report is of: the frames read and every value the doctor is given."""
        values = self.check_values() if values is None else values
        frames = (id(self._frame), id(self._eval_frame) if self.eval_path else None)
        return (*frames, *sorted((k, repr(v)) for k, v in values.items()))

    def _schedule_check(self) -> None:
        """Check a moment after the last change (typing, a column chosen, the roles guessed)."""
        if self._frame is not None:
            self._check_timer.start()

    def _auto_check(self) -> None:
        if self._frame is None or self._load_task is not None or self._eval_task is not None:
            return  # a file is being read: its refresh schedules the check
        problem = self.problem()
        if problem:
            if self._checked_key is not None and self._check_key() != self._checked_key:
                self._clear_check()  # the shown report is of other columns
                self.check_status.show_message(
                    MESSAGES["check_first"].format(problem=problem), "info"
                )
            return
        if self._check_task is None and self._check_key() != self._checked_key:
            self._start_check()

    def _start_check(self) -> Task:
        values = self.check_values()
        self._checked_key = self._check_key(values)
        title = self.tasks.get(self._task, {}).get("title", self._task)
        self.check_status.show_message(
            MESSAGES["checking"].format(
                name=Path(self.path).name, task=title, model=self._model_title
            ),
            "info",
        )
        self.check_button.setEnabled(False)
        eval_frame = self._eval_frame if self.eval_path else None
        self._check_task = run_task(diagnose_data, values, self._frame, eval_frame)
        self._check_task.sig_succeeded.connect(self._on_check_task_succeeded)
        self._check_task.sig_failed.connect(self._on_check_task_failed)
        return self._check_task

    def _show_report(self, report: dict) -> None:
        self.doctor_view.show_report(report)
        counts = self.doctor_view.counts()
        found = [
            MESSAGES[key][0 if n == 1 else 1].format(n=n)
            for key, n in (("tab_problems", counts["problem"]), ("tab_warnings", counts["warning"]))
            if n
        ]
        worst = self.doctor_view.worst() or "info"
        self.tabs.setTabText(
            1,
            MESSAGES["check_tab_found"].format(found=", ".join(found))
            if found
            else MESSAGES["check_tab"],
        )
        self.tabs.setTabIcon(1, self.style().standardIcon(ICONS[worst]))
        self.tabs.tabBar().setTabTextColor(1, QColor(COLOURS[worst]) if found else QColor())
        title = self.tasks.get(self._task, {}).get("title", self._task)
        self.check_status.show_message(
            MESSAGES["checked"].format(
                name=Path(self.path).name, task=title, model=self._model_title
            ),
            "info",
        )
        self._show_vocabulary(vocabulary_share(report))
        self.sig_data_checked.emit(dict(report))

    def _clear_check(self) -> None:
        """Forget the report (another file): nothing shown is of data that is not there."""
        self._checked_key = None
        self.doctor_view.clear()
        self.tabs.setTabText(1, MESSAGES["check_tab"])
        self.tabs.setTabIcon(1, QIcon())
        self.tabs.tabBar().setTabTextColor(1, QColor())
        self.check_status.show_message(MESSAGES["check_hint"], "info")
        self._show_vocabulary(None)

    def _show_vocabulary(self, share: float | None) -> None:
        """The unknown-token warning at the top of this page and (through the window) on
        the Model page."""
        if share is None:
            self.vocabulary_message.clear_message()
            text = ""
        else:
            self.vocabulary_message.show_message(
                MESSAGES["vocabulary"].format(share=share, model=self._model_title), "warning"
            )
            text = MESSAGES["vocabulary_model"].format(share=share)
        if text != self.vocabulary_warning:
            self.vocabulary_warning = text
            self.sig_vocabulary_warning_changed.emit(text)

    def _roles(self) -> list[tuple[str, str, str, bool]]:
        return [tuple(r) for r in self.tasks.get(self._task, {}).get("roles", [])]

    def _read(self, path: str, header: str, suggest: bool) -> Task:
        self.message.show_message(MESSAGES["loading"].format(name=Path(path).name), "info")
        self.open_button.setEnabled(False)
        self.header_check.setEnabled(False)
        self._load_task = run_task(read_table_info, path, header, self._task, suggest)
        self._load_task.setProperty("path", path)
        self._load_task.sig_succeeded.connect(self._on_load_task_succeeded)
        self._load_task.sig_failed.connect(self._on_load_task_failed)
        return self._load_task

    def _start_roles_guess(self) -> Task | None:
        self._count_task = None
        if self._frame is None:
            self._roles_task = None
            return None
        self._roles_task = run_task(guess_roles, self._task, self._frame, dict(self._user_roles))
        self._roles_task.sig_succeeded.connect(self._on_roles_task_succeeded)
        self._roles_task.sig_failed.connect(self._on_roles_task_failed)
        return self._roles_task

    def _recount(self) -> None:
        """Count the label column's values in the background; the table shows "Counting…"."""
        label = self.label_column()
        self._counts = None
        self._count_task = None
        if self._frame is not None and label and self._task in COUNTED:
            self._count_task = run_task(count_values, self._frame, label)
            self._count_task.sig_succeeded.connect(self._on_count_task_succeeded)
            self._count_task.sig_failed.connect(self._on_count_task_failed)
        self._refresh_selection()

    def _show_table(self, info: TableInfo, task: str) -> None:
        """Show a file read for `task`: its roles are the guess when it was read for that task
        (else the task was changed meanwhile, and the roles are guessed again)."""
        new_file = info.path != self.path or info.header == "auto"
        self.path = info.path
        self._header = info.header
        self._frame = info.frame
        self._counts = None
        self._count_task = self._roles_task = None
        if new_file:
            self._user_roles = {}
            self.task_notice.clear_message()
            self._clear_check()
        self.path_edit.setText(info.path)
        self.path_edit.setToolTip(info.path)
        self.summary_label.setText(
            MESSAGES["summary"].format(rows=len(info.frame), columns=len(info.frame.columns))
        )
        self._updating = True
        self.header_check.setVisible(info.has_header is not None)
        self.header_check.setChecked(bool(info.has_header))
        self.header_check.setText(
            MESSAGES["header_detected" if info.header == "auto" else "header"]
        )
        self._updating = False
        self.notices_label.setText("\n".join(_sentence(n) for n in info.notices))
        self.notices_label.setVisible(bool(info.notices))
        self.preview_model.set_frame(info.frame)
        self.preview.resizeColumnsToContents()
        for column in range(self.preview_model.columnCount()):
            self.preview.setColumnWidth(column, min(self.preview.columnWidth(column), 420))
        if task != self._task:
            self._task = task
            self._build_role_rows()
        if info.task == self._task:
            self._fill_role_combos(info.roles)
            self._counts = None if info.counts is None else dict(info.counts)
        else:
            self._start_roles_guess()
        if self.eval_path and info.header != "auto":
            self.open_eval_file(self.eval_path)  # the engine reads both with the same header
        self._refresh_selection()

    def _fill_role_combos(self, chosen: dict[str, str | None]) -> None:
        """Put the file's columns in every role combo and select `chosen` (by role)."""
        columns = [] if self._frame is None else [str(c) for c in self._frame.columns]
        self._updating = True
        for field, _flag, _title, required in self._roles():
            combo = self.role_combos[field]
            combo.clear()
            if not required:
                combo.addItem(MESSAGES["none"], None)
            for column in columns:
                combo.addItem(column, column)
            index = combo.findData(chosen.get(field)) if chosen.get(field) else -1
            combo.setCurrentIndex(index if index >= 0 else (-1 if required else 0))
        self._updating = False

    def _refresh_selection(self) -> None:
        self._fill_counts()
        problem = self.problem()
        label = self.label_column()
        if problem:
            self.message.show_message(problem, "info" if self._roles_task is not None else "error")
        elif (
            label
            and COUNTED.get(self._task) == "Label"
            and self._counts
            and len(self._counts) > _MANY_LABELS
            and len(self._counts) > 0.5 * len(self._frame)
        ):
            self.message.show_message(
                MESSAGES["many_labels"].format(column=label, n=len(self._counts)), "info"
            )
        else:
            self.message.clear_message()
        self._schedule_check()
        self.sig_selection_changed.emit()

    def _fill_counts(self) -> None:
        counting = self._count_task is not None or self._roles_task is not None
        self.counts_status.setText(MESSAGES["counting"])
        self.counts_status.setVisible(counting)
        counts = self._counts or {}
        total = sum(counts.values()) or 1
        shown = list(counts.items())[:500]
        self.counts_table.setRowCount(len(shown))
        for row, (label, count) in enumerate(shown):
            cells = (label, f"{count:,}", f"{count / total:.1%}")
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if column:
                    item.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
                self.counts_table.setItem(row, column, item)
        self.counts_table.resizeColumnToContents(1)
        self.counts_table.resizeColumnToContents(2)


def _join(items: list[str]) -> str:
    """ "a, b and c"."""
    return " and ".join([", ".join(items[:-1]), items[-1]]) if len(items) > 1 else "".join(items)


def _sentence(notice: str) -> str:
    """An engine notice as a sentence on this page: capitalised unless it starts with a file
    name, and with the CLI's `--header` advice replaced by the switch beside it."""
    notice = re.sub(r"\s*\(use --header[^)]*\)", MESSAGES["header_advice"], notice.strip())
    first = notice.split(" ", 1)[0]
    if "." not in first and "/" not in first:
        notice = notice[:1].upper() + notice[1:]
    return notice if notice.endswith(".") else notice + "."


def _dropped_file(event: QDragEnterEvent | QDropEvent) -> str | None:
    from workbench.engine.data.readers import SUPPORTED_SUFFIXES

    mime = event.mimeData()
    if not mime.hasUrls():
        return None
    for url in mime.urls():
        if url.isLocalFile() and Path(url.toLocalFile()).suffix.lower() in SUPPORTED_SUFFIXES:
            return url.toLocalFile()
    return None


if __name__ == "__main__":
    from workbench.gui.standalone import ensure_app, run_alone
    from workbench.resources import sample_data_path

    ensure_app()

    def _make() -> DataPanel:
        panel = DataPanel()
        if sample_data_path().exists():
            panel.open_file(sample_data_path())
        return panel

    raise SystemExit(run_alone(_make))
