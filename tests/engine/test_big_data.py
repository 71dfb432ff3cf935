"""Big data files: features tokenised a chunk at a time into packed arrays are the same
as one `encode` of every row, for every task; reading and tokenising report progress; the
features of a file that spans several chunks cost a few bytes per token."""

from __future__ import annotations

import io
import json
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from workbench.config import RunConfig
from workbench.engine.data import load_table
from workbench.engine.data.sequences import PackedSequences, smallest_int_type
from workbench.engine.events import Progress, progress_callback
from workbench.engine.models.registry import default_model_path
from workbench.engine.tasks import TASK_MODULES, get_task
from workbench.engine.tasks.base import Features
from workbench.engine.tokenizer import TextTokenizer

WORDS = "the film was good bad long short great dull fine story actor music scene end".split()


def _sentence(rng: random.Random, low: int = 3, high: int = 12) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(low, high)))


# ---- packed sequences ---------------------------------------------------------------------
def test_packed_sequences_read_back_as_the_rows_in_the_narrowest_type():
    rows = [[101, 2023, 102], [], [101, 30000, 7, 102]]
    packed = PackedSequences.from_rows(rows)
    assert packed.flat.dtype == np.int16 and len(packed) == 3
    assert [r.tolist() for r in packed] == rows and packed == rows
    assert packed.lengths.tolist() == [3, 0, 4]
    assert packed[-1].tolist() == rows[-1] and packed[1:].tolist() == rows[1:]
    with pytest.raises(IndexError):
        packed[3]
    with pytest.raises(ValueError):  # views are read-only: a collator cannot change the data
        packed[0][0] = 5
    assert PackedSequences.from_rows([[-100, 0, 1]]).flat.dtype == np.int8
    assert PackedSequences.from_rows([[0, 40000]]).flat.dtype == np.int32
    assert smallest_int_type(-(2**40), 0) == np.int64
    joined = PackedSequences.concat([packed, PackedSequences.from_rows([[70000], [1]])])
    assert joined.tolist() == rows + [[70000], [1]] and joined.flat.dtype == np.int32


# ---- every task: chunked == whole ---------------------------------------------------------
def _files(task: str, folder: Path) -> dict:
    """A small data file for the task, and settings that make windows where a task has them."""
    rng = random.Random(7)
    n = 47
    if task == "text-classification":
        frame = pd.DataFrame(
            {"text": [_sentence(rng) for _ in range(n)], "label": ["pos", "neg"] * 23 + ["pos"]}
        )
    elif task == "pair-classification":
        frame = pd.DataFrame(
            {
                "premise": [_sentence(rng) for _ in range(n)],
                "hypothesis": [_sentence(rng) for _ in range(n)],
                "label": ["yes", "no", "maybe"] * 15 + ["yes", "no"],
            }
        )
        path = folder / "pairs.csv"
        frame.to_csv(path, index=False)
        return {"data": str(path), "text_column": "premise", "text_pair_column": "hypothesis"}
    elif task == "regression":
        frame = pd.DataFrame(
            {"text": [_sentence(rng) for _ in range(n)], "score": [rng.random() for _ in range(n)]}
        )
    elif task == "multi-label-classification":
        labels = ["joy;love", "anger", "joy", "sadness;anger", "love"]
        frame = pd.DataFrame(
            {
                "text": [_sentence(rng) for _ in range(n)],
                "labels": [labels[i % 5] for i in range(n)],
            }
        )
    elif task == "token-classification":
        path = folder / "ner.conll"
        lines = []
        for i in range(n):
            for j, word in enumerate(_sentence(rng, 2, 30).split()):
                lines.append(f"{word} {'B-X' if (i + j) % 4 == 0 else 'O'}")
            lines.append("")
        path.write_text("\n".join(lines), encoding="utf-8")
        return {"data": str(path), "max_length": 16, "stride": 4}
    elif task == "question-answering":
        path = folder / "qa.json"
        articles = []
        for i in range(9):  # 5 questions per context: contexts cross chunk boundaries
            words = _sentence(rng, 30, 60).split()
            context = " ".join(words)
            qas = []
            for q in range(5):
                at = rng.randrange(len(words))
                start = len(" ".join(words[:at])) + (1 if at else 0)
                qas.append(
                    {
                        "id": f"{i}-{q}",
                        "question": f"which word {q}?",
                        "answers": [{"text": words[at], "answer_start": start}],
                    }
                )
            articles.append({"title": str(i), "paragraphs": [{"context": context, "qas": qas}]})
        path.write_text(json.dumps({"version": "1.1", "data": articles}), encoding="utf-8")
        return {"data": str(path), "max_length": 32, "stride": 8}
    elif task in ("masked-lm", "causal-lm"):
        path = folder / "text.txt"
        path.write_text("\n\n".join(_sentence(rng, 5, 40) for _ in range(n)), encoding="utf-8")
        if task == "causal-lm":
            model = _decoder_folder(folder / "gpt2", {"model_type": "gpt2"})
            return {"data": str(path), "max_length": 24, "model": str(model)}
        return {"data": str(path), "max_length": 24}
    elif task == "seq2seq":
        frame = pd.DataFrame(
            {
                "source": [_sentence(rng) for _ in range(n)],
                "target": [_sentence(rng) for _ in range(n)],
            }
        )
        path = folder / "pairs.csv"
        frame.to_csv(path, index=False)
        model = _decoder_folder(folder / "bart", {"model_type": "bart"})
        return {"data": str(path), "model": str(model), "max_length": 16}
    else:
        pytest.fail(f"no test data for the task {task}: add it here")
    path = folder / "data.csv"
    frame.to_csv(path, index=False)
    return {"data": str(path)}


