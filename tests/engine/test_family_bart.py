"""BART's heads give transformers' outputs on small random checkpoints (padded batches), the
encoder-decoder contract (encode once, decoder cache with cross-attention kept) gives what a
full forward gives, and what we save loads back in transformers."""

from __future__ import annotations

import pytest
import torch
from family_parity import jitter, save_like_workbench

from workbench.engine.generation.cache import KVCache
from workbench.engine.models.loading import build_model
from workbench.errors import UserError

transformers = pytest.importorskip("transformers")

VOCAB = 97
PAD, BOS, EOS = 1, 0, 2


def _config(**extra):
    settings = dict(
        vocab_size=VOCAB, d_model=32, encoder_layers=2, decoder_layers=3,
        encoder_attention_heads=4, decoder_attention_heads=2, encoder_ffn_dim=48,
        decoder_ffn_dim=40, max_position_embeddings=40, num_labels=3, pad_token_id=PAD,
        bos_token_id=BOS, eos_token_id=EOS, decoder_start_token_id=EOS,
    )  # fmt: skip
    settings.update(extra)
    return transformers.BartConfig(**settings)


def _reference(cls: str, folder, **extra):
    torch.manual_seed(0)
    model = getattr(transformers, cls)(_config(**extra))
    jitter(model)
    if hasattr(model, "final_logits_bias"):
        with torch.no_grad():
            model.final_logits_bias.normal_(0, 0.1, generator=torch.Generator().manual_seed(9))
    model.save_pretrained(folder)
    return model.eval()


def _source_batch(seed: int = 1, lengths=(11, 7, 3)):
    """Right-padded `<s> … </s>` rows of different lengths: (ids (B, S), mask (B, S))."""
    g = torch.Generator().manual_seed(seed)
    S = max(lengths)
    ids = torch.full((len(lengths), S), PAD)
    mask = torch.zeros_like(ids)
    for row, n in enumerate(lengths):
        ids[row, :n] = torch.randint(5, VOCAB, (n,), generator=g)
        ids[row, 0], ids[row, n - 1] = BOS, EOS
        mask[row, :n] = 1
    return ids, mask


def _target_batch(seed: int = 2, lengths=(6, 9, 4)):
    """Decoder inputs (start token first) with their padding mask."""
    g = torch.Generator().manual_seed(seed)
    T = max(lengths)
    ids = torch.full((len(lengths), T), PAD)
    mask = torch.zeros_like(ids)
    for row, n in enumerate(lengths):
        ids[row, :n] = torch.randint(5, VOCAB, (n,), generator=g)
        ids[row, 0] = EOS
        mask[row, :n] = 1
    return ids, mask


def _real(got, expected, mask) -> float:
    assert got.shape == expected.shape, (got.shape, expected.shape)
    return (got - expected).abs()[mask.bool()].max().item()


@pytest.mark.parametrize("extra", [{}, {"scale_embedding": True, "activation_function": "relu"}])
def test_conditional_generation_logits_match_transformers_on_padded_batches(tmp_path, extra):
    reference = _reference("BartForConditionalGeneration", tmp_path / "hf", **extra)
    loaded = build_model(tmp_path / "hf", "seq2seq-lm", 0)
    assert loaded.family.name == "bart" and loaded.fresh == []
    model = loaded.model.eval()
    assert model.lm_head.weight is model.model.shared.weight
    assert (model.decoder_start_token_id, model.eos_token_id, model.pad_token_id) == (2, 2, 1)
    ids, mask = _source_batch()
    dec, dec_mask = _target_batch()
    with torch.no_grad():
        expected = reference(
            input_ids=ids, attention_mask=mask, decoder_input_ids=dec,
            decoder_attention_mask=dec_mask, output_hidden_states=True,
        )  # fmt: skip
        encoded = model.encode(ids, mask)
        logits = model(ids, mask, decoder_input_ids=dec, decoder_attention_mask=dec_mask)
        reused = model(
            None, mask, decoder_input_ids=dec, decoder_attention_mask=dec_mask,
            encoder_hidden=encoded,
        )  # fmt: skip
    diff_encoder = _real(encoded, expected.encoder_last_hidden_state, mask)
    diff_logits = _real(logits, expected.logits, dec_mask)
    print(f"bart encoder {diff_encoder:.2e}, seq2seq logits {diff_logits:.2e}")
    assert diff_encoder < 1e-4 and diff_logits < 1e-4
    assert torch.equal(reused, logits)  # given encoder states, the encoder is skipped


def test_the_decoder_cache_one_token_at_a_time_equals_one_full_forward(tmp_path):
    _reference("BartForConditionalGeneration", tmp_path / "hf")
    model = build_model(tmp_path / "hf", "seq2seq-lm", 0).model.eval()
    ids, mask = _source_batch()
    dec = _target_batch(lengths=(8, 8, 8))[0]  # generation: every row the same length
    with torch.no_grad():
        full = model(ids, mask, decoder_input_ids=dec)
        encoded = model.encode(ids, mask)
        cache = KVCache()
        steps = [
            model(None, mask, decoder_input_ids=dec[:, t : t + 1], encoder_hidden=encoded, cache=cache)
            for t in range(dec.shape[1])
        ]  # fmt: skip
    assert cache.length == dec.shape[1] and sorted(cache.cross) == [0, 1, 2]
    assert (torch.cat(steps, dim=1) - full).abs().max().item() < 1e-5


