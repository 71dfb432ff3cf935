"""A label for inline messages: red for problems, muted for hints, green for success."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QWidget

_STYLES = {
    "error": "color: #b3261e; font-weight: 600;",
    "info": "color: palette(placeholder-text);",
    "success": "color: #1e7b34; font-weight: 600;",
}


class InlineMessageWidget(QLabel):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWordWrap(True)
        self.kind = ""
        self.clear_message()

    def show_message(self, text: str, kind: str = "error") -> None:
        self.kind = kind
        self.setStyleSheet(_STYLES.get(kind, ""))
        self.setText(text)
        self.setVisible(bool(text))

    def clear_message(self) -> None:
        self.kind = ""
        self.setText("")
        self.setVisible(False)
