"""The catalogue, files: each broken data file is refused by `workbench train` with one line
that says what is wrong and what to do (exit 2), before any run folder exists; files that are
odd but readable (semicolons, quoted newlines, a 10 MB cell, duplicated names) are read right."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from workbench.config import RunConfig
from workbench.engine.data import load_table
from workbench.engine.training.run import prepare

ROWS = "".join(f"review number {i} is fine,{'pos' if i % 2 else 'neg'}\n" for i in range(20))


def _write(name: str, content: str | bytes, encoding: str = "utf-8") -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        path = folder / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding=encoding, newline="")
        return path

    return build


def _folder(*classes: str) -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        root = folder / "reviews"
        root.mkdir()
        (root / "readme.txt").write_text("not a class", "utf-8")
        for name in classes:
            (root / name).mkdir()
            (root / name / "1.txt").write_text(f"a {name} review", "utf-8")
        return root

    return build


def _link(target: str) -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        (folder / "data.csv").symlink_to(folder / target)
        return folder / "data.csv"

    return build


def _fifo(folder: Path) -> Path:
    os.mkfifo(folder / "pipe.csv")
    return folder / "pipe.csv"


JSONL = "".join(json.dumps({"text": f"review {i}", "label": i % 2}) + "\n" for i in range(20))

# name -> (make the input inside a folder, what the one line must say: what is wrong + the fix)
FILE_CASES: dict[str, tuple[Callable[[Path], Path], str]] = {
    "missing": (lambda f: f / "nope.csv", r"nope\.csv does not exist; check the path"),
    "empty": (_write("empty.csv", ""), r"empty\.csv has no rows; add examples"),
    "header only": (_write("head.csv", "text,label\n"), r"head\.csv has no rows; add examples"),
    "folder without class folders": (_folder(), r"has no sub-folders; it needs one sub-folder"),
    "folder with one class": (_folder("pos"), r"one class only \(pos\); add a sub-folder"),
    "binary": (
        _write("bin.csv", bytes(range(256)) * 8),
        r"it is binary, not UTF-8 text; save it as UTF-8",
    ),
    "UTF-16 with BOM": (
        _write("u16.csv", "text,label\n" + ROWS, "utf-16"),
        r"it is UTF-16 text \(it starts with a UTF-16 byte-order mark\), not UTF-8 text; save",
    ),
    "Latin-1": (
        _write("l1.csv", "text,label\n" + ROWS.replace("fine", "très bien"), "latin-1"),
        r"l1\.csv: it is not UTF-8 text; save it as UTF-8 \(CSV UTF-8 in Excel\)",
    ),
    "ragged CSV": (
        _write("rag.csv", "text,label\n" + ROWS + "a,b,c,d\n"),
        r"Expected 2 fields in line 22, saw 4; check that every row has the same number",
    ),
    "corrupt Parquet": (
        _write("c.parquet", b"PAR1 this is not parquet PAR1"),
        r"cannot read c\.parquet as parquet",
    ),
    "JSON that is a string": (
        _write("s.json", '"hello"'),
        r"s\.json is not a JSON list of records .*give a list of objects",
    ),
    "JSON list of numbers": (
        _write("n.json", "[1, 2, 3]"),
        r"list of plain values, not of records",
    ),
    "JSON cut short": (_write("cut.json", '[{"text": "a", "label": '), r"cannot read cut\.json"),
    "JSONL with one bad line": (
        _write("bad.jsonl", JSONL.replace("\n", "\n{broken\n", 7).replace("\n{broken\n", "\n", 6)),
        r"line \d+ of bad\.jsonl is not valid JSON .*fix or remove that line",
    ),
    "JSONL of lists": (_write("l.jsonl", "[1, 2]\n[3, 4]\n"), r"l\.jsonl"),
    "unsupported type": (_write("notes.docx", "x"), r"unsupported file type \.docx; use one of"),
    "dangling symlink": (_link("gone.csv"), r"a link to nothing \(a dangling symlink\)"),
    "symlink loop": (_link("data.csv"), r"data\.csv .*(link|loop)"),
    "a pipe": (_fifo, r"is not a regular file \(a pipe or a device\?\); give a data file"),
    "a quote never closed in the last row": (
        _write("open.csv", "text,label\n" + ROWS + '"this review never ends,pos\n'),
        r"open\.csv: the quoted field that starts on line 22 is never closed .*close the quote",
    ),
    "a quote never closed after quoted newlines": (
        _write("open2.csv", "text,label\n" + '"two\nlines",pos\n' * 5 + ROWS + 'a,"neg\n'),
        r"open2\.csv: the quoted field that starts on line 32 is never closed",
    ),
    "a quote never closed in a semicolon file": (
        _write("open3.csv", "text;label\n" + ROWS.replace(",", ";") + '"open;pos\nlast;neg\n'),
        r"open3\.csv: the quoted field that starts on line 22 is never closed",
    ),
    "one column only": (
        _write("one.csv", "text\n" + "".join(f"review {i}\n" for i in range(20))),
        r"which column .* holds the label; name it with --label-column",
    ),
}


@pytest.mark.parametrize("case", list(FILE_CASES))
def test_train_refuses_a_broken_data_file(case, tmp_path, micro_model, refused):
    build, pattern = FILE_CASES[case]
    data = build(tmp_path)
    output = tmp_path / "out" / "run"
    refused(pattern, "train", "--data", data, "--model", micro_model, "--output", output)
    assert not output.parent.exists()


def test_bad_eval_data_is_refused_too(tmp_path, micro_model, refused):
    train = _write("train.csv", "text,label\n" + ROWS)(tmp_path)
    bad = _write("eval.csv", bytes(range(256)))(tmp_path)
    refused(r"eval\.csv: it is binary", "train", "--data", train, "--eval-data", bad,
            "--model", micro_model)  # fmt: skip


def test_excel_without_openpyxl_says_what_to_install(tmp_path, micro_model, refused, monkeypatch):
    monkeypatch.setitem(sys.modules, "openpyxl", None)  # as if it were not installed
    data = _write("sheet.xlsx", b"PK\x03\x04 not really a workbook")(tmp_path)
    refused(r"needs the optional package openpyxl; install it with `pip install openpyxl`",
            "train", "--data", data, "--model", micro_model)  # fmt: skip


def test_existing_output_is_left_as_it_was(tmp_path, micro_model, refused):
    output = tmp_path / "run"
    output.mkdir()
    (output / "keep.txt").write_text("mine", "utf-8")
    data = _write("empty.csv", "")(tmp_path)
    refused(r"has no rows", "train", "--data", data, "--model", micro_model, "--output", output)
    assert (output / "keep.txt").read_text("utf-8") == "mine"


# ---- odd but valid: read as the user meant (engine API: no training needed) ----------------


def _prepared(tmp_path: Path, data: Path, micro_model: Path, **settings) -> object:
    return prepare(RunConfig(data=str(data), model=str(micro_model), **settings))


def test_a_semicolon_file_is_read_with_its_delimiter(tmp_path):
    data = _write("semi.csv", "text;label\n" + ROWS.replace(",", ";"))(tmp_path)
    frame = load_table(data)
    assert list(frame.columns) == ["text", "label"] and len(frame) == 20
    assert any("semicolon" in n for n in frame.attrs["notices"])


def test_quoted_newlines_stay_inside_their_cell(tmp_path):
    rows = "".join(f'"line one {i}\nline two",{i % 2}\n' for i in range(20))
    frame = load_table(_write("qn.csv", "text,label\n" + rows)(tmp_path))
    assert len(frame) == 20 and frame["text"][3] == "line one 3\nline two"


def test_a_utf8_bom_and_crlf_lines_are_invisible(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + ("text,label\n" + ROWS).replace("\n", "\r\n").encode())
    frame = load_table(path)
    assert list(frame.columns) == ["text", "label"] and frame["label"][0] == "neg"


def test_duplicated_column_names_are_kept_apart(tmp_path, micro_model):
    rows = "".join(f"first {i},second {i},{'pos' if i % 2 else 'neg'}\n" for i in range(20))
    data = _write("dup.csv", "text,text,label\n" + rows)(tmp_path)
    assert list(load_table(data).columns) == ["text", "text.1", "label"]
    prepared = _prepared(tmp_path, data, micro_model, text_column="text")
    assert prepared.config.text_column == "text"
    texts = prepared.data.train["text"]
    assert all(t.startswith("first") for t in texts)  # the named one, not the copy


def test_a_10_mb_cell_is_read_whole_and_quickly(tmp_path):
    big = "word " * 2_000_000  # 10 MB in one cell
    data = _write("big.csv", "text,label\n" + ROWS + f'"{big}",pos\n')(tmp_path)
    started = time.perf_counter()
    frame = load_table(data)
    assert time.perf_counter() - started < 30
    assert len(frame) == 21 and len(frame["text"].iloc[-1]) == len(big)


def test_numbers_in_the_text_column_are_read_as_text(tmp_path, micro_model):
    rows = "".join(f"{i * 1.5},{'pos' if i % 2 else 'neg'}\n" for i in range(20))
    prepared = _prepared(tmp_path, _write("n.csv", "text,label\n" + rows)(tmp_path), micro_model)
    texts = list(prepared.data.train["text"]) + list(prepared.data.eval["text"])
    assert all(isinstance(t, str) for t in texts) and "1.5" in texts


def test_a_json_object_of_lists_is_a_table(tmp_path):
    value = {"text": [f"review {i}" for i in range(4)], "label": ["a", "b", "a", "b"]}
    frame = load_table(_write("cols.json", json.dumps(value))(tmp_path))
    assert len(frame) == 4 and list(frame.columns) == ["text", "label"]


def test_parquet_round_trips(tmp_path):
    frame = pd.DataFrame({"text": ["a", "b"], "label": [0, 1]})
    frame.to_parquet(tmp_path / "ok.parquet")
    assert load_table(tmp_path / "ok.parquet").equals(frame)
