"""The fast inference path (inference_mode, length-sorted batches, one intra-op thread for a
small call) gives the same predictions, in input order, as the plain path."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from workbench.engine import evaluate, load_predictor
from workbench.engine import predict as predict_module
from workbench.engine.inference import run_model

TEXTS = [
    "fine",
    "a long, winding and in the end rather moving story about two brothers and a boat",
    "dull",
    "the acting is good but the script is a mess",
    "",
    "an ok film",
    "one of the best films of the year , funny , sharp and surprisingly warm throughout",
]


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    from model_folders import tiny_bert

    return tiny_bert(tmp_path_factory.mktemp("tiny") / "model", trained=True)


def plain_logits(predictor, texts: list[str]) -> np.ndarray:
    """The plain path: each text alone, under no_grad, torch's thread setting."""
    t = predictor.trained
    rows = t.task.rows_from_inputs({"text": texts})
    out = []
    for i in range(len(texts)):
        features = t.task.encode(rows.subset([i]), t.tokenizer, predictor._config, t.meta)
        logits = run_model(t.model, t.task, features, t.tokenizer.pad_id, t.precision, 1)
        out.append(logits[0])
    return np.stack(out)


def test_sorted_batches_return_each_texts_own_prediction_in_input_order(classifier):
    predictor = load_predictor(classifier)
    expected = torch.softmax(torch.from_numpy(plain_logits(predictor, TEXTS)), dim=1).numpy()
    # batch_size 2: padded batches of texts sorted by length, put back in input order
    results = predictor.predict(TEXTS, batch_size=2)
    got = np.array([[r["scores"][label] for label in predictor.labels] for r in results])
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert [r["label"] for r in results] == [predictor.labels[i] for i in expected.argmax(1)]
    # the same texts in another order give the same rows, moved with them
    order = [6, 2, 0, 4, 1, 5, 3]
    shuffled = predictor.predict([TEXTS[i] for i in order], batch_size=3)
    moved = np.array([[r["scores"][label] for label in predictor.labels] for r in shuffled])
    np.testing.assert_allclose(moved, got[order], atol=1e-6)


def test_one_sentence_runs_on_one_thread_and_the_setting_comes_back(classifier, monkeypatch):
    predictor = load_predictor(classifier)
    before = torch.get_num_threads()
    seen: list[int] = []
    real = predict_module.run_model

    def spy(*args, **kwargs):
        seen.append(torch.get_num_threads())
        assert torch.is_inference_mode_enabled()
        return real(*args, **kwargs)

    monkeypatch.setattr(predict_module, "run_model", spy)
    predictor.predict(["a short sentence"])
    long_texts = ["word " * 30] * 40  # more tokens than SMALL_CALL_TOKENS: torch's setting
    predictor.predict(long_texts)
    assert seen == [1, before]
    assert torch.get_num_threads() == before


def test_the_thread_setting_comes_back_when_the_forward_fails(classifier, monkeypatch):
    predictor = load_predictor(classifier)
    before = torch.get_num_threads()
    if before == 1:
        pytest.skip("one thread already: nothing to restore")

    def broken(*args, **kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(predict_module, "run_model", broken)
    with pytest.raises(RuntimeError):
        predictor.predict(["short"])
    assert torch.get_num_threads() == before


def test_evaluate_gives_the_plain_paths_loss_and_accuracy(classifier, tmp_path):
    labels = ["negative", "positive", "negative", "positive", "positive", "negative", "positive"]
    data = tmp_path / "eval.csv"
    with open(data, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows([t or "empty", label] for t, label in zip(TEXTS, labels, strict=True))
    predictor = load_predictor(classifier)
    logits = plain_logits(predictor, [t or "empty" for t in TEXTS])
    targets = np.array([predictor.labels.index(label) for label in labels])
    log_probs = torch.log_softmax(torch.from_numpy(logits), dim=1).numpy()
    metrics = evaluate(classifier, data)
    assert metrics["loss"] == pytest.approx(-log_probs[np.arange(7), targets].mean(), abs=1e-5)
    assert metrics["accuracy"] == pytest.approx(float((logits.argmax(1) == targets).mean()))
