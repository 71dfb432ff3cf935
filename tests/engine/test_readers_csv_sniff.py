"""Sniffing delimited files: delimiter, quoting and header row, each with a stated reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.engine.data.csv_sniff import CsvLayout, read_delimited, sniff_csv
from workbench.errors import UserError

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"

REVIEWS = [
    ("a wonderful film, warm and funny", "pos"),
    ("dull; and far too long", "neg"),
    ("lovely café with great crêpes", "pos"),
    ("would not go back", "neg"),
    ("perfect in every way", "pos"),
    ("cold food, rude staff", "neg"),
]


def write(tmp_path: Path, text: str, name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


def table(delimiter: str, header: bool = True, quote_all: bool = False) -> str:
    def cell(value: str) -> str:
        if quote_all or delimiter in value or '"' in value:
            return '"' + value.replace('"', '""') + '"'
        return value

    lines = [delimiter.join(["review", "sentiment"])] if header else []
    lines += [delimiter.join(cell(v) for v in row) for row in REVIEWS]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("delimiter", "name"), [(",", "comma"), (";", "semicolon"), ("\t", "tab"), ("|", "pipe")]
)
def test_each_delimiter_is_found_and_named(tmp_path, delimiter, name):
    layout = sniff_csv(write(tmp_path, table(delimiter), "data.txt"))
    assert layout.delimiter == delimiter
    assert layout.reason.startswith(f"{name} between columns (2 columns")
    frame = read_delimited(write(tmp_path, table(delimiter), "data.txt"), layout)
    assert frame.columns.tolist() == ["review", "sentiment"]
    assert frame.values.tolist() == [list(r) for r in REVIEWS]


def test_quoted_fields_with_delimiters_inside_are_one_field(tmp_path):
    path = write(tmp_path, table(",", quote_all=True))
    layout = sniff_csv(path)
    assert (layout.delimiter, layout.quoted) == (",", True)
    assert read_delimited(path, layout)["review"].iloc[0] == "a wonderful film, warm and funny"


def test_raw_quotes_in_a_tsv_are_text_not_quoting(tmp_path):
    # GLUE style: a field opens a quote that never closes, so honouring it would merge lines.
    text = 'label\ta\tb\n1\t"Hello there.\tHi.\n0\tNo.\tNope "really".\n1\tYes.\tYep.\n'
    path = write(tmp_path, text, "train.tsv")
    layout = sniff_csv(path)
    assert (layout.delimiter, layout.quoted) == ("\t", False)
    assert "quotes read as plain text" in layout.reason
    frame = read_delimited(path, layout)
    assert frame["a"].tolist() == ['"Hello there.', "No.", "Yes."]


def test_the_file_suffix_breaks_a_tie_between_delimiters(tmp_path):
    text = "a,b\tc,d\ne,f\tg,h\n"  # splits into 2 columns by comma and by tab alike
    assert sniff_csv(write(tmp_path, text, "x.tsv")).delimiter == "\t"
    assert sniff_csv(write(tmp_path, text, "x.csv")).delimiter == ","


def test_a_header_is_found_by_a_numeric_column_under_a_name(tmp_path):
    path = write(tmp_path, "text,label\nnice,1\nbad,0\nfine,1\n")
    layout = sniff_csv(path)
    assert layout.has_header
    assert "column 2 is numeric below the non-numeric first value 'label'" in layout.reason


def test_a_numeric_first_row_is_data(tmp_path):
    path = write(tmp_path, '"3","Fears for pension","Unions say"\n"4","Race is on","A team"\n')
    layout = sniff_csv(path)
    assert not layout.has_header
    assert "numeric in column 1 ('3')" in layout.reason
    frame = read_delimited(path, layout)
    assert frame.columns.tolist() == ["column_1", "column_2", "column_3"]
    assert frame["column_2"].tolist() == ["Fears for pension", "Race is on"]


def test_a_first_value_repeated_below_is_data(tmp_path):
    layout = sniff_csv(write(tmp_path, table(",", header=False)))
    assert not layout.has_header
    assert "'pos' of column 2 appears again below" in layout.reason


def test_a_short_name_above_long_texts_is_a_header(tmp_path):
    rows = [f"this is review number {i} and it is long enough,{w}" for i, w in enumerate("abcdef")]
    layout = sniff_csv(write(tmp_path, "review,emotion\n" + "\n".join(rows) + "\n"))
    assert layout.has_header
    assert "'review' is much shorter than the texts below it in column 1" in layout.reason


def test_a_long_first_text_like_those_below_is_data(tmp_path):
    rows = [f"this is review number {i} and it is long enough,{w}" for i, w in enumerate("abcdef")]
    layout = sniff_csv(write(tmp_path, "\n".join(rows) + "\n"))
    assert not layout.has_header
    assert "a text like those below it" in layout.reason


def test_header_argument_overrides_the_guess(tmp_path):
    path = write(tmp_path, "text,label\nnice,1\nbad,0\n")
    frame = read_delimited(path, sniff_csv(path), header=False)
    assert frame.columns.tolist() == ["column_1", "column_2"]
    assert frame["column_1"].tolist() == ["text", "nice", "bad"]


def test_a_byte_order_mark_is_not_part_of_the_first_column_name(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufefftext,label\nnice,1\nbad,0\n".encode())
    assert read_delimited(path, sniff_csv(path)).columns.tolist() == ["text", "label"]


def test_not_utf8_says_save_as_utf8(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("text,label\ncaf\xe9,1\n".encode("latin-1"))
    with pytest.raises(UserError, match="not UTF-8 text; save it as UTF-8"):
        sniff_csv(path)
    with pytest.raises(UserError, match="not UTF-8 text; save it as UTF-8"):
        read_delimited(path, CsvLayout(",", True, "given"))


def test_ragged_rows_name_the_delimiter_and_the_fix(tmp_path):
    path = write(tmp_path, "a,b\n1,2\n3,4,5\n")
    with pytest.raises(UserError, match="with comma between columns.*same number of columns"):
        read_delimited(path, CsvLayout(",", True, "given"))


def test_empty_and_missing_files(tmp_path):
    with pytest.raises(UserError, match="has no rows"):
        sniff_csv(write(tmp_path, "\n\n"))
    with pytest.raises(UserError, match="does not exist"):
        sniff_csv(tmp_path / "nope.csv")


@pytest.mark.parametrize(
    ("relative", "delimiter", "header", "quoted", "shape"),
    [
        ("ag_news/test.csv", ",", False, True, (7600, 3)),
        ("imdb/train.csv", ",", True, True, (5000, 2)),
        ("goemotions/train.csv", ",", True, True, (5000, 2)),
        ("mrpc/train.tsv", "\t", True, False, (3668, 5)),
        ("stsb/dev.tsv", "\t", True, False, (1500, 10)),
    ],
)
def test_shared_files(relative, delimiter, header, quoted, shape):
    path = SHARED / relative
    if not path.exists():
        pytest.skip("shared data not available")
    layout = sniff_csv(path)
    assert (layout.delimiter, layout.has_header, layout.quoted) == (delimiter, header, quoted)
    assert read_delimited(path, layout).shape == shape
