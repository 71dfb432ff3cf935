"""Regression: a number per text or pair, float targets and MSE, Pearson/Spearman/MSE, the
head's bias at the training mean, clear errors for non-numbers, and an export that gives
transformers the same values."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from workbench.config import RunConfig
from workbench.engine import evaluate, export_hf, load_predictor, train
from workbench.engine.models.loading import build_model
from workbench.engine.models.registry import default_model_path
from workbench.engine.tasks import get_task
from workbench.engine.tasks.base import Rows
from workbench.engine.tokenizer import TextTokenizer
from workbench.errors import UserError

TASK = get_task("regression")

PAIRS = [
    ("A man is playing a guitar.", "A man plays the guitar.", 4.8),
    ("A woman is slicing an onion.", "A man is riding a horse.", 0.2),
    ("Two dogs run in the park.", "Two dogs are running through a park.", 4.5),
    ("The stock market fell today.", "A child is eating an apple.", 0.0),
    ("A cat sleeps on the sofa.", "A cat is sleeping on a couch.", 4.6),
    ("The train is late.", "The train arrived on time.", 1.8),
    ("She is reading a book.", "A woman reads a novel.", 3.9),
    ("Kids play football.", "Clouds cover the sky.", 0.4),
]


def write_stsb(path: Path, repeats: int = 2) -> Path:
    rows = [
        {"index": i, "genre": "main", "sentence1": f"{a} ({n})", "sentence2": b, "score": s}
        for n in range(repeats)
        for i, (a, b, s) in enumerate(PAIRS)
    ]
    pd.DataFrame(rows).to_csv(path, sep="\t", index=False)
    return path


def write_ratings(path: Path, repeats: int = 2) -> Path:
    rows = [{"review": f"{a} {b} ({n})", "rating": s} for n in range(repeats) for a, b, s in PAIRS]
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def config(**values) -> RunConfig:
    return RunConfig(task="regression", **values)


def _load(path: str) -> pd.DataFrame:
    from workbench.engine.data import load_table

    return load_table(path)


# ---- columns and values -------------------------------------------------------------------
def test_stsb_pairs_and_score_are_guessed(tmp_path):
    data = TASK.read(config(data=str(write_stsb(tmp_path / "stsb.tsv"))), _load)
    assert data.columns == {
        "text_column": "sentence1",
        "text_pair_column": "sentence2",
        "label_column": "score",
    }
    assert data.meta["pair"] is True and data.meta["target"] == "score"
    values = [s for _, _, s in PAIRS]
    assert data.meta["mean"] == pytest.approx(np.mean(values))
    assert all(isinstance(v, float) for v in data.train["value"])


def test_a_single_text_with_a_number_is_not_a_pair(tmp_path):
    data = TASK.read(config(data=str(write_ratings(tmp_path / "ratings.csv"))), _load)
    assert data.columns == {"text_column": "review", "label_column": "rating"}
    assert data.meta["pair"] is False and "text_pair" not in data.train


def test_the_number_column_is_found_by_content_and_ids_are_skipped():
    frame = pd.DataFrame(
        {"id": [1, 2, 3, 4], "comment": ["a b", "c d", "e f", "g h"], "stars": [1.5, 2, 3, 4.5]}
    )
    assert TASK.guess_columns(frame) == {
        "text_column": "comment",
        "text_pair_column": None,
        "label_column": "stars",
    }


def test_numbers_written_as_strings_are_read_and_missing_ones_skipped(tmp_path):
    path = tmp_path / "strings.jsonl"
    rows = [
        {"text": "a b", "score": " 3.5"},
        {"text": "c d", "score": None},
        {"text": "e f", "score": "1"},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    data = TASK.read(config(data=str(path), eval_data=str(path)), _load)
    assert data.train["value"] == [3.5, 1.0]


def test_words_in_the_number_column_name_the_flag(tmp_path):
    path = tmp_path / "words.csv"
    pd.DataFrame({"text": ["a", "b", "c"], "score": ["1.0", "positive", "2"]}).to_csv(
        path, index=False
    )
    with pytest.raises(UserError, match=r"not numbers \('positive'\).*--label-column"):
        TASK.read(config(data=str(path)), _load)


def test_a_constant_target_is_refused(tmp_path):
    path = tmp_path / "constant.csv"
    pd.DataFrame({"text": ["a b", "c d", "e f"], "score": [2.0, 2.0, 2.0]}).to_csv(
        path, index=False
    )
    with pytest.raises(UserError, match="every value.*is 2.*--label-column"):
        TASK.read(config(data=str(path)), _load)


def test_a_pair_model_evaluated_on_single_texts_asks_for_the_second_column(tmp_path):
    frame = pd.DataFrame({"text": ["a", "b"], "score": [1.0, 2.0]})
    with pytest.raises(UserError, match="--text-pair-column"):
        TASK.examples(
            frame,
            {"text_column": "text", "label_column": "score"},
            {"pair": True},
            "x.csv",
            config(),
        )


# ---- tensors ------------------------------------------------------------------------------
def test_targets_are_float32_and_the_loss_is_mse():
    tokenizer = TextTokenizer.from_folder(default_model_path(), 32)
    rows = Rows(
        {"text": ["a man", "a dog"], "text_pair": ["a woman", "a cat"], "value": [4.25, 0.5]}
    )
    features = TASK.encode(rows, tokenizer, config().with_task_defaults(), {"pair": True})
    assert features.values["labels"].dtype == np.float32
    assert features.sequences["token_type_ids"][0] == [0, 0, 0, 0, 1, 1, 1]
    batch = TASK.collate(features, [0, 1], tokenizer.pad_id, 1, training=True)
    assert batch["labels"].dtype == torch.float32 and batch["labels"].tolist() == [4.25, 0.5]
    logits = torch.tensor([[4.0], [1.5]])
    assert TASK.loss(logits, batch, {}).item() == pytest.approx((0.25**2 + 1.0**2) / 2)


def test_a_fresh_head_starts_at_the_training_mean():
    model = build_model(default_model_path(), "sequence-classification", 1, keep_head=False).model
    TASK.init_head(model, {"mean": 2.7})
    assert model.classifier.bias.item() == pytest.approx(2.7)


# ---- metrics ------------------------------------------------------------------------------
def test_metrics_against_known_values():
    true = [1.0, 2.0, 3.0, 4.0]
    predicted = [1.5, 2.5, 2.0, 5.0]
    rows = Rows({"text": ["a", "b", "c", "d"], "value": true})
    metrics = TASK.metrics([np.array([p], dtype=np.float32) for p in predicted], None, rows, {})
    # Pearson by hand: deviations from the means 2.5 and 2.75.
    dx, dy = np.array([-1.5, -0.5, 0.5, 1.5]), np.array([-1.25, -0.25, -0.75, 2.25])
    assert metrics["pearson"] == pytest.approx(
        (dx * dy).sum() / np.sqrt((dx**2).sum() * (dy**2).sum())
    )
    assert metrics["spearman"] == pytest.approx(0.8)  # ranks 1 2 3 4 vs 2 3 1 4
    assert metrics["mse"] == pytest.approx((0.25 + 0.25 + 1.0 + 1.0) / 4)
    assert metrics["loss"] == metrics["mse"] and metrics["num_examples"] == 4
    assert metrics["examples"][2] == ["c", 3.0, 2.0]


# ---- trained end to end -------------------------------------------------------------------
@pytest.fixture(scope="module")
def stsb_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("stsb")
    data = write_stsb(folder / "stsb.tsv", repeats=3)
    result = train(
        config(data=str(data), output=str(folder / "run"), epochs=1, batch_size=8, max_length=32)
    )
    assert result.status == "completed", result.error
    assert {"pearson", "spearman", "mse", "loss"} <= set(result.metrics)
    return result.run_dir


def test_the_trained_model_predicts_a_value_for_a_pair(stsb_run):
    predictor = load_predictor(stsb_run)
    assert predictor.inputs == ("text", "text_pair")
    out = predictor.predict(["A man is playing a guitar."], text_pairs=["A man plays the guitar."])
    assert list(out[0]) == ["value"] and isinstance(out[0]["value"], float)
    with pytest.raises(UserError, match="--text-pair"):
        predictor.predict(["A man is playing a guitar."])


def test_export_gives_transformers_the_same_values(stsb_run, tmp_path):
    transformers = pytest.importorskip("transformers")
    folder = export_hf(stsb_run, tmp_path / "export")
    saved = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    assert saved["problem_type"] == "regression" and saved["id2label"] == {"0": "score"}
    model = transformers.AutoModelForSequenceClassification.from_pretrained(folder).eval()
    assert model.config.num_labels == 1 and model.config.problem_type == "regression"
    firsts, seconds = [a for a, _, _ in PAIRS], [b for _, b, _ in PAIRS]
    batch = transformers.AutoTokenizer.from_pretrained(folder)(
        firsts, seconds, padding=True, return_tensors="pt"
    )
    with torch.no_grad():
        theirs = model(**batch).logits[:, 0].numpy()
    ours = np.array(
        [p["value"] for p in load_predictor(stsb_run).predict(firsts, text_pairs=seconds)]
    )
    assert np.abs(theirs - ours).max() <= 1e-5
    # transformers' own regression loss is the MSE we trained with.
    labels = torch.tensor([s for _, _, s in PAIRS])
    with torch.no_grad():
        loss = model(**batch, labels=labels).loss.item()
    assert loss == pytest.approx(float(np.mean((ours - labels.numpy()) ** 2)), abs=1e-4)


def test_evaluate_reports_pearson_spearman_and_mse(stsb_run, tmp_path):
    metrics = evaluate(stsb_run, write_stsb(tmp_path / "dev.tsv", repeats=1))
    assert {"pearson", "spearman", "mse", "loss", "num_examples"} <= set(metrics)
    assert (
        len(metrics["examples"]) == metrics["num_examples"]
    )  # [text, true, predicted] for the scatter


def test_a_single_text_model_predicts_from_text_alone(tmp_path):
    data = write_ratings(tmp_path / "ratings.csv", repeats=2)
    result = train(
        config(data=str(data), output=str(tmp_path / "run"), epochs=1, batch_size=8, max_length=32)
    )
    assert result.status == "completed", result.error
    predictor = load_predictor(result.run_dir)
    assert predictor.inputs == ("text",)
    assert isinstance(predictor.predict(["a lovely guitar song"])[0]["value"], float)
    # The head started at the training mean, and one short epoch keeps it near there.
    values = [p["value"] for p in predictor.predict([a for a, _, _ in PAIRS])]
    assert abs(np.mean(values) - np.mean([s for _, _, s in PAIRS])) < 1.0


def test_continuing_from_a_regression_model_keeps_its_head():
    assert TASK.head_matches({"pair": True, "mean": 2.0}, {"pair": True, "mean": 3.0})
    assert TASK.head_matches({"labels": ["LABEL_0"]}, {"pair": False, "mean": 1.0})
    assert not TASK.head_matches({"labels": ["neg", "pos"]}, {"pair": False, "mean": 1.0})
    assert not TASK.head_matches(None, {"pair": False})


def test_naming_a_text_outside_the_guessed_pair_trains_on_that_text_alone():
    frame = pd.DataFrame(
        {"sentence1": ["a"], "sentence2": ["b"], "summary": ["c d"], "score": [1.0]}
    )
    chosen = SimpleNamespace(text_column="summary", text_pair_column=None, label_column=None)
    assert TASK.resolve_columns(frame, chosen, "f.csv") == {
        "text_column": "summary",
        "label_column": "score",
    }
