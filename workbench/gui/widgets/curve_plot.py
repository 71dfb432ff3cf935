"""Live training curves: loss (train line, eval points) beside the task's primary metric.

Curves are created once; points are appended to growing NumPy buffers and pushed to the
curves with `setData` from a timer, never per point, with clip-to-view and peak
downsampling to about two points per pixel column, so a long run stays cheap to draw. A
timer tick only pushes the series that changed, sets the ranges only when they move, and
skips a plot whose page is not on screen; the axes (with their grid) are cached as pixmaps,
so a repaint of 10,000 points costs a few milliseconds, not ~100 (issue 17).

pyqtgraph (about a second to import) is loaded when the plot is first shown, after the
window's first frame (`gui.tasks.after_start`) and on a task's thread, or when code reads
one of its parts (the `train_curve`, `loss_plot`…); until then the widget is a white area
with the placeholder.

The axes have fixed, readable ranges instead of pyqtgraph's auto range (which shows 4.6 to
5.4 around a first point of 5, and 0.1 to 0.9 with no data at all): steps from 0 to the
run's total once known, loss from 0, shares from 0 to 100 %. Once the user pans or zooms a
plot, it is left alone until the next run.
"""

from __future__ import annotations

import importlib
import math
import sys
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import Qt, QTimer, Slot
from PySide6.QtGui import QColor, QPalette, QResizeEvent, QShowEvent
from PySide6.QtWidgets import QGraphicsItem, QLabel, QVBoxLayout, QWidget

from workbench.gui import tasks
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
# Peak downsampling keeps each pixel column's min and max: with pyqtgraph's default factor
# (5 samples per pixel) a 10,000-step curve in a 400-pixel plot drew 4,000 points; at 1
# it draws ~800 and looks the same.
DOWNSAMPLE_FACTOR = 1.0
# The parts built with pyqtgraph; reading one before the plot is built builds it.
GRAPHICS_PARTS = frozenset(
    {
        "graphics",
        "loss_plot",
        "metric_plot",
        "accuracy_plot",
        "train_curve",
        "eval_curve",
        "metric_curve",
        "accuracy_curve",
        "skipped_curve",
    }
)

if TYPE_CHECKING:
    import pyqtgraph as pg


