"""The GUI entry point: `workbench` with no arguments, or `python -m workbench.gui.app [FILE]`."""

from __future__ import annotations

import sys

if sys.platform == "win32":
    # torch >= 2.9 cannot load its DLLs on Windows once Qt is loaded (pytorch issue 166628).
    import torch  # noqa: F401

import argparse  # noqa: E402
import os  # noqa: E402

from PySide6.QtCore import QEvent, QObject, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from workbench.gui.settings import APPLICATION, ORGANIZATION  # noqa: E402

DATA_ENV = "WORKBENCH_DATA"
RELEASE_AFTER_MS = 3000  # held start-up tasks start by then even without an Expose


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="workbench", description="Workbench desktop app")
    parser.add_argument("data", nargs="?", help="a data file to open (or set WORKBENCH_DATA)")
    args, _qt_args = parser.parse_known_args(argv)
    if args.data is None:
        args.data = os.environ.get(DATA_ENV) or None
    return args


def apply_style(app: QApplication) -> bool:
    """Apply resources/styles/workbench.qss, a light theme, when the system palette is light.

    On a dark palette it would put dark text on dark ground in places, so the platform's
    own look stays. Returns whether the style sheet was applied."""
    from workbench.resources import resource_path

    sheet = resource_path("styles", "workbench.qss")
    if app.palette().window().color().lightness() < 128 or not sheet.exists():
        return False
    app.setStyleSheet(sheet.read_text(encoding="utf-8"))
    return True


class FirstExpose(QObject):
    """Calls `then()` once, after the first Expose of a window (its first frame is drawn in
    that event's handling), and removes itself."""

    def __init__(self, app: QApplication, then) -> None:
        super().__init__()
        self._app = app
        self._then = then
        app.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt's name)
        if event.type() == QEvent.Type.Expose and watched.isWindowType():
            self._app.removeEventFilter(self)
            QTimer.singleShot(0, self._then)  # after the frame the Expose draws
        return False


def main(argv: list[str] | None = None) -> int:
    """Create the application and the main window, and run until the window closes."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    app = QApplication.instance() or QApplication([sys.argv[0], *argv])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationDisplayName(APPLICATION)
    from PySide6.QtGui import QIcon

    from workbench.resources import resource_path

    icon = resource_path("icons", "workbench.png")
    if icon.exists():
        app.setWindowIcon(QIcon(str(icon)))
    apply_style(app)

    from workbench import applog
    from workbench.gui import crash
    from workbench.gui.main_window import MainWindow
    from workbench.gui.predictor_service import shutdown_all
    from workbench.gui.tasks import hold_tasks, release_tasks, wait_for_tasks

    applog.setup()  # WORKBENCH_HOME/logs/workbench.log; the app runs on without it
    from workbench.gui.garbage import MainThreadGarbageCollector

    collector = MainThreadGarbageCollector(app)  # Qt garbage is freed on this thread only
    reporter = crash.install(app)  # unexpected exceptions: the log and a dialog
    from workbench.gui import interrupts

    signals = interrupts.install(app)  # Ctrl+C, SIGTERM: stop and save, twice: abort
    app.aboutToQuit.connect(shutdown_all)
    app.aboutToQuit.connect(wait_for_tasks)
    # The panels' background work (reading the data, listing models and exporters: the first
    # call imports torch) waits until the window is on screen, so it shows without waiting.
    hold_tasks()
    shown = FirstExpose(app, release_tasks)
    QTimer.singleShot(RELEASE_AFTER_MS, release_tasks)  # a window that is never exposed
    try:
        window = MainWindow(data_path=args.data)
        window.show()
        code = app.exec()
    except Exception as exc:  # the window could not be built: say so, never exit silently
        reporter.report((type(exc), exc, exc.__traceback__), where="start-up")
        reporter.wait_for_dialog()
        return 1
    finally:
        release_tasks(start=False)  # the app has ended: nothing held starts now
        # A task started after the window's own join (a data check queued by a file opened
        # just before closing) must end before Python destroys its QThread (an abort).
        wait_for_tasks()
        collector.stop()
        del shown
        reporter.uninstall()
        if signals is not None:
            signals.uninstall()
    applog.logger.info("Workbench closed (exit code %d)", code)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
