"""The data doctor's report as a list: problems first, then warnings, then what was fine.

Each finding is one row: a severity mark, its message (worded for this window: the CLI's
flags become the page that sets them), and a "Show examples" toggle that unfolds the rows it
found (also shown as the message's tooltip). The widget only draws a report dict that
`engine.diagnose` made off the GUI thread; a missing or malformed key is skipped, never
an exception.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

SEVERITY_ORDER = {"problem": 0, "warning": 1, "info": 2}
COLOURS = {"problem": "#b3261e", "warning": "#b26a00", "info": "#5f6368"}
ICONS = {
    "problem": QStyle.StandardPixmap.SP_MessageBoxCritical,
    "warning": QStyle.StandardPixmap.SP_MessageBoxWarning,
    "info": QStyle.StandardPixmap.SP_MessageBoxInformation,
}
MAX_SHOWN_EXAMPLES = 5
EXAMPLE_CHARS = 160

MESSAGES = {
    "empty": "Not checked yet.",
    "summary": "{problems} · {warnings} · {fine}",
    "problems": ("no problems", "1 problem", "{n} problems"),
    "warnings": ("no warnings", "1 warning", "{n} warnings"),
    "fine": ("nothing fine", "1 check fine", "{n} checks fine"),
    "rows": "{file}: {read:,} rows read, {used:,} used by training",
    "rows_read": "{file}: {read:,} rows read",
    "scope": "Token lengths measured against a max. length of {max_length} tokens.",
    "show": "Show examples ({n})",
    "hide": "Hide examples",
    "tooltip_title": "Examples:",
    "row": "row {rows}",
    "train_row": "training row {rows}",
    "eval_row": "evaluation row {rows}",
    "missing": "(missing)",
}

# The engine's advice names CLI flags; in the window they are settings on a page.
_WORDING = (
    (r"\bwith --model\b", "on the Model page"),
    (r"\b(raise|lower) --max-length\b", r"\1 Max. length on the Hyperparameters page"),
    (r"--max-length\b", "Max. length (Hyperparameters page)"),
    (r"\bwithout --eval-data\b", "without an evaluation file"),
    (r"--eval-data\b", "an evaluation file"),
    (r"\bwith --[a-z-]+-column\b", "under Columns on this page"),
    (r"(?:\bthe )?--[a-z-]+-column\b", "the Columns on this page"),
    (r"--header\b", "the “First row is a header” switch"),
    # Settings the window does not offer yet: say which CLI option it is.
    (r"--class-weights\b", "class weights (the CLI's --class-weights)"),
    (r"--truncation (\S+)", r"truncation \1 (the CLI's --truncation \1)"),
)


def gui_wording(message: str) -> str:
    """A doctor message with its CLI flags replaced by where the window sets them."""
    for pattern, replacement in _WORDING:
        message = re.sub(pattern, replacement, message)
    return message


def _plural(forms: tuple[str, str, str], n: int) -> str:
    return forms[0] if n == 0 else forms[1] if n == 1 else forms[2].format(n=n)


def sorted_findings(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The report's findings, problems first (the engine's order within a severity)."""
    findings = [f for f in report.get("findings") or [] if isinstance(f, Mapping)]
    return sorted(
        (dict(f) for f in findings),
        key=lambda f: SEVERITY_ORDER.get(str(f.get("severity")), len(SEVERITY_ORDER)),
    )


def format_example(example: Mapping[str, Any]) -> str:
    """One example as a line: where it is (row numbers), its text, then the rest."""
    where = []
    for key, title in (("row", "row"), ("rows", "row"), ("train_rows", "train_row")):
        value = example.get(key)
        if value not in (None, [], ""):
            where.append(MESSAGES[title].format(rows=_numbers(value)))
    if example.get("eval_rows"):
        where.append(MESSAGES["eval_row"].format(rows=_numbers(example["eval_rows"])))
    parts = []
    for key, value in example.items():
        if key in ("row", "rows", "train_rows", "eval_rows"):
            continue
        if value is None:
            parts.append(f"{key}: {MESSAGES['missing']}")
        elif key in ("text", "text_pair", "question", "context"):
            parts.append(f"“{_trim(_words(value))}”")
        elif isinstance(value, list | tuple):
            parts.append(f"{key}: {_trim(', '.join(map(str, value)))}")
        elif isinstance(value, float):
            parts.append(f"{key}: {value:.4g}")
        else:
            parts.append(f"{key}: {_trim(str(value))}")
    head = "; ".join(where)
    return f"{head}: {' · '.join(parts)}" if head and parts else head or " · ".join(parts)


