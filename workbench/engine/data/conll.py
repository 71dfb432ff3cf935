"""Read CoNLL-style token-per-line files (CoNLL-2003 NER and its many look-alikes).

One token per line, whitespace-separated columns; the token is the first column and the tag
the last (middle columns such as POS and chunk tags are ignored). A blank line ends a
sentence; `-DOCSTART-` lines mark documents and are skipped.
"""

from __future__ import annotations

import re
from pathlib import Path

from workbench.engine.data.plain_text import read_utf8_text
from workbench.errors import UserError
from workbench.lazy import pandas as pd

DOCSTART = "-DOCSTART-"
_TAG = re.compile(r"^(O|[BIES]-\S+|[BIES])$")
_SNIFF_LINES = 50


def read_conll(path: str | Path) -> pd.DataFrame:
    """One row per sentence: `tokens` and `tags`, two lists of equal length."""
    path = Path(path)
    sentences: list[tuple[list[str], list[str]]] = []
    tokens: list[str] = []
    tags: list[str] = []
    for number, line in enumerate(read_utf8_text(path).split("\n"), start=1):
        columns = line.split()
        if not columns or columns[0] == DOCSTART:
            if tokens:
                sentences.append((tokens, tags))
                tokens, tags = [], []
            continue
        if len(columns) < 2:
            raise UserError(
                f"{path.name} line {number} has a token but no tag ({line.strip()!r}); "
                "each line of a CoNLL file needs a token and its tag separated by a space or tab"
            )
        tokens.append(columns[0])
        tags.append(columns[-1])
    if tokens:
        sentences.append((tokens, tags))
    if not sentences:
        raise UserError(f"{path.name} has no tagged tokens; add lines like 'Paris B-LOC'")
    return pd.DataFrame({"tokens": [s[0] for s in sentences], "tags": [s[1] for s in sentences]})


def looks_like_conll(path: str | Path) -> bool:
    """Whether the file's first lines read as CoNLL: a DOCSTART line, or token + tag columns."""
    try:
        with open(path, encoding="utf-8-sig") as handle:
            lines = [handle.readline() for _ in range(_SNIFF_LINES)]
    except (OSError, UnicodeDecodeError):
        return False
    rows = [line.split() for line in lines if line.strip()]
    if not rows:
        return False
    if rows[0][0] == DOCSTART:
        return True
    return all(len(r) >= 2 and _TAG.match(r[-1]) for r in rows)
