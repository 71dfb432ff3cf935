"""Reading the user's files: formats, column guessing, labels, splits, and clear refusals."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from workbench.engine.data import (
    guess_columns,
    label_counts,
    load_table,
    make_examples,
    stratified_split,
)
from workbench.errors import UserError

ROWS = [
    {"review": "lovely little café, great crêpes", "sentiment": "pos", "id": 1},
    {"review": "服务太差了", "sentiment": "neg", "id": 2},
    {"review": "would not go back", "sentiment": "neg", "id": 3},
    {"review": "perfect in every way", "sentiment": "pos", "id": 4},
]


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".json", ".parquet"])
def test_every_supported_format_reads_to_the_same_table(tmp_path, suffix):
    frame = pd.DataFrame(ROWS)
    path = tmp_path / f"data{suffix}"
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    elif suffix == ".tsv":
        frame.to_csv(path, index=False, sep="\t")
    elif suffix == ".jsonl":
        path.write_text(
            "\n".join(json.dumps(r, ensure_ascii=False) for r in ROWS), encoding="utf-8"
        )
    elif suffix == ".json":
        path.write_text(json.dumps(ROWS, ensure_ascii=False), encoding="utf-8")
    else:
        frame.to_parquet(path)
    loaded = load_table(path)
    assert list(loaded["review"]) == [r["review"] for r in ROWS]
    assert guess_columns(loaded).text == "review"
    assert guess_columns(loaded).label == "sentiment"


def test_columns_are_guessed_by_content_when_names_do_not_say(tmp_path):
    frame = pd.DataFrame(
        {"a": ["x", "y", "x", "y"], "b": ["long words here"] * 2 + ["other long text"] * 2}
    )
    guess = guess_columns(frame)
    assert guess == type(guess)(text="b", label="a")


def test_integer_labels_and_float_ints_are_one_label():
    frame = pd.DataFrame({"text": ["a", "b", "c", "d"], "label": [0, 1, 1.0, 0.0]})
    examples, labels = make_examples(frame, "text", "label")
    assert labels == ["0", "1"]
    assert examples.label_ids == [0, 1, 1, 0]


def test_rows_without_text_or_label_are_skipped_not_crashing():
    frame = pd.DataFrame({"text": ["a", None, "  ", "d"], "label": ["x", "y", "y", None]})
    with pytest.raises(UserError, match="only one class"):
        make_examples(frame, "text", "label")


def test_stratified_split_keeps_every_class_on_both_sides_and_is_seeded():
    frame = pd.DataFrame({"text": [f"t{i}" for i in range(50)], "label": ["a"] * 40 + ["b"] * 10})
    examples, _ = make_examples(frame, "text", "label")
    train, held = stratified_split(examples, 0.1, seed=3)
    assert len(held) == 5 and len(train) == 45
    assert set(held.label_ids) == {0, 1}
    assert stratified_split(examples, 0.1, seed=3)[1].texts == held.texts


def test_label_counts_are_most_frequent_first():
    frame = pd.DataFrame({"label": ["b", "a", "b", "b"]})
    assert label_counts(frame, "label") == {"b": 3, "a": 1}


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        (None, "missing.csv", "does not exist"),
        ("text,label\n", "empty.csv", "no rows"),
        (b"\xff\xfe\x00bad", "latin.csv", "UTF-8"),
        ("a,b\n1,2\n", "data.xls", "unsupported file type"),
        ("a,b\n1,2\n", "data.xlsx", "save it again as .xlsx"),
    ],
)
def test_unreadable_files_are_refused_with_a_reason(tmp_path, content, name, message):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(UserError, match=message):
        load_table(path)


def test_missing_column_lists_the_available_ones():
    frame = pd.DataFrame(ROWS)
    with pytest.raises(UserError, match="no column 'text'.*available: review, sentiment, id"):
        make_examples(frame, "text", "sentiment")


def test_labels_unknown_to_the_model_are_named():
    frame = pd.DataFrame({"text": ["a", "b"], "label": ["pos", "maybe"]})
    with pytest.raises(UserError, match="'maybe'"):
        make_examples(frame, "text", "label", labels=["neg", "pos"])


def test_what_the_reader_detected_is_said(tmp_path):
    path = tmp_path / "news.csv"
    rows = [
        f'{1 + i % 4},"Headline number {i} about markets","A long description of story {i}, with words"'
        for i in range(40)
    ]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    frame = load_table(path)
    assert list(frame.columns) == ["column_1", "column_2", "column_3"] and len(frame) == 40
    assert any("no header row" in n for n in frame.attrs["notices"])
    assert list(load_table(path, header="yes").columns)[0] == "1"


def test_a_semicolon_file_is_read_with_its_delimiter_named(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_text(
        "text;label\n" + "".join(f"review {i} was fine;{i % 2}\n" for i in range(20)),
        encoding="utf-8",
    )
    frame = load_table(path)
    assert list(frame.columns) == ["text", "label"]
    assert any("semicolon" in n for n in frame.attrs["notices"])


def test_a_json_object_of_lists_is_a_table_not_one_row(tmp_path):
    path = tmp_path / "data.json"
    path.write_text('{"text": ["a", "b", "c"], "label": [0, 1, 0]}', encoding="utf-8")
    assert len(load_table(path)) == 3
