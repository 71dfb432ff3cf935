"""The bundled sample dataset: shape, balance, Unicode, and that the script reproduces it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "resources" / "sample" / "reviews.csv"
SCRIPT = ROOT / "resources" / "sample" / "make_reviews.py"
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    assert SAMPLE.is_file(), f"{SAMPLE} is missing; run {SCRIPT.name}"
    return pd.read_csv(SAMPLE, encoding="utf-8", keep_default_na=False, na_values=[""])


def test_columns_and_size(frame: pd.DataFrame) -> None:
    assert list(frame.columns) == ["text", "label"]
    assert 1200 <= len(frame) <= 1600
    assert frame["text"].map(type).eq(str).all()
    assert frame["label"].map(type).eq(str).all()


def test_two_balanced_string_classes(frame: pd.DataFrame) -> None:
    counts = frame["label"].value_counts()
    assert set(counts.index) == {"positive", "negative"}
    assert abs(counts["positive"] - counts["negative"]) <= 0.02 * len(frame)


def test_no_empty_or_duplicate_texts(frame: pd.DataFrame) -> None:
    texts = frame["text"]
    assert not texts.isna().any()
    assert (texts.str.strip() != "").all()
    assert (texts == texts.str.strip()).all(), "texts have no leading/trailing whitespace"
    assert not texts.duplicated().any()
    assert not texts.str.lower().duplicated().any()


def test_review_lengths(frame: pd.DataFrame) -> None:
    english = frame.loc[~frame["text"].str.contains(CJK), "text"]
    words = english.str.split().str.len()
    assert words.min() >= 8
    assert words.max() <= 40


def test_unicode_is_exercised(frame: pd.DataFrame) -> None:
    texts = frame["text"]
    non_ascii = texts[texts.map(lambda t: not t.isascii())]
    chinese = texts[texts.str.contains(CJK)]
    assert len(non_ascii) >= 50
    assert 15 <= len(chinese) <= 40
    joined = "".join(non_ascii)
    for char in ("é", "—", "’", "€", "“"):
        assert char in joined, f"expected {char!r} somewhere in the sample"
    # The Chinese reviews are in both classes, so neither class is told apart by script.
    assert set(frame.loc[texts.str.contains(CJK), "label"]) == {"positive", "negative"}


def test_file_is_plain_utf8(frame: pd.DataFrame) -> None:
    raw = SAMPLE.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf"), "no byte-order mark"
    assert b"\r\n" not in raw
    raw.decode("utf-8")


def test_script_regenerates_identical_file(tmp_path: Path) -> None:
    out = tmp_path / "reviews.csv"
    subprocess.run(
        [sys.executable, str(SCRIPT), "--output", str(out)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert out.read_bytes() == SAMPLE.read_bytes(), (
        "resources/sample/reviews.csv is out of date: run resources/sample/make_reviews.py"
    )
