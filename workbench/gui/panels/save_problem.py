"""The dialog for a run that could not save (a full or read-only disk): what happened, what
it needs and where, with the trained model still in memory until the user answers.

The engine waits (workbench/engine/training/run.py `on_save_failed`); the worker hands the
question over (gui/worker.py `SaveQuestion`). "Save again" after freeing space, "Save
elsewhere…" into a new run folder in a chosen folder, or "Don't save" (the run fails and keeps
what is on disk: its last complete checkpoint, which Resume continues).
"""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

MESSAGES = {
    "title": "Workbench could not save the run",
    "what": {
        "checkpoint": "Training stopped at step {step:,} of {total:,}: its checkpoint could not "
        "be saved.",
        "model": "The trained model (step {step:,} of {total:,}) could not be saved.",
    },
    "why": {
        "full": "The disk is full: it needs {needed} and {free} are free in {folder}.",
        "too_big": "A file of {needed} is larger than Workbench may write in {folder} (the file "
        "size limit, `ulimit -f`, or the file system's).",
        "read_only": "{folder} is on a read-only disk ({error}); it needs {needed}.",
        "denied": "Workbench may not write in {folder} ({error}); it needs {needed}.",
        "other": "{error} in {folder}; it needs {needed}.",
    },
    "kept": {
        "full": "The model trained so far is kept in memory. Free some space and press Save "
        "again, or save the run in another folder.",
        "too_big": "The model trained so far is kept in memory. Raise the limit and press Save "
        "again, or save the run in another folder.",
        "other": "The model trained so far is kept in memory. Make the folder writable (or "
        "the disk read-write) and press Save again, or save the run in another folder.",
    },
    "lost": {
        "checkpoint": "If you don't save, the run keeps its checkpoint of step {step:,}: "
        "Resume on the Runs page continues from there.",
        "none": "If you don't save, what was trained is lost (no checkpoint was saved yet).",
    },
    "again": "Save again",
    "elsewhere": "Save elsewhere…",
    "discard": "Don't save",
    "choose": "Save the run in a folder",
    "status": "Not saved yet: {why} Waiting for your answer.",
}

_WHY = {
    errno.ENOSPC: "full",
    getattr(errno, "EDQUOT", errno.ENOSPC): "full",
    errno.EFBIG: "too_big",
    errno.EROFS: "read_only",
    errno.EACCES: "denied",
    errno.EPERM: "denied",
}


def _mb(count: int) -> str:
    return f"{count / 2**20:,.1f} MB"


def why_text(failure: Any) -> str:
    """One sentence: why the save failed, what it needs, where."""
    key = _WHY.get(failure.errno, "other")
    return MESSAGES["why"][key].format(
        needed=_mb(failure.needed_bytes),
        free=_mb(failure.free_bytes),
        folder=failure.folder,
        error=failure.error,
    )


def describe(failure: Any) -> str:
    """The dialog's text: what failed, why and how much, what is kept, what "Don't save" means."""
    what = MESSAGES["what"].get(failure.what, MESSAGES["what"]["model"])
    step = failure.checkpoint_step
    lost = (
        MESSAGES["lost"]["checkpoint"].format(step=step)
        if step is not None
        else MESSAGES["lost"]["none"]
    )
    return "\n\n".join(
        [
            what.format(step=failure.step, total=failure.total_steps),
            why_text(failure),
            MESSAGES["kept"].get(_WHY.get(failure.errno, "other"), MESSAGES["kept"]["other"]),
            lost,
        ]
    )


def new_folder_in(chosen: str | Path, run_dir: str | Path) -> Path:
    """A new folder for the run inside the chosen one, named as the run (-2, -3 … if taken)."""
    base = Path(chosen) / Path(run_dir).name
    candidate, number = base, 2
    while candidate.exists():
        candidate = base.with_name(f"{base.name}-{number}")
        number += 1
    return candidate


def _choose_folder(parent: QWidget | None, title: str) -> str:
    return QFileDialog.getExistingDirectory(parent, title)


class SaveProblemDialog(QMessageBox):
    """Non-modal: the window stays live (curves, log) while it waits. Answers the question
    once, whichever way it is closed (closing it is "Don't save" only through the button;
    Escape or the title bar's × keep it open, since the model would be lost)."""

    sig_answered = Signal(object)  # "retry", a Path, or None

    choose_folder = staticmethod(_choose_folder)  # tests replace this

    def __init__(self, question: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.question = question
        failure = question.failure
        self.setIcon(QMessageBox.Icon.Warning)
        self.setWindowTitle(MESSAGES["title"])
        self.setText(describe(failure))
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.again_button = self.addButton(MESSAGES["again"], QMessageBox.ButtonRole.AcceptRole)
        self.elsewhere_button = self.addButton(
            MESSAGES["elsewhere"], QMessageBox.ButtonRole.ActionRole
        )
        self.discard_button = self.addButton(
            MESSAGES["discard"], QMessageBox.ButtonRole.DestructiveRole
        )
        self.setDefaultButton(self.again_button)
        self.setEscapeButton(None)
        # A button click closes a QMessageBox; "Save elsewhere…" may be cancelled, so the
        # buttons are handled here and the box closes only once answered.
        for button in (self.again_button, self.elsewhere_button, self.discard_button):
            button.clicked.disconnect()
        self.again_button.clicked.connect(self._on_again_button_clicked)
        self.elsewhere_button.clicked.connect(self._on_elsewhere_button_clicked)
        self.discard_button.clicked.connect(self._on_discard_button_clicked)

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        if not self.question.answered.is_set():
            event.ignore()  # the model would be lost without a word
            return
        super().closeEvent(event)

    def _answer(self, value: Any) -> None:
        self.question.answer(value)
        self.sig_answered.emit(value)
        self.done(0)

    @Slot()
    def _on_again_button_clicked(self) -> None:
        self._answer("retry")

    @Slot()
    def _on_elsewhere_button_clicked(self) -> None:
        chosen = self.choose_folder(self, MESSAGES["choose"])
        if not chosen:
            return  # cancelled: the question stays open
        self._answer(new_folder_in(chosen, self.question.failure.run_dir))

    @Slot()
    def _on_discard_button_clicked(self) -> None:
        self._answer(None)
