"""RoBERTa's heads give transformers' logits on small random checkpoints, and what we save
loads back in transformers."""

from __future__ import annotations

import pytest
import torch
from family_parity import dropout_rates, jitter, max_diff, padded_batch, round_trip_diff, run_both

from workbench.engine.models.loading import build_model
from workbench.engine.models.roberta import RobertaConfig, RobertaEmbeddings

transformers = pytest.importorskip("transformers")

HEADS = [
    # kind, transformers class, Auto class, number of outputs
    (
        "sequence-classification",
        "RobertaForSequenceClassification",
        "AutoModelForSequenceClassification",
        3,
    ),
    ("token-classification", "RobertaForTokenClassification", "AutoModelForTokenClassification", 5),
    ("question-answering", "RobertaForQuestionAnswering", "AutoModelForQuestionAnswering", 2),
    ("masked-lm", "RobertaForMaskedLM", "AutoModelForMaskedLM", 0),
]
PAD = 1


def _config(num_labels: int = 2):
    return transformers.RobertaConfig(
        vocab_size=120, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=64, max_position_embeddings=64, type_vocab_size=1,
        layer_norm_eps=1e-5, pad_token_id=PAD, hidden_act="gelu", num_labels=max(num_labels, 1),
    )  # fmt: skip


@pytest.mark.parametrize(("kind", "cls", "auto", "n"), HEADS, ids=[h[0] for h in HEADS])
def test_roberta_head_matches_transformers_and_round_trips(tmp_path, kind, cls, auto, n):
    torch.manual_seed(0)
    reference = getattr(transformers, cls)(_config(n))
    jitter(reference)
    reference.save_pretrained(tmp_path / "hf")
    loaded = build_model(tmp_path / "hf", kind, n)
    assert loaded.family.name == "roberta" and loaded.fresh == []
    ids, mask = padded_batch(120, pad_id=PAD)
    diff = max_diff(*run_both(loaded.model, reference, kind, ids, mask), kind, mask)
    print(f"roberta {kind}: max abs diff {diff:.2e}")
    assert diff < 1e-4
    diff = round_trip_diff(loaded, kind, tmp_path / "ours", getattr(transformers, auto), ids, mask)
    print(f"roberta {kind} round trip: max abs diff {diff:.2e}")
    assert diff < 1e-5


def test_positions_count_from_the_padding_index_as_transformers_does():
    from transformers.models.roberta.modeling_roberta import RobertaEmbeddings as Reference

    ids, _ = padded_batch(120, pad_id=PAD)
    ids[0, 3] = PAD  # a pad inside a row keeps its padding position too
    ours = RobertaEmbeddings(RobertaConfig(vocab_size=120, hidden_size=8, num_attention_heads=2))
    expected = Reference.create_position_ids_from_input_ids(ids, PAD)
    assert torch.equal(ours.position_ids(ids), expected)


def test_a_base_model_gets_a_fresh_token_classifier(tmp_path):
    torch.manual_seed(0)
    transformers.RobertaModel(_config()).save_pretrained(tmp_path)  # with a pooler
    loaded = build_model(tmp_path, "token-classification", 5)
    assert sorted(loaded.fresh) == ["classifier.bias", "classifier.weight"]
    ids, mask = padded_batch(120, pad_id=PAD)
    with torch.no_grad():
        logits = loaded.model.eval()(ids, mask)
    assert logits.shape == (3, ids.shape[1], 5) and torch.isfinite(logits).all()


def test_the_lm_decoder_is_the_word_embeddings(tmp_path):
    torch.manual_seed(0)
    transformers.RobertaForMaskedLM(_config()).save_pretrained(tmp_path)
    model = build_model(tmp_path, "masked-lm", 0).model
    assert model.lm_head.decoder.weight is model.roberta.embeddings.word_embeddings.weight
    assert model.lm_head.decoder.bias is model.lm_head.bias


def test_a_masked_lm_checkpoint_fine_tunes_as_a_sequence_classifier(tmp_path):
    torch.manual_seed(0)
    transformers.RobertaForMaskedLM(_config()).save_pretrained(tmp_path)
    loaded = build_model(tmp_path, "sequence-classification", 2)
    assert all(k.startswith("classifier.") for k in loaded.fresh) and len(loaded.fresh) == 4


@pytest.mark.parametrize("kind", ["sequence-classification", "token-classification"])
def test_the_runs_dropout_replaces_every_rate(tmp_path, kind):
    transformers.RobertaForMaskedLM(_config()).save_pretrained(tmp_path)
    assert dropout_rates(build_model(tmp_path, kind, 2, dropout=0.3).model) == {0.3}
    assert dropout_rates(build_model(tmp_path, kind, 2).model) == {0.1}
