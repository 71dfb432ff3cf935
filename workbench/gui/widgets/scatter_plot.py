"""Predicted against true values (regression), with the identity line y = x.

Points on the line are perfect predictions; the distance from it is the error. Both axes
share one range, so the line runs corner to corner at 45°. Hovering a point shows its text,
clicking it emits its index (the Evaluate page selects that example).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import QVBoxLayout, QWidget

from workbench.gui.metric_format import format_metric

POINT_COLOR = (31, 119, 180, 190)
LINE_COLOR = "#d62728"
MIN_WIDTH = 300
HEIGHT = 320
VALUE = "value"  # no metric: format_metric writes it with four significant digits

MESSAGES = {
    "x_axis": "True value",
    "y_axis": "Predicted value",
    "identity": "perfect prediction (y = x)",
}


class ScatterPlotWidget(QWidget):
    sig_point_clicked = Signal(int)  # index of the point in the lists given to set_points

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        import pyqtgraph as pg  # here, not at import: the Evaluate page's views load at start

        self.plot = pg.PlotWidget(background="w")
        item = self.plot.getPlotItem()
        item.showGrid(x=True, y=True, alpha=0.25)
        item.setLabel("bottom", MESSAGES["x_axis"])
        item.setLabel("left", MESSAGES["y_axis"])
        for side in ("left", "bottom"):
            item.getAxis(side).enableAutoSIPrefix(False)
        item.getAxis("left").setWidth(56)
        item.addLegend(offset=(10, 10))
        self.identity = item.plot(
            [],
            [],
            pen=pg.mkPen(LINE_COLOR, width=1.5, style=pg.QtCore.Qt.PenStyle.DashLine),
            name=MESSAGES["identity"],
        )
        self.scatter = pg.ScatterPlotItem(
            size=9,
            pen=pg.mkPen(255, 255, 255, 200),
            brush=pg.mkBrush(*POINT_COLOR),
            hoverable=True,
            tip=self._tip,
        )
        item.addItem(self.scatter)
        self.scatter.sigClicked.connect(self._on_scatter_clicked)
        self._tips: dict[int, str] = {}
        self.x = np.zeros(0)
        self.y = np.zeros(0)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot)
        self.setMinimumWidth(MIN_WIDTH)
        self.setFixedHeight(HEIGHT)

    def set_points(
        self, true: Sequence[float], predicted: Sequence[float], tips: Sequence[str] = ()
    ) -> None:
        """Draw the pairs; pairs with a missing or non-finite value are left out."""
        pairs = []
        for i, (t, p) in enumerate(zip(true, predicted)):
            try:
                t, p = float(t), float(p)
            except (TypeError, ValueError):
                continue
            if math.isfinite(t) and math.isfinite(p):
                pairs.append((i, t, p))
        self._tips = {i: str(tips[i]) for i, _, _ in pairs if i < len(tips)}
        self.x = np.array([t for _, t, _ in pairs], dtype=float)
        self.y = np.array([p for _, _, p in pairs], dtype=float)
        self.scatter.setData(x=self.x, y=self.y, data=[i for i, _, _ in pairs])
        low, high = self._range()
        self.identity.setData([low, high], [low, high])
        self.plot.getPlotItem().setRange(xRange=(low, high), yRange=(low, high), padding=0.04)

    def clear(self) -> None:
        self.set_points([], [])

    def point_count(self) -> int:
        return len(self.x)

    def _range(self) -> tuple[float, float]:
        if not len(self.x):
            return 0.0, 1.0
        low = float(min(self.x.min(), self.y.min()))
        high = float(max(self.x.max(), self.y.max()))
        if high - low < 1e-9:
            low, high = low - 0.5, high + 0.5
        return low, high

    def _tip(self, x: float, y: float, data: object) -> str:
        head = f"true {format_metric(VALUE, x)}, predicted {format_metric(VALUE, y)}"
        text = self._tips.get(data, "") if isinstance(data, int) else ""
        return f"{head}\n{text[:200]}" if text else head

    @Slot(object, object, object)
    def _on_scatter_clicked(self, _item: object, points: object, _event: object = None) -> None:
        if points is not None and len(points):
            self.sig_point_clicked.emit(int(points[0].data()))
