"""Each inference speed lever (workbench/engine/inference.py, predict.py, bert.py) gives the
plain path's outputs: token-budget batches, no mode switches, the frozen TorchScript graph,
the [CLS]-only last layer, and the Predictor's warm-up. Tiny random BERT: fast."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from workbench.engine import load_predictor
from workbench.engine.inference import (
    FrozenForward,
    outputs_close,
    padded_probe,
    run_model,
    token_batches,
)
from workbench.engine.training.batching import sorted_batches

TEXTS = [
    "fine",
    "a long, winding and in the end rather moving story about two brothers and a boat",
    "dull",
    "the acting is good but the script is a mess",
    "",
    "an ok film",
    "one of the best films of the year , funny , sharp and surprisingly warm throughout",
    "meh .",
]


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    from model_folders import tiny_bert

    return tiny_bert(tmp_path_factory.mktemp("levers") / "model", trained=True)


def one_by_one(predictor, texts: list[str]) -> np.ndarray:
    """The plain path: each text alone, eager, under no_grad."""
    t = predictor.trained
    rows = t.task.rows_from_inputs({"text": texts})
    features = t.task.encode(rows, t.tokenizer, predictor._config, t.meta)
    out = []
    for i in range(len(texts)):
        one = type(features)({k: [v[i]] for k, v in features.sequences.items()})
        out.append(run_model(t.model, t.task, one, t.tokenizer.pad_id, t.precision, 1)[0])
    return np.stack(out)


def encoded(predictor, texts: list[str]):
    t = predictor.trained
    rows = t.task.rows_from_inputs({"text": texts})
    return t.task.encode(rows, t.tokenizer, predictor._config, t.meta)


# ---- token_batches ------------------------------------------------------------------------
def test_token_batches_cover_every_position_once_within_the_budget_longest_first():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 120, size=300).tolist() + [500]  # one longer than the budget
    batches = token_batches(lengths, max_tokens=400, max_rows=16)
    flat = [p for b in batches for p in b]
    assert sorted(flat) == list(range(len(lengths)))
    assert [lengths[b[0]] for b in batches] == sorted(
        (lengths[b[0]] for b in batches), reverse=True
    )
    for b in batches:
        longest = max(lengths[p] for p in b)
        assert lengths[b[0]] == longest  # a batch's first is its longest
        assert len(b) <= 16
        assert len(b) * longest <= 400 or len(b) == 1
    assert [len(b) for b in batches if lengths[b[0]] == 500] == [1]


def test_token_batches_with_a_large_budget_are_the_sorted_batches_of_evaluation():
    lengths = [5, 9, 9, 3, 12, 7, 7, 1]
    assert token_batches(lengths, 10_000, 3) == sorted_batches(lengths, 3)


def test_token_budget_batches_give_each_texts_own_outputs_in_input_order(classifier):
    predictor = load_predictor(classifier)
    t = predictor.trained
    features = encoded(predictor, TEXTS)
    expected = one_by_one(predictor, TEXTS)
    with torch.inference_mode():
        got = run_model(
            t.model, t.task, features, t.tokenizer.pad_id, t.precision, 64, max_tokens=40
        )
    np.testing.assert_allclose(np.stack(got), expected, atol=1e-6)


# ---- no mode switches -----------------------------------------------------------------------
def test_an_eval_model_is_not_switched_and_a_training_one_is_evaluated_and_restored(classifier):
    predictor = load_predictor(classifier)
    t = predictor.trained
    features = encoded(predictor, TEXTS[:3])
    calls: list[bool] = []
    real_train = type(t.model).train

    def spy(self, mode=True):
        calls.append(mode)
        return real_train(self, mode)

    type(t.model).train = spy
    try:
        assert not t.model.training
        first = run_model(t.model, t.task, features, t.tokenizer.pad_id, t.precision)
        assert calls == []
        t.model.train()
        calls.clear()
        again = run_model(t.model, t.task, features, t.tokenizer.pad_id, t.precision)
        assert calls == [False, True] and t.model.training  # dropout off inside, restored
        t.model.eval()
    finally:
        type(t.model).train = real_train
    np.testing.assert_array_equal(np.stack(first), np.stack(again))


# ---- [CLS]-only last layer ----------------------------------------------------------------
def test_the_cls_only_last_layer_equals_the_full_pass_and_training_keeps_the_full_pass(
    classifier,
):
    model = load_predictor(classifier).trained.model
    ids = torch.randint(1000, 20000, (3, 11))
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0
    mask[2, 2:] = 0
    shapes: list[tuple[int, ...]] = []
    hook = model.bert.encoder.layer[-1].register_forward_hook(
        lambda module, args, output: shapes.append(tuple(output.shape))
    )
    try:
        with torch.no_grad():
            fast = model(ids, mask)
            _, pooled = model.bert(ids, mask, None, False)
            full = model.classifier(pooled)
        with torch.enable_grad():
            trained = model(ids, mask)
    finally:
        hook.remove()
    torch.testing.assert_close(fast, full, atol=1e-6, rtol=0)
    torch.testing.assert_close(trained.detach(), full, atol=1e-6, rtol=0)
    hidden = model.bert.config.hidden_size
    assert shapes == [(3, 1, hidden), (3, 11, hidden), (3, 11, hidden)]


# ---- FrozenForward --------------------------------------------------------------------------
def test_the_frozen_graph_equals_the_eager_forward_on_padded_batches_of_any_size(classifier):
    predictor = load_predictor(classifier)
    t = predictor.trained
    frozen = FrozenForward(t.task)
    features = encoded(predictor, TEXTS)
    with torch.inference_mode():
        eager = run_model(t.model, t.task, features, t.tokenizer.pad_id, t.precision, 3)
        fast = run_model(
            t.model, t.task, features, t.tokenizer.pad_id, t.precision, 3, forward=frozen
        )
        assert frozen.built == 1  # one signature (input ids, attention mask): one graph
        alone = run_model(
            t.model, t.task, features, t.tokenizer.pad_id, t.precision, 1, forward=frozen
        )
    assert frozen.built == 1
    np.testing.assert_allclose(np.stack(fast), np.stack(eager), atol=1e-6)
    np.testing.assert_allclose(np.stack(alone), one_by_one(predictor, TEXTS), atol=1e-6)


def test_the_frozen_graph_is_not_used_with_gradients_or_in_training(classifier):
    predictor = load_predictor(classifier)
    t = predictor.trained
    frozen = FrozenForward(t.task)
    ids = torch.randint(1000, 20000, (2, 7))
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    out = frozen(t.model, batch)  # gradients on: the eager forward, nothing traced
    assert out.requires_grad and frozen.built == 0


def test_a_forward_that_branches_on_values_fails_its_check_and_runs_eagerly(classifier):
    """Tracing bakes a Python branch on tensor values in; the padded probe shows it."""
    predictor = load_predictor(classifier)
    t = predictor.trained

    class Branching(type(t.task)):
        def forward(self, model, batch):
            logits = model(batch["input_ids"], batch["attention_mask"])
            if bool(batch["attention_mask"].all()):  # true on the unpadded first batch
                return logits
            return logits * 2

    task = Branching()
    frozen = FrozenForward(task)
    ids = torch.randint(1000, 20000, (1, 9))
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    with torch.inference_mode():
        frozen(t.model, batch)
        assert frozen.built == 0
        probe = padded_probe(batch)
        torch.testing.assert_close(frozen(t.model, probe), task.forward(t.model, probe))


def test_outputs_close_compares_nested_outputs():
    a = torch.ones(2, 3)
    assert outputs_close((a, [a]), (a + 1e-7, [a]), 1e-6)
    assert not outputs_close((a, [a]), (a, [a + 1e-3]), 1e-6)
    assert not outputs_close(a, a[:1], 1e-6)
    assert not outputs_close({"x": a}, {"x": a}, 1e-6)  # not a form it checks: eager


# ---- Predictor.warm_up ----------------------------------------------------------------------
def test_a_warmed_up_predictor_predicts_what_a_plain_one_does(classifier):
    plain = load_predictor(classifier)
    warm = load_predictor(classifier)
    assert warm.warm_up() is True
    assert warm._frozen.built == 1
    for texts in (TEXTS[:1], TEXTS[1:2], TEXTS):  # one sentence (the Playground), a batch
        a = plain.predict(texts)
        b = warm.predict(texts, batch_size=3)
        assert [r["label"] for r in a] == [r["label"] for r in b]
        for x, y in zip(a, b, strict=True):
            for label in plain.labels:
                assert y["scores"][label] == pytest.approx(x["scores"][label], abs=1e-6)
    assert warm._frozen.built == 1  # no tracing during the calls themselves


def test_a_warm_up_that_fails_leaves_the_predictor_eager_and_working(classifier, monkeypatch):
    predictor = load_predictor(classifier)

    def broken(*args, **kwargs):
        raise RuntimeError("cannot trace")

    monkeypatch.setattr(torch.jit, "trace", broken)
    assert predictor.warm_up() is False
    (result,) = predictor.predict(["still works"])
    assert set(result["scores"]) == set(predictor.labels)
