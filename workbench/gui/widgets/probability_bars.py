"""One row per label: name, a bar and the probability, most likely first."""

from __future__ import annotations

from PySide6.QtWidgets import QGridLayout, QLabel, QProgressBar, QWidget

_SCALE = 1000


class ProbabilityBarsWidget(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._layout = QGridLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setHorizontalSpacing(12)
        self._layout.setColumnStretch(1, 1)
        self._rows: list[tuple[QLabel, QProgressBar, QLabel]] = []
        self.shown: list[tuple[str, float]] = []

    def set_scores(self, scores: dict[str, float]) -> None:
        self.shown = sorted(((str(k), float(v)) for k, v in scores.items()), key=lambda kv: -kv[1])
        while len(self._rows) < len(self.shown):
            row = len(self._rows)
            name, bar, value = QLabel(), QProgressBar(), QLabel()
            bar.setRange(0, _SCALE)
            bar.setTextVisible(False)
            bar.setFixedHeight(14)
            value.setMinimumWidth(56)
            self._layout.addWidget(name, row, 0)
            self._layout.addWidget(bar, row, 1)
            self._layout.addWidget(value, row, 2)
            self._rows.append((name, bar, value))
        for i, (name, bar, value) in enumerate(self._rows):
            visible = i < len(self.shown)
            for widget in (name, bar, value):
                widget.setVisible(visible)
            if visible:
                label, prob = self.shown[i]
                name.setText(label)
                bar.setValue(round(prob * _SCALE))
                value.setText(f"{prob:.1%}")

    def clear(self) -> None:
        self.set_scores({})
