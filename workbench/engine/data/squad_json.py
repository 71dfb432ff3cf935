"""Read SQuAD v1.1 / v2.0 JSON (extractive question answering) into one row per question.

The nested layout `data -> paragraphs -> qas -> answers` is flattened so the rest of the
engine sees an ordinary table: `id, title, question, context, answers, is_impossible`.
`answers` is a list of `{"text", "answer_start"}` (empty for unanswerable v2.0 questions).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from workbench.engine.data.plain_text import read_utf8_text
from workbench.errors import UserError
from workbench.lazy import pandas as pd

_SNIFF_CHARS = 65536
_LAYOUT = (
    '{"data": [{"title", "paragraphs": [{"context", "qas": [{"id", "question", "answers"}]}]}]}'
)


def read_squad(path: str | Path) -> pd.DataFrame:
    """One row per question of a SQuAD-format JSON file."""
    path = Path(path)
    try:
        document = json.loads(read_utf8_text(path))
    except json.JSONDecodeError as exc:
        raise UserError(f"cannot read {path.name} as JSON: {exc}; fix the file") from None
    if not isinstance(document, dict) or not isinstance(document.get("data"), list):
        raise UserError(f"{path.name} is not SQuAD JSON: it needs the layout {_LAYOUT}")
    rows = []
    try:
        for article in document["data"]:
            title = str(article.get("title", ""))
            for paragraph in article["paragraphs"]:
                context = paragraph["context"]
                for qa in paragraph["qas"]:
                    rows.append(_row(qa, title, context))
    except (KeyError, TypeError, AttributeError) as exc:
        where = f"missing {exc}" if isinstance(exc, KeyError) else "a wrong kind of value"
        raise UserError(
            f"{path.name} is not SQuAD JSON ({where}); it needs the layout {_LAYOUT}"
        ) from None
    if not rows:
        raise UserError(f"{path.name} has no questions; add entries to its qas lists")
    return pd.DataFrame(
        rows, columns=["id", "title", "question", "context", "answers", "is_impossible"]
    )


def _row(qa: dict, title: str, context: str) -> dict:
    answers = [
        {"text": str(a["text"]), "answer_start": int(a["answer_start"])}
        for a in qa.get("answers", [])
    ]
    # v2.0 marks unanswerable questions; their `plausible_answers` are not gold answers.
    # A v1.1 question with no answers stays answerable (a file of questions to predict).
    impossible = bool(qa.get("is_impossible", False))
    return {
        "id": str(qa["id"]),
        "title": title,
        "question": str(qa["question"]),
        "context": str(context),
        "answers": [] if impossible else answers,
        "is_impossible": impossible,
    }


def looks_like_squad(path: str | Path) -> bool:
    """Whether the file opens like SQuAD JSON: an object with a `data` list of `paragraphs`."""
    try:
        with open(path, encoding="utf-8-sig") as handle:
            head = handle.read(_SNIFF_CHARS)
    except (OSError, UnicodeDecodeError):
        return False
    return (
        head.lstrip().startswith("{")
        and re.search(r'"data"\s*:\s*\[', head) is not None
        and '"paragraphs"' in head
    )
