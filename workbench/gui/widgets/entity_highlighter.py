"""Text with highlighted character spans: entities in a sentence, an answer in a context.

Each span has a kind (an entity type such as PER, or "gold" / "predicted"); every kind gets
its own colour, the same one in the text, its small type tag and the legend. Spans may
overlap: the overlap is drawn as the combined kind ("gold+predicted"), so a QA answer that
matches the gold span reads as one colour. The document is built with a text cursor, not
HTML, so no text from the data is ever parsed as markup, and `highlighted()` reads back
what is drawn (for tests and for the user's copy).
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont, QResizeEvent, QTextCharFormat, QTextCursor, QTextFormat
from PySide6.QtWidgets import QFrame, QLabel, QSizePolicy, QTextBrowser, QVBoxLayout, QWidget

KIND_PROPERTY = QTextFormat.Property.UserProperty + 1
TAG_PROPERTY = QTextFormat.Property.UserProperty + 2

# Light fills that keep black text readable; the tags use a darker tone of the same hue.
PALETTE = (
    "#ffd8a8",
    "#a5d8ff",
    "#b2f2bb",
    "#fcc2d7",
    "#d0bfff",
    "#ffec99",
    "#99e9f2",
    "#c0eb75",
    "#eebefa",
    "#ffc9c9",
    "#dee2e6",
)


@dataclass(frozen=True)
class Span:
    start: int
    end: int  # exclusive
    kind: str


class ColorMap:
    """A stable colour per kind: kinds named up front take the palette in order, later ones
    the next free colour (so PER is the same colour in every sentence of a view)."""

    def __init__(self, kinds: Iterable[str] = (), fixed: Mapping[str, str] | None = None) -> None:
        self._colors: dict[str, str] = dict(fixed or {})
        for kind in kinds:
            self.color(kind)

    def color(self, kind: str) -> str:
        if kind not in self._colors:
            used = len([k for k in self._colors if "+" not in k])
            self._colors[kind] = PALETTE[used % len(PALETTE)]
        return self._colors[kind]

    def tag_color(self, kind: str) -> str:
        return QColor(self.color(kind)).darker(260).name()


def entity_type(tag: str) -> str:
    """B-PER → PER, I-LOC → LOC, O → "" (labels of a tagger, for its legend)."""
    if tag == "O" or not tag:
        return ""
    if len(tag) >= 3 and tag[0] in "BIES" and tag[1] == "-":
        return tag[2:]
    return tag


def segments(length: int, spans: Sequence[Span]) -> list[tuple[int, int, str]]:
    """Cut [0, length) at every span edge: (start, end, kind) with kind "" for plain text
    and the covering kinds joined by "+" where spans overlap."""
    edges = {0, length}
    for span in spans:
        edges.update((span.start, span.end))
    cuts = sorted(edges)
    out = []
    for a, b in zip(cuts, cuts[1:]):
        if a >= b:
            continue
        kinds = sorted({s.kind for s in spans if s.start <= a and b <= s.end})
        kind = "+".join(kinds)
        if out and out[-1][2] == kind:
            out[-1] = (out[-1][0], b, kind)
        else:
            out.append((a, b, kind))
    return out


def valid_spans(text: str, spans: Iterable[Span | Sequence | Mapping]) -> list[Span]:
    """Spans inside the text with start < end; dicts ({"start","end","type"}) and tuples
    ((start, end, kind)) are accepted, anything else is skipped."""
    out = []
    for raw in spans:
        try:
            if isinstance(raw, Span):
                span = raw
            elif isinstance(raw, Mapping):
                span = Span(int(raw["start"]), int(raw["end"]), str(raw.get("type", "")))
            else:
                start, end, kind = raw
                span = Span(int(start), int(end), str(kind))
        except (KeyError, TypeError, ValueError):
            continue
        if 0 <= span.start < span.end <= len(text):
            out.append(span)
    return sorted(out, key=lambda s: (s.start, s.end))


class EntityHighlighterWidget(QWidget):
    """A read-only rich-text view of one text with its spans, and a legend below it."""

    def __init__(
        self,
        parent: QWidget | None = None,
        show_tags: bool = True,
        max_height: int = 260,
        colors: ColorMap | None = None,
        legend: bool = True,
    ) -> None:
        super().__init__(parent)
        self.show_tags = show_tags
        self.show_legend = legend
        self.max_height = max_height
        self.colors = colors or ColorMap()
        self.titles: dict[str, str] = {}
        self.text = ""
        self.spans: list[Span] = []
        self.browser = QTextBrowser()
        self.browser.setOpenLinks(False)
        self.browser.setFrameShape(QFrame.Shape.StyledPanel)
        self.browser.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        font = self.browser.font()
        font.setPointSizeF(font.pointSizeF() * 1.15)
        self.browser.setFont(font)
        self.legend = QLabel()
        self.legend.setWordWrap(True)
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.legend_kinds: list[str] | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self.browser)
        layout.addWidget(self.legend)
        self._fit()

    # ---- public API ---------------------------------------------------------------------
    def set_titles(self, titles: Mapping[str, str]) -> None:
        """Legend titles for kinds ("gold" → "Gold answer")."""
        self.titles = dict(titles)

    def set_legend_kinds(self, kinds: Sequence[str] | None) -> None:
        """Always list these kinds in the legend (a tagger's types), not only those shown."""
        self.legend_kinds = list(kinds) if kinds is not None else None
        for kind in self.legend_kinds or []:
            self.colors.color(kind)
        self._update_legend()

    def set_text(self, text: str, spans: Iterable[Span | Sequence | Mapping] = ()) -> None:
        self.text = str(text)
        self.spans = valid_spans(self.text, spans)
        document = self.browser.document()
        document.clear()
        cursor = QTextCursor(document)
        plain = QTextCharFormat()
        ends = {}
        for span in self.spans:
            ends.setdefault(span.end, []).append(span.kind)
        for start, end, kind in segments(len(self.text), self.spans):
            if kind:
                fmt = QTextCharFormat()
                fmt.setBackground(QColor(self.colors.color(kind)))
                fmt.setProperty(KIND_PROPERTY, kind)
                cursor.insertText(self.text[start:end], fmt)
            else:
                cursor.insertText(self.text[start:end], plain)
            if self.show_tags and end in ends:
                for tag_kind in ends.pop(end):
                    cursor.insertText(" ", self._segment_format(tag_kind))
                    cursor.insertText(tag_kind, self._tag_format(tag_kind))
                    if end < len(self.text) and not self.text[end].isspace():
                        cursor.insertText(" ", self._segment_format(tag_kind, False))
        self.browser.moveCursor(QTextCursor.MoveOperation.Start)
        self._update_legend()
        self._fit()

    def clear(self) -> None:
        self.set_text("", [])

    def highlighted(self) -> list[tuple[str, str]]:
        """What is drawn highlighted: (text, kind) for each coloured run, tags left out."""
        out: list[tuple[str, str]] = []
        last_end = -1
        block = self.browser.document().begin()
        while block.isValid():
            iterator = block.begin()
            while not iterator.atEnd():
                fragment = iterator.fragment()
                fmt = fragment.charFormat()
                kind = fmt.property(KIND_PROPERTY)
                if kind and not fmt.property(TAG_PROPERTY):
                    if out and out[-1][1] == kind and fragment.position() == last_end:
                        out[-1] = (out[-1][0] + fragment.text(), kind)
                    else:
                        out.append((fragment.text(), str(kind)))
                    last_end = fragment.position() + fragment.length()
                iterator += 1
            block = block.next()
        return out

    # ---- internals ----------------------------------------------------------------------
    def _segment_format(self, kind: str, filled: bool = True) -> QTextCharFormat:
        fmt = QTextCharFormat()
        if filled:
            fmt.setBackground(QColor(self.colors.color(kind)))
        fmt.setProperty(TAG_PROPERTY, "tag")  # a string: PySide miscounts bool properties
        return fmt

    def _tag_format(self, kind: str) -> QTextCharFormat:
        fmt = self._segment_format(kind)
        fmt.setForeground(QColor(self.colors.tag_color(kind)))
        fmt.setFontWeight(QFont.Weight.Bold)
        fmt.setFontPointSize(max(6.0, self.browser.font().pointSizeF() * 0.7))
        return fmt

    def _update_legend(self) -> None:
        kinds = list(self.legend_kinds or [])
        for span in self.spans:
            if span.kind not in kinds:
                kinds.append(span.kind)
        for _, _, kind in segments(len(self.text), self.spans):
            if "+" in kind and kind not in kinds:
                kinds.append(kind)
        items = [
            f'<span style="background-color:{self.colors.color(k)};">&nbsp;&nbsp;&nbsp;&nbsp;</span>'
            f"&nbsp;{html.escape(self.titles.get(k, k))}"
            for k in kinds
        ]
        self.legend.setText("&nbsp;&nbsp;&nbsp;".join(items))
        self.legend.setVisible(self.show_legend and bool(items))

    def _fit(self) -> None:
        document = self.browser.document()
        document.setTextWidth(max(50, self.browser.viewport().width()))
        margins = 2 * self.browser.frameWidth() + 6
        line = self.browser.fontMetrics().lineSpacing()
        height = int(document.size().height()) + margins
        self.browser.setFixedHeight(max(line + margins + 4, min(self.max_height, height)))

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit()
