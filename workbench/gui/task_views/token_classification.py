"""Token classification (NER): entity scores, the report per entity type, and the sentences
with their gold and predicted entities highlighted one above the other (one colour per type);
the Playground highlights the entities in the typed text, with a legend."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout

from workbench.engine.metrics.entities import IOB1, IOB2, SCHEMES, detect_scheme, extract_entities
from workbench.gui.metric_format import format_metric
from workbench.gui.task_views.base import (
    SHARE,
    EvaluateView,
    OutputView,
    as_dict,
    as_list,
    boxed,
    muted,
)
from workbench.gui.widgets.entity_highlighter import (
    ColorMap,
    EntityHighlighterWidget,
    Span,
    entity_type,
)
from workbench.gui.widgets.examples_table import Column, ExamplesTableWidget
from workbench.gui.widgets.report_table import ReportTableWidget

TITLE = "Token classification"
INPUTS = {
    "text": ("Text", "Type a sentence, e.g. “Angela Merkel visited Paris with Airbus staff.”"),
}
HINT = ""
PLAIN = "IO"  # the engine's name for tags without B-/I- prefixes
OUTSIDE = "O"

MESSAGES = {
    "report": "Per entity type",
    "sentences": "Sentences",
    "caption": "{count:,} sentences, the most wrong first. Select one to compare its entities.",
    "no_examples": "These results list no sentences (evaluations during training and on "
    "another file keep only the numbers).",
    "gold": "Gold",
    "predicted": "Predicted",
    "position": "Sentence {n:,} of {total:,}: {found} of {gold} gold entities found, "
    "{extra} wrong predictions",
    "none_selected": "Select a sentence above.",
    "previous": "◀ Previous",
    "next": "Next ▶",
    "entities": "Entities",
    "no_entities": "No entities found.",
    "entity": "{text} — {type} ({score})",
}

SENTENCE_COLUMNS = (
    Column("Sentence", "text", stretch=True),
    Column("Gold", "count"),
    Column("Predicted", "count"),
    Column("Wrong", "count"),
)


def decode(tags: Sequence[str], scheme: str | None) -> list[tuple[str, int, int]]:
    """Entities (type, first word, end word) of one tag sequence, read as the engine reads
    them; tags that no scheme can read give no entities rather than an error."""
    tags = [str(t) for t in tags]
    if scheme == PLAIN:
        tags = [OUTSIDE if t == OUTSIDE else f"I-{t}" for t in tags]
        scheme = IOB1
    if scheme not in SCHEMES:
        scheme = IOB2
    try:
        return extract_entities(tags, scheme)
    except Exception:  # a UserError or ValueError for a malformed tag: show none
        return []


def word_offsets(tokens: Sequence[str]) -> tuple[str, list[tuple[int, int]]]:
    """The words joined by spaces and each word's character span in that text."""
    offsets, position = [], 0
    for token in tokens:
        offsets.append((position, position + len(token)))
        position += len(token) + 1
    return " ".join(tokens), offsets


def char_spans(
    entities: Sequence[tuple[str, int, int]], offsets: Sequence[tuple[int, int]]
) -> list[Span]:
    spans = []
    for kind, first, end in entities:
        if 0 <= first < end <= len(offsets):
            spans.append(Span(offsets[first][0], offsets[end - 1][1], kind))
    return spans


def pick_scheme(metrics: dict[str, Any], gold: Sequence[Sequence[str]]) -> str:
    scheme = metrics.get("scheme")
    if scheme in SCHEMES or scheme == PLAIN:
        return str(scheme)
    try:
        return detect_scheme([list(t) for t in gold if t])
    except Exception:  # tags the engine cannot read either: decode leniently
        return IOB2