def _decoder_folder(folder: Path, config: dict) -> Path:
    """A model folder with only config.json and a byte-level BPE tokenizer with an end of
    text (what the decoder tasks read; no weights are needed to encode)."""
    from tiny_gpt2 import EOS, train_tokenizer

    folder.mkdir()
    tokenizer = train_tokenizer()
    eos = tokenizer.token_to_id(EOS)
    tokenizer.save(str(folder / "tokenizer.json"))
    settings = {"eos_token_id": eos, "bos_token_id": eos, "decoder_start_token_id": eos}
    (folder / "config.json").write_text(json.dumps({**config, **settings}), encoding="utf-8")
    (folder / "tokenizer_config.json").write_text(json.dumps({"eos_token": EOS}), encoding="utf-8")
    return folder


def _same(whole: Features, chunked: Features) -> None:
    assert type(chunked) is type(whole)
    assert set(chunked.sequences) == set(whole.sequences)
    for name, rows in whole.sequences.items():
        packed = chunked.sequences[name]
        assert isinstance(packed, PackedSequences)
        assert packed.tolist() == [list(map(int, r)) for r in rows], name
    assert set(chunked.values) == set(whole.values)
    for name, values in whole.values.items():
        np.testing.assert_array_equal(chunked.values[name], values)
        assert chunked.values[name].dtype == values.dtype
    np.testing.assert_array_equal(chunked.examples_of(), whole.examples_of())
    assert set(chunked.extra) == set(whole.extra)
    for name, values in whole.extra.items():
        assert len(chunked.extra[name]) == len(values)
        for a, b in zip(chunked.extra[name], values, strict=True):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert list(chunked.lengths) == list(whole.lengths)
    left = {k: v for k, v in vars(whole).items() if k not in ("sequences", "values", "extra")}
    for key, value in left.items():  # a subclass's own fields (masking, the tokenizer …)
        if key != "example_index":
            assert repr(getattr(chunked, key)) == repr(value), key


@pytest.fixture(scope="module")
def tokenizers() -> dict[int, TextTokenizer]:
    return {}


