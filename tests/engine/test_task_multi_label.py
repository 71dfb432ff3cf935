"""Multi-label classification: label lists and delimited labels (the delimiter detected and
said), multi-hot targets and BCE, micro/macro F1, the threshold tuned on validation and used
by predict and evaluate, and an export whose sigmoid probabilities transformers reproduces."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from workbench.config import RunConfig
from workbench.engine import evaluate, export_hf, load_predictor, train
from workbench.engine.metrics.multilabel import tune_threshold
from workbench.engine.models.registry import default_model_path
from workbench.engine.tasks import get_task
from workbench.engine.tasks.base import Rows
from workbench.engine.tasks.multi_label import detect_label_format, multi_hot, split_labels
from workbench.engine.tokenizer import TextTokenizer
from workbench.errors import UserError

TASK = get_task("multi-label-classification")

TEXTS = [
    ("what a joyful and loving day", ["joy", "love"]),
    ("i am so angry and sad", ["anger", "sadness"]),
    ("thank you, this is lovely", ["gratitude", "love"]),
    ("this makes me furious", ["anger"]),
    ("a happy, happy day", ["joy"]),
    ("i miss her so much", ["sadness"]),
    ("thanks a lot friend", ["gratitude"]),
    ("nothing to say", []),
]


def write_emotions(path: Path, repeats: int = 2, delimiter: str = ";") -> Path:
    rows = [
        {"text": f"{t} ({n})", "labels": delimiter.join(labels) if labels else "[]"}
        for n in range(repeats)
        for t, labels in TEXTS
    ]
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def config(**values) -> RunConfig:
    return RunConfig(task="multi-label-classification", **values)


def _load(path: str) -> pd.DataFrame:
    from workbench.engine.data import load_table

    return load_table(path)


# ---- label formats ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("values", "kind", "delimiter"),
    [
        (["anger;sadness", "joy", "fear;neutral"], "delimited", ";"),
        (["anger, sadness", "joy", "fear,neutral"], "delimited", ","),
        (["sci|tech", "sports", "world|politics|tech"], "delimited", "|"),
        (["sports politics", "tech"], "delimited", "whitespace"),
        (['["a", "b"]', '["c"]', "[]"], "json", None),
        (["['a', 'b']", "['c']"], "json", None),
        ([["a", "b"], ["c"], []], "lists", None),
        (["a", "b", "c"], "single", None),
        # the delimiter found in the most rows wins
        (["a;b", "c;d", "e,f"], "delimited", ";"),
    ],
)
def test_the_label_format_is_detected(values, kind, delimiter):
    assert detect_label_format(values) == {"kind": kind, "delimiter": delimiter}


def test_a_tie_goes_to_whitespace_free_pieces():
    # "," and ";" are each in one row; split on ";" more pieces are whitespace-free (3 of 4).
    assert detect_label_format(["joy;love;hope", "very, very good"])["delimiter"] == ";"


def test_the_trained_delimiter_is_used_for_evaluation_data():
    assert detect_label_format(["a,b|c", "d,e"], preferred="|")["delimiter"] == "|"


def test_splitting_strips_and_drops_duplicates_and_empties():
    label_format = {"kind": "delimited", "delimiter": ","}
    assert split_labels(" joy , love,,joy ", label_format) == ["joy", "love"]
    assert split_labels('["a", 1, 2.0]', {"kind": "json", "delimiter": None}) == ["a", "1", "2"]
    assert split_labels(np.array(["x", "y"]), {"kind": "lists", "delimiter": None}) == ["x", "y"]


def test_reading_goemotions_style_labels_says_which_delimiter_was_found(tmp_path):
    data = TASK.read(config(data=str(write_emotions(tmp_path / "emotions.csv"))), _load)
    assert data.meta["labels"] == ["anger", "gratitude", "joy", "love", "sadness"]
    assert data.meta["format"] == {"kind": "delimited", "delimiter": ";"}
    assert any(
        "separated by semicolons (;) (detected)" in n and "5 labels" in n for n in data.notices
    )
    assert data.columns == {"text_column": "text", "label_column": "labels"}


def test_jsonl_label_lists_are_read_as_lists(tmp_path):
    path = tmp_path / "tags.jsonl"
    path.write_text(
        "\n".join(json.dumps({"body": t, "tags": labels}) for t, labels in TEXTS), encoding="utf-8"
    )
    data = TASK.read(config(data=str(path), eval_data=str(path)), _load)
    assert data.columns == {"text_column": "body", "label_column": "tags"}
    assert data.meta["format"]["kind"] == "lists"
    assert any("as lists" in n for n in data.notices)
    assert data.train["labels"][-1] == []  # a text with no label is kept: every label "no"


def test_a_label_column_with_one_label_is_refused(tmp_path):
    path = tmp_path / "one.csv"
    pd.DataFrame({"text": ["a", "b"], "labels": ["x", "x"]}).to_csv(path, index=False)
    with pytest.raises(UserError, match="fewer than two labels.*--label-column"):
        TASK.read(config(data=str(path)), _load)


def test_evaluation_data_with_unknown_labels_is_refused(tmp_path):
    train_file = write_emotions(tmp_path / "train.csv")
    other = tmp_path / "other.csv"
    pd.DataFrame({"text": ["a", "b"], "labels": ["joy;surprise", "fear"]}).to_csv(
        other, index=False
    )
    with pytest.raises(UserError, match="not trained on: 'fear', 'surprise'"):
        TASK.read(config(data=str(train_file), eval_data=str(other)), _load)


def test_an_unreadable_list_is_named(tmp_path):
    with pytest.raises(UserError, match="cannot read the labels"):
        split_labels("[a, b", {"kind": "json", "delimiter": None})


# ---- tensors ------------------------------------------------------------------------------
def test_targets_are_multi_hot_and_the_loss_is_bce():
    meta = {"labels": ["anger", "joy", "love"], "threshold": 0.5}
    tokenizer = TextTokenizer.from_folder(default_model_path(), 32)
    rows = Rows({"text": ["so happy", "grr", "meh"], "labels": [[1, 2], [0], []]})
    features = TASK.encode(rows, tokenizer, config().with_task_defaults(), meta)
    assert features.values["labels"].tolist() == [[0, 1, 1], [1, 0, 0], [0, 0, 0]]
    batch = TASK.collate(features, [0, 1, 2], tokenizer.pad_id, 1, training=True)
    assert batch["labels"].dtype == torch.float32 and batch["labels"].shape == (3, 3)
    logits = torch.tensor([[0.0, 2.0, -1.0], [1.0, 0.0, 0.0], [-3.0, 0.5, 0.0]])
    expected = torch.nn.functional.binary_cross_entropy(torch.sigmoid(logits), batch["labels"])
    assert TASK.loss(logits, batch, meta).item() == pytest.approx(expected.item(), abs=1e-6)


# ---- metrics and the threshold ------------------------------------------------------------
def _logit(p: float) -> float:
    return float(np.log(p / (1 - p)))


def test_metrics_against_known_values_at_the_saved_threshold():
    labels = ["a", "b"]
    probs = [[0.9, 0.4], [0.3, 0.7], [0.6, 0.2]]
    outputs = [np.array([_logit(p) for p in row], dtype=np.float32) for row in probs]
    rows = Rows({"text": ["x", "y", "z"], "labels": [[0, 1], [1], []]})
    at_half = TASK.metrics(outputs, None, rows, {"labels": labels, "threshold": 0.5})
    # predicted: {a}, {b}, {a}; true: {a,b}, {b}, {} -> tp 2, fp 1, fn 1
    assert at_half["f1_micro"] == pytest.approx(2 * 2 / (2 * 2 + 1 + 1))
    # a: tp 1 fp 1 fn 0 -> 2/3; b: tp 1 fp 0 fn 1 -> 2/3
    assert at_half["f1_macro"] == pytest.approx(2 / 3)
    assert at_half["report"]["b"]["recall"] == pytest.approx(0.5)
    assert at_half["threshold"] == 0.5 and at_half["num_examples"] == 3
    assert at_half["examples"][0] == ["x", ["a", "b"], ["a"]]
    # At 0.35 the second label of the first row is found too: tp 3, fp 1, fn 0.
    lower = TASK.metrics(outputs, None, rows, {"labels": labels, "threshold": 0.35})
    assert lower["f1_micro"] == pytest.approx(6 / 7)
    loss = -np.mean(np.log([0.9, 0.4, 0.7, 0.7, 0.4, 0.8]))
    assert at_half["loss"] == pytest.approx(loss, abs=1e-6)


def test_tune_picks_the_best_grid_threshold_on_validation():
    labels = ["a", "b"]
    probs = [[0.9, 0.4], [0.3, 0.7], [0.6, 0.2]]
    outputs = [np.array([_logit(p) for p in row], dtype=np.float32) for row in probs]
    rows = Rows({"text": ["x", "y", "z"], "labels": [[0, 1], [1], []]})
    tuned = TASK.tune(outputs, None, rows, {"labels": labels, "threshold": 0.5})
    assert tuned == {"threshold": tune_threshold(multi_hot(rows["labels"], 2), np.asarray(probs))}
    assert 0.2 < tuned["threshold"] <= 0.4  # finds b's 0.4 and keeps the 0.3 out


# ---- trained end to end -------------------------------------------------------------------
@pytest.fixture(scope="module")
def emotions_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("emotions")
    data = write_emotions(folder / "emotions.csv", repeats=3)
    result = train(
        config(data=str(data), output=str(folder / "run"), epochs=1, batch_size=8, max_length=32)
    )
    assert result.status == "completed", result.error
    return result.run_dir


def test_the_tuned_threshold_is_saved_reported_and_used_by_predict(emotions_run):
    results = json.loads((emotions_run / "eval_results.json").read_text(encoding="utf-8"))
    saved = json.loads((emotions_run / "model" / "config.json").read_text(encoding="utf-8"))
    threshold = saved["workbench"]["meta"]["threshold"]
    assert results["threshold"] == threshold and {"f1_micro", "f1_macro", "loss"} <= set(results)
    predictor = load_predictor(emotions_run)
    for out in predictor.predict(["what a joyful day", "so angry", "ok"]):
        assert set(out) == {"labels", "scores"} and set(out["scores"]) == set(
            saved["id2label"].values()
        )
        assert out["labels"] == [label for label, p in out["scores"].items() if p >= threshold]


def test_predict_and_evaluate_follow_a_changed_threshold(emotions_run, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(emotions_run / "model", copy)
    config_file = copy / "config.json"
    saved = json.loads(config_file.read_text(encoding="utf-8"))
    saved["workbench"]["meta"]["threshold"] = 0.0  # every label predicted
    config_file.write_text(json.dumps(saved), encoding="utf-8")
    out = load_predictor(copy).predict(["what a joyful day"])
    assert out[0]["labels"] == saved["workbench"]["meta"]["labels"]
    metrics = evaluate(copy, write_emotions(tmp_path / "eval.csv", repeats=1))
    assert metrics["threshold"] == 0.0
    assert metrics["report"]["anger"]["recall"] == 1.0


def test_export_gives_transformers_the_same_sigmoid_probabilities(emotions_run, tmp_path):
    transformers = pytest.importorskip("transformers")
    folder = export_hf(emotions_run, tmp_path / "export")
    saved = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    assert saved["problem_type"] == "multi_label_classification"
    model = transformers.AutoModelForSequenceClassification.from_pretrained(folder).eval()
    texts = [t for t, _ in TEXTS]
    batch = transformers.AutoTokenizer.from_pretrained(folder)(
        texts, padding=True, return_tensors="pt"
    )
    with torch.no_grad():
        theirs = model(**batch).logits.sigmoid().numpy()
    labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    ours = np.array(
        [
            [p["scores"][label] for label in labels]
            for p in load_predictor(emotions_run).predict(texts)
        ]
    )
    assert np.abs(theirs - ours).max() <= 1e-5
