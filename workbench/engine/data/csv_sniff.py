"""Guess how a delimited text file is laid out: its delimiter, quoting, and header row.

Users' files come with `,` `;` (European Excel), tab or `|` between columns, and some (AG
News) have no header row. Guessing these from a sample spares the user settings they
cannot be expected to know; `reason` says what was seen so a wrong guess can be spotted.

Delimiter: each candidate splits the sampled rows, with and without CSV quoting; the one
that gives the same number (2+) of columns in most rows wins (ties: the one the file's
suffix suggests, then `,` tab `;` `|`). When quoted and raw readings split equally well,
quotes are plain text if honouring them would merge lines (GLUE's TSVs hold unbalanced raw
quotes), CSV quoting if some field is wrapped in quotes or holds a delimiter or line break,
and otherwise CSV quoting for `,` `;` `|` but plain text for tab (the TSV custom).

Header, in order of strength:
1. a column numeric below a non-numeric first value (`label` over 0/1): a header;
2. a column numeric below a numeric first value: no header (the first row is data);
3. a first value repeated below in a column of repeating values (`pos`): no header;
4. a text column whose first value is much shorter than the values below (`text` over
   reviews): a header; one as long as the values below (30+ characters): no header;
5. otherwise a header, as most files have one.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import statistics
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from workbench.errors import UserError
from workbench.lazy import pandas as pd

DELIMITERS = (",", "\t", ";", "|")
DELIMITER_NAMES = {",": "comma", "\t": "tab", ";": "semicolon", "|": "pipe"}
_SUFFIX_DELIMITER = {".csv": ",", ".tsv": "\t", ".tab": "\t", ".psv": "|"}
_SAMPLE_CHARS = 65536
_SAMPLE_ROWS = 200
_MIN_SHARE = 0.8  # of sampled rows that must split into the same number of columns


@dataclass(frozen=True)
class CsvLayout:
    """How to read a delimited file; `quoted` False means quotes are plain characters."""

    delimiter: str
    has_header: bool
    reason: str
    quoted: bool = True


def sniff_csv(path: str | Path) -> CsvLayout:
    """Guess the delimiter, quoting and header row from the first rows of the file."""
    path = Path(path)
    sample = _sample(path)
    delimiter, quoted, rows, why_delimiter = _guess_delimiter(sample, path.suffix.lower())
    if not rows:
        raise UserError(f"{path.name} has no rows; add examples to it")
    if not quoted and delimiter != "\t" and _unclosed_quote_line(io.StringIO(sample), delimiter):
        # Quotes were read as plain text because one never closes: in a CSV (unlike a TSV,
        # see _likely_quoted) that is a broken row, and reading it raw would hide it.
        line = _unclosed_quote_line(_lines(path), delimiter)
        if line is not None:
            raise UserError(unclosed_quote_message(path, line))
    has_header, why_header = _guess_header(rows)
    return CsvLayout(delimiter, has_header, f"{why_delimiter}; {why_header}", quoted)


def read_delimited(
    path: str | Path,
    layout: CsvLayout,
    header: bool | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Read the file as `layout` says; without a header, columns are `column_1`, `column_2`...
    `progress(bytes read, file size)` follows pandas through the file (a 300 MB file takes
    a while)."""
    path = Path(path)
    use_header = layout.has_header if header is None else header
    handle = None
    source: Path | io.BufferedReader = path
    if progress is not None:
        size = path.stat().st_size
        handle = io.BufferedReader(_ReadCounter(open(path, "rb"), size, progress), 1 << 20)
        source = handle
    try:
        frame = pd.read_csv(
            source,
            sep=layout.delimiter,
            header=0 if use_header else None,
            encoding="utf-8-sig",
            keep_default_na=False,
            na_values=[""],
            quoting=csv.QUOTE_MINIMAL if layout.quoted else csv.QUOTE_NONE,
        )
    except UnicodeDecodeError:
        raise UserError(not_utf8_message(path)) from None
    except pd.errors.EmptyDataError:
        raise UserError(f"{path.name} has no rows; add examples to it") from None
    except (pd.errors.ParserError, ValueError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if handle is not None:
            handle.close()
        if "EOF inside string" in first_line:  # pandas counts records, not lines: find it
            line = _unclosed_quote_line(_lines(path), layout.delimiter)
            if line is not None:
                raise UserError(unclosed_quote_message(path, line)) from None
        name = DELIMITER_NAMES[layout.delimiter]
        raise UserError(
            f"cannot read {path.name} with {name} between columns: {first_line}; "
            "check that every row has the same number of columns"
        ) from None
    finally:
        if handle is not None:
            handle.close()
    if not use_header:
        frame.columns = [f"column_{i}" for i in range(1, len(frame.columns) + 1)]
    if frame.empty:
        raise UserError(f"{path.name} has no rows; add examples to it")
    frame.columns = [str(c) for c in frame.columns]
    return frame


class _ReadCounter(io.RawIOBase):
    """A binary file that says how far it has been read: `progress(bytes, size)`."""

    def __init__(self, raw, size: int, progress: Callable[[int, int], None]) -> None:
        self._raw = raw
        self._size = size
        self._progress = progress
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = self._raw.readinto(buffer) or 0
        self.count += n
        self._progress(min(self.count, self._size), self._size)
        return n

    def close(self) -> None:
        self._raw.close()
        super().close()


def not_utf8_message(path: Path) -> str:
    """Name the encoding where its byte-order mark shows it (Excel's "Unicode text" is UTF-16)."""
    try:
        with open(path, "rb") as handle:
            start = handle.read(4)
    except OSError:
        start = b""
    if start.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        found = "UTF-16 text (it starts with a UTF-16 byte-order mark), "
    elif b"\x00" in start:
        found = "binary, "
    else:
        found = ""  # most often Latin-1 or Windows-1252
    return (
        f"cannot read {path.name}: it is {found}not UTF-8 text; save it as UTF-8 "
        "(CSV UTF-8 in Excel)"
    )


def unclosed_quote_message(path: Path, line: int) -> str:
    return (
        f"cannot read {path.name}: the quoted field that starts on line {line:,} is never "
        'closed (a " without its closing "), so the rest of the file would be one cell; close '
        'the quote on that line, or write a " inside a cell as ""'
    )


_END = "\ue000workbench: end of file\ue000"  # a private-use text no file ends with


def _unclosed_quote_line(lines: Iterable[str], delimiter: str) -> int | None:
    """The line on which a quoted field opens that is still open at the end of the file (as
    CSV quoting reads it), or None. A sentinel line after the file shows it: a quote that is
    open at the end swallows the sentinel into its field; otherwise it is a row of its own.
    One streaming pass; only run when a file looks broken."""
    reader = csv.reader(
        itertools.chain(lines, ["\n", _END + "\n"]),
        delimiter=delimiter,
        quoting=csv.QUOTE_MINIMAL,
    )
    limit = csv.field_size_limit()
    csv.field_size_limit(2**31 - 1)  # the swallowed rest of a big file is one field
    try:
        start, last = 1, None
        for row in reader:
            last = (start, row)
            start = reader.line_num + 1
    except csv.Error:
        return None  # broken in another way: pandas' message says how
    finally:
        csv.field_size_limit(limit)
    if last is None or last[1] == [_END]:
        return None
    return last[0] if last[1] and _END in last[1][-1] else None


def _lines(path: Path) -> Iterator[str]:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        yield from handle


def _sample(path: Path) -> str:
    if not path.is_file():
        raise UserError(f"data file {path} does not exist; check the path")
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            sample = handle.read(_SAMPLE_CHARS)
            truncated = bool(handle.read(1))
    except UnicodeDecodeError:
        raise UserError(not_utf8_message(path)) from None
    if truncated and "\n" in sample:
        sample = sample[: sample.rindex("\n") + 1]  # whole lines only
    return sample


def _split(sample: str, delimiter: str, quoted: bool) -> list[list[str]]:
    quoting = csv.QUOTE_MINIMAL if quoted else csv.QUOTE_NONE
    reader = csv.reader(io.StringIO(sample), delimiter=delimiter, quoting=quoting)
    rows: list[list[str]] = []
    try:
        for row in reader:
            if row:
                rows.append(row)
    except csv.Error:
        pass  # a sample cut inside a quoted field; the rows so far are enough
    return rows


def _guess_delimiter(sample: str, suffix: str) -> tuple[str, bool, list[list[str]], str]:
    preferred = _SUFFIX_DELIMITER.get(suffix, ",")
    best = None
    for order, delimiter in enumerate(DELIMITERS):
        splits = {quoted: _split(sample, delimiter, quoted) for quoted in (True, False)}
        for quoted, rows in splits.items():
            if not rows:
                continue
            width, count = Counter(len(r) for r in rows).most_common(1)[0]
            if width < 2 or count < _MIN_SHARE * len(rows):
                continue
            share = count / len(rows)
            key = (
                share,
                delimiter == preferred,
                quoted == _likely_quoted(delimiter, splits),
                -order,
            )
            if best is None or key > best[0]:
                best = (key, delimiter, quoted, rows, width, count)
    if best is None:
        rows = _split(sample, preferred, True)[:_SAMPLE_ROWS]
        return preferred, True, rows, "one column (no , tab ; or | between columns)"
    _, delimiter, quoted, rows, width, count = best
    why = (
        f"{DELIMITER_NAMES[delimiter]} between columns ({width} columns in {count} of "
        f"{len(rows)} sampled rows{'' if quoted else ', quotes read as plain text'})"
    )
    return delimiter, quoted, rows[:_SAMPLE_ROWS], why


def _likely_quoted(delimiter: str, splits: dict[bool, list[list[str]]]) -> bool:
    # Which reading wins when both split the rows equally well.
    if len(splits[True]) < len(splits[False]):
        return False  # quotes swallow line breaks: raw quotes in text (GLUE's TSVs)
    wrapped = any(
        len(f) >= 2 and f[0] == '"' and f[-1] == '"' for row in splits[False] for f in row
    )
    if wrapped or any(delimiter in f or "\n" in f for row in splits[True] for f in row):
        return True  # fields really are quoted
    return delimiter != "\t"  # no evidence: CSV files quote, TSV files mostly do not


def _is_number(value: str) -> bool:
    # "3,5" counts too: semicolon files from European spreadsheets use decimal commas.
    value = value.strip()
    if value.count(",") == 1 and "." not in value:
        value = value.replace(",", ".")
    try:
        number = float(value)
    except ValueError:
        return False
    return number == number and abs(number) != float("inf")


def _guess_header(rows: list[list[str]]) -> tuple[bool, str]:
    first, below = rows[0], rows[1:]
    if not below:
        return True, "header: one row only, read as column names"
    columns = []
    for j, head in enumerate(first):
        values = [r[j].strip() for r in below if j < len(r) and r[j].strip()]
        columns.append((j + 1, head.strip(), values))
    numeric = {
        j: sum(map(_is_number, values)) >= 0.9 * len(values) for j, _, values in columns if values
    }
    for j, head, _ in columns:
        if numeric.get(j) and head and not _is_number(head):
            return True, f"header: column {j} is numeric below the non-numeric first value {head!r}"
    for j, head, _ in columns:
        if numeric.get(j) and head and _is_number(head):
            return (
                False,
                f"no header: the first row is numeric in column {j} ({head!r}), like the rows below",
            )
    for j, head, values in columns:
        counts = Counter(values)
        repeating = values and len(counts) <= max(1, len(values) // 2)
        if head and repeating and head in counts:
            return (
                False,
                f"no header: the first value {head!r} of column {j} appears again below it",
            )
    for j, head, values in columns:
        if not head or not values or numeric.get(j):
            continue
        typical = statistics.median(len(v) for v in values)
        if len(head) <= 20 and len(head) * 3 < typical:
            return True, f"header: {head!r} is much shorter than the texts below it in column {j}"
        if len(head) >= 30 and len(head) * 3 >= typical:
            return False, f"no header: the first value of column {j} is a text like those below it"
    return True, "header: the first row looks like column names"
