"""The real app (`workbench.gui.app.main`), offscreen, that starts training the run described
by argv[1] (RunConfig fields as JSON) once its window is shown: for the signal tests, which
run it in a subprocess and send it SIGTERM or Ctrl+C."""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QTimer  # noqa: E402

from workbench.config import RunConfig  # noqa: E402
from workbench.gui import app as gui_app  # noqa: E402
from workbench.gui.main_window import MainWindow  # noqa: E402

CONFIG = RunConfig.from_dict(json.loads(sys.argv[1]))
_show = MainWindow.show


def show(self) -> None:
    _show(self)
    QTimer.singleShot(0, lambda: self.runner.start(CONFIG))


MainWindow.show = show

if __name__ == "__main__":
    raise SystemExit(gui_app.main([CONFIG.data]))  # the Data page shows the run's file
