"""A row of metric cards: the title above the value, primary metric first.

Titles and numbers come from `metric_format`, so a card reads the same as the Train page's
plot and the CLI; a metric the results do not have shows "—".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from workbench.gui.metric_format import MISSING, format_metric, metric_title

PRIMARY_STYLE = "font-size: 26px; font-weight: 600;"
OTHER_STYLE = "font-size: 22px; font-weight: 600;"


class MetricCardsWidget(QWidget):
    def __init__(self, names: Sequence[str] = (), parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self.values: dict[str, QLabel] = {}
        self.titles: dict[str, QLabel] = {}
        self.frames: dict[str, QFrame] = {}
        self.set_names(names)

    def set_names(self, names: Sequence[str]) -> None:
        """The cards to show, in order (the first one is drawn larger)."""
        if list(names) == list(self.values):
            return
        for frame in self.frames.values():
            frame.deleteLater()
        self.frames, self.values, self.titles = {}, {}, {}
        for i, name in enumerate(names):
            frame = QFrame()
            frame.setFrameShape(QFrame.Shape.StyledPanel)
            inner = QVBoxLayout(frame)
            inner.setContentsMargins(10, 6, 10, 6)
            title = QLabel(metric_title(name))
            title.setStyleSheet("color: palette(placeholder-text);")
            value = QLabel(MISSING)
            value.setObjectName(f"card-{name}")
            value.setStyleSheet(PRIMARY_STYLE if i == 0 else OTHER_STYLE)
            inner.addWidget(title)
            inner.addWidget(value)
            self._layout.addWidget(frame, 1)
            self.frames[name] = frame
            self.values[name] = value
            self.titles[name] = title

    def set_metrics(self, metrics: Mapping[str, Any]) -> None:
        for name, label in self.values.items():
            label.setText(format_metric(name, metrics.get(name)))

    def set_value_text(self, name: str, text: str) -> None:
        """A card whose value is not one number (perplexity before → after)."""
        if name in self.values:
            self.values[name].setText(text)

    def set_title(self, name: str, text: str) -> None:
        if name in self.titles:
            self.titles[name].setText(text)

    def set_card_visible(self, name: str, visible: bool) -> None:
        """Hide a card the results cannot have (pair F1 without a positive label)."""
        if name in self.frames:
            self.frames[name].setVisible(visible)

    def clear(self) -> None:
        self.set_metrics({})

    def texts(self) -> dict[str, str]:
        return {name: label.text() for name, label in self.values.items()}
