"""Plain text: one document per line, or per paragraph when paragraphs are hard-wrapped."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.engine.data.plain_text import read_plain_text
from workbench.errors import UserError

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def write(tmp_path: Path, text: str, name: str = "corpus.txt") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


def test_one_document_per_line_without_blank_lines(tmp_path):
    frame = read_plain_text(write(tmp_path, "first doc\n  second doc  \nthird, café\n"))
    assert list(frame.columns) == ["text"]
    assert frame["text"].tolist() == ["first doc", "second doc", "third, café"]


def test_blank_lines_between_single_lines_still_give_one_document_per_line(tmp_path):
    text = " = Title = \n\n A paragraph .\n\n Another one .\n More of it .\n\n"
    frame = read_plain_text(write(tmp_path, text))
    assert frame["text"].tolist() == ["= Title =", "A paragraph .", "Another one .", "More of it ."]


def test_hard_wrapped_paragraphs_become_one_document_each(tmp_path):
    text = "First Citizen:\nBefore we proceed.\n\n\nAll:\nSpeak, speak.\n\nEnd\n"
    frame = read_plain_text(write(tmp_path, text))
    assert frame["text"].tolist() == [
        "First Citizen:\nBefore we proceed.",
        "All:\nSpeak, speak.",
        "End",
    ]


def test_windows_line_endings_and_a_byte_order_mark_are_harmless(tmp_path):
    path = tmp_path / "bom.txt"
    path.write_bytes("\ufeffone\r\ntwo\r\n".encode())
    assert read_plain_text(path)["text"].tolist() == ["one", "two"]


def test_an_empty_file_is_refused_with_a_fix(tmp_path):
    with pytest.raises(UserError, match="has no text; add some text"):
        read_plain_text(write(tmp_path, "\n  \n\n"))


def test_a_file_that_is_not_utf8_says_so(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("caf\xe9\n".encode("latin-1"))
    with pytest.raises(UserError, match="not UTF-8 text; save it as UTF-8"):
        read_plain_text(path)


def test_a_missing_file_says_so(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        read_plain_text(tmp_path / "nope.txt")


def test_wikitext2_reads_one_paragraph_or_heading_per_row():
    path = SHARED / "wikitext2" / "valid.txt"
    if not path.exists():
        pytest.skip("shared data not available")
    frame = read_plain_text(path)
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(frame) == len(lines)
    assert frame["text"].iloc[0] == "= Homarus gammarus ="


def test_tiny_shakespeare_reads_one_speech_per_row():
    path = SHARED / "tinyshakespeare" / "input.txt"
    if not path.exists():
        pytest.skip("shared data not available")
    frame = read_plain_text(path)
    assert frame["text"].iloc[0] == "First Citizen:\nBefore we proceed any further, hear me speak."
