"""Splits of the public datasets in ../shared/data, read in place, written to a temp folder.

Rotten Tomatoes (Pang & Lee 2005) ships as two files with no official split; we shuffle
the 10,662 sentences with a fixed seed and cut 1,066 test, 1,066 dev and 8,530 train,
the sizes of the common Hugging Face split (not its exact members).
"""

from __future__ import annotations

import csv
import os
import random
from pathlib import Path

SHARED_DATA = Path(
    os.environ.get(
        "WORKBENCH_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"
    )
)


def rotten_tomatoes_available() -> bool:
    return (SHARED_DATA / "rotten_tomatoes" / "rt-polarity.pos").exists()


def rotten_tomatoes_splits(
    folder: Path, train_size: int | None = None, seed: int = 1234
) -> dict[str, Path]:
    """Write train.csv/dev.csv/test.csv (text,label with labels negative/positive) into `folder`."""
    source = SHARED_DATA / "rotten_tomatoes"
    rows = []
    for label in ("neg", "pos"):
        text = (source / f"rt-polarity.{label}").read_text(encoding="utf-8")
        rows += [
            (line.strip(), "positive" if label == "pos" else "negative")
            for line in text.splitlines()
            if line.strip()
        ]
    random.Random(seed).shuffle(rows)
    splits = {"test": rows[:1066], "dev": rows[1066:2132], "train": rows[2132:]}
    if train_size is not None:
        splits["train"] = splits["train"][:train_size]
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, split_rows in splits.items():
        path = folder / f"{name}.csv"
        with open(path, "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["text", "label"])
            writer.writerows(split_rows)
        paths[name] = path
    return paths
