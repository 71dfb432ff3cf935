"""The catalogue, a big data file (engine API, what the GUI's data page calls): its preview
and the column guess read the first rows only, a bounded number of bytes, not the file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from workbench import engine
from workbench.engine.data import load_table
from workbench.engine.data.readers import PREVIEW_WHOLE_BYTES, preview_table
from workbench.errors import UserError

MB = 2**20


def _big_csv(path: Path, megabytes: int = 30) -> Path:
    rows = "".join(
        f"a review that goes on about the film for a while and then some more,{label}\n"
        for label in ("pos", "neg") * 500
    )
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("text,label\n")
        while handle.tell() < megabytes * MB:
            handle.write(rows)
    return path


@pytest.fixture(scope="module")
def big_csv(tmp_path_factory) -> Path:
    return _big_csv(tmp_path_factory.mktemp("big") / "big.csv")


def test_the_preview_of_a_30_mb_csv_reads_its_first_rows_only(big_csv):
    frame = preview_table(big_csv)
    assert big_csv.stat().st_size > 30 * MB > PREVIEW_WHOLE_BYTES
    assert list(frame.columns) == ["text", "label"] and len(frame) == 1000
    assert frame.attrs["bytes_read"] <= MB  # not the 30 MB
    assert frame.attrs["complete"] is False
    assert frame.attrs["notices"] == [
        "showing the first 1,000 rows of big.csv (30 MB); training reads all of it"
    ]
    roles = engine.guess_roles("text-classification", frame)  # the column guess, from those
    assert (roles["text_column"], roles["label_column"]) == ("text", "label")


def test_the_preview_of_big_json_lines_reads_its_first_rows_only(tmp_path):
    path = tmp_path / "big.jsonl"
    line = json.dumps({"text": "a review " * 20, "label": "pos"}) + "\n"
    path.write_text(line * (20 * MB // len(line)), "utf-8")
    frame = preview_table(path, rows=50)
    assert len(frame) == 50 and frame.attrs["bytes_read"] <= MB and not frame.attrs["complete"]


def test_a_small_file_is_previewed_as_training_reads_it(tmp_path):
    path = tmp_path / "small.csv"
    path.write_text("text,label\n" + "".join(f"r {i},{i % 2}\n" for i in range(30)), "utf-8")
    frame = preview_table(path)
    assert frame.equals(load_table(path)) and frame.attrs["complete"] is True


def test_a_big_file_that_is_broken_early_is_refused_from_the_preview(tmp_path):
    path = _big_csv(tmp_path / "bad.csv", megabytes=17)
    content = path.read_bytes()
    path.write_bytes(content[:200] + b"\xff\xfe" + content[200:])  # not UTF-8 near the top
    with pytest.raises(UserError, match=r"bad\.csv: it is not UTF-8 text"):
        preview_table(path)


def test_train_says_on_a_terminal_that_a_big_file_takes_a_while(big_csv, tmp_path):
    import io

    from workbench.cli import _say_big_data
    from workbench.config import RunConfig

    said = io.StringIO()
    _say_big_data(RunConfig(data=str(big_csv), eval_data=str(tmp_path / "gone.csv")), said)
    assert said.getvalue() == (
        "reading big.csv (30 MB) and tokenising it before the first step; a big file takes a "
        "while\n"
    )
