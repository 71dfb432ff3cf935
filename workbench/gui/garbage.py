"""Python's cyclic garbage is collected on the GUI thread, never on a worker thread.

The collector runs in whichever thread happens to allocate when a threshold is crossed. When
that is a worker (training, a model load) and the garbage holds Qt objects (a closed window's
menus, panels), they are destroyed off the GUI thread, and Qt deadlocks: the worker waits for
the interpreter lock inside a destructor while the GUI thread waits for a Qt mutex the
destructor holds (seen in the test suite: a QMenu freed by a thread building a model). So
automatic collection is switched off while the app runs, and a timer on the GUI thread
collects when the allocation counts pass the interpreter's own thresholds.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer

INTERVAL_MS = 500


class MainThreadGarbageCollector(QObject):
    def __init__(self, parent: QObject | None = None, interval_ms: int = INTERVAL_MS) -> None:
        super().__init__(parent)
        self._was_enabled = gc.isenabled()
        self._thresholds = gc.get_threshold()
        gc.disable()
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.check)
        self._timer.start(interval_ms)

    def check(self) -> None:
        """Collect the oldest generation whose count passed its threshold, as gc would."""
        counts = gc.get_count()
        for generation in (2, 1, 0):
            if counts[generation] > self._thresholds[generation]:
                gc.collect(generation)
                return

    def stop(self) -> None:
        """Collect what is left here, on the GUI thread, and give collection back to Python."""
        self._timer.stop()
        gc.collect()
        if self._was_enabled:
            gc.enable()