class SeriesBuffer:
    """x/y values in NumPy arrays that double when full."""

    def __init__(self, capacity: int = 1024) -> None:
        self._x = np.empty(capacity, dtype=np.float64)
        self._y = np.empty(capacity, dtype=np.float64)
        self._n = 0

        self.version = 0  # changes with every append and clear: what a refresh pushes

    def __len__(self) -> int:
        return self._n

    def append(self, x: float, y: float) -> None:
        if self._n == len(self._x):
            self._x = np.resize(self._x, 2 * self._n)
            self._y = np.resize(self._y, 2 * self._n)
        self._x[self._n] = x
        self._y[self._n] = y
        self._n += 1
        self.version += 1

    def clear(self) -> None:
        self._n = 0
        self.version += 1

    def all_finite(self) -> bool:
        return bool(np.isfinite(self.x).all() and np.isfinite(self.y).all())

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
        self._built = False
        self._build_scheduled = False
        self._import_task: tasks.Task | None = None  # pyqtgraph's import, off this thread
        self.metric_name = metric  # not `metric`: that would hide QWidget.metric()
        self.total_steps = 0
        self._user_ranged = False
        self._setting_range = False
        self._pushed: dict[str, object] = {}  # series -> the buffer version on its curve
        self._ranges_set: tuple[float, ...] | None = None  # the ranges last given the plots
        # A white area where the plots go, so the page looks the same before pyqtgraph has
        # loaded; the plots replace it.
        self._blank = QWidget(self)
        palette = self._blank.palette()
        palette.setColor(QPalette.ColorRole.Window, QColor("white"))
        self._blank.setPalette(palette)
        self._blank.setAutoFillBackground(True)

        self.train_loss = SeriesBuffer()
        self.eval_loss = SeriesBuffer()
        self.eval_metric = SeriesBuffer()
        # Skipped (non-finite) steps: a cross on the loss curve at the step, never thinned
        # out; in the legend from the first one on.
        self.skipped = SeriesBuffer(64)
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

        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.addWidget(self._blank)
        self.setMinimumSize(2 * MIN_PLOT_WIDTH + 80, MIN_PLOT_HEIGHT + 40)
        self._update_placeholder()

    def __getattr__(self, name: str) -> Any:
        # Only reached for attributes not set yet: the pyqtgraph parts before the build.
        if name in GRAPHICS_PARTS and not self.__dict__.get("_built", True):
            self._build()
            return getattr(self, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def is_built(self) -> bool:
        """Whether pyqtgraph's plots exist yet (they are built when first shown or read)."""
        return self._built

    def _build(self) -> None:
        """Create the two plots and their curves, and give them the data so far."""
        if self._built:
            return
        import pyqtgraph as pg

        self._built = True
        pg.setConfigOptions(antialias=True)
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
            for side in ("left", "bottom"):
                # An axis replays its ticks, labels and grid lines on every repaint (~15 ms
                # each at 900x400 offscreen); cached, it is redrawn only when it changes.
                plot.getAxis(side).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
            plot.disableAutoRange()
            plot.getViewBox().sigRangeChangedManually.connect(self._on_viewbox_range_changed)
            plot.getViewBox().sigResized.connect(self._on_viewbox_resized)
            plot.setMinimumSize(MIN_PLOT_WIDTH, MIN_PLOT_HEIGHT)
        self.loss_plot.setLabel("left", MESSAGES["loss_axis"])
        self.metric_plot.setXLink(self.loss_plot)
        self.loss_plot.addLegend(offset=(-10, 10))

        self.train_curve = self.loss_plot.plot(
            pen=pg.mkPen(TRAIN_COLOR, width=2),
            symbolBrush=TRAIN_COLOR,
            symbolPen=None,
            symbolSize=6,
            name=MESSAGES["train_loss"],
            autoDownsampleFactor=DOWNSAMPLE_FACTOR,
        )
        self.eval_curve = self.loss_plot.plot(
            pen=pg.mkPen(EVAL_COLOR, width=1, style=Qt.PenStyle.DashLine),
            symbol="o",
            symbolSize=7,
            symbolBrush=EVAL_COLOR,
            symbolPen=None,
            name=MESSAGES["eval_loss"],
            autoDownsampleFactor=DOWNSAMPLE_FACTOR,
        )
        self.metric_curve = self.metric_plot.plot(
            pen=pg.mkPen(METRIC_COLOR, width=1),
            symbol="o",
            symbolSize=7,
            symbolBrush=METRIC_COLOR,
            symbolPen=None,
            autoDownsampleFactor=DOWNSAMPLE_FACTOR,
        )
        self.accuracy_curve = self.metric_curve  # the old name
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

        self._layout.replaceWidget(self._blank, self.graphics)
        self.graphics.show()  # now, not when the layout's queued show comes round
        self._blank.hide()
        self._blank.deleteLater()
        self._apply_metric_labels()
        self._apply_ranges()
        self._update_placeholder()
        self._dirty = True  # the points so far go to the curves on the next refresh

    # ---- public API ---------------------------------------------------------------------
    def set_metric(self, name: str) -> None:
        """Plot `name` (a key of EvalFinished.metrics) in the second plot, titled after it."""
        self.metric_name = name
        if self._built:
            self._apply_metric_labels()
        self.eval_metric.clear()
        self._ranges_set = None  # the metric's range may differ
        self._dirty = True

    def _apply_metric_labels(self) -> None:
        self.metric_plot.setLabel("left", metric_axis_label(self.metric_name))
        self.metric_plot.setToolTip(metric_title(self.metric_name))

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
            self.eval_metric.append(step, plot_value(self.metric_name, float(value)))
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
        self._ranges_set = None
        self._dirty = True
        if self._built:
            self.refresh()
        else:
            self._update_placeholder()

    def has_data(self) -> bool:
        return bool(
            len(self.train_loss)
            or len(self.eval_loss)
            or len(self.eval_metric)
            or len(self.skipped)
        )

    def refresh(self) -> None:
        """Push the series that changed to the curves (normally done by the timer). A plot
        not built yet keeps its points until it is shown (then they are drawn at once)."""
        if not self._dirty:
            return
        if not self._built:
            if not self.isVisible():
                return
            self._build()
        self._dirty = False
        lone_point = len(self.train_loss) == 1  # a line of one point draws nothing
        if (self.train_curve.opts["symbol"] is not None) != lone_point:
            self.train_curve.setSymbol("o" if lone_point else None)
        self._push("train_loss", self.train_curve, self.train_loss)
        self._push("eval_loss", self.eval_curve, self.eval_loss)
        self._push("eval_metric", self.metric_curve, self.eval_metric)
        if self._pushed.get("skipped") != (self.skipped.version, self.train_loss.version):
            # the crosses sit on the loss line, so they move when it grows
            self._pushed["skipped"] = (self.skipped.version, self.train_loss.version)
            self.skipped_curve.setData(self.skipped.x, self._skipped_heights())
        if len(self.skipped) and not self._skipped_in_legend:
            self.loss_plot.legend.addItem(self.skipped_curve, MESSAGES["skipped"])
            self._skipped_in_legend = True
        elif not len(self.skipped) and self._skipped_in_legend:
            self.loss_plot.legend.removeItem(self.skipped_curve)
            self._skipped_in_legend = False
        self._apply_ranges()
        self._update_placeholder()

    def _push(self, name: str, curve: pg.PlotDataItem, buffer: SeriesBuffer) -> None:
        """setData only when the series changed: setting the same points again re-clips,
        re-downsamples and rebuilds the symbols (a few ms per curve at 10,000 points)."""
        if self._pushed.get(name) == buffer.version:
            return
        self._pushed[name] = buffer.version
        # pyqtgraph checks every value for NaN/inf unless told they are all finite
        curve.setData(buffer.x, buffer.y, skipFiniteCheck=buffer.all_finite())

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
        if is_percent(self.metric_name):
            return 0.0, 100.0
        low = _finite_min(self.eval_metric.y)
        high = _finite_max(self.eval_metric.y)
        if self.metric_name in CORRELATION_METRICS:
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
        top = nice_ceiling((loss_max or 0.0) * 1.1)
        wanted = (float(x_max), top, *self.metric_range())
        if wanted == self._ranges_set:
            return  # a new range re-clips every curve and redraws the axes: only on change
        self._setting_range = True
        try:
            self.loss_plot.setXRange(0, x_max, padding=0.04)
            self.loss_plot.setYRange(0, top, padding=Y_PADDING)
            self.metric_plot.setYRange(*wanted[2:], padding=Y_PADDING)
            self._ranges_set = wanted
        finally:
            self._setting_range = False

    def _update_placeholder(self) -> None:
        self.placeholder.setVisible(not self.has_data())
        self._place_placeholder()

    def _place_placeholder(self) -> None:
        """Centre the placeholder on the loss plot's data area (not over an axis title)."""
        area = self.rect()
        if self._built:
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

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._built and not self._build_scheduled:
            # After the window's first frame: the page is drawn (white, with the
            # placeholder) before pyqtgraph loads.
            self._build_scheduled = True
            tasks.after_start(self, self._on_build_due)

    # ---- slots --------------------------------------------------------------------------
    @Slot()
    def _on_build_due(self) -> None:
        if "pyqtgraph" not in sys.modules:
            # Imported on a task's thread (seconds on a loaded machine), so the window
            # answers meanwhile; the plots are built here once it is in.
            self._import_task = tasks.run_task(importlib.import_module, "pyqtgraph")
            self._import_task.sig_finished.connect(self._on_import_task_finished)
            return
        self._build_when_shown()

    @Slot()
    def _on_import_task_finished(self) -> None:
        self._import_task = None
        self._build_when_shown()  # after a failed import too: the build raises its error

    def _build_when_shown(self) -> None:
        self._build_scheduled = False  # hidden again meanwhile: the next show builds
        if not self._built and self.isVisible():
            self._build()
            self.refresh()  # the points so far

    @Slot()
    def _on_timer_timeout(self) -> None:
        # Only the plot the user can see is updated: a hidden page's plot keeps its points
        # and draws them when shown (a window not on screen at all, in tests, still draws).
        if self._built and (self.isVisible() or not self.window().isVisible()):
            self.refresh()

    @Slot(object)
    def _on_viewbox_resized(self, _viewbox: object) -> None:
        self._place_placeholder()

    @Slot(object)
    def _on_viewbox_range_changed(self, _mask: object) -> None:
        if not self._setting_range:
            self._user_ranged = True  # the user zoomed or panned: keep their view
