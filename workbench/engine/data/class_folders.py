"""Read a folder of class folders: `train/pos/*.txt`, `train/neg/*.txt` (the IMDB layout).

Each sub-folder is a class named after it, each `.txt` file in it one example. Files at the
top level (aclImdb's `labeledBow.feat`, `urls_pos.txt`), hidden folders, folders without
`.txt` files and aclImdb's `unsup` folder (unlabelled reviews, not a class) are skipped.
"""

from __future__ import annotations

from pathlib import Path

from workbench.errors import UserError
from workbench.lazy import pandas as pd

UNLABELLED_FOLDERS = frozenset({"unsup"})
_LAYOUT = "one sub-folder of .txt files per class, e.g. train/pos/*.txt and train/neg/*.txt"


def read_class_folders(path: str | Path) -> pd.DataFrame:
    """Columns `text` and `label` (the sub-folder's name), classes in name order."""
    root = Path(path)
    if not root.is_dir():
        raise UserError(f"{root} is not a folder; give a folder with {_LAYOUT}")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise UserError(f"{root} has no sub-folders; it needs {_LAYOUT}")
    classes = {
        folder.name: files
        for folder in folders
        if folder.name not in UNLABELLED_FOLDERS
        and (files := sorted(f for f in folder.glob("*.txt") if f.is_file()))
    }
    if not classes:
        names = ", ".join(f.name for f in folders)
        raise UserError(f"no .txt files in the sub-folders of {root} ({names}); it needs {_LAYOUT}")
    if len(classes) < 2:
        (only,) = classes
        raise UserError(
            f"{root} has .txt files for one class only ({only}); add a sub-folder per class, "
            "or give the folder above it"
        )
    texts, labels = [], []
    for label, files in classes.items():
        for file in files:
            texts.append(_read(file))
            labels.append(label)
    return pd.DataFrame({"text": texts, "label": labels})


def _read(file: Path) -> str:
    try:
        return file.read_text(encoding="utf-8-sig").strip()
    except UnicodeDecodeError:
        raise UserError(f"cannot read {file}: it is not UTF-8 text; save it as UTF-8") from None
