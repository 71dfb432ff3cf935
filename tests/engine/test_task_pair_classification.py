"""Pair classification: columns guessed by name, the family's pair template, GLUE's MRPC F1,
class weights, predictions from two texts, and an export transformers reads alike."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from workbench.config import RunConfig
from workbench.engine import export_hf, load_predictor, train
from workbench.engine.models.registry import default_model_path
from workbench.engine.tasks import get_task
from workbench.engine.tasks.base import Rows
from workbench.engine.tasks.pair_classification import guess_pair, positive_label
from workbench.engine.tokenizer import TextTokenizer
from workbench.errors import UserError

TASK = get_task("pair-classification")
SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"

FIRSTS = [
    "The cat sat on the mat.", "Stocks fell sharply on Monday.", "He bought a new car.",
    "The meeting was postponed.", "She plays the violin.", "Rain is expected tomorrow.",
    "The company reported record profits.", "They won the final match.",
]  # fmt: skip
SECONDS = [
    "A cat was sitting on the mat.", "The weather was sunny.", "He purchased a new vehicle.",
    "Bananas are yellow.", "The violin is played by her.", "My phone battery died.",
    "Profits at the firm hit a record.", "Cheese is made from milk.",
]  # fmt: skip
LABELS = [1, 0, 1, 0, 1, 0, 1, 0]


def write_pairs(path: Path, repeats: int = 2, header=("#1 String", "#2 String", "Quality")) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t")
        writer.writerow(header)
        for i in range(repeats):
            for a, b, label in zip(FIRSTS, SECONDS, LABELS, strict=True):
                writer.writerow([f"{a} ({i})", b, label])
    return path


def config(**values) -> RunConfig:
    return RunConfig(task="pair-classification", **values)


# ---- columns ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("columns", "expected"),
    [
        (["Quality", "#1 ID", "#2 ID", "#1 String", "#2 String"], ("#1 String", "#2 String")),
        (["premise", "hypothesis", "label", "idx"], ("premise", "hypothesis")),
        (["id", "Sentence1", "Sentence2", "gold"], ("Sentence1", "Sentence2")),
        (["question1", "question2", "is_duplicate"], ("question1", "question2")),
        (["text_a", "text_b", "y"], ("text_a", "text_b")),
    ],
)
def test_pairs_are_guessed_by_their_names(columns, expected):
    frame = pd.DataFrame({c: ["some words here"] * 3 for c in columns})
    assert guess_pair(frame) == expected


def test_without_known_names_the_two_longest_text_columns_are_the_pair_in_file_order():
    frame = pd.DataFrame(
        {
            "tag": ["x", "y", "x"],
            "answer": ["a long answer with many words", "another long answer here", "more words"],
            "id": [1, 2, 3],
            "query": ["what is it", "who is he", "where"],
        }
    )
    assert guess_pair(frame) == ("answer", "query")
    assert TASK.guess_columns(frame)["label_column"] == "tag"


def test_mrpc_columns_and_label_are_guessed(tmp_path):
    data = TASK.read(config(data=str(write_pairs(tmp_path / "mrpc.tsv"))), _load)
    assert data.columns == {
        "text_column": "#1 String", "text_pair_column": "#2 String", "label_column": "Quality",
    }  # fmt: skip
    assert data.meta["labels"] == ["0", "1"] and data.meta["positive_label"] == "1"
    assert "text_pair" in data.train and len(data.train) + len(data.eval) == 16


def test_naming_one_text_of_a_guessed_pair_makes_the_other_the_second_text():
    frame = pd.DataFrame({"sentence1": ["a b"], "sentence2": ["c d"], "label": [1]})
    chosen = SimpleNamespace(text_column="sentence2", text_pair_column=None, label_column=None)
    assert TASK.resolve_columns(frame, chosen, "f.csv") == {
        "text_column": "sentence2", "text_pair_column": "sentence1", "label_column": "label",
    }  # fmt: skip


def test_a_table_with_one_text_column_asks_for_the_second(tmp_path):
    path = tmp_path / "single.csv"
    pd.DataFrame({"text": ["a b c", "d e f"], "label": [0, 1]}).to_csv(path, index=False)
    with pytest.raises(UserError, match="--text-pair-column"):
        TASK.read(config(data=str(path)), _load)


def test_the_same_column_for_both_texts_is_refused(tmp_path):
    path = write_pairs(tmp_path / "p.tsv")
    chosen = config(data=str(path), text_column="#1 String", text_pair_column="#1 String")
    with pytest.raises(UserError, match="its own column"):
        TASK.read(chosen, _load)


def test_a_missing_second_text_column_is_named(tmp_path):
    path = write_pairs(tmp_path / "p.tsv")
    with pytest.raises(UserError, match="no column 'second'.*--text-pair-column"):
        TASK.read(config(data=str(path), text_pair_column="second"), _load)


# ---- encoding -----------------------------------------------------------------------------
def test_bert_pairs_use_cls_a_sep_b_sep_with_token_types():
    tokenizer = TextTokenizer.from_folder(default_model_path(), 64)
    rows = TASK.rows_from_inputs({"text": ["hello world"], "text_pair": ["good morning friends"]})
    features = TASK.encode(rows, tokenizer, config().with_task_defaults(), {"labels": ["0", "1"]})
    ids, types = features.sequences["input_ids"][0], features.sequences["token_type_ids"][0]
    words = [tokenizer.id_to_token(i) for i in ids]
    assert words == ["[CLS]", "hello", "world", "[SEP]", "good", "morning", "friends", "[SEP]"]
    assert types == [0, 0, 0, 0, 1, 1, 1, 1]
    # The collator pads token types with 0 and the mask marks the real tokens.
    more = TASK.rows_from_inputs(
        {"text": ["hello world", "hi"], "text_pair": ["good morning friends", "yo"]}
    )
    features = TASK.encode(more, tokenizer, config().with_task_defaults(), {"labels": ["0", "1"]})
    batch = TASK.collate(features, [0, 1], tokenizer.pad_id, 1, training=False)
    assert batch["token_type_ids"][1].tolist() == [0, 0, 0, 1, 1, 0, 0, 0]
    assert batch["attention_mask"][1].tolist() == [1, 1, 1, 1, 1, 0, 0, 0]


def test_roberta_pairs_come_out_s_a_s_s_b_s(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers, processors

    vocab = {
        "<s>": 0,
        "<pad>": 1,
        "</s>": 2,
        "<unk>": 3,
        "<mask>": 4,
        "a": 5,
        "b": 6,
        "hello": 7,
        "there": 8,
    }
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
    backend.save(str(tmp_path / "tokenizer.json"))
    tokenizer = TextTokenizer.from_folder(tmp_path, 32)
    rows = TASK.rows_from_inputs({"text": ["hello"], "text_pair": ["there a"]})
    features = TASK.encode(rows, tokenizer, config().with_task_defaults(), {"labels": ["0", "1"]})
    assert features.sequences["input_ids"][0] == [0, 7, 2, 2, 8, 5, 2]
    assert features.sequences["token_type_ids"][0] == [0] * 7


def test_long_pairs_are_cut_to_max_length():
    tokenizer = TextTokenizer.from_folder(default_model_path(), 16)
    rows = TASK.rows_from_inputs({"text": ["word " * 40], "text_pair": ["short one"]})
    features = TASK.encode(rows, tokenizer, config().with_task_defaults(), {"labels": ["0", "1"]})
    ids = features.sequences["input_ids"][0]
    assert len(ids) == 16 and tokenizer.decode(ids).endswith("short one")


# ---- metrics ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("labels", "positive"),
    [
        (["0", "1"], "1"),
        (["entailment", "not_entailment"], "entailment"),
        (["no", "yes"], "yes"),
        (["False", "True"], "True"),
        (["different", "equivalent"], "equivalent"),
        (["contradiction", "neutral"], "neutral"),
        (["a", "b", "c"], None),
    ],
)
def test_the_positive_class_of_binary_f1(labels, positive):
    assert positive_label(labels) == positive


def test_metrics_are_accuracy_macro_f1_and_the_positive_class_f1():
    # true 1 1 1 0 0 ; predicted 1 1 0 1 0 -> positive: tp 2, fp 1, fn 1 -> F1 2/3.
    true = [1, 1, 1, 0, 0]
    logits = [np.array([0.0, 2.0]), np.array([0.0, 1.0]), np.array([3.0, 0.0]), np.array([0.0, 1.0]),
              np.array([1.0, 0.0])]  # fmt: skip
    rows = Rows({"text": ["a"] * 5, "text_pair": ["b"] * 5, "label": true})
    meta = {"labels": ["0", "1"], "positive_label": "1"}
    metrics = TASK.metrics(logits, None, rows, meta)
    assert metrics["accuracy"] == pytest.approx(0.6)
    assert metrics["f1"] == pytest.approx(2 / 3)
    # negative class: tp 1, fp 1, fn 1 -> 0.5; macro = (0.5 + 2/3) / 2
    assert metrics["f1_macro"] == pytest.approx((0.5 + 2 / 3) / 2)
    assert metrics["positive_label"] == "1"
    assert metrics["confusion_matrix"] == [[1, 1], [1, 2]]
    assert metrics["examples"][0][0] == "a ‖ b"
    # With "0" as the positive class, f1 is that class's F1.
    assert TASK.metrics(logits, None, rows, {**meta, "positive_label": "0"})["f1"] == pytest.approx(
        0.5
    )


def test_class_weights_are_inverse_frequencies(tmp_path):
    path = tmp_path / "skewed.csv"
    pd.DataFrame(
        {
            "sentence1": [f"a {i}" for i in range(8)],
            "sentence2": ["b"] * 8,
            "label": [1] * 6 + [0] * 2,
        }
    ).to_csv(path, index=False)
    data = TASK.read(config(data=str(path), eval_data=str(path), class_weights=True), _load)
    assert data.meta["class_weights"] == pytest.approx([2.0, 8 / 12])
    logits = torch.tensor([[0.0, 1.0], [2.0, 0.0]])
    batch = {"labels": torch.tensor([0, 1])}
    expected = torch.nn.functional.cross_entropy(
        logits, batch["labels"], weight=torch.tensor([2.0, 8 / 12])
    )
    assert TASK.loss(logits, batch, data.meta).item() == pytest.approx(expected.item())


def test_predict_needs_a_second_text_per_text():
    with pytest.raises(UserError, match="--text-pair"):
        TASK.rows_from_inputs({"text": ["a"]})
    with pytest.raises(UserError, match="one --text-pair per --text"):
        TASK.rows_from_inputs({"text": ["a", "b"], "text_pair": ["c"]})


# ---- trained end to end -------------------------------------------------------------------
@pytest.fixture(scope="module")
def pair_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("pairs")
    data = write_pairs(folder / "pairs.tsv", repeats=3)
    result = train(
        config(
            data=str(data),
            output=str(folder / "run"),
            epochs=1,
            batch_size=8,
            max_length=32,
            class_weights=True,
        )
    )
    assert result.status == "completed", result.error
    assert {"accuracy", "f1_macro", "f1", "loss"} <= set(result.metrics)
    return result.run_dir


def test_the_trained_model_predicts_a_label_and_scores_for_pairs(pair_run):
    predictor = load_predictor(pair_run)
    assert predictor.inputs == ("text", "text_pair")
    out = predictor.predict(["He bought a new car."], text_pairs=["He purchased a new vehicle."])
    assert set(out[0]) == {"label", "scores"} and out[0]["label"] in ("0", "1")
    assert sum(out[0]["scores"].values()) == pytest.approx(1.0)
    # The order of the texts is part of the input: swapping them is another input.
    swapped = predictor.predict(
        ["He purchased a new vehicle."], text_pairs=["He bought a new car."]
    )
    assert swapped[0]["scores"] != out[0]["scores"]


def test_export_loads_in_transformers_with_the_same_probabilities(pair_run, tmp_path):
    transformers = pytest.importorskip("transformers")
    folder = export_hf(pair_run, tmp_path / "export")
    saved = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    assert saved["problem_type"] == "single_label_classification"
    assert saved["workbench"]["meta"]["positive_label"] == "1"
    model = transformers.AutoModelForSequenceClassification.from_pretrained(folder).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    firsts, seconds = FIRSTS[:4], SECONDS[:4]
    batch = tokenizer(firsts, seconds, padding=True, truncation=True, return_tensors="pt")
    with torch.no_grad():
        theirs = model(**batch).logits.softmax(-1).numpy()
    ours = load_predictor(pair_run).predict(firsts, text_pairs=seconds)
    ours = np.array([[p["scores"][label] for label in ("0", "1")] for p in ours])
    assert np.abs(theirs - ours).max() <= 1e-5


def test_evaluate_reports_the_pair_metrics(pair_run, tmp_path):
    from workbench.engine import evaluate

    metrics = evaluate(pair_run, write_pairs(tmp_path / "eval.tsv", repeats=1))
    assert {"accuracy", "f1_macro", "f1", "loss", "report", "confusion_matrix"} <= set(metrics)
    assert metrics["num_examples"] == 8


@pytest.mark.slow
def test_rte_jsonl_trains_with_entailment_as_the_positive_class(tmp_path):
    source = SHARED / "rte" / "train.jsonl"
    if not source.exists():
        pytest.skip("shared RTE data not available")
    part = tmp_path / "rte.jsonl"
    part.write_text(
        "".join(source.read_text(encoding="utf-8").splitlines(True)[:48]), encoding="utf-8"
    )
    result = train(
        config(data=str(part), output=str(tmp_path / "run"), epochs=1, batch_size=16, max_length=64)
    )
    assert result.status == "completed", result.error
    saved = json.loads((result.run_dir / "model" / "config.json").read_text(encoding="utf-8"))
    assert saved["workbench"]["meta"]["positive_label"] == "entailment"
    assert 0.0 <= result.metrics["f1"] <= 1.0


def _load(path: str) -> pd.DataFrame:
    from workbench.engine.data import load_table

    return load_table(path)
