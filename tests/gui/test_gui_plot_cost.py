"""The training curves stay cheap to draw as points grow (issue 17): what is drawn is
downsampled to the plot's width and clipped to its view, unchanged series are not pushed
again, and a plot whose page is hidden waits. Counts, not timings."""

from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import QStackedWidget, QWidget

from workbench.gui.widgets.curve_plot import CurvePlotWidget

POINTS = 10_000


def _filled(plot: CurvePlotWidget) -> None:
    plot.set_total_steps(POINTS)
    for step in range(1, POINTS + 1):
        plot.add_train_loss(step, 1.0 / step**0.3 + 0.05 * np.sin(step))
        if step % 500 == 0:
            plot.add_eval(step, 0.9 / step**0.3, 0.5 + step / POINTS / 3)
    plot.refresh()


def _shown_plot(qtbot) -> CurvePlotWidget:
    plot = CurvePlotWidget()
    qtbot.addWidget(plot)
    plot.resize(900, 400)
    plot.show()
    qtbot.waitExposed(plot)
    qtbot.waitUntil(plot.is_built)  # after the first frame
    return plot


def test_ten_thousand_points_are_drawn_downsampled_to_the_plot_width(qtbot):
    plot = _shown_plot(qtbot)
    _filled(plot)
    assert plot.drawn_counts()["train_loss"] == POINTS  # every point given to the curve
    width = plot.loss_plot.getViewBox().width()
    x, y = plot.train_curve.getData()  # what is drawn
    assert 0 < len(x) <= 2 * width + 4, (len(x), width)  # peak: a min and a max per column
    assert plot.train_curve.opts["downsampleMethod"] == "peak"
    assert np.isclose(y.max(), plot.train_loss.y.max())  # peaks are kept, not averaged away
    assert np.isclose(y.min(), plot.train_loss.y.min())


def test_points_outside_the_view_are_clipped(qtbot):
    plot = _shown_plot(qtbot)
    _filled(plot)
    plot.loss_plot.setXRange(2000, 2500, padding=0)  # the user zooms in
    qtbot.waitUntil(lambda: plot.train_curve.getData()[0].max() < 3000)
    x, _ = plot.train_curve.getData()
    assert x.min() >= 1990 and x.max() <= 2510  # one point either side of the view at most
    assert len(x) <= 2 * plot.loss_plot.getViewBox().width() + 4


def test_a_refresh_pushes_only_the_series_that_changed(qtbot):
    plot = _shown_plot(qtbot)
    _filled(plot)
    plot._timer.stop()  # refreshed by hand here
    calls: dict[str, int] = {"train": 0, "eval": 0, "metric": 0}
    for name, curve in (
        ("train", plot.train_curve),
        ("eval", plot.eval_curve),
        ("metric", plot.metric_curve),
    ):
        original = curve.setData

        def counted(*args, _name=name, _original=original, **kwargs):
            calls[_name] += 1
            return _original(*args, **kwargs)

        curve.setData = counted
    plot.add_train_loss(POINTS + 1, 0.2)
    plot.add_train_loss(POINTS + 2, 0.2)  # two points, one refresh: coalesced
    plot.refresh()
    plot.refresh()  # nothing new: nothing pushed
    assert calls == {"train": 1, "eval": 0, "metric": 0}
    plot.add_eval(POINTS + 2, 0.3, 0.7)
    plot.refresh()
    assert calls == {"train": 1, "eval": 1, "metric": 1}


def test_a_plot_on_a_hidden_page_waits_until_its_page_is_shown(qtbot):
    stack = QStackedWidget()
    qtbot.addWidget(stack)
    other, plot = QWidget(), CurvePlotWidget()
    stack.addWidget(other)
    stack.addWidget(plot)
    stack.resize(900, 400)
    stack.show()
    qtbot.waitExposed(stack)
    stack.setCurrentWidget(plot)
    qtbot.waitUntil(plot.is_built)
    stack.setCurrentWidget(other)  # the user went to another page
    for step in range(1, 200):
        plot.add_train_loss(step, 1.0 / step)
    qtbot.wait(3 * CurvePlotWidget.REFRESH_MS)
    assert plot.drawn_counts()["train_loss"] == 0  # hidden: its timer left it alone
    stack.setCurrentWidget(plot)
    qtbot.waitUntil(lambda: plot.drawn_counts()["train_loss"] == 199)


def test_a_plot_never_shown_imports_nothing_until_its_parts_are_read(qtbot):
    plot = CurvePlotWidget(metric="f1_macro")
    qtbot.addWidget(plot)
    plot.add_train_loss(1, 0.5)
    plot.set_metric("accuracy")
    assert not plot.is_built()
    assert "Accuracy" in plot.metric_plot.getAxis("left").labelText  # reading builds it
    plot.refresh()
    assert plot.is_built() and plot.drawn_counts()["train_loss"] == 1
