"""BERT's heads give transformers' logits on small random checkpoints, and what we save
loads back in transformers."""

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
        "BertForSequenceClassification",
        "AutoModelForSequenceClassification",
        3,
    ),
    ("token-classification", "BertForTokenClassification", "AutoModelForTokenClassification", 5),
    ("question-answering", "BertForQuestionAnswering", "AutoModelForQuestionAnswering", 2),
    ("masked-lm", "BertForMaskedLM", "AutoModelForMaskedLM", 0),
    ("pretraining", "BertForPreTraining", "AutoModelForPreTraining", 0),
]


def _config(num_labels: int = 2):
    return transformers.BertConfig(
        vocab_size=120, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=64, max_position_embeddings=64, hidden_act="gelu",
        num_labels=max(num_labels, 1),
    )  # fmt: skip


def _batch():
    ids, mask = padded_batch(120, pad_id=0)
    types = torch.zeros_like(ids)
    types[:, 4:] = 1  # a second segment, to read the token type embeddings
    return ids, mask, types


@pytest.mark.parametrize(("kind", "cls", "auto", "n"), HEADS, ids=[h[0] for h in HEADS])
def test_bert_head_matches_transformers_and_round_trips(tmp_path, kind, cls, auto, n):
    torch.manual_seed(0)
    reference = getattr(transformers, cls)(_config(n))
    jitter(reference)
    reference.save_pretrained(tmp_path / "hf")
    loaded = build_model(tmp_path / "hf", kind, n)
    assert loaded.fresh == []
    ids, mask, types = _batch()
    diff = max_diff(*run_both(loaded.model, reference, kind, ids, mask, types), kind, mask)
    print(f"bert {kind}: max abs diff {diff:.2e}")
    assert diff < 1e-4
    auto_class = getattr(transformers, auto)
    diff = round_trip_diff(loaded, kind, tmp_path / "ours", auto_class, ids, mask)
    print(f"bert {kind} round trip: max abs diff {diff:.2e}")
    assert diff < 1e-5


@pytest.mark.parametrize("kind", ["masked-lm", "pretraining"])
def test_the_lm_decoder_is_the_word_embeddings(tmp_path, kind):
    torch.manual_seed(0)
    transformers.BertForPreTraining(_config()).save_pretrained(tmp_path)
    model = build_model(tmp_path, kind, 0).model
    predictions = model.cls.predictions
    assert predictions.decoder.weight is model.bert.embeddings.word_embeddings.weight
    assert predictions.decoder.bias is predictions.bias


def test_a_base_model_gets_a_fresh_token_classifier(tmp_path):
    torch.manual_seed(0)
    transformers.BertModel(_config()).save_pretrained(tmp_path)  # with a pooler
    loaded = build_model(tmp_path, "token-classification", 5)
    assert sorted(loaded.fresh) == ["classifier.bias", "classifier.weight"]
    assert loaded.model.bert.pooler is None
    ids, mask, types = _batch()
    with torch.no_grad():
        logits = loaded.model.eval()(ids, mask, types)
    assert logits.shape == (3, ids.shape[1], 5) and torch.isfinite(logits).all()


def test_a_base_model_gets_a_fresh_mlm_head_tied_to_its_embeddings(tmp_path):
    torch.manual_seed(0)
    transformers.BertModel(_config(), add_pooling_layer=False).save_pretrained(tmp_path)
    loaded = build_model(tmp_path, "masked-lm", 0)
    assert all(k.startswith("cls.predictions.") for k in loaded.fresh)
    assert "cls.predictions.decoder.weight" not in loaded.fresh
    bias = loaded.model.cls.predictions.bias
    assert torch.equal(bias, torch.zeros_like(bias))


def test_a_pretraining_checkpoint_fine_tunes_as_a_sequence_classifier(tmp_path):
    torch.manual_seed(0)
    reference = transformers.BertForPreTraining(_config())
    reference.save_pretrained(tmp_path)
    loaded = build_model(tmp_path, "sequence-classification", 2)
    assert sorted(loaded.fresh) == ["classifier.bias", "classifier.weight"]
    pooler = loaded.model.bert.pooler.dense.weight
    assert torch.equal(pooler, reference.bert.pooler.dense.weight)


@pytest.mark.parametrize("kind", ["sequence-classification", "token-classification", "pretraining"])
def test_the_runs_dropout_replaces_every_rate(tmp_path, kind):
    transformers.BertForPreTraining(_config()).save_pretrained(tmp_path)
    assert dropout_rates(build_model(tmp_path, kind, 2, dropout=0.3).model) == {0.3}
    assert dropout_rates(build_model(tmp_path, kind, 2).model) == {0.1}


def test_a_checkpoint_that_stores_the_tied_keys_too_loads(tmp_path):
    """Older checkpoints (bert-base's) also hold the decoder's weight and bias."""
    from safetensors.torch import save_file

    torch.manual_seed(0)
    reference = transformers.BertForMaskedLM(_config())
    jitter(reference)
    reference.save_pretrained(tmp_path)
    state = {k: v.detach().clone().contiguous() for k, v in reference.state_dict().items()}
    assert "cls.predictions.decoder.weight" in state and "cls.predictions.decoder.bias" in state
    save_file(state, str(tmp_path / "model.safetensors"))
    loaded = build_model(tmp_path, "masked-lm", 0)
    ids, mask, types = _batch()
    diff = max_diff(
        *run_both(loaded.model, reference, "masked-lm", ids, mask, types), "masked-lm", mask
    )
    assert loaded.fresh == [] and diff < 1e-4


@pytest.mark.parametrize("kind", ["token-classification", "masked-lm", "pretraining"])
def test_training_mode_runs_on_the_cpu_and_reaches_every_weight(tmp_path, kind):
    torch.manual_seed(0)
    transformers.BertForPreTraining(_config()).save_pretrained(tmp_path)
    model = build_model(tmp_path, kind, 3, dropout=0.2).model.train()
    ids, mask, types = _batch()
    out = model(ids, mask, types)
    loss = sum(o.sum() for o in out) if isinstance(out, tuple) else out.sum()
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())
