"""CoNLL token-per-line files: sentences of tokens and tags, and sniffing the format."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.engine.data.conll import looks_like_conll, read_conll
from workbench.engine.metrics.entities import IOB2, detect_scheme
from workbench.errors import UserError

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"

SAMPLE = """-DOCSTART- -X- -X- O

EU NNP B-NP B-ORG
rejects VBZ B-VP O
German JJ B-NP B-MISC

Peter NNP B-NP B-PER
Blackburn NNP I-NP I-PER

-DOCSTART- -X- -X- O
São\tB-LOC
Paulo\tI-LOC
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "train.txt"
    path.write_text(text, encoding="utf-8")
    return path


def test_sentences_take_the_first_column_as_token_and_the_last_as_tag(tmp_path):
    frame = read_conll(write(tmp_path, SAMPLE))
    assert list(frame.columns) == ["tokens", "tags"]
    assert frame["tokens"].tolist() == [
        ["EU", "rejects", "German"],
        ["Peter", "Blackburn"],
        ["São", "Paulo"],  # a DOCSTART line ends a sentence even without a blank line
    ]
    assert frame["tags"].tolist() == [
        ["B-ORG", "O", "B-MISC"],
        ["B-PER", "I-PER"],
        ["B-LOC", "I-LOC"],
    ]


def test_a_line_without_a_tag_names_the_line(tmp_path):
    with pytest.raises(UserError, match=r"line 2 has a token but no tag \('Paris'\)"):
        read_conll(write(tmp_path, "The O\nParis\n"))


def test_a_file_without_tokens_is_refused(tmp_path):
    with pytest.raises(UserError, match="no tagged tokens"):
        read_conll(write(tmp_path, "-DOCSTART- -X- -X- O\n\n"))


def test_a_file_that_is_not_utf8_says_so(tmp_path):
    path = tmp_path / "train.txt"
    path.write_bytes("caf\xe9 O\n".encode("latin-1"))
    with pytest.raises(UserError, match="not UTF-8"):
        read_conll(path)


def test_looks_like_conll(tmp_path):
    assert looks_like_conll(write(tmp_path, SAMPLE))
    assert looks_like_conll(write(tmp_path, "Paris B-LOC\nis O\n\nnice O\n"))
    assert looks_like_conll(write(tmp_path, "Paris S-LOC\nLyon E-LOC\n"))
    assert not looks_like_conll(write(tmp_path, "a wonderful film\tpositive\n"))
    assert not looks_like_conll(write(tmp_path, "text,label\nnice,pos\n"))
    assert not looks_like_conll(write(tmp_path, "\n\n"))


def test_conll2003_reads_to_the_published_counts_and_is_iob2():
    path = SHARED / "conll2003" / "valid.txt"
    if not path.exists():
        pytest.skip("shared data not available")
    frame = read_conll(path)
    assert len(frame) == 3250  # SOURCE.md: 3,250 sentences, 51,362 tokens
    assert frame["tokens"].map(len).sum() == 51362
    assert (frame["tokens"].map(len) == frame["tags"].map(len)).all()
    assert detect_scheme(frame["tags"].tolist()) == IOB2
    assert looks_like_conll(path)
