"""The seq2seq task: columns guessed from their names, labels and decoder inputs as the
encoder-decoder contract says, metrics on greedy generations, and a tiny random BART
trained end to end in-process (loss falls; predict writes text; export loads in
transformers' AutoModelForSeq2SeqLM)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from tiny_bart import write_tiny_bart

from workbench.config import RunConfig
from workbench.engine.tasks import get_task
from workbench.engine.tokenizer import TextTokenizer
from workbench.errors import UserError

TASK = get_task("seq2seq")
DIALOGSUM = (
    Path(__file__).resolve().parents[2].parent / "shared" / "data" / "summarization_dialogsum"
)


@pytest.mark.parametrize(
    ("columns", "source", "target"),
    [
        (["fname", "dialogue", "summary", "topic"], "dialogue", "summary"),
        (["en", "de"], "en", "de"),
        (["Source", "Target"], "Source", "Target"),
        (["id", "document", "summary"], "document", "summary"),
    ],
)
def test_source_and_target_columns_are_guessed_from_their_names(columns, source, target):
    guessed = TASK.guess_columns(pd.DataFrame(columns=columns))
    assert guessed == {"source_column": source, "target_column": target}


def test_unguessable_or_empty_columns_name_the_flags(tmp_path):
    frame = pd.DataFrame({"a": ["x", "y"], "b": ["p", "q"]})
    config = RunConfig(task="seq2seq", data="d.csv")
    with pytest.raises(UserError, match="--source-column"):
        TASK.resolve_columns(frame, config, "d.csv")
    empty = pd.DataFrame({"source": ["x", ""], "target": ["", "q"]})
    columns = {"source_column": "source", "target_column": "target"}
    with pytest.raises(UserError, match="--target-column"):
        TASK.examples(empty, columns, None, "d.csv", config)


@pytest.fixture(scope="module")
def bart(tmp_path_factory) -> Path:
    return write_tiny_bart(tmp_path_factory.mktemp("bart") / "model")


def test_labels_end_with_eos_and_decoder_inputs_are_them_shifted_right(bart):
    import torch
    import transformers

    from workbench.engine.tasks.base import Rows

    tok = TextTokenizer.from_folder(bart, 16)
    rows = Rows({"source": ["Hello there", "A much longer source text " * 5],
                 "target": ["Hi", "The meeting is moved to Monday morning " * 4]})  # fmt: skip
    meta = {"decoder_start_token_id": 2, "max_new_tokens": 9}
    features = TASK.encode(rows, tok, RunConfig(task="seq2seq", data="x"), meta)
    labels = features.sequences["labels"]
    assert labels[0] == tok.encode(["Hi"])[0] and labels[0][-1] == 2
    assert len(labels[1]) == 16 and labels[1][-1] == 2  # cut at max_length, still ending
    batch = TASK.collate(features, [0, 1], tok.pad_id, 1, training=False)
    assert batch["labels"][0, len(labels[0]) :].eq(-100).all()
    expected = transformers.models.bart.modeling_bart.shift_tokens_right(batch["labels"], 1, 2)
    assert torch.equal(batch["decoder_input_ids"], expected)
    assert torch.equal(batch["decoder_attention_mask"], (batch["labels"] != -100).long())
    assert int(batch["max_new_tokens"]) == 9
    assert "max_new_tokens" not in TASK.collate(features, [0], tok.pad_id, 1, training=True)


def test_metrics_score_the_decoded_generations_against_the_references(bart):
    import numpy as np

    from workbench.engine.metrics.text_overlap import corpus_bleu, rouge_scores
    from workbench.engine.tasks.base import Rows

    tok = TextTokenizer.from_folder(bart, 64)
    targets = ["the meeting is moved to monday", "she buys a new coat"]
    written = ["the meeting is on monday", "she buys a coat"]
    ids = [tok.encode([w])[0] for w in written]  # with <s> </s>: dropped when decoded
    outputs = [np.asarray([2.0, 4.0, *ids[0]]), np.asarray([1.0, 4.0, *ids[1]])]
    features = TASK.encode(Rows({"source": ["a", "b"]}), tok, None, {})
    metrics = TASK.metrics(outputs, features, Rows({"source": ["a", "b"], "target": targets}), {})
    rouge = rouge_scores(written, targets)
    assert metrics["rougeL"] == pytest.approx(rouge["rougeL"]) and 0 < metrics["rougeL"] < 1
    assert metrics["rouge2"] == pytest.approx(rouge["rouge2"])
    assert metrics["bleu"] == pytest.approx(corpus_bleu(written, targets))
    assert metrics["loss"] == pytest.approx(3.0 / 8.0)
    assert metrics["num_examples"] == 2
    assert TASK.predict(outputs, features, None, {}) == [{"text": w} for w in written]


def _dialogsum_slice(tmp_path: Path, train_rows: int, eval_rows: int) -> tuple[Path, Path]:
    if not DIALOGSUM.exists():
        pytest.skip("summarization_dialogsum is not in ../shared/data")
    train = [json.loads(line) for line in (DIALOGSUM / "train.jsonl").open(encoding="utf-8")]
    valid = [json.loads(line) for line in (DIALOGSUM / "validation.jsonl").open(encoding="utf-8")]
    for name, rows in (("train.jsonl", train[:train_rows]), ("valid.jsonl", valid[:eval_rows])):
        (tmp_path / name).write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    return tmp_path / "train.jsonl", tmp_path / "valid.jsonl"


def test_a_tiny_bart_learns_dialogsum_and_exports_for_transformers(tmp_path, bart):
    import torch
    import transformers

    from workbench.engine import export_model, load_predictor, train

    data, valid = _dialogsum_slice(tmp_path, 48, 8)
    result = train(
        RunConfig(
            task="seq2seq",
            data=str(data),
            eval_data=str(valid),
            model=str(bart),
            output=str(tmp_path / "run"),
            epochs=2,
            learning_rate=3e-3,
            max_length=48,
            batch_size=8,
        )  # fmt: skip
    )
    assert result.status == "completed", result.error
    metrics = result.metrics
    assert metrics["loss"] < metrics["loss_before"] - 0.5
    for name in ("rougeL", "rouge1", "rouge2", "bleu"):
        assert 0.0 <= metrics[name] <= 1.0
    saved = json.loads((result.run_dir / "model" / "config.json").read_text())
    assert saved["workbench"]["task"] == "seq2seq"
    assert saved["workbench"]["meta"]["decoder_start_token_id"] == 2

    predictor = load_predictor(result.run_dir)
    (prediction,) = predictor.predict(["#Person1#: Hello, how are you? #Person2#: Fine."])
    assert set(prediction) == {"text"} and isinstance(prediction["text"], str)

    out = export_model(result.run_dir, tmp_path / "hf")
    reference = transformers.AutoModelForSeq2SeqLM.from_pretrained(out).eval()
    assert type(reference).__name__ == "BartForConditionalGeneration"
    tok = predictor.tokenizer
    (ids,) = tok.encode(["#Person1#: Hello, how are you? #Person2#: Fine."])
    with torch.no_grad():
        generated = reference.generate(
            input_ids=torch.tensor([ids]), do_sample=False, num_beams=1, max_new_tokens=48,
            forced_bos_token_id=None, forced_eos_token_id=None, no_repeat_ngram_size=0,
            min_length=0,
        )  # fmt: skip
    assert tok.decode(generated[0].tolist()).strip() == prediction["text"]


def test_seq2seq_on_a_decoder_is_refused_before_any_work(tmp_path):
    from tiny_gpt2 import write_tiny_gpt2

    from workbench.engine import train

    gpt2 = write_tiny_gpt2(tmp_path / "gpt2")
    data = tmp_path / "d.jsonl"
    data.write_text('{"source": "a b", "target": "c"}\n{"source": "d", "target": "e"}\n')
    with pytest.raises(UserError, match="seq2seq-lm"):
        train(
            RunConfig(task="seq2seq", data=str(data), model=str(gpt2), output=str(tmp_path / "r"))
        )
    assert not (tmp_path / "r").exists()
