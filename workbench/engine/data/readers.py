"""Load the user's data into a pandas DataFrame, whatever its format.

CSV/TSV (delimiter and header row detected), JSON Lines, JSON arrays, SQuAD JSON, Parquet,
Excel, CoNLL column files, plain text, and a folder of class sub-folders of `.txt` files.
What was detected is said in `frame.attrs["notices"]`, so a wrong guess can be spotted.
"""

from __future__ import annotations

import csv
import io
import stat
from collections.abc import Callable
from pathlib import Path

from workbench.engine.data.class_folders import read_class_folders
from workbench.engine.data.conll import looks_like_conll, read_conll
from workbench.engine.data.csv_sniff import (
    DELIMITER_NAMES,
    not_utf8_message,
    read_delimited,
    sniff_csv,
)
from workbench.engine.data.excel import read_excel
from workbench.engine.data.plain_text import read_plain_text
from workbench.engine.data.squad_json import looks_like_squad, read_squad
from workbench.errors import UserError
from workbench.lazy import pandas as pd

SUPPORTED_SUFFIXES = (
    ".csv",
    ".tsv",
    ".txt",
    ".jsonl",
    ".json",
    ".parquet",
    ".xlsx",
    ".conll",
    ".iob",
    ".bio",
)
_CONLL_SUFFIXES = (".conll", ".iob", ".bio")
_HEADER = {"auto": None, "yes": True, "no": False}


