"""Cyclic garbage holding Qt objects is freed on the GUI thread, whatever thread allocates."""

from __future__ import annotations

import gc
import threading

from PySide6.QtWidgets import QMenu, QWidget

from workbench.gui.garbage import MainThreadGarbageCollector


class Cycle:
    """A widget kept only by a reference cycle, as a closed window's panels often are."""

    def __init__(self, freed_on: list[str]) -> None:
        self.me = self
        self.widget = QWidget()
        QMenu(self.widget)  # a child, as the deadlocked case had
        self.widget.destroyed.connect(lambda: freed_on.append(threading.current_thread().name))


def test_a_worker_thread_allocating_never_collects_qt_garbage(qtbot):
    gc.enable()  # as Python starts: collection wherever an allocation crosses a threshold
    collector = MainThreadGarbageCollector(interval_ms=20)
    try:
        assert not gc.isenabled()
        freed_on: list[str] = []
        Cycle(freed_on)  # unreachable at once, freed only by a collection

        kept: list[list] = []

        def allocate() -> None:  # past the threshold: automatic collection would run here
            kept.extend([] for _ in range(20 * gc.get_threshold()[0]))

        worker = threading.Thread(target=allocate, name="worker")
        worker.start()
        worker.join()
        assert freed_on == []  # not collected by the worker
        qtbot.waitUntil(lambda: bool(freed_on), timeout=5000)  # the timer collects it here
        assert freed_on == [threading.main_thread().name]
    finally:
        collector.stop()


def test_stopping_collects_what_is_left_and_gives_collection_back(qtbot):
    gc.enable()
    was_enabled = gc.isenabled()
    collector = MainThreadGarbageCollector(interval_ms=60_000)
    freed_on: list[str] = []
    Cycle(freed_on)
    collector.stop()
    assert freed_on == [threading.main_thread().name]
    assert gc.isenabled() == was_enabled
