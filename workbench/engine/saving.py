"""When a run cannot save (a full or read-only disk): what its caller is told and may answer.

No torch here: the GUI's training worker sets the handler before it calls the engine. The
training procedure (training/run.py) stops, keeps the model in memory and calls the handler
set in its thread; unset (the CLI), the run fails with what a checkpoint needs, as before.
"""

from __future__ import annotations

import contextvars
import errno
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# A full disk, a file size limit, a read-only or unwritable folder: what waiting can fix.
SAVE_ERRNOS = frozenset(
    {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EFBIG, errno.EROFS}
    | {errno.EACCES, errno.EPERM}
)


@dataclass(frozen=True)
class SaveFailure:
    """What could not be saved, where, and what it needs: for `on_save_failed`'s handler."""

    what: str  # "checkpoint" or "model"
    run_dir: str
    folder: str  # where the write failed
    errno: int
    error: str  # the system's words ("No space left on device")
    needed_bytes: int
    free_bytes: int
    step: int
    total_steps: int
    checkpoint_step: int | None  # the newest complete checkpoint (a resume starts there)


RETRY = "retry"
SaveAnswer = str | Path | None
"""RETRY: save again where it failed (space was freed); a Path: save the run there instead
(a new folder: model, results, config and logs); None: give up (the run fails)."""

on_save_failed: contextvars.ContextVar[Callable[[SaveFailure], SaveAnswer] | None] = (
    contextvars.ContextVar("on_save_failed", default=None)
)
"""Set in the thread that trains by a caller that can wait for the user (the GUI): when a
checkpoint or the model cannot be written, training stops, the trained model stays in memory
and the handler (which may block) says what to do."""