def load_table(
    path: str | Path,
    header: str = "auto",
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Read a data file (or a folder of class sub-folders); raise UserError with a fix when it
    cannot be read. `header` says whether a CSV/TSV's first row names the columns: auto, yes, no.
    `progress(bytes read, file size)` is called as a CSV/TSV is read (other formats: at the
    start and the end; a folder: once, with size 0)."""
    path = Path(path).expanduser()
    if not path.exists():
        if path.is_symlink():
            raise UserError(
                f"data file {path} is a link to nothing (a dangling symlink); check the path"
            )
        raise UserError(f"data file {path} does not exist; check the path")
    if path.is_dir():
        if progress is not None:
            progress(0, 0)
        frame = read_class_folders(path)
        frame.attrs["notices"] = [f"read {path.name}/ as one sub-folder of .txt files per class"]
        return frame
    if not stat.S_ISREG(path.stat().st_mode):
        raise UserError(f"{path} is not a regular file (a pipe or a device?); give a data file")
    size = path.stat().st_size
    if progress is not None:
        progress(0, size)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise UserError(
            f"cannot read {path.name}: unsupported file type {suffix or '(none)'}; "
            f"use one of {', '.join(SUPPORTED_SUFFIXES)} or a folder of class sub-folders"
        )
    notices: list[str] = []
    try:
        if suffix in _CONLL_SUFFIXES or (suffix == ".txt" and looks_like_conll(path)):
            frame = read_conll(path)
            notices.append(
                f"read {path.name} as a CoNLL file (one token per line, tag in the last column)"
            )
        elif suffix in (".csv", ".tsv") or (suffix == ".txt" and _has_tabs(path)):
            frame = _read_delimited(path, header, notices, progress)
        elif suffix == ".txt":
            frame = read_plain_text(path)
            notices.append(f"read {path.name} as plain text: {len(frame):,} documents")
        elif suffix == ".jsonl":
            frame = _read_jsonl(path)
        elif suffix == ".json":
            if looks_like_squad(path):
                frame = read_squad(path)
                notices.append(f"read {path.name} as SQuAD JSON: {len(frame):,} questions")
            else:
                frame = _read_json(path)
        elif suffix == ".xlsx":
            frame = read_excel(path)
        else:
            frame = pd.read_parquet(path)
    except UserError:
        raise
    except UnicodeDecodeError:
        raise UserError(not_utf8_message(path)) from None
    except (ValueError, OSError, pd.errors.ParserError, ImportError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"cannot read {path.name} as {suffix[1:]}: {first_line}") from None
    if frame.empty or len(frame.columns) == 0:
        raise UserError(f"{path.name} has no rows; add examples to it")
    frame.columns = [str(c) for c in frame.columns]
    frame.attrs["notices"] = notices
    if progress is not None:
        progress(size, size)
    return frame


PREVIEW_ROWS = 1000
PREVIEW_WHOLE_BYTES = 16 * 2**20  # files up to this size are read whole


class _CountingReader(io.RawIOBase):
    """A file's bytes with a count of how many were read (what a preview cost)."""

    def __init__(self, handle) -> None:
        self._handle = handle
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = self._handle.readinto(buffer)
        self.count += n or 0
        return n


def preview_table(path: str | Path, header: str = "auto", rows: int = PREVIEW_ROWS) -> pd.DataFrame:
    """The first `rows` rows of a data file, for a preview and the column guess, reading only
    as much of a CSV/TSV or JSON Lines file as those rows take (a 300 MB file is not read
    whole); other formats are read by `load_table`. `frame.attrs["bytes_read"]` says how much
    was read and `frame.attrs["complete"]` whether that was the whole file."""
    path = Path(path).expanduser()
    suffix = path.suffix.lower()
    streamable = suffix in (".csv", ".tsv", ".jsonl")
    if not streamable or not path.is_file() or not stat.S_ISREG(path.stat().st_mode):
        frame = load_table(path, header)
        frame.attrs.update(bytes_read=None, complete=True)
        return frame
    size = path.stat().st_size
    if size <= PREVIEW_WHOLE_BYTES:  # small: read as training reads it, every check included
        frame = load_table(path, header)
        frame.attrs.update(bytes_read=size, complete=True)
        return frame
    notices: list[str] = []
    with open(path, "rb") as raw:
        counted = _CountingReader(raw)
        buffered = io.BufferedReader(counted, buffer_size=65536)
        try:
            if suffix == ".jsonl":
                lines = [line for _, line in zip(range(rows), buffered, strict=False)]
                frame = pd.read_json(io.BytesIO(b"".join(lines)), lines=True, dtype=False)
            else:
                layout = sniff_csv(path)
                wanted = _HEADER.get(header)
                use_header = layout.has_header if wanted is None else wanted
                frame = pd.read_csv(
                    io.TextIOWrapper(buffered, encoding="utf-8-sig", newline=""),
                    sep=layout.delimiter,
                    header=0 if use_header else None,
                    keep_default_na=False,
                    na_values=[""],
                    quoting=csv.QUOTE_MINIMAL if layout.quoted else csv.QUOTE_NONE,
                    nrows=rows,  # pandas reads blocks of 256 KB until it has them
                )
                if not use_header:
                    frame.columns = [f"column_{i}" for i in range(1, len(frame.columns) + 1)]
        except UserError:
            raise
        except UnicodeDecodeError:
            raise UserError(not_utf8_message(path)) from None
        except (ValueError, pd.errors.ParserError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise UserError(f"cannot read {path.name} as {suffix[1:]}: {first}") from None
    if frame.empty or len(frame.columns) == 0:
        raise UserError(f"{path.name} has no rows; add examples to it")
    frame.columns = [str(c) for c in frame.columns]
    complete = counted.count >= size and len(frame) < rows
    if not complete:
        notices.append(
            f"showing the first {len(frame):,} rows of {path.name} ({size / 2**20:,.0f} MB); "
            "training reads all of it"
        )
    frame.attrs.update(notices=notices, bytes_read=counted.count, complete=complete)
    return frame


def _read_delimited(
    path: Path,
    header: str,
    notices: list[str],
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    layout = sniff_csv(path)
    wanted = _HEADER.get(header)
    frame = read_delimited(path, layout, wanted, progress)
    name = DELIMITER_NAMES[layout.delimiter]
    if layout.delimiter != {".tsv": "\t", ".txt": "\t"}.get(path.suffix.lower(), ","):
        notices.append(f"{path.name} has a {name} between columns (detected)")
    if wanted is None and not layout.has_header:
        notices.append(
            f"{path.name} seems to have no header row ({layout.reason}); its columns are named "
            "column_1, column_2, … (use --header if the first row does name them)"
        )
    return frame


def _has_tabs(path: Path) -> bool:
    with open(path, encoding="utf-8", errors="replace") as handle:
        return "\t" in handle.readline()


def _read_json(path: Path) -> pd.DataFrame:
    # A .json file is an array of records, an object of equal-length lists, or JSON Lines.
    with open(path, encoding="utf-8") as handle:
        head = handle.read(4096).lstrip()
    if head.startswith("["):
        frame = pd.read_json(path, encoding="utf-8", dtype=False)
        if list(frame.columns) == [0]:  # [1, 2, 3] or ["a", "b"]: values, not records
            raise UserError(
                f"{path.name} is a JSON list of plain values, not of records; give a list of "
                'objects such as [{"text": "…", "label": "…"}, …]'
            )
        return frame
    if head.startswith("{"):
        import json

        try:
            value = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            return pd.read_json(path, lines=True, encoding="utf-8", dtype=False)
        if isinstance(value, dict) and value and all(isinstance(v, list) for v in value.values()):
            return pd.DataFrame(value)  # {"text": [...], "label": [...]}
        if isinstance(value, dict):
            return pd.DataFrame([value])
    if head[:1] not in ("{", "["):
        raise UserError(
            f"{path.name} is not a JSON list of records (it starts with {head[:20]!r}); give a "
            'list of objects such as [{"text": "…", "label": "…"}, …], or JSON Lines'
        )
    return _read_jsonl(path)


def _read_jsonl(path: Path) -> pd.DataFrame:
    """JSON Lines; a line that is not JSON is named, so it can be fixed."""
    try:
        return pd.read_json(path, lines=True, encoding="utf-8", dtype=False)
    except ValueError:
        pass
    import json

    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                json.loads(line)
            except json.JSONDecodeError as exc:
                raise UserError(
                    f"line {number} of {path.name} is not valid JSON ({exc.msg}, column "
                    f"{exc.colno}); fix or remove that line (one JSON object per line)"
                ) from None
    raise UserError(f"cannot read {path.name} as JSON Lines; give one JSON object per line")
