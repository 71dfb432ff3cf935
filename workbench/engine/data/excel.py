"""Read an Excel workbook's sheet (.xlsx) as a table, through the optional openpyxl.

openpyxl is optional so the base install stays small; users who pick an .xlsx file are told
exactly what to install.
"""

from __future__ import annotations

import importlib
import zipfile
from pathlib import Path

from workbench.errors import UserError
from workbench.lazy import pandas as pd

MISSING_OPENPYXL = (
    "reading .xlsx files needs the optional package openpyxl; "
    "install it with `pip install openpyxl`"
)


def read_excel(path: str | Path, sheet: str | int = 0) -> pd.DataFrame:
    """The first sheet (or `sheet`, by name or index) with its first row as column names."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"data file {path} does not exist; check the path")
    if path.suffix.lower() == ".xls":
        raise UserError(f"{path.name} is an old .xls workbook; save it as .xlsx or .csv")
    try:
        importlib.import_module("openpyxl")
    except ImportError:
        raise UserError(MISSING_OPENPYXL) from None
    try:
        frame = pd.read_excel(
            path, sheet_name=sheet, engine="openpyxl", keep_default_na=False, na_values=[""]
        )
    except (zipfile.BadZipFile, OSError) as exc:
        raise UserError(
            f"cannot read {path.name} as .xlsx ({exc}); save it again as .xlsx"
        ) from None
    except (ValueError, KeyError, IndexError) as exc:
        raise UserError(
            f"cannot read sheet {sheet!r} of {path.name} ({exc}); check the sheet name"
        ) from None
    if frame.empty or len(frame.columns) == 0:
        raise UserError(f"sheet {sheet!r} of {path.name} has no rows; add examples to it")
    frame.columns = [str(c) for c in frame.columns]
    return frame