class TokenEvaluateView(EvaluateView):
    CARDS = ("entity_f1", "entity_precision", "entity_recall", "token_accuracy", "loss")

    def build(self) -> None:
        self.colors = ColorMap()
        self.sentences: list[dict[str, Any]] = []
        self.report = ReportTableWidget()
        self.add(boxed(MESSAGES["report"], self.report))
        self.table = ExamplesTableWidget(noun="sentences")
        self.table.set_columns(SENTENCE_COLUMNS)
        self.table.sort_by("Wrong", descending=True)
        self.table.view.setMinimumHeight(160)
        self.caption = muted()
        self.position = muted(MESSAGES["none_selected"])
        self.previous_button = QPushButton(MESSAGES["previous"])
        self.next_button = QPushButton(MESSAGES["next"])
        self.gold_view = EntityHighlighterWidget(colors=self.colors, max_height=140, legend=False)
        self.predicted_view = EntityHighlighterWidget(colors=self.colors, max_height=140)
        browse = QHBoxLayout()
        browse.addWidget(self.position, 1)
        browse.addWidget(self.previous_button, 0, Qt.AlignmentFlag.AlignTop)
        browse.addWidget(self.next_button, 0, Qt.AlignmentFlag.AlignTop)
        box = boxed(MESSAGES["sentences"], self.caption, self.table)
        inner = box.layout()
        assert isinstance(inner, QVBoxLayout)
        inner.addLayout(browse)
        self.gold_title = muted(MESSAGES["gold"])
        self.predicted_title = muted(MESSAGES["predicted"])
        inner.addWidget(self.gold_title)
        inner.addWidget(self.gold_view)
        inner.addWidget(self.predicted_title)
        inner.addWidget(self.predicted_view)
        self.sentences_box = box
        self.add(box, 1)
        self.table.sig_row_selected.connect(self._on_table_row_selected)
        self.previous_button.clicked.connect(self._on_previous_button_clicked)
        self.next_button.clicked.connect(self._on_next_button_clicked)

    def show_details(self, metrics: dict[str, Any]) -> None:
        report = as_dict(metrics.get("report"))
        self.report.set_report(report, sorted(report))
        examples = [as_list(e) for e in as_list(metrics.get("examples"))]
        examples = [e for e in examples if len(e) >= 3]
        scheme = pick_scheme(metrics, [as_list(e[1]) for e in examples])
        self.colors = ColorMap(sorted(report))
        self.gold_view.colors = self.predicted_view.colors = self.colors
        self.predicted_view.set_legend_kinds(sorted(report))
        self.sentences = []
        rows = []
        for tokens, gold_tags, predicted_tags, *_ in examples:
            tokens = [str(t) for t in as_list(tokens)]
            text, offsets = word_offsets(tokens)
            gold = set(decode(as_list(gold_tags)[: len(tokens)], scheme))
            predicted = set(decode(as_list(predicted_tags)[: len(tokens)], scheme))
            self.sentences.append(
                {
                    "text": text,
                    "gold": char_spans(sorted(gold, key=lambda e: e[1]), offsets),
                    "predicted": char_spans(sorted(predicted, key=lambda e: e[1]), offsets),
                    "found": len(gold & predicted),
                    "gold_count": len(gold),
                    "extra": len(predicted - gold),
                }
            )
            rows.append([text, len(gold), len(predicted), len(gold ^ predicted)])
        self.table.set_rows(rows)
        self.caption.setText(
            MESSAGES["caption"].format(count=len(rows)) if rows else MESSAGES["no_examples"]
        )
        self.sentences_box.setVisible(bool(metrics))
        self._set_detail_visible(bool(rows))  # else the caption says why
        self.show_sentence(-1)
        if rows:
            self.table.select_shown(0)

    def _set_detail_visible(self, visible: bool) -> None:
        for widget in (
            self.table,
            self.position,
            self.previous_button,
            self.next_button,
            self.gold_title,
            self.gold_view,
            self.predicted_title,
            self.predicted_view,
        ):
            widget.setVisible(visible)

    def show_sentence(self, index: int) -> None:
        if not 0 <= index < len(self.sentences):
            self.gold_view.clear()
            self.predicted_view.clear()
            self.position.setText(MESSAGES["none_selected"])
            return
        sentence = self.sentences[index]
        self.gold_view.set_text(sentence["text"], sentence["gold"])
        self.predicted_view.set_text(sentence["text"], sentence["predicted"])
        self.position.setText(
            MESSAGES["position"].format(
                n=self.table.current_position() + 1,
                total=len(self.table.shown_indexes()),
                found=sentence["found"],
                gold=sentence["gold_count"],
                extra=sentence["extra"],
            )
        )

    @Slot(int)
    def _on_table_row_selected(self, row: int) -> None:
        self.show_sentence(row)

    @Slot()
    def _on_previous_button_clicked(self) -> None:
        self.table.step(-1)

    @Slot()
    def _on_next_button_clicked(self) -> None:
        self.table.step(1)


class TokenOutputView(OutputView):
    def build(self) -> None:
        self.highlighter = EntityHighlighterWidget(max_height=220)
        self.entities_label = QLabel()
        self.entities_label.setWordWrap(True)
        self.entities_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.add(self.highlighter)
        self.add(muted(MESSAGES["entities"]))
        self.add(self.entities_label)

    def set_info(self, info: Any) -> None:
        super().set_info(info)
        types = []
        for label in getattr(info, "labels", []) or []:
            kind = entity_type(str(label))
            if kind and kind not in types:
                types.append(kind)
        self.highlighter.colors = ColorMap(sorted(types))
        self.highlighter.set_legend_kinds(sorted(types))

    def show_output(self, result: dict[str, Any], inputs: dict[str, str]) -> None:
        text = inputs.get("text", "")
        entities = [as_dict(e) for e in as_list(result.get("entities"))]
        self.highlighter.set_text(text, entities)
        lines = [
            MESSAGES["entity"].format(
                text=e.get("text", ""),
                type=e.get("type", ""),
                score=format_metric(SHARE, e.get("score")),
            )
            for e in entities
        ]
        self.entities_label.setText("\n".join(lines) if lines else MESSAGES["no_entities"])

    def clear(self) -> None:
        self.highlighter.clear()
        self.entities_label.setText("")


EVALUATE_VIEW = TokenEvaluateView
OUTPUT_VIEW = TokenOutputView
