"""Shared fixtures: an isolated user folder per test, small datasets, one trained run."""

from __future__ import annotations

import csv
import random
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))  # public_data: splits of ../shared/data


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory, monkeypatch):
    """Runs land in a fresh WORKBENCH_HOME, never in the developer's real one."""
    home = tmp_path_factory.mktemp("workbench-home")
    monkeypatch.setenv("WORKBENCH_HOME", str(home))
    return home


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


@pytest.fixture
def reviews_csv(tmp_path) -> Path:
    return write_reviews(tmp_path / "reviews.csv")


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory) -> Path:
    """One short real run on the bundled model, shared by the tests that only read it."""
    from workbench.config import RunConfig
    from workbench.engine import train

    folder = tmp_path_factory.mktemp("trained")
    data = write_reviews(folder / "reviews.csv", repeats=4)
    config = RunConfig(
        data=str(data), output=str(folder / "run"), epochs=2, batch_size=8, max_length=32,
        learning_rate=2e-4, log_every_steps=2,
    )
    result = train(config)
    assert result.status == "completed", result.error
    return result.run_dir
