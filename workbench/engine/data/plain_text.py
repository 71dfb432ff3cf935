"""Read a plain text file as documents, one per row of a `text` column.

Which unit is a document? The rule, decided on the whole file:

- blank lines separate blocks; when more than half of the blocks span two or more lines,
  the file is hard-wrapped prose or verse, and each block is one document (its lines kept,
  joined with newlines);
- otherwise (no blank lines, or blocks of mostly one line, like WikiText's one paragraph per
  line with blank lines between) each non-blank line is one document.

Lines keep their text but lose surrounding whitespace; WikiText's ` = Heading = ` lines stay.
"""

from __future__ import annotations

import re
from pathlib import Path

from workbench.errors import UserError
from workbench.lazy import pandas as pd

_BLANK_LINES = re.compile(r"\n[ \t]*(?:\n[ \t]*)+")


def read_utf8_text(path: str | Path) -> str:
    """The whole file as text (a UTF-8 byte-order mark is dropped); UserError if not UTF-8."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"data file {path} does not exist; check the path")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise UserError(
            f"cannot read {path.name}: it is not UTF-8 text; save it as UTF-8"
        ) from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def split_documents(text: str) -> list[str]:
    """Documents in `text` by the module's rule: blocks if most blocks are multi-line."""
    blocks = [
        [line.strip() for line in block.split("\n") if line.strip()]
        for block in _BLANK_LINES.split(text)
    ]
    blocks = [b for b in blocks if b]
    multi_line = sum(len(b) > 1 for b in blocks)
    has_blank_lines = len(blocks) > 1
    if has_blank_lines and multi_line * 2 > len(blocks):
        return ["\n".join(b) for b in blocks]
    return [line for b in blocks for line in b]


def read_plain_text(path: str | Path) -> pd.DataFrame:
    """One row per document (see the module docstring for what a document is)."""
    documents = split_documents(read_utf8_text(path))
    if not documents:
        raise UserError(f"{Path(path).name} has no text; add some text to it")
    return pd.DataFrame({"text": documents})
