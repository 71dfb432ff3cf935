"""Load a table from CSV, TSV, JSON Lines/JSON or Parquet into a pandas DataFrame."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from workbench.errors import UserError

SUPPORTED_SUFFIXES = (".csv", ".tsv", ".txt", ".jsonl", ".json", ".parquet")


def load_table(path: str | Path, header: str = "auto") -> pd.DataFrame:
    """Read a data file by its suffix; raise UserError with a fix when it cannot be read.
    `header` says whether a CSV/TSV's first row names the columns: auto, yes or no."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"data file {path} does not exist; check the path")
    if path.is_dir():
        raise UserError(f"{path} is a folder; give a data file ({', '.join(SUPPORTED_SUFFIXES)})")
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise UserError(
            f"cannot read {path.name}: unsupported file type {suffix or '(none)'}; "
            f"use one of {', '.join(SUPPORTED_SUFFIXES)}"
        )
    try:
        if suffix == ".csv":
            frame = pd.read_csv(path, encoding="utf-8", keep_default_na=False, na_values=[""])
        elif suffix in (".tsv", ".txt"):
            frame = pd.read_csv(
                path, sep="\t", encoding="utf-8", keep_default_na=False, na_values=[""], quoting=3
            )
        elif suffix == ".jsonl":
            frame = pd.read_json(path, lines=True, encoding="utf-8", dtype=False)
        elif suffix == ".json":
            frame = _read_json(path)
        else:
            frame = pd.read_parquet(path)
    except UserError:
        raise
    except UnicodeDecodeError:
        raise UserError(f"cannot read {path.name}: it is not UTF-8 text; save it as UTF-8") from None
    except (ValueError, OSError, pd.errors.ParserError, ImportError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"cannot read {path.name} as {suffix[1:]}: {first_line}") from None
    if frame.empty or len(frame.columns) == 0:
        raise UserError(f"{path.name} has no rows; add examples to it")
    frame.columns = [str(c) for c in frame.columns]
    return frame


def _read_json(path: Path) -> pd.DataFrame:
    # A .json file is either one array of records or JSON Lines in disguise.
    with open(path, encoding="utf-8") as handle:
        head = handle.read(4096).lstrip()
    if head.startswith("["):
        return pd.read_json(path, encoding="utf-8", dtype=False)
    return pd.read_json(path, lines=True, encoding="utf-8", dtype=False)
