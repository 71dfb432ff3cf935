"""Property-based tests: whatever the bytes, the readers, the tokenise/collate path and the
config parser give a result or a UserError, never another exception.

Few examples each (the suite stays fast on a loaded machine); no deadline, since two shared
cores make per-example timings meaningless."""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench.config import RunConfig
from workbench.engine.data import load_table
from workbench.engine.tokenizer import TextTokenizer
from workbench.engine.training.batching import collate
from workbench.errors import UserError

FAST = settings(
    max_examples=25,
    deadline=None,
    database=None,  # no .hypothesis folder in the tree
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# Text as a user's file or a keyboard can hold it (lone surrogates cannot be encoded).
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=200)
CELL = st.one_of(TEXT, st.integers(-(10**6), 10**6), st.floats(allow_nan=True), st.none())


def _read(suffix: str, content: bytes):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"data{suffix}"
        path.write_bytes(content)
        try:
            return load_table(path)
        except UserError as exc:
            assert str(exc) and "\n" not in str(exc).strip()
            return None


@FAST
@given(content=st.binary(max_size=300), suffix=st.sampled_from([".csv", ".tsv", ".jsonl", ".json", ".txt", ".parquet"]))  # fmt: skip
def test_any_bytes_are_read_or_refused(content, suffix):
    frame = _read(suffix, content)
    assert frame is None or (len(frame) > 0 and all(isinstance(c, str) for c in frame.columns))


@FAST
@given(rows=st.lists(st.tuples(TEXT, TEXT), min_size=1, max_size=8))
def test_csv_written_by_the_csv_module_round_trips(rows):
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["text", "label"])
    writer.writerows(rows)
    frame = _read(".csv", buffer.getvalue().encode("utf-8"))
    if frame is None:
        return  # refused with a message (e.g. every row empty)
    if list(frame.columns) == ["text", "label"] and len(frame) == len(rows):
        # Empty cells are NaN, numbers are numbers; every other cell is the text written.
        for (text, label), (_, got) in zip(rows, frame.iterrows(), strict=True):
            assert _same(text, got["text"]) and _same(label, got["label"]), (text, label, got)


def _same(written: str, got: object) -> bool:
    if isinstance(got, str):
        return got == written
    if written.strip() == "" or got != got:  # NaN: an empty cell
        return written.strip() == "" or written.strip().lower() in ("nan", "")
    if isinstance(got, bool):
        return str(got) == written.strip()
    return _numeric(written) and float(written) == float(got)


def _numeric(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


@FAST
@given(records=st.lists(st.dictionaries(st.sampled_from(["text", "label", "x"]), CELL), max_size=6))
def test_jsonl_records_are_read_or_refused(records):
    import json

    content = "".join(json.dumps(r) + "\n" for r in records).encode("utf-8")
    frame = _read(".jsonl", content)
    if frame is not None:
        assert len(frame) == len(records)


@pytest.fixture(scope="module")
def tokenizer(micro_model) -> TextTokenizer:
    return TextTokenizer.from_folder(micro_model, max_length=16)


@FAST
@given(texts=st.lists(TEXT, min_size=1, max_size=6), truncation=st.sampled_from(["tail", "head", "head+tail"]))  # fmt: skip
def test_any_text_encodes_and_collates_into_one_rectangle(tokenizer, texts, truncation):
    ids = tokenizer.encode(texts, truncation)
    assert len(ids) == len(texts)
    for row in ids:
        assert 2 <= len(row) <= 16  # [CLS] … [SEP], never over max_length
        assert all(0 <= i < tokenizer.vocab_size for i in row)
    batch_ids, mask = collate(ids, list(range(len(ids))), tokenizer.pad_id)
    assert batch_ids.shape == mask.shape == (len(texts), max(map(len, ids)))
    assert mask.sum(dim=1).tolist() == [len(row) for row in ids]
    pair_ids, types = tokenizer.encode_pairs(texts, list(reversed(texts)))
    assert [len(t) for t in types] == [len(p) for p in pair_ids]
    assert all(len(p) <= 16 for p in pair_ids)


FIELDS = [f.name for f in dataclasses.fields(RunConfig)]
VALUE = st.one_of(
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    TEXT,
    st.lists(st.integers(), max_size=3),
    st.dictionaries(TEXT, st.integers(), max_size=2),
)


@FAST
@given(values=st.dictionaries(st.one_of(st.sampled_from(FIELDS), TEXT), VALUE, max_size=5))
def test_any_settings_give_a_config_or_a_user_error(values):
    try:
        config = RunConfig.from_dict(values)
    except UserError as exc:
        assert str(exc)
        return
    assert RunConfig.from_dict(config.to_dict()) == config  # a valid config stays valid


@FAST
@given(text=TEXT)
def test_any_toml_text_gives_a_config_or_a_user_error(text):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "run.toml"
        path.write_text(text, "utf-8")
        try:
            config = RunConfig.from_toml(path)
        except UserError:
            return
        again = Path(folder) / "again.toml"
        again.write_text(config.to_toml(), "utf-8")
        assert RunConfig.from_toml(again) == config


@pytest.mark.parametrize("truncation", ["tail", "head", "head+tail"])
def test_a_long_text_is_cut_to_the_same_tokens_without_tokenising_it_whole(tokenizer, truncation):
    import time

    words = [f"word{i % 97} été, 世界!" for i in range(3000)]  # ~70,000 characters
    text = " \n".join(words)
    budget = tokenizer.max_length - tokenizer.template.single_extra
    whole = tokenizer.encode_content([text])[0]  # what the truncation cuts from
    if truncation == "tail":
        expected = tokenizer.template.single(whole[:budget])
    elif truncation == "head":
        expected = tokenizer.template.single(whole[-budget:])
    else:
        expected = tokenizer.template.single(
            whole[: budget // 4] + whole[-(budget - budget // 4) :]
        )
    assert tokenizer.encode([text], truncation) == [expected]
    started = time.perf_counter()
    tokenizer.encode(["a b " * 2_500_000], truncation)  # a 10 MB cell
    assert time.perf_counter() - started < 10
