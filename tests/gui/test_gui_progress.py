"""Reading and tokenising a big file before the first step: the Train page's status line
says how far it has got, from the engine's `Progress` events (through the real runner)."""

from __future__ import annotations

import threading

from workbench.engine.events import Progress, RunFinished
from workbench.gui.panels.train import TrainPanel
from workbench.gui.worker import TrainingRunner


def test_the_status_line_follows_reading_and_tokenising(qtbot):
    shown = threading.Event()

    def train(config, on_event, should_stop):
        on_event(Progress("read", "big.csv", 45 * 2**20, 100 * 2**20, "bytes"))
        on_event(Progress("tokenise", "training data", 120_000, 1_000_000, "rows"))
        shown.wait(10)  # the test has read the status line
        on_event(RunFinished("stopped", None, {}))

    panel = TrainPanel()
    qtbot.addWidget(panel)
    runner = TrainingRunner(train)
    panel.connect_runner(runner)
    seen: list[Progress] = []
    runner.sig_progress.connect(seen.append)
    with qtbot.waitSignal(runner.sig_run_finished, timeout=20_000):
        runner.start(None)
        qtbot.waitUntil(lambda: len(seen) == 2, timeout=10_000)
        assert [e.stage for e in seen] == ["read", "tokenise"]
        assert panel.status_label.text() == "Tokenising training data… 120,000 / 1,000,000 rows"
        shown.set()
