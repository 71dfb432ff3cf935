"""Ctrl+C and SIGTERM sent to the app, as the CLI's `train` treats them.

Once: every window closes as its close button does: a run stops after the current step,
keeps a checkpoint and saves the model trained so far (a *Stopped* run with Resume on the
Runs page), then the app ends (exit 0). A failed save still waiting for its answer is given
up (the run keeps its last complete checkpoint). Twice: abort at once, exit 128 + the
signal: a KeyboardInterrupt in the training thread undoes the write in progress (every file
is written atomically, staging folders are removed), and one line on stderr says what is left.

Python runs a signal handler only between bytecodes of the main thread, which Qt's event
loop does not execute while idle; `signal.set_wakeup_fd` writes each signal's number to a
socket that a QSocketNotifier watches, so the handling happens in the GUI thread at once.
"""

from __future__ import annotations

import os
import signal
import socket
import sys

from PySide6.QtCore import QCoreApplication, QObject, QSocketNotifier, Slot
from PySide6.QtWidgets import QApplication

from workbench import applog

SIGNALS = (signal.SIGINT, signal.SIGTERM)
MESSAGES = {
    "stopping": "workbench: {what}: stopping the run after this step and saving it "
    "({what} again to abort)",
    "closing": "workbench: {what}: closing",
    "aborted": "workbench: aborted; {run_dir} keeps its checkpoint of step {step}: Resume it on "
    "the Runs page (or `workbench train --resume {run_dir}`)",
    "aborted_no_checkpoint": "workbench: aborted; {run_dir} has no checkpoint to resume from, "
    "so train again",
    "aborted_nothing": "workbench: aborted",
}


def _name(signum: int) -> str:
    return "Ctrl+C" if signum == signal.SIGINT else signal.Signals(signum).name


class SignalHandler(QObject):
    """Installed by `install()` for the app's lifetime; `uninstall()` puts back what was."""

    def __init__(self, app: QCoreApplication) -> None:
        super().__init__(app)
        self.received: list[int] = []
        self._reader, self._writer = socket.socketpair()
        self._reader.setblocking(False)
        self._writer.setblocking(False)
        self._previous_fd = signal.set_wakeup_fd(self._writer.fileno())
        self._previous = {s: signal.signal(s, _noop) for s in SIGNALS}
        self._notifier = QSocketNotifier(self._reader.fileno(), QSocketNotifier.Type.Read, self)
        self._notifier.activated.connect(self._on_notifier_activated)

    def uninstall(self) -> None:
        self._notifier.setEnabled(False)
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        signal.set_wakeup_fd(self._previous_fd)
        self._reader.close()
        self._writer.close()

    @Slot()
    def _on_notifier_activated(self) -> None:
        try:
            data = self._reader.recv(64)
        except OSError:
            return
        for signum in data:
            if signum in SIGNALS:
                self.handle(signum)

    def handle(self, signum: int) -> None:
        self.received.append(signum)
        windows = _main_windows()
        if len(self.received) == 1:
            running = any(w.runner.is_running() for w in windows)
            what = _name(signum)
            message = MESSAGES["stopping" if running else "closing"].format(what=what)
            applog.logger.warning("%s (signal %d)", message, signum)
            print(message, file=sys.stderr, flush=True)
            for window in windows:
                if window.runner.save_pending():  # nobody may be there to answer it
                    window.runner.abandon()
                window.close()  # a run stops and saves; the app ends once it has
            if not windows:
                QCoreApplication.exit(0)
            return
        self.abort(signum, windows)

    def abort(self, signum: int, windows: list) -> None:
        """The second signal: end at once; nothing half-written (see the module docstring)."""
        from workbench.engine import resume_status

        lines = []
        for window in windows:
            ended, run_dir = window.runner.abort()
            if not run_dir:
                continue
            status = resume_status(run_dir)
            key = "aborted" if status.get("resumable") else "aborted_no_checkpoint"
            lines.append(MESSAGES[key].format(run_dir=run_dir, step=status.get("step")))
            if not ended:
                applog.logger.error("the run %s did not end within the abort's wait", run_dir)
        lines = lines or [MESSAGES["aborted_nothing"]]
        for line in lines:
            applog.logger.warning("%s (signal %d)", line, signum)
            print(line, file=sys.stderr, flush=True)
        applog.shutdown()
        sys.stderr.flush()
        os._exit(128 + signum)  # no clean-up left that could write: each write was undone


def _noop(signum, frame) -> None:
    """The work happens in the GUI thread (the wakeup socket); Python must not raise
    KeyboardInterrupt into whatever the main thread was doing."""


def _main_windows() -> list:
    from workbench.gui.main_window import MainWindow

    return [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow)]


def install(app: QCoreApplication) -> SignalHandler | None:
    """Handle SIGINT and SIGTERM in the GUI thread (None where signals cannot be routed so,
    e.g. not in the main thread)."""
    try:
        return SignalHandler(app)
    except (ValueError, OSError) as exc:  # not the main thread, or no socketpair
        applog.logger.warning("Ctrl+C and SIGTERM keep their default handling: %s", exc)
        return None