@pytest.mark.parametrize("task_name", sorted(TASK_MODULES))
def test_chunked_packed_features_equal_one_encode_of_all_rows(task_name, tmp_path, tokenizers):
    task = get_task(task_name)
    settings = _files(task_name, tmp_path)
    config = RunConfig(task=task_name, **settings).with_task_defaults()
    data = task.read(config, lambda p: load_table(p))
    max_length = config.max_length or 512
    if "model" in settings:
        tokenizer = TextTokenizer.from_folder(settings["model"], max_length)
    else:
        tokenizer = tokenizers.setdefault(
            max_length, TextTokenizer.from_folder(default_model_path(), max_length)
        )
    for rows in (data.train, data.eval):
        whole = task.encode(rows, tokenizer, config, data.meta)
        seen: list[tuple[int, int]] = []
        chunked = task.encode_in_chunks(
            rows, tokenizer, config, data.meta, lambda d, t, seen=seen: seen.append((d, t)), 6
        )
        _same(whole, chunked)
        assert seen[0] == (0, len(rows)) and seen[-1] == (len(rows), len(rows))
        assert [d for d, _ in seen] == sorted(d for d, _ in seen)
        if task.rows_encode_apart and len(rows) > 6:
            assert len(seen) == 1 + -(-len(rows) // 6)  # one call per chunk


# ---- progress ------------------------------------------------------------------------------
def test_reading_a_csv_reports_bytes_in_order_up_to_its_size_and_reads_the_same(tmp_path):
    path = tmp_path / "big.csv"
    rng = random.Random(3)
    lines = ["text,label\n", '"a quoted, cell\nover two lines",x\n']
    lines += [f"{_sentence(rng)},{rng.choice('xy')}\n" for _ in range(40_000)]
    path.write_bytes(b"\xef\xbb\xbf" + "".join(lines).encode())  # a byte-order mark too
    size = path.stat().st_size
    seen: list[tuple[int, int]] = []
    frame = load_table(path, progress=lambda d, t: seen.append((d, t)))
    pd.testing.assert_frame_equal(frame, load_table(path))
    assert list(frame.columns) == ["text", "label"] and len(frame) >= 40_001
    assert seen[0] == (0, size) and seen[-1] == (size, size)
    done = [d for d, _ in seen]
    assert done == sorted(done) and len(seen) > 2  # more than the start and the end


def test_progress_events_are_throttled_but_the_first_and_last_always_arrive():
    events: list[Progress] = []
    report = progress_callback(events.append, "tokenise", "training data", "rows", interval=60)
    for done in range(0, 1001, 10):
        report(done, 1000)
    report(1000, 1000)  # a repeat of the last is not sent twice
    assert [(e.done, e.total) for e in events] == [(0, 1000), (1000, 1000)]
    assert events[-1].message == "Tokenising training data… 1,000 / 1,000 rows"
    assert progress_callback(None, "read", "x", "bytes") is None
    reading = Progress("read", "data.csv", 45 * 2**20, 100 * 2**20, "bytes")
    assert reading.message == "Reading data.csv (100 MB)… 45 %"
    assert Progress("read", "folder", 0, 0, "bytes").message == "Reading folder…"


def test_the_cli_prints_progress_as_a_few_lines_off_a_terminal():
    from workbench.cli import ProgressPrinter

    stream = io.StringIO()
    printer = ProgressPrinter(stream, progress_after=0)
    for done in range(0, 101):
        printer(Progress("tokenise", "training data", done * 1000, 100_000, "rows"))
    lines = stream.getvalue().splitlines()
    assert lines == [
        f"Tokenising training data… {n:,} / 100,000 rows"
        for n in (0, 25_000, 50_000, 75_000, 100_000)
    ]


def test_the_cli_updates_one_line_on_a_terminal():
    from workbench.cli import ProgressPrinter

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    printer = ProgressPrinter(stream, progress_after=0)
    for done in (0, 50, 100):
        printer(Progress("read", "d.csv", done, 100, "bytes"))
    text = stream.getvalue()
    assert text.count("\n") == 1 and text.endswith("Reading d.csv (100 B)… 100 %\n")
    assert "\rReading d.csv (100 B)… 50 %\x1b[K" in text


@pytest.mark.parametrize("tty", [False, True], ids=["lines", "terminal"])
def test_the_cli_says_nothing_of_a_stage_that_ends_within_a_second(tty):
    """A small file is quiet, and a refusal stays one line on stderr; a slow stage shows up
    once it has taken a second, then to its end."""
    from workbench.cli import ProgressPrinter

    class Stream(io.StringIO):
        def isatty(self) -> bool:
            return tty

    now = [0.0]
    stream = Stream()
    printer = ProgressPrinter(stream, clock=lambda: now[0])
    for done in (0, 50, 100):
        now[0] += 0.2
        printer(Progress("read", "small.csv", done, 100, "bytes"))
    assert stream.getvalue() == ""
    for done in (0, 40, 80, 100):
        printer(Progress("tokenise", "training data", done, 100, "rows"))
        now[0] += 0.6
    text = stream.getvalue()
    assert "Tokenising training data… 40 / 100 rows" not in text  # 0.6 s in: still quiet
    assert "80 / 100" in text and text.endswith("Tokenising training data… 100 / 100 rows\n")


# ---- a file of several chunks: packed features, bounded bytes per token, progress ---------
def test_a_file_of_several_chunks_is_tokenised_into_a_few_bytes_per_token(tmp_path):
    from workbench.engine.training.distributed import make_runtime
    from workbench.engine.training.run import build, prepare

    rng = random.Random(11)
    path = tmp_path / "many.csv"
    rows = 12_000  # 2 chunks of training data and one of validation data: ~0.5 MB
    path.write_text(
        "text,label\n" + "".join(f"{_sentence(rng)},{rng.choice('ab')}\n" for _ in range(rows)),
        encoding="utf-8",
    )
    events: list = []
    config = RunConfig(task="text-classification", data=str(path), max_length=32, epochs=1)
    prepared = prepare(config, events.append)
    runtime = make_runtime("cpu", "fp32")
    try:
        built = build(prepared, runtime, lambda: False, None, events.append)
    finally:
        runtime.close()
    progress = [e for e in events if isinstance(e, Progress)]
    stages = [(e.stage, e.what) for e in progress]
    assert list(dict.fromkeys(stages)) == [
        ("read", "many.csv"),
        ("tokenise", "training data"),
        ("tokenise", "validation data"),
    ]
    for stage in dict.fromkeys(stages):
        mine = [e for e in progress if (e.stage, e.what) == stage]
        assert mine[0].done == 0 and mine[-1].done == mine[-1].total > 0
        assert [e.done for e in mine] == sorted(e.done for e in mine)
    features = built.train_features
    ids = features.sequences["input_ids"]
    assert isinstance(ids, PackedSequences) and len(ids) == len(prepared.data.train) > 10_000
    tokens = int(ids.lengths.sum())
    feature_bytes = sum(s.nbytes for s in features.sequences.values())
    feature_bytes += sum(v.nbytes for v in features.values.values())
    # Lists of ints took ~36 bytes a token (+56 a row): packed int16 ids, 8-byte offsets and
    # an int64 label per row make ~3 at 10 tokens a row.
    assert feature_bytes / tokens < 4.0
    batch = prepared.task.collate(features, [0, 1, 2], 0, 1, True)  # trainable as before
    assert batch["input_ids"].shape[0] == 3 and batch["labels"].tolist() == [
        int(v) for v in features.values["labels"][:3]
    ]


def test_texts_stay_in_a_compact_column_that_reads_back_as_the_strings(tmp_path):
    from workbench.engine.data.examples import labelled_columns
    from workbench.engine.data.sequences import TextColumn
    from workbench.engine.tasks.base import Rows

    frame = pd.DataFrame(
        {"text": ["héllo wörld", None, "  ", "12", "日本語", "x"], "label": list("abaabb")}
    )
    columns, labels = labelled_columns(frame, ["text"], "label")
    texts = columns["text"]
    assert isinstance(texts, TextColumn) and labels == ["a", "b"]
    assert texts == ["héllo wörld", "12", "日本語", "x"] and texts[-1] == "x"
    assert texts[1:3] == ["12", "日本語"] and type(texts[1:3]) is list
    rows = Rows({"text": texts, "label": columns["label"]})
    held = rows.subset([3, 0])
    assert isinstance(held["text"], TextColumn) and list(held["text"]) == ["x", "héllo wörld"]
    assert held["label"] == [1, 0]
    with pytest.raises(IndexError):
        texts[4]
