"""Skipped (non-finite) steps on the Train page: a cross on the loss curve at the step, a
count beside the progress (with the last reason and the run's limit), a line in the log, and
the count in the final status. The crosses are looked for in the drawn pixels, at a roomy and
at a small size, so a marker that exists but cannot be seen fails too."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QObject, QPoint, QRect, Signal
from PySide6.QtGui import QColor, QImage

from workbench.engine.events import RunFinished, RunStarted, StepLogged, StepSkipped
from workbench.gui.panels.train import TrainPanel
from workbench.gui.widgets.curve_plot import MESSAGES as PLOT_MESSAGES
from workbench.gui.widgets.curve_plot import SKIPPED_COLOR
from workbench.gui.worker import TrainingRunner


class SkipRunner(QObject):
    sig_run_started = Signal(object)
    sig_step_logged = Signal(object)
    sig_step_skipped = Signal(object)
    sig_eval_finished = Signal(object)
    sig_notice = Signal(object)
    sig_run_finished = Signal(object)
    sig_running_changed = Signal(bool)

    def stop(self) -> None:
        pass


def _logged(n: int, total: int = 40, loss: float | None = None) -> StepLogged:
    loss = 2.0 - n / total if loss is None else loss
    return StepLogged(n, total, n / total, loss, 1e-4, 100.0, float(n), float(total - n))


def _panel(qtbot, size: tuple[int, int]) -> tuple[TrainPanel, SkipRunner]:
    panel = TrainPanel()
    qtbot.addWidget(panel)
    runner = SkipRunner()
    panel.connect_runner(runner)
    panel.max_bad_steps = 3
    panel.resize(*size)
    panel.show()
    qtbot.waitExposed(panel)
    runner.sig_run_started.emit(RunStarted("/tmp/run", 40, 300, 30, ["a", "b"], "cpu", "fp32"))
    return panel, runner


def _orange_pixels(panel: TrainPanel, name: str) -> int:
    """Pixels of the crosses' colour in a grab of the plot (saved as PNG for a look)."""
    # Cropped from the page's grab (grabbing the plot widget alone crashes offscreen Qt).
    area = QRect(panel.plot.mapTo(panel, QPoint(0, 0)), panel.plot.size())
    image = panel.grab(area).toImage()
    shots = os.environ.get("WORKBENCH_SHOTS")
    if shots:
        Path(shots).mkdir(parents=True, exist_ok=True)
        panel.grab().save(str(Path(shots) / f"{name}.png"))
    image = image.convertToFormat(QImage.Format.Format_RGB32)  # B, G, R, 255 per pixel
    raw = np.frombuffer(image.constBits(), np.uint8)
    pixels = raw.reshape(image.height(), image.bytesPerLine())[:, : 4 * image.width()]
    bgr = pixels.reshape(image.height(), image.width(), 4)[..., :3].astype(int)
    target = QColor(SKIPPED_COLOR)
    want = np.array([target.blue(), target.green(), target.red()])
    return int((np.abs(bgr - want).max(axis=-1) < 40).sum())


@pytest.mark.parametrize("size", [(900, 620), (620, 460)], ids=["roomy", "small"])
def test_a_skipped_step_is_a_visible_cross_on_the_curve_and_counted(qtbot, size):
    panel, runner = _panel(qtbot, size)
    for n in range(1, 12):
        runner.sig_step_logged.emit(_logged(n))
    panel.plot.refresh()
    before = _orange_pixels(panel, f"before-{size[0]}")
    assert not panel.skipped_label.isVisible()

    runner.sig_step_skipped.emit(StepSkipped(12, 40, 0.3, "the loss was nan", 1))
    for n in range(13, 20):
        runner.sig_step_logged.emit(_logged(n))
    runner.sig_step_skipped.emit(StepSkipped(20, 40, 0.5, "the gradient norm was inf", 1))
    qtbot.waitUntil(lambda: panel.plot.drawn_counts()["skipped"] == 2)

    assert panel.plot.skipped_steps() == [12.0, 20.0]
    x, y = panel.plot.skipped_curve.getData()
    assert list(x) == [12.0, 20.0]
    assert y[0] == pytest.approx(2.0 - 12 / 40)  # on the line, between steps 11 and 13
    legend = [label.text for _, label in panel.plot.loss_plot.legend.items]
    assert PLOT_MESSAGES["skipped"] in legend
    after = _orange_pixels(panel, f"after-{size[0]}")
    assert after - before > 30, "the crosses are not visible"

    assert panel.skipped_label.isVisible()
    text = panel.skipped_label.text()
    assert text.startswith("2 steps skipped (marked × on the loss curve)")
    assert "Last: step 20, the gradient norm was inf (1 in a row; the run stops at 3)." in text
    log = panel.log.toPlainText()
    assert "Step 12 skipped (1 in a row): the loss was nan" in log
    assert "Step 20 skipped (1 in a row): the gradient norm was inf" in log
    assert panel.progress_label.text().startswith("step 20 of 40")

    runner.sig_run_finished.emit(RunFinished("completed", "/tmp/run", {}))
    assert panel.status_label.text() == "Finished. 2 steps skipped (not finite)."

    panel.reset()  # the next run starts without them
    panel.plot.refresh()
    assert panel.plot.skipped_steps() == [] and not panel.skipped_label.isVisible()
    legend = [label.text for _, label in panel.plot.loss_plot.legend.items]
    assert PLOT_MESSAGES["skipped"] not in legend


def test_one_skipped_step_before_any_logged_one_sits_on_the_axis(qtbot):
    panel, runner = _panel(qtbot, (900, 620))
    runner.sig_step_skipped.emit(StepSkipped(1, 40, 0.025, "the loss was inf", 1))
    panel.plot.refresh()
    _, y = panel.plot.skipped_curve.getData()
    assert list(y) == [0.0]
    assert panel.plot.has_data() and not panel.plot.placeholder.isVisible()
    assert panel.skipped_label.text().startswith("1 step skipped")
    assert "its update was not applied" in panel.skipped_label.text()


def test_the_runner_passes_skipped_steps_from_the_engine_to_the_page(qtbot):
    def train_fn(config, on_event, should_stop):
        on_event(RunStarted("/tmp/run", 4, 30, 3, [], "cpu", "fp32"))
        on_event(_logged(1, 4))
        on_event(StepSkipped(2, 4, 0.5, "the loss was nan", 1))
        on_event(RunFinished("completed", "/tmp/run", {}))

    runner = TrainingRunner(train_fn=train_fn)
    panel = TrainPanel()
    qtbot.addWidget(panel)
    panel.connect_runner(runner)
    with qtbot.waitSignal(runner.sig_run_finished, timeout=10_000):
        runner.start(object())
    assert panel.skipped_count == 1 and panel.plot.skipped_steps() == [2.0]
    assert "1 step skipped" in panel.status_label.text()
