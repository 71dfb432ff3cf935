"""Small two-class review datasets with Unicode, shared by the tests (import, not a fixture)."""

from __future__ import annotations

import csv
import random
from pathlib import Path

POSITIVE = [
    "a wonderful film with a warm heart",
    "great acting and a lovely story",
    "i enjoyed every minute of it",
    "brilliant, funny and touching",
    "the best meal we had all year",
    "friendly staff and excellent coffee",
    "superb sound and a beautiful screen",
    "delightful from start to finish",
    "这家餐厅的菜很好吃",
    "a charming café with naïve charm and great crêpes",
]
NEGATIVE = [
    "a dull film with a cold heart",
    "terrible acting and a boring story",
    "i hated every minute of it",
    "tedious, humourless and flat",
    "the worst meal we had all year",
    "rude staff and awful coffee",
    "tinny sound and a dim screen",
    "disappointing from start to finish",
    "服务太差了，再也不来",
    "a gloomy café with stale crêpes",
]


def write_reviews(path: Path, repeats: int = 3, seed: int = 0) -> Path:
    """A small two-class CSV (text,label) with Unicode, enough to learn from in seconds."""
    rng = random.Random(seed)
    rows = []
    for i in range(repeats):
        rows += [(f"{t} ({i})", "positive") for t in POSITIVE]
        rows += [(f"{t} ({i})", "negative") for t in NEGATIVE]
    rng.shuffle(rows)
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return path
