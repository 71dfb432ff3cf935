"""Live training curves: loss (train line, eval points) beside the task's primary metric.

Curves are created once; points are appended to growing NumPy buffers and pushed to the
curves with `setData` from a timer, never per point, with clip-to-view and auto
downsampling so a long run stays cheap to draw.

The axes have fixed, readable ranges instead of pyqtgraph's auto range (which shows 4.6 to
5.4 around a first point of 5, and 0.1 to 0.9 with no data at all): steps from 0 to the
run's total once known, loss from 0, shares from 0 to 100 %. Once the user pans or zooms a
plot, it is left alone until the next run.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Slot
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from workbench.gui.metric_format import (
    CORRELATION_METRICS,
    is_percent,
    metric_axis_label,
    metric_title,
    plot_value,
)

TRAIN_COLOR = "#1f77b4"
EVAL_COLOR = "#d62728"
METRIC_COLOR = "#2ca02c"
SKIPPED_COLOR = "#e65100"  # a non-finite step: orange crosses on the loss curve
ACCURACY_COLOR = METRIC_COLOR  # the old name

MESSAGES = {
    "placeholder": "The curves appear when training starts",
    "loss_axis": "Loss",
    "step_axis": "step",
    "train_loss": "train loss",
    "eval_loss": "eval loss",
    "skipped": "skipped step",
}

DEFAULT_STEPS = 100  # the x range before a run says how many steps it has
MIN_PLOT_WIDTH = 220
MIN_PLOT_HEIGHT = 150
Y_PADDING = 0.07  # room for the tick labels at 0 and at the top, which a grid would cut


class SeriesBuffer:
    """x/y values in NumPy arrays that double when full."""

    def __init__(self, capacity: int = 1024) -> None:
        self._x = np.empty(capacity, dtype=np.float64)
        self._y = np.empty(capacity, dtype=np.float64)
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def append(self, x: float, y: float) -> None:
        if self._n == len(self._x):
            self._x = np.resize(self._x, 2 * self._n)
            self._y = np.resize(self._y, 2 * self._n)
        self._x[self._n] = x
        self._y[self._n] = y
        self._n += 1

    def clear(self) -> None:
        self._n = 0

    @property
    def x(self) -> np.ndarray:
        return self._x[: self._n]

    @property
    def y(self) -> np.ndarray:
        return self._y[: self._n]


def nice_ceiling(value: float) -> float:
    """The next round number at or above value: 0.43 → 0.5, 5.2 → 6, 23 → 25."""
    if not math.isfinite(value) or value <= 0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if value <= step * magnitude * (1 + 1e-9):
            return step * magnitude
    return 10 * magnitude


def _finite_max(*arrays: np.ndarray) -> float | None:
    values = [a[np.isfinite(a)] for a in arrays if len(a)]
    values = [v for v in values if len(v)]
    return max(float(v.max()) for v in values) if values else None


def _finite_min(*arrays: np.ndarray) -> float | None:
    values = [a[np.isfinite(a)] for a in arrays if len(a)]
    values = [v for v in values if len(v)]
    return min(float(v.min()) for v in values) if values else None


class CurvePlotWidget(QWidget):
    REFRESH_MS = 100

    def __init__(self, parent: QWidget | None = None, metric: str = "accuracy") -> None:
        super().__init__(parent)
        pg.setConfigOptions(antialias=True)
        self.metric = metric
        self.total_steps = 0
        self._user_ranged = False
        self._setting_range = False

        self.graphics = pg.GraphicsLayoutWidget(self)
        self.graphics.setBackground("w")
        self.loss_plot = self.graphics.addPlot(row=0, col=0)
        self.metric_plot = self.graphics.addPlot(row=0, col=1)
        self.accuracy_plot = self.metric_plot  # the old name
        for plot in (self.loss_plot, self.metric_plot):
            plot.showGrid(x=True, y=True, alpha=0.25)
            plot.setClipToView(True)
            plot.setDownsampling(auto=True, mode="peak")
            plot.setLabel("bottom", MESSAGES["step_axis"])
            plot.getAxis("left").setWidth(52)
            plot.getAxis("left").enableAutoSIPrefix(False)  # "Loss (x0.001)" reads badly
            plot.getAxis("bottom").enableAutoSIPrefix(False)
            plot.disableAutoRange()
            plot.getViewBox().sigRangeChangedManually.connect(self._on_viewbox_range_changed)
            plot.getViewBox().sigResized.connect(self._on_viewbox_resized)
            plot.setMinimumSize(MIN_PLOT_WIDTH, MIN_PLOT_HEIGHT)
        self.loss_plot.setLabel("left", MESSAGES["loss_axis"])
        self.metric_plot.setXLink(self.loss_plot)
        self.loss_plot.addLegend(offset=(-10, 10))

        self.train_loss = SeriesBuffer()
        self.eval_loss = SeriesBuffer()
        self.eval_metric = SeriesBuffer()
        self.train_curve = self.loss_plot.plot(
            pen=pg.mkPen(TRAIN_COLOR, width=2),
            symbolBrush=TRAIN_COLOR,
            symbolPen=None,
            symbolSize=6,
            name=MESSAGES["train_loss"],
        )
        self.eval_curve = self.loss_plot.plot(
            pen=pg.mkPen(EVAL_COLOR, width=1, style=Qt.PenStyle.DashLine),
            symbol="o",
            symbolSize=7,
            symbolBrush=EVAL_COLOR,
            symbolPen=None,
            name=MESSAGES["eval_loss"],
        )
        self.metric_curve = self.metric_plot.plot(
            pen=pg.mkPen(METRIC_COLOR, width=1),
            symbol="o",
            symbolSize=7,
            symbolBrush=METRIC_COLOR,
            symbolPen=None,
        )
        self.accuracy_curve = self.metric_curve  # the old name
        # Skipped (non-finite) steps: a cross on the loss curve at the step, never thinned
        # out; in the legend from the first one on.
        self.skipped = SeriesBuffer(64)
        self.skipped_curve = pg.PlotDataItem(
            pen=None,
            symbol="x",
            symbolSize=13,
            symbolPen=pg.mkPen(SKIPPED_COLOR, width=2.5),
            symbolBrush=SKIPPED_COLOR,
        )  # no name: a named item would be in the legend before any step was skipped
        self.loss_plot.addItem(self.skipped_curve)
        self.skipped_curve.setDownsampling(ds=1, auto=False)
        self.skipped_curve.setClipToView(False)
        self.skipped_curve.setZValue(10)  # over the lines
        self._skipped_in_legend = False

        self.placeholder = QLabel(MESSAGES["placeholder"], self)
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.placeholder.setStyleSheet(
            "QLabel { color: #5a6372; background: rgba(255, 255, 255, 225);"
            " border: 1px solid #dde1e7; border-radius: 6px; padding: 6px 12px; }"
        )

        self._dirty = False
        self._timer = QTimer(self)
        self._timer.setInterval(self.REFRESH_MS)
        self._timer.timeout.connect(self._on_timer_timeout)
        self._timer.start()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.graphics)
        self.setMinimumSize(2 * MIN_PLOT_WIDTH + 80, MIN_PLOT_HEIGHT + 40)
        self.set_metric(metric)
        self._apply_ranges()
        self._update_placeholder()

    # ---- public API ---------------------------------------------------------------------
    def set_metric(self, name: str) -> None:
        """Plot `name` (a key of EvalFinished.metrics) in the second plot, titled after it."""
        self.metric = name
        self.metric_plot.setLabel("left", metric_axis_label(name))
        self.metric_plot.setToolTip(metric_title(name))
        self.eval_metric.clear()
        self._dirty = True

    def set_total_steps(self, total_steps: int) -> None:
        """The run's length, so the step axis spans the whole run from its first point."""
        self.total_steps = max(0, int(total_steps))
        self._dirty = True

    def add_train_loss(self, step: float, loss: float) -> None:
        self.train_loss.append(step, loss)
        self._dirty = True

    def add_eval(self, step: float, loss: float | None, value: float | None) -> None:
        """An evaluation: its loss and its value of the primary metric (either may be None)."""
        if loss is not None:
            self.eval_loss.append(step, loss)
        if value is not None:
            self.eval_metric.append(step, plot_value(self.metric, float(value)))
        self._dirty = True

    def add_skipped(self, step: float) -> None:
        """A step whose loss or gradients were not finite (its update was not applied)."""
        self.skipped.append(step, 0.0)
        self._dirty = True

    def skipped_steps(self) -> list[float]:
        return self.skipped.x.tolist()

    def clear(self) -> None:
        for buffer in (self.train_loss, self.eval_loss, self.eval_metric, self.skipped):
            buffer.clear()
        self.total_steps = 0
        self._user_ranged = False
        self._dirty = True
        self.refresh()

    def has_data(self) -> bool:
        return bool(
            len(self.train_loss)
            or len(self.eval_loss)
            or len(self.eval_metric)
            or len(self.skipped)
        )

    def refresh(self) -> None:
        """Push the buffers to the curves (normally done by the timer)."""
        if not self._dirty:
            return
        self._dirty = False
        self.train_curve.setData(self.train_loss.x, self.train_loss.y)
        lone_point = len(self.train_loss) == 1  # a line of one point draws nothing
        if (self.train_curve.opts["symbol"] is not None) != lone_point:
            self.train_curve.setSymbol("o" if lone_point else None)
        self.eval_curve.setData(self.eval_loss.x, self.eval_loss.y)
        self.metric_curve.setData(self.eval_metric.x, self.eval_metric.y)
        self.skipped_curve.setData(self.skipped.x, self._skipped_heights())
        if len(self.skipped) and not self._skipped_in_legend:
            self.loss_plot.legend.addItem(self.skipped_curve, MESSAGES["skipped"])
            self._skipped_in_legend = True
        elif not len(self.skipped) and self._skipped_in_legend:
            self.loss_plot.legend.removeItem(self.skipped_curve)
            self._skipped_in_legend = False
        self._apply_ranges()
        self._update_placeholder()

    def _skipped_heights(self) -> np.ndarray:
        """Where a skipped step's cross sits: on the train-loss line at that step (it has no
        loss of its own), or at 0 before the line has a point."""
        if not len(self.train_loss):
            return np.zeros(len(self.skipped))
        order = np.argsort(self.train_loss.x, kind="stable")
        return np.interp(self.skipped.x, self.train_loss.x[order], self.train_loss.y[order])

    def drawn_counts(self) -> dict[str, int]:
        """How many points each curve has been given (what the user sees, before clipping)."""
        curves = {
            "train_loss": self.train_curve,
            "eval_loss": self.eval_curve,
            "eval_metric": self.metric_curve,
            "skipped": self.skipped_curve,
        }
        counts = {name: 0 if c.xData is None else len(c.xData) for name, c in curves.items()}
        counts["eval_accuracy"] = counts["eval_metric"]  # the old name
        return counts

    def ranges(self) -> dict[str, tuple[float, float]]:
        """The visible ranges: x (steps), loss and metric (as drawn, so percent for shares)."""
        (x0, x1), (l0, l1) = self.loss_plot.getViewBox().viewRange()
        _, (m0, m1) = self.metric_plot.getViewBox().viewRange()
        return {"x": (x0, x1), "loss": (l0, l1), "metric": (m0, m1)}

    # ---- ranges -------------------------------------------------------------------------
    def metric_range(self) -> tuple[float, float]:
        """0–100 for shares; 0–1 for correlations unless a value is negative; else from 0."""
        if is_percent(self.metric):
            return 0.0, 100.0
        low = _finite_min(self.eval_metric.y)
        high = _finite_max(self.eval_metric.y)
        if self.metric in CORRELATION_METRICS:
            return (-1.0 if low is not None and low < 0 else 0.0), 1.0
        bottom = 0.0 if low is None or low >= 0 else -nice_ceiling(-low * 1.1)
        return bottom, nice_ceiling((high or 0.0) * 1.1)

    def _apply_ranges(self) -> None:
        if self._user_ranged:
            return
        last_step = (
            _finite_max(self.train_loss.x, self.eval_loss.x, self.eval_metric.x, self.skipped.x)
            or 0
        )
        x_max = max(self.total_steps, last_step) or DEFAULT_STEPS
        loss_max = _finite_max(self.train_loss.y, self.eval_loss.y)
        self._setting_range = True
        try:
            self.loss_plot.setXRange(0, x_max, padding=0.04)
            top = nice_ceiling((loss_max or 0.0) * 1.1)
            self.loss_plot.setYRange(0, top, padding=Y_PADDING)
            self.metric_plot.setYRange(*self.metric_range(), padding=Y_PADDING)
        finally:
            self._setting_range = False

    def _update_placeholder(self) -> None:
        self.placeholder.setVisible(not self.has_data())
        self._place_placeholder()

    def _place_placeholder(self) -> None:
        """Centre the placeholder on the loss plot's data area (not over an axis title)."""
        box = self.loss_plot.getViewBox().sceneBoundingRect()
        area = self.graphics.mapFromScene(box).boundingRect()
        area.moveTopLeft(self.graphics.mapTo(self, area.topLeft()))
        if area.width() < 50:  # not laid out yet
            area = self.rect()
        hint = self.placeholder.sizeHint()
        width = min(hint.width(), self.width())
        left = max(0, min(area.center().x() - width // 2, self.width() - width))
        self.placeholder.setGeometry(
            left, area.center().y() - hint.height() // 2, width, hint.height()
        )
        self.placeholder.raise_()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._place_placeholder()

    # ---- slots --------------------------------------------------------------------------
    @Slot()
    def _on_timer_timeout(self) -> None:
        self.refresh()

    @Slot(object)
    def _on_viewbox_resized(self, _viewbox: object) -> None:
        self._place_placeholder()

    @Slot(object)
    def _on_viewbox_range_changed(self, _mask: object) -> None:
        if not self._setting_range:
            self._user_ranged = True  # the user zoomed or panned: keep their view
