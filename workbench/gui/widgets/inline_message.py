"""A label for inline messages: red for problems, muted for hints, green for success, amber
for warnings. A `prominent` one (a notice the user must not miss) draws its message in a
tinted box instead of muted text."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QWidget

_STYLES = {
    "error": "color: #b3261e; font-weight: 600;",
    "info": "color: palette(placeholder-text);",
    "success": "color: #1e7b34; font-weight: 600;",
    "warning": "color: #8a5300; font-weight: 600;",
}
_BOX = "border-radius: 4px; padding: 6px 8px; color: palette(text);"
_PROMINENT = {
    "error": f"{_BOX} background: rgba(179, 38, 30, 0.10); border: 1px solid #b3261e;",
    "info": f"{_BOX} background: rgba(25, 118, 210, 0.10); border: 1px solid #1976d2;",
    "success": f"{_BOX} background: rgba(30, 123, 52, 0.10); border: 1px solid #1e7b34;",
    "warning": f"{_BOX} background: rgba(237, 108, 2, 0.12); border: 1px solid #ed6c02;",
}


class InlineMessageWidget(QLabel):
    def __init__(self, parent: QWidget | None = None, prominent: bool = False) -> None:
        super().__init__(parent)
        self.setWordWrap(True)
        self.kind = ""
        self.prominent = prominent
        self.clear_message()

    def show_message(self, text: str, kind: str = "error") -> None:
        self.kind = kind
        styles = _PROMINENT if self.prominent else _STYLES
        self.setStyleSheet(styles.get(kind, ""))
        self.setText(text)
        self.setVisible(bool(text))

    def clear_message(self) -> None:
        self.kind = ""
        self.setText("")
        self.setVisible(False)
