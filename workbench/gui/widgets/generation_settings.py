"""The sampling controls beside the Playground's prompt: max new tokens, temperature (0 =
greedy), top-k, top-p, repetition penalty, seed and stop strings.

`settings()` returns the fields of the engine's `GenerationSettings` as plain values (the
engine checks them again); the widget only reads its editors, it never generates.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QFormLayout,
    QLineEdit,
    QSizePolicy,
    QSpinBox,
    QWidget,
)

from workbench.errors import UserError

MESSAGES = {
    "greedy": "0 (greedy)",
    "no_limit": "no limit",
    "random": "random",
    "stop_placeholder": r"e.g. \n\n, ###",
    "bad_stop": r"A stop string is empty: separate them with commas (\, is a comma, \n a newline).",
    "hints": {
        "max_new_tokens": "At most this many new tokens.",
        "temperature": "0 always takes the likeliest token; higher samples more freely.",
        "top_k": "Sample only among the k likeliest tokens.",
        "top_p": "Sample only among the likeliest tokens that make up this share.",
        "repetition_penalty": "Above 1 makes tokens already in the text less likely.",
        "seed": "The same seed and settings give the same sample.",
        "stop": r"End at any of these (comma-separated; \n is a newline).",
    },
}
TITLES = {
    "max_new_tokens": "Max. new tokens",
    "temperature": "Temperature",
    "top_k": "Top-k",
    "top_p": "Top-p",
    "repetition_penalty": "Repetition penalty",
    "seed": "Seed",
    "stop": "Stop at",
}
DEFAULTS: dict[str, Any] = {
    "max_new_tokens": 64,
    "temperature": 0.7,
    "top_k": 50,
    "top_p": 0.95,
    "repetition_penalty": 1.0,
    "seed": None,
    "stop": (),
}
"""Sampled by default (livelier than greedy for trying a model); temperature 0 is greedy."""
_ESCAPES = {"n": "\n", "t": "\t", ",": ",", "\\": "\\"}


def parse_stops(text: str) -> tuple[str, ...]:
    r"""Comma-separated stop strings; `\n`, `\t`, `\,` and `\\` are escapes, spaces around a
    string are kept out (type `\n` or an escape for whitespace)."""
    stops: list[str] = []
    current: list[str] = []
    chars = iter(text)
    for char in chars:
        if char == "\\":
            following = next(chars, "")
            current.append(_ESCAPES.get(following, "\\" + following))
        elif char == ",":
            stops.append("".join(current))
            current = []
        else:
            current.append(char)
    stops.append("".join(current))
    cleaned = [s.strip(" ") for s in stops]
    if len(cleaned) == 1 and not cleaned[0]:
        return ()
    if any(not s for s in cleaned):
        raise UserError(MESSAGES["bad_stop"])
    return tuple(cleaned)


class GenerationSettingsWidget(QWidget):
    sig_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.editors: dict[str, QWidget] = {
            "max_new_tokens": _spin(1, 4096, 16),
            "temperature": _double(0.0, 5.0, 0.1, 2),
            "top_k": _spin(0, 100_000, 5),
            "top_p": _double(0.01, 1.0, 0.05, 2),
            "repetition_penalty": _double(0.5, 3.0, 0.05, 2),
            "seed": _spin(-1, 2**31 - 1, 1),
            "stop": QLineEdit(),
        }
        self.editors["temperature"].setSpecialValueText(MESSAGES["greedy"])
        self.editors["top_k"].setSpecialValueText(MESSAGES["no_limit"])
        self.editors["seed"].setSpecialValueText(MESSAGES["random"])
        self.editors["stop"].setPlaceholderText(MESSAGES["stop_placeholder"])
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.setVerticalSpacing(4)
        for name, editor in self.editors.items():
            editor.setToolTip(MESSAGES["hints"][name])
            editor.setObjectName(f"generation-{name}")
            editor.setMinimumWidth(110)
            editor.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            form.addRow(f"{TITLES[name]}:", editor)
            signal = editor.textChanged if isinstance(editor, QLineEdit) else editor.valueChanged
            signal.connect(self.sig_changed)
        self.editors["temperature"].valueChanged.connect(self._on_temperature_changed)
        self.set_settings(DEFAULTS)

    def set_settings(self, values: dict[str, Any]) -> None:
        for name, value in values.items():
            editor = self.editors.get(name)
            if isinstance(editor, QLineEdit):
                editor.setText(", ".join(_escape(s) for s in value or ()))
            elif name == "seed":
                editor.setValue(-1 if value is None else int(value))  # type: ignore[union-attr]
            elif editor is not None:
                editor.setValue(value)  # type: ignore[union-attr]
        self._on_temperature_changed()

    def settings(self) -> dict[str, Any]:
        """GenerationSettings' fields; UserError for stop strings that cannot be read."""
        seed = self.editors["seed"].value()  # type: ignore[union-attr]
        return {
            "max_new_tokens": self.editors["max_new_tokens"].value(),  # type: ignore[union-attr]
            "temperature": round(self.editors["temperature"].value(), 4),  # type: ignore[union-attr]
            "top_k": self.editors["top_k"].value(),  # type: ignore[union-attr]
            "top_p": round(self.editors["top_p"].value(), 4),  # type: ignore[union-attr]
            "repetition_penalty": round(self.editors["repetition_penalty"].value(), 4),  # type: ignore[union-attr]
            "seed": None if seed < 0 else seed,
            "stop": parse_stops(self.editors["stop"].text()),  # type: ignore[union-attr]
        }

    def _on_temperature_changed(self) -> None:
        """Greedy ignores the sampling settings: grey them out so nobody tunes them in vain."""
        sampling = self.editors["temperature"].value() > 0  # type: ignore[union-attr]
        for name in ("top_k", "top_p", "seed"):
            self.editors[name].setEnabled(sampling)


def _escape(stop: str) -> str:
    return stop.replace("\\", "\\\\").replace(",", "\\,").replace("\n", "\\n").replace("\t", "\\t")


def _spin(low: int, high: int, step: int) -> QSpinBox:
    box = QSpinBox()
    box.setRange(low, high)
    box.setSingleStep(step)
    return box


def _double(low: float, high: float, step: float, decimals: int) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(low, high)
    box.setSingleStep(step)
    box.setDecimals(decimals)
    return box
