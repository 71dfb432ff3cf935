"""Unexpected exceptions in the GUI: a dialog, the app log, never a silent exit.

PySide6 hands an exception raised in a slot or a virtual method (closeEvent…) to
`sys.excepthook`; a Python thread's goes to `threading.excepthook`. `install()` points both
here: the traceback goes to the app log (workbench/applog.py) and a dialog says what
happened and where the log is. The app keeps running (Qt would otherwise print the
traceback to a terminal the user never sees). A hook may run in any thread: the dialog is
shown in the GUI thread (a queued signal from other threads), and while one is open later errors are only
counted into it, so an error raised on every timer tick cannot bury the window in dialogs.
"""

from __future__ import annotations

import sys
import threading
import traceback
from collections.abc import Callable
from types import TracebackType

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from workbench import applog

MESSAGES = {
    "title": "Workbench hit an unexpected error",
    "text": "{message}\n\nWorkbench is still running, but what you were doing may not have "
    "finished. This is a bug in Workbench; the details are in the app log:\n{log}",
    "more": "\n\n{count} more unexpected error(s) since; see the log.",
    "no_log": "(the app log could not be written; the details are below)",
}

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


def _show_dialog(parent: QWidget | None, title: str, text: str, details: str) -> QMessageBox:
    """Build and show (non-blocking) the crash dialog; tests replace this to read it."""
    box = QMessageBox(QMessageBox.Icon.Critical, title, text, QMessageBox.StandardButton.Ok, parent)
    box.setDetailedText(details)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    box.show()
    return box


class CrashReporter(QObject):
    """Logs unexpected exceptions and shows them; lives in the GUI thread."""

    sig_crashed = Signal(str, str)  # message, traceback text (queued from other threads)

    show_dialog: Callable[..., QMessageBox | None] = staticmethod(_show_dialog)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.shown: list[str] = []  # every message that reached the user, oldest first
        self._box: QMessageBox | None = None
        self._text = ""
        self._extra = 0
        self._previous: tuple = ()
        # Auto: at once in the GUI thread, queued from any other thread.
        self.sig_crashed.connect(self._on_crashed)

    # ---- hooks ----------------------------------------------------------------------------
    def install(self) -> CrashReporter:
        self._previous = (sys.excepthook, threading.excepthook)
        sys.excepthook = self._excepthook
        threading.excepthook = self._threading_excepthook
        return self

    def uninstall(self) -> None:
        """Put back the hooks `install` replaced (if nobody replaced them since)."""
        if not self._previous:
            return
        previous_sys, previous_threading = self._previous
        if sys.excepthook == self._excepthook:
            sys.excepthook = previous_sys
        if threading.excepthook == self._threading_excepthook:
            threading.excepthook = previous_threading
        self._previous = ()

    def _excepthook(self, exc_type, exc, tb) -> None:
        if issubclass(exc_type, KeyboardInterrupt):  # Ctrl+C in the terminal: as Python does
            sys.__excepthook__(exc_type, exc, tb)
            return
        self.report((exc_type, exc, tb), where=threading.current_thread().name)

    def _threading_excepthook(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit or args.exc_value is None:
            return  # a thread that exits on purpose, as threading's own hook does
        name = args.thread.name if args.thread is not None else "a thread"
        self.report((args.exc_type, args.exc_value, args.exc_traceback), where=f"thread {name}")

    # ---- reporting ------------------------------------------------------------------------
    def report(self, exc_info: ExcInfo, where: str = "the GUI") -> None:
        """Log one exception and ask the GUI thread to show it. Safe from any thread, and
        never raises (a hook that raises would hide the first error)."""
        exc_type, exc, tb = exc_info
        details = "".join(traceback.format_exception(exc_type, exc, tb))
        try:
            applog.logger.error("unexpected error in %s:\n%s", where, details.rstrip())
        except Exception:  # noqa: BLE001 - the dialog and stderr still say it
            pass
        message = f"{exc_type.__name__}: {exc}" if str(exc).strip() else exc_type.__name__
        try:
            self.sig_crashed.emit(message, details)
        except RuntimeError:  # the reporter is gone (the app is ending): stderr is all there is
            sys.stderr.write(details)

    @Slot(str, str)
    def _on_crashed(self, message: str, details: str) -> None:
        self.shown.append(message)
        if self._box is not None and self._box.isVisible():
            self._extra += 1
            self._box.setText(self._text + MESSAGES["more"].format(count=self._extra))
            return
        log = applog.log_path() if applog.is_set_up() else MESSAGES["no_log"]
        self._text = MESSAGES["text"].format(message=message, log=log)
        self._extra = 0
        try:
            box = self.show_dialog(_parent(), MESSAGES["title"], self._text, details)
        except Exception:  # noqa: BLE001 - never lose the error to a failing dialog
            sys.stderr.write(f"{MESSAGES['title']}: {message}\n{details}")
            box = None
        self._box = box if isinstance(box, QMessageBox) else None
        if self._box is not None:
            self._box.destroyed.connect(self._on_box_destroyed)

    @Slot()
    def _on_box_destroyed(self) -> None:
        self._box = None

    def wait_for_dialog(self) -> None:
        """Block until the open dialog is closed (an error before the event loop ran)."""
        box = self._box
        if box is not None and box.isVisible():
            box.exec()


def _parent() -> QWidget | None:
    """The visible main window, so the dialog sits over it (None before it exists)."""
    app = QApplication.instance()
    if app is None:
        return None
    active = QApplication.activeWindow()
    if active is not None:
        return active
    visible = [w for w in QApplication.topLevelWidgets() if w.isVisible() and w.isWindow()]
    return visible[0] if visible else None


def install(parent: QObject | None = None) -> CrashReporter:
    """Route unexpected exceptions to the log and a dialog until `uninstall()`."""
    return CrashReporter(parent).install()
