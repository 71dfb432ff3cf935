"""Start one panel alone for a quick look: `python -m workbench.gui.panels.data`."""

from __future__ import annotations

import sys
from collections.abc import Callable

from PySide6.QtWidgets import QApplication, QWidget

from workbench.gui.settings import APPLICATION, ORGANIZATION


def ensure_app() -> QApplication:
    app = QApplication.instance() or QApplication(sys.argv)
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    return app  # type: ignore[return-value]


def run_alone(factory: Callable[[], QWidget]) -> int:
    app = ensure_app()
    widget = factory()
    widget.resize(1000, 700)
    widget.show()
    return app.exec()
