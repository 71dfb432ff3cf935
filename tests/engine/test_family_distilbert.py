"""DistilBERT's heads give transformers' logits on small random checkpoints, and what we
save loads back in transformers."""

from __future__ import annotations

import pytest
import torch
from family_parity import dropout_rates, jitter, max_diff, padded_batch, round_trip_diff, run_both

from workbench.engine.models.loading import build_model

transformers = pytest.importorskip("transformers")

HEADS = [
    # kind, transformers class, Auto class, number of outputs
    (
        "sequence-classification",
        "DistilBertForSequenceClassification",
        "AutoModelForSequenceClassification",
        3,
    ),
    (
        "token-classification",
        "DistilBertForTokenClassification",
        "AutoModelForTokenClassification",
        5,
    ),
    ("question-answering", "DistilBertForQuestionAnswering", "AutoModelForQuestionAnswering", 2),
    ("masked-lm", "DistilBertForMaskedLM", "AutoModelForMaskedLM", 0),
]


def _config(num_labels: int = 2, activation: str = "gelu"):
    return transformers.DistilBertConfig(
        vocab_size=120, dim=32, n_layers=2, n_heads=4, hidden_dim=64,
        max_position_embeddings=64, activation=activation, num_labels=max(num_labels, 1),
    )  # fmt: skip


@pytest.mark.parametrize(("kind", "cls", "auto", "n"), HEADS, ids=[h[0] for h in HEADS])
def test_distilbert_head_matches_transformers_and_round_trips(tmp_path, kind, cls, auto, n):
    torch.manual_seed(0)
    reference = getattr(transformers, cls)(_config(n))
    jitter(reference)
    reference.save_pretrained(tmp_path / "hf")
    loaded = build_model(tmp_path / "hf", kind, n)
    assert loaded.family.name == "distilbert" and loaded.fresh == []
    ids, mask = padded_batch(120, pad_id=0)
    got, expected = run_both(loaded.model, reference, kind, ids, mask)
    with torch.no_grad():
        assert torch.equal(loaded.model(ids, mask, torch.ones_like(ids)), got)  # types ignored
    diff = max_diff(got, expected, kind, mask)
    print(f"distilbert {kind}: max abs diff {diff:.2e}")
    assert diff < 1e-4
    diff = round_trip_diff(loaded, kind, tmp_path / "ours", getattr(transformers, auto), ids, mask)
    print(f"distilbert {kind} round trip: max abs diff {diff:.2e}")
    assert diff < 1e-5


def test_a_relu_checkpoint_matches_transformers(tmp_path):
    torch.manual_seed(0)
    reference = transformers.DistilBertForMaskedLM(_config(activation="relu"))
    jitter(reference)
    reference.save_pretrained(tmp_path)
    loaded = build_model(tmp_path, "masked-lm", 0)
    ids, mask = padded_batch(120, pad_id=0)
    diff = max_diff(*run_both(loaded.model, reference, "masked-lm", ids, mask), "masked-lm", mask)
    assert diff < 1e-4


def test_a_base_model_gets_a_fresh_token_classifier(tmp_path):
    torch.manual_seed(0)
    transformers.DistilBertModel(_config()).save_pretrained(tmp_path)  # keys without distilbert.
    loaded = build_model(tmp_path, "token-classification", 5)
    assert sorted(loaded.fresh) == ["classifier.bias", "classifier.weight"]
    ids, mask = padded_batch(120, pad_id=0)
    with torch.no_grad():
        logits = loaded.model.eval()(ids, mask)
    assert logits.shape == (3, ids.shape[1], 5) and torch.isfinite(logits).all()


def test_the_lm_projector_is_the_word_embeddings(tmp_path):
    torch.manual_seed(0)
    transformers.DistilBertForMaskedLM(_config()).save_pretrained(tmp_path)
    model = build_model(tmp_path, "masked-lm", 0).model
    assert model.vocab_projector.weight is model.distilbert.embeddings.word_embeddings.weight


def test_a_masked_lm_checkpoint_fine_tunes_as_a_sequence_classifier(tmp_path):
    torch.manual_seed(0)
    transformers.DistilBertForMaskedLM(_config()).save_pretrained(tmp_path)
    loaded = build_model(tmp_path, "sequence-classification", 2)
    assert {k.split(".")[0] for k in loaded.fresh} == {"pre_classifier", "classifier"}


@pytest.mark.parametrize(
    ("kind", "own"), [("sequence-classification", {0.1, 0.2}), ("question-answering", {0.1})]
)
def test_the_runs_dropout_replaces_every_rate(tmp_path, kind, own):
    transformers.DistilBertForMaskedLM(_config()).save_pretrained(tmp_path)
    assert dropout_rates(build_model(tmp_path, kind, 2, dropout=0.3).model) == {0.3}
    assert dropout_rates(build_model(tmp_path, kind, 2).model) == own  # seq_classif_dropout 0.2