def _sentence(notice: str) -> str:
    """An engine notice capitalised, unless it starts with a file name (reviews.csv: …)."""
    first = notice.split(" ", 1)[0]
    if notice and "." not in first and "/" not in first:
        notice = notice[:1].upper() + notice[1:]
    return notice


def _numbers(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def _words(value: Any) -> str:
    return " ".join(map(str, value)) if isinstance(value, list | tuple) else str(value)


def _trim(text: str, limit: int = EXAMPLE_CHARS) -> str:
    text = text.replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


class FindingWidget(QFrame):
    """One finding: severity mark, message, and its examples behind a toggle."""

    def __init__(self, finding: Mapping[str, Any], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.finding = dict(finding)
        self.severity = str(finding.get("severity", "info"))
        self.check = str(finding.get("check", ""))
        self.setObjectName(f"finding-{self.check}")
        icon = self.style().standardIcon(ICONS.get(self.severity, ICONS["info"]))
        self.icon_label = QLabel()
        self.icon_label.setPixmap(icon.pixmap(16, 16))
        self.icon_label.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.icon_label.setToolTip(self.severity.capitalize())

        message = gui_wording(str(finding.get("message", "")))
        self.message_label = QLabel(message)
        self.message_label.setWordWrap(True)
        self.message_label.setTextFormat(Qt.TextFormat.PlainText)
        self.message_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        if self.severity == "info":
            self.message_label.setStyleSheet("color: palette(placeholder-text);")
        elif self.severity == "problem":
            self.message_label.setStyleSheet("font-weight: 600;")

        examples = [e for e in finding.get("examples") or [] if isinstance(e, Mapping)]
        # The same row found twice (a repeated text) is listed once.
        lines = dict.fromkeys(format_example(e) for e in examples)
        self.example_lines = list(lines)[:MAX_SHOWN_EXAMPLES]
        self.examples_label = QLabel("\n".join(self.example_lines))
        self.examples_label.setWordWrap(True)
        self.examples_label.setTextFormat(Qt.TextFormat.PlainText)
        self.examples_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.examples_label.setStyleSheet("color: palette(placeholder-text); margin-left: 8px;")
        self.examples_label.setVisible(False)
        self.toggle = QToolButton()
        self.toggle.setCheckable(True)
        self.toggle.setAutoRaise(True)
        self.toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.toggle.setText(MESSAGES["show"].format(n=len(self.example_lines)))
        self.toggle.setVisible(bool(self.example_lines))
        self.toggle.toggled.connect(self._on_toggle_toggled)
        if self.example_lines:
            tip = "\n".join([MESSAGES["tooltip_title"], *self.example_lines])
            self.message_label.setToolTip(tip)

        text = QVBoxLayout()
        text.setContentsMargins(0, 0, 0, 0)
        text.setSpacing(2)
        text.addWidget(self.message_label)
        text.addWidget(self.toggle, 0, Qt.AlignmentFlag.AlignLeft)
        text.addWidget(self.examples_label)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 4, 4, 4)
        layout.addWidget(self.icon_label, 0, Qt.AlignmentFlag.AlignTop)
        layout.addLayout(text, 1)

    def is_expanded(self) -> bool:
        return self.examples_label.isVisibleTo(self)

    @Slot(bool)
    def _on_toggle_toggled(self, checked: bool) -> None:
        self.examples_label.setVisible(checked)
        self.toggle.setArrowType(Qt.ArrowType.DownArrow if checked else Qt.ArrowType.RightArrow)
        self.toggle.setText(
            MESSAGES["hide"] if checked else MESSAGES["show"].format(n=len(self.example_lines))
        )


class DoctorReportWidget(QWidget):
    """The whole report: a summary line, the rows read, then one FindingWidget per finding."""

    sig_report_shown = Signal(dict)  # the report as drawn

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.report: dict[str, Any] = {}
        self.items: list[FindingWidget] = []
        self.summary_label = QLabel(MESSAGES["empty"])
        self.summary_label.setWordWrap(True)
        self.summary_label.setStyleSheet("font-weight: 600;")
        self.scope_label = QLabel()
        self.scope_label.setWordWrap(True)
        self.scope_label.setStyleSheet("color: palette(placeholder-text);")
        self.scope_label.setVisible(False)
        self.findings_layout = QVBoxLayout()
        self.findings_layout.setContentsMargins(0, 0, 0, 0)
        self.findings_layout.setSpacing(4)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.summary_label)
        layout.addWidget(self.scope_label)
        layout.addLayout(self.findings_layout)
        layout.addStretch(1)

    def show_report(self, report: Mapping[str, Any]) -> None:
        self._clear_items()
        self.report = dict(report) if isinstance(report, Mapping) else {}
        findings = sorted_findings(self.report)
        for finding in findings:
            item = FindingWidget(finding)
            self.items.append(item)
            self.findings_layout.addWidget(item)
        counts = self.counts()
        self.summary_label.setText(
            MESSAGES["summary"].format(
                problems=_plural(MESSAGES["problems"], counts["problem"]),
                warnings=_plural(MESSAGES["warnings"], counts["warning"]),
                fine=_plural(MESSAGES["fine"], counts["info"]),
            )
        )
        colour = COLOURS["problem"] if counts["problem"] else None
        colour = colour or (COLOURS["warning"] if counts["warning"] else None)
        self.summary_label.setStyleSheet(
            "font-weight: 600;" + (f" color: {colour};" if colour else "")
        )
        lines = []
        for side in (self.report.get("rows") or {}).values():
            if not isinstance(side, Mapping) or "read" not in side:
                continue
            key = "rows" if isinstance(side.get("used"), int) else "rows_read"
            lines.append(MESSAGES[key].format(**{"used": 0, **side}))
        if self.report.get("max_length"):
            lines.append(MESSAGES["scope"].format(**self.report))
        lines += [_sentence(str(n)) for n in self.report.get("notices") or []]
        self.scope_label.setText("\n".join(lines))
        self.scope_label.setVisible(bool(lines))
        self.sig_report_shown.emit(self.report)

    def clear(self) -> None:
        self._clear_items()
        self.report = {}
        self.summary_label.setText(MESSAGES["empty"])
        self.summary_label.setStyleSheet("font-weight: 600;")
        self.scope_label.setVisible(False)

    def counts(self) -> dict[str, int]:
        """Findings per severity, as drawn."""
        counts = dict.fromkeys(SEVERITY_ORDER, 0)
        for item in self.items:
            if item.severity in counts:
                counts[item.severity] += 1
        return counts

    def worst(self) -> str | None:
        """The most serious severity found ("problem", "warning", "info"), None when empty."""
        return min((i.severity for i in self.items), key=SEVERITY_ORDER.get, default=None)

    def item(self, check: str, file: str | None = None) -> FindingWidget | None:
        """The first finding of a check (in one file), for tests and the panel."""
        for item in self.items:
            if item.check == check and (file is None or item.finding.get("file") == file):
                return item
        return None

    def _clear_items(self) -> None:
        for item in self.items:
            self.findings_layout.removeWidget(item)
            item.deleteLater()
        self.items = []


if __name__ == "__main__":
    from workbench.gui.standalone import run_alone

    def _make() -> DoctorReportWidget:
        widget = DoctorReportWidget()
        widget.show_report(
            {
                "task": "text-classification",
                "max_length": 128,
                "rows": {"train": {"file": "reviews.csv", "read": 30, "used": 30}},
                "findings": [
                    {"check": "empty_texts", "severity": "info", "message": "no empty texts"},
                    {
                        "check": "unknown_tokens",
                        "severity": "problem",
                        "message": "83% of tokens are [UNK]; choose another with --model",
                        "examples": [{"rows": [1], "text": "这个耳机音质很好"}],
                    },
                ],
            }
        )
        return widget

    raise SystemExit(run_alone(_make))
