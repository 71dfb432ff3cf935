"""Live training curves: loss (train line, eval points) above, eval accuracy below.

Curves are created once; points are appended to growing NumPy buffers and pushed to the
curves with `setData` from a timer, never per point, with clip-to-view and auto
downsampling so a long run stays cheap to draw.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QTimer, Slot
from PySide6.QtWidgets import QVBoxLayout, QWidget

TRAIN_COLOR = "#1f77b4"
EVAL_COLOR = "#d62728"
ACCURACY_COLOR = "#2ca02c"


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


class CurvePlotWidget(QWidget):
    REFRESH_MS = 100

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        pg.setConfigOptions(antialias=True)
        self.graphics = pg.GraphicsLayoutWidget(self)
        self.graphics.setBackground("w")
        self.loss_plot = self.graphics.addPlot(row=0, col=0)
        self.accuracy_plot = self.graphics.addPlot(row=1, col=0)
        self.graphics.ci.layout.setRowStretchFactor(0, 3)
        self.graphics.ci.layout.setRowStretchFactor(1, 2)
        for plot, title in ((self.loss_plot, "Loss"), (self.accuracy_plot, "Eval accuracy")):
            plot.showGrid(x=True, y=True, alpha=0.25)
            plot.setLabel("left", title)
            plot.setClipToView(True)
            plot.setDownsampling(auto=True, mode="peak")
            plot.getAxis("left").setWidth(52)
            plot.getAxis("left").enableAutoSIPrefix(False)  # "Loss (x0.001)" reads badly
        self.accuracy_plot.setXLink(self.loss_plot)
        self.accuracy_plot.setLabel("bottom", "step")
        self.accuracy_plot.setYRange(0.0, 1.0, padding=0.05)
        self.loss_plot.addLegend(offset=(-10, 10))

        self.train_loss = SeriesBuffer()
        self.eval_loss = SeriesBuffer()
        self.eval_accuracy = SeriesBuffer()
        self.train_curve = self.loss_plot.plot(
            pen=pg.mkPen(TRAIN_COLOR, width=2), name="train loss"
        )
        self.eval_curve = self.loss_plot.plot(
            pen=pg.mkPen(EVAL_COLOR, width=1, style=pg.QtCore.Qt.PenStyle.DashLine),
            symbol="o",
            symbolSize=7,
            symbolBrush=EVAL_COLOR,
            symbolPen=None,
            name="eval loss",
        )
        self.accuracy_curve = self.accuracy_plot.plot(
            pen=pg.mkPen(ACCURACY_COLOR, width=1),
            symbol="o",
            symbolSize=7,
            symbolBrush=ACCURACY_COLOR,
            symbolPen=None,
        )
        self._dirty = False
        self._timer = QTimer(self)
        self._timer.setInterval(self.REFRESH_MS)
        self._timer.timeout.connect(self._on_timer_timeout)
        self._timer.start()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.graphics)

    def add_train_loss(self, step: float, loss: float) -> None:
        self.train_loss.append(step, loss)
        self._dirty = True

    def add_eval(self, step: float, loss: float | None, accuracy: float | None) -> None:
        if loss is not None:
            self.eval_loss.append(step, loss)
        if accuracy is not None:
            self.eval_accuracy.append(step, accuracy)
        self._dirty = True

    def clear(self) -> None:
        for buffer in (self.train_loss, self.eval_loss, self.eval_accuracy):
            buffer.clear()
        self._dirty = True
        self.refresh()

    def refresh(self) -> None:
        """Push the buffers to the curves (normally done by the timer)."""
        if not self._dirty:
            return
        self._dirty = False
        self.train_curve.setData(self.train_loss.x, self.train_loss.y)
        self.eval_curve.setData(self.eval_loss.x, self.eval_loss.y)
        self.accuracy_curve.setData(self.eval_accuracy.x, self.eval_accuracy.y)

    def drawn_counts(self) -> dict[str, int]:
        """How many points each curve has been given (what the user sees, before clipping)."""
        curves = {
            "train_loss": self.train_curve,
            "eval_loss": self.eval_curve,
            "eval_accuracy": self.accuracy_curve,
        }
        return {name: 0 if c.xData is None else len(c.xData) for name, c in curves.items()}

    @Slot()
    def _on_timer_timeout(self) -> None:
        self.refresh()