def test_sequence_classification_reads_the_last_eos_as_transformers_does(tmp_path):
    reference = _reference("BartForSequenceClassification", tmp_path / "hf")
    loaded = build_model(tmp_path / "hf", "sequence-classification", 3)
    assert loaded.fresh == []
    ids, mask = _source_batch()
    with torch.no_grad():
        got = loaded.model.eval()(ids, mask)
        expected = reference(input_ids=ids, attention_mask=mask).logits
    assert got.shape == (3, 3)
    diff = (got - expected).abs().max().item()
    print(f"bart sequence-classification {diff:.2e}")
    assert diff < 1e-4
    with torch.no_grad():  # padding changes nothing: the short row alone gives the same
        alone = loaded.model(ids[2:, :3], mask[2:, :3])
    assert torch.allclose(alone, got[2:], atol=1e-5)
    with pytest.raises(UserError, match="</s>"):
        loaded.model(torch.full((1, 4), 7))


def test_a_base_checkpoint_gets_fresh_heads(tmp_path):
    torch.manual_seed(0)
    transformers.BartModel(_config()).save_pretrained(tmp_path)  # keys without "model."
    generation = build_model(tmp_path, "seq2seq-lm", 0)
    assert generation.fresh == ["final_logits_bias"]
    assert not generation.model.final_logits_bias.any()
    classifier = build_model(tmp_path, "sequence-classification", 2)
    assert sorted(classifier.fresh) == [
        "classification_head.dense.bias", "classification_head.dense.weight",
        "classification_head.out_proj.bias", "classification_head.out_proj.weight",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "cls", "auto", "n"),
    [
        ("seq2seq-lm", "BartForConditionalGeneration", "AutoModelForSeq2SeqLM", 0),
        ("sequence-classification", "BartForSequenceClassification",
         "AutoModelForSequenceClassification", 3),
    ],
)  # fmt: skip
def test_what_we_save_loads_back_in_transformers(tmp_path, kind, cls, auto, n):
    _reference(cls, tmp_path / "hf")
    loaded = build_model(tmp_path / "hf", kind, n)
    jitter(loaded.model, seed=3)
    if kind == "seq2seq-lm":
        with torch.no_grad():
            loaded.model.final_logits_bias.normal_(0, 0.1)
    save_like_workbench(loaded, kind, tmp_path / "ours")
    reference, info = getattr(transformers, auto).from_pretrained(
        tmp_path / "ours", output_loading_info=True
    )
    assert not info["missing_keys"] and not info["unexpected_keys"], info
    assert type(reference).__name__ == cls
    ids, mask = _source_batch()
    dec, dec_mask = _target_batch()
    model = loaded.model.eval()
    with torch.no_grad():
        if kind == "seq2seq-lm":
            got = model(ids, mask, decoder_input_ids=dec, decoder_attention_mask=dec_mask)
            expected = reference.eval()(
                input_ids=ids, attention_mask=mask, decoder_input_ids=dec,
                decoder_attention_mask=dec_mask,
            ).logits  # fmt: skip
            diff = _real(got, expected, dec_mask)
        else:
            got = model(ids, mask)
            expected = reference.eval()(input_ids=ids, attention_mask=mask).logits
            diff = (got - expected).abs().max().item()
    print(f"bart {kind} round trip: {diff:.2e}")
    assert diff < 1e-5


def test_configs_bart_cannot_run_are_refused_with_a_message(tmp_path):
    from workbench.engine.models.bart import BartConfig

    with pytest.raises(UserError, match="pre-LayerNorm"):
        BartConfig.from_dict({"model_type": "bart", "normalize_before": True})
    with pytest.raises(UserError, match="multiple of"):
        BartConfig.from_dict({"d_model": 30, "encoder_attention_heads": 4})
    with pytest.raises(UserError, match="activation_function"):
        BartConfig.from_dict({"activation_function": "swoosh"})
    _reference("BartForConditionalGeneration", tmp_path / "hf")
    model = build_model(tmp_path / "hf", "seq2seq-lm", 0).model
    with pytest.raises(UserError, match="40 positions"):
        model(
            torch.ones(1, 41, dtype=torch.long),
            decoder_input_ids=torch.ones(1, 1, dtype=torch.long),
        )


def test_a_tiny_bart_folder_tokenizes_like_roberta_and_is_described(tmp_path):
    from tiny_bart import write_tiny_bart

    from workbench.engine.models.registry import describe_model
    from workbench.engine.tokenizer import TextTokenizer

    folder = write_tiny_bart(tmp_path / "bart")
    tok = TextTokenizer.from_folder(folder, 64)
    (ids,) = tok.encode(["Hello there"])
    assert ids[0] == BOS and ids[-1] == EOS and tok.pad_id == PAD and tok.eos_id == EOS
    pair, _ = tok.encode_pairs(["Hello"], ["there"])
    assert pair[0][0] == BOS and pair[0].count(EOS) == 3  # <s> A </s></s> B </s>
    info = describe_model(folder)
    assert info["family"] == "bart"
    hf = transformers.AutoTokenizer.from_pretrained(folder)
    assert hf("Hello there")["input_ids"] == ids
