"""What every task view shares: the Evaluate view (cards over details) and the Playground
output view, plus small helpers that read a metrics dict defensively.

A task's module (see `task_views/__init__.py`) subclasses these. A view only draws what it
is given: the panel hands it a metrics dict or one prediction, already computed off the GUI
thread, and a missing or malformed key shows "—" or an empty table, never an exception.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from PySide6.QtWidgets import QGroupBox, QLabel, QVBoxLayout, QWidget

from workbench.gui.widgets.metric_cards import MetricCardsWidget

SHARE = "accuracy"  # probabilities are 0–1 shares: written like accuracy (81.2%)


def as_list(value: Any) -> list:
    return list(value) if isinstance(value, (list, tuple)) else []


def as_dict(value: Any) -> dict:
    return dict(value) if isinstance(value, Mapping) else {}


def label_name(labels: Sequence[str], index: Any) -> str:
    """The name of a label id, or the id itself when the labels do not cover it."""
    try:
        i = int(index)
    except (TypeError, ValueError):
        return str(index)
    return str(labels[i]) if 0 <= i < len(labels) else str(index)


def muted(text: str = "") -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setStyleSheet("color: palette(placeholder-text);")
    return label


def boxed(title: str, *widgets: QWidget) -> QGroupBox:
    box = QGroupBox(title)
    layout = QVBoxLayout(box)
    for widget in widgets:
        layout.addWidget(widget)
    return box


class EvaluateView(QWidget):
    """Cards of the task's metrics (primary first) over the task's details."""

    CARDS: tuple[str, ...] = ()
    NOTE = ""  # one line under the cards: what the numbers mean

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.metrics: dict[str, Any] = {}
        self.cards = MetricCardsWidget(self.CARDS)
        self.note = muted(self.NOTE)
        self.note.setVisible(bool(self.NOTE))
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.addWidget(self.cards)
        self._layout.addWidget(self.note)
        self.build()
        self._layout.addStretch(1)

    @property
    def card_values(self) -> dict[str, QLabel]:
        return self.cards.values

    def add(self, widget: QWidget, stretch: int = 0) -> None:
        self._layout.addWidget(widget, stretch)

    def build(self) -> None:
        """Add the task's detail widgets (with `self.add`)."""

    def show_metrics(self, metrics: Mapping[str, Any]) -> None:
        self.metrics = dict(metrics) if isinstance(metrics, Mapping) else {}
        self.cards.set_metrics(self.metrics)
        self.show_details(self.metrics)

    def show_details(self, metrics: dict[str, Any]) -> None:
        """Fill the task's detail widgets."""

    def clear(self) -> None:
        self.show_metrics({})


class OutputView(QWidget):
    """One prediction, drawn for the user (the Playground's result box)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.result: dict[str, Any] = {}
        self.info: Any = None
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self.build()
        self._layout.addStretch(1)

    def add(self, widget: QWidget, stretch: int = 0) -> None:
        self._layout.addWidget(widget, stretch)

    def build(self) -> None:
        """Create the output widgets (with `self.add`)."""

    def set_info(self, info: Any) -> None:
        """The loaded model's facts (a PredictorInfo: labels, threshold, mask token …)."""
        self.info = info

    def show_result(self, result: Mapping[str, Any], inputs: Mapping[str, str]) -> None:
        self.result = dict(result) if isinstance(result, Mapping) else {}
        self.show_output(self.result, dict(inputs))

    def show_output(self, result: dict[str, Any], inputs: dict[str, str]) -> None:
        """Draw one prediction; `inputs` is what the user typed (text, text_pair, context)."""

    def clear(self) -> None:
        """Forget the last prediction (a new model was loaded)."""
