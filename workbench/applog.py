"""The application log: one rotating file per user, for the GUI and the CLI.

Each run keeps its own `log.txt` (what the run did); this log is what the *app* did: runs
started and finished, and every unexpected exception with its traceback, so a user who hit
a bug can send one file. It lives in WORKBENCH_HOME/logs/workbench.log (a few MB, three old
files kept). Nothing here may break the app: a log folder that cannot be written only loses
the log, and the "workbench" logger has a NullHandler so an unconfigured CLI prints nothing.
"""

from __future__ import annotations

import faulthandler
import logging
import logging.handlers
import os
import sys
import threading
from pathlib import Path
from typing import IO, Any

from workbench import runs

LOGGER_NAME = "workbench"
LOG_NAME = "workbench.log"
FAULTS_NAME = "faults.log"  # faulthandler's: a crash in native code (a segfault) lands here
MAX_BYTES = 2 * 2**20
BACKUPS = 3
FORMAT = "%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s"

logger = logging.getLogger(LOGGER_NAME)
logger.addHandler(logging.NullHandler())  # no "lastResort" stderr lines when not set up

_lock = threading.Lock()
_handler: logging.handlers.RotatingFileHandler | None = None
_faults: IO[str] | None = None


def log_dir() -> Path:
    return runs.user_data_dir() / "logs"


def log_path() -> Path:
    """Where the app log is (or would be); shown in the crash dialog."""
    if _handler is not None:
        return Path(_handler.baseFilename)
    return log_dir() / LOG_NAME


def is_set_up() -> bool:
    return _handler is not None


def setup(folder: str | Path | None = None, level: int = logging.INFO) -> Path | None:
    """Send the "workbench" loggers to a rotating file in `folder` (default log_dir()).
    Idempotent; a second call with another folder moves the log there (tests with their
    own WORKBENCH_HOME). Returns the file, or None when it cannot be written (then the
    app runs without it and says so once on stderr)."""
    global _handler, _faults
    folder = Path(folder) if folder is not None else log_dir()
    path = (folder / LOG_NAME).absolute()
    with _lock:
        if _handler is not None and Path(_handler.baseFilename) == path:
            return path
        try:
            folder.mkdir(parents=True, exist_ok=True)
            handler = logging.handlers.RotatingFileHandler(
                path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8", delay=False
            )
        except OSError as exc:
            print(f"workbench: cannot write the app log in {folder}: {exc}", file=sys.stderr)
            return None
        handler.setFormatter(logging.Formatter(FORMAT))
        _remove_handler()
        _handler = handler
        logger.addHandler(handler)
        logger.setLevel(level)
        if _faults is None and not faulthandler.is_enabled():  # pytest or -X faulthandler: theirs
            try:  # a fatal signal (a segfault in native code) still leaves a Python traceback
                _faults = open(folder / FAULTS_NAME, "a", encoding="utf-8")  # noqa: SIM115
                faulthandler.enable(_faults)
            except (OSError, ValueError, RuntimeError):
                if _faults is not None:
                    _faults.close()
                _faults = None  # Python's default crash output stays
    logger.info("Workbench started (pid %d, %s)", os.getpid(), " ".join(sys.argv[:1]))
    return path


def shutdown() -> None:
    """Detach and close the log file (the end of a test, or of the app)."""
    global _faults
    with _lock:
        _remove_handler()
        if _faults is not None:
            try:
                faulthandler.disable()
            finally:
                _faults.close()
                _faults = None


def _remove_handler() -> None:
    global _handler
    if _handler is not None:
        logger.removeHandler(_handler)
        _handler.close()
        _handler = None


def log_exception(where: str, exc: BaseException) -> None:
    """An unexpected exception, with its traceback."""
    logger.error("unexpected error in %s: %s", where, _describe(exc), exc_info=exc)


def log_event(event: Any) -> None:
    """The engine events of note: a run started, finished, stopped or failed."""
    from workbench.engine.events import RunFinished, RunStarted

    if isinstance(event, RunStarted):
        logger.info(
            "run started: %s (%s, %d steps, %s, %s)",
            event.run_dir,
            event.task,
            event.total_steps,
            event.device,
            event.precision,
        )
    elif isinstance(event, RunFinished):
        if event.status == "failed":
            logger.warning("run failed: %s: %s", event.run_dir or "(no folder)", event.error)
        else:
            logger.info("run %s: %s", event.status, event.run_dir)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
