"""GPT-2's heads give transformers' outputs on a small random checkpoint; the decoder contract
(cache, packed documents, explicit positions) gives what separate plain forwards give."""

from __future__ import annotations

import pytest
import torch
from family_parity import jitter, padded_batch, save_like_workbench

from workbench.engine.generation.cache import KVCache
from workbench.engine.models.loading import build_model

transformers = pytest.importorskip("transformers")

VOCAB = 97
PAD = 0  # GPT-2 has no pad token; tests pad with id 0 and say so in the config


def _config(num_labels: int = 2, **extra):
    return transformers.GPT2Config(
        vocab_size=VOCAB, n_positions=64, n_embd=32, n_layer=2, n_head=4,
        num_labels=num_labels, pad_token_id=PAD, bos_token_id=1, eos_token_id=1, **extra,
    )  # fmt: skip


def _reference(cls: str, tmp_path, **extra):
    torch.manual_seed(0)
    model = getattr(transformers, cls)(_config(3, **extra))
    jitter(model)
    model.save_pretrained(tmp_path / "hf")
    return model.eval()


def _real_diff(got: torch.Tensor, expected: torch.Tensor, mask: torch.Tensor) -> float:
    assert got.shape == expected.shape, (got.shape, expected.shape)
    return (got - expected).abs()[mask.bool()].max().item()


def test_hidden_states_and_lm_logits_match_transformers_on_a_right_padded_batch(tmp_path):
    reference = _reference("GPT2LMHeadModel", tmp_path)
    loaded = build_model(tmp_path / "hf", "causal-lm", 0)
    assert loaded.family.name == "gpt2" and loaded.fresh == []
    model = loaded.model.eval()
    assert model.lm_head.weight is model.transformer.wte.weight
    ids, mask = padded_batch(VOCAB, pad_id=PAD)
    with torch.no_grad():
        expected = reference(input_ids=ids, attention_mask=mask, output_hidden_states=True)
        hidden = model.transformer(ids, mask)
        logits = model(ids, mask)
    diff_hidden = _real_diff(hidden, expected.hidden_states[-1], mask)
    diff_logits = _real_diff(logits, expected.logits, mask)
    print(f"gpt2 hidden {diff_hidden:.2e}, causal-lm logits {diff_logits:.2e}")
    assert diff_hidden < 1e-4 and diff_logits < 1e-4


def test_layer_scaling_options_match_transformers(tmp_path):
    extra = {"scale_attn_by_inverse_layer_idx": True, "activation_function": "relu"}
    reference = _reference("GPT2LMHeadModel", tmp_path, **extra)
    model = build_model(tmp_path / "hf", "causal-lm", 0).model.eval()
    ids, mask = padded_batch(VOCAB, pad_id=PAD)
    with torch.no_grad():
        diff = _real_diff(
            model(ids, mask), reference(input_ids=ids, attention_mask=mask).logits, mask
        )
    assert diff < 1e-4


def test_sequence_classification_pools_the_last_real_token_as_transformers_does(tmp_path):
    reference = _reference("GPT2ForSequenceClassification", tmp_path)
    loaded = build_model(tmp_path / "hf", "sequence-classification", 3)
    assert loaded.fresh == []
    ids, mask = padded_batch(VOCAB, pad_id=PAD)
    with torch.no_grad():
        got = loaded.model.eval()(ids, mask)
        expected = reference(input_ids=ids, attention_mask=mask).logits
    assert got.shape == (3, 3)
    diff = (got - expected).abs().max().item()
    print(f"gpt2 sequence-classification {diff:.2e}")
    assert diff < 1e-4
    # Not the last column: a padded row's logits are its own last real token's.
    with torch.no_grad():
        short = loaded.model(ids[2:, :3], mask[2:, :3])
    assert torch.allclose(short, got[2:], atol=1e-5)


def test_a_base_checkpoint_loads_under_transformer_and_gets_a_fresh_score(tmp_path):
    torch.manual_seed(0)
    transformers.GPT2Model(_config()).save_pretrained(tmp_path)  # keys without "transformer."
    assert build_model(tmp_path, "causal-lm", 0).fresh == []
    loaded = build_model(tmp_path, "sequence-classification", 2)
    assert loaded.fresh == ["score.weight"]


@pytest.mark.parametrize(
    ("kind", "auto", "n"),
    [
        ("causal-lm", "AutoModelForCausalLM", 0),
        ("sequence-classification", "AutoModelForSequenceClassification", 3),
    ],
)
def test_what_we_save_loads_back_in_transformers(tmp_path, kind, auto, n):
    cls = "GPT2LMHeadModel" if kind == "causal-lm" else "GPT2ForSequenceClassification"
    _reference(cls, tmp_path)
    loaded = build_model(tmp_path / "hf", kind, n)
    ids, mask = padded_batch(VOCAB, pad_id=PAD)
    jitter(loaded.model, seed=3)
    save_like_workbench(loaded, kind, tmp_path / "ours")
    reference, info = getattr(transformers, auto).from_pretrained(
        tmp_path / "ours", output_loading_info=True
    )
    assert not info["missing_keys"] and not info["unexpected_keys"], info
    assert type(reference).__name__ == loaded.family.head(kind).architecture
    with torch.no_grad():
        got = loaded.model.eval()(ids, mask)
        expected = reference.eval()(input_ids=ids, attention_mask=mask).logits
    real = mask if kind == "causal-lm" else torch.ones(len(ids), dtype=torch.bool)
    diff = _real_diff(got, expected, real)
    print(f"gpt2 {kind} round trip: {diff:.2e}")
    assert diff < 1e-5


def _lm(tmp_path):
    _reference("GPT2LMHeadModel", tmp_path)
    return build_model(tmp_path / "hf", "causal-lm", 0).model.eval()


def test_one_token_at_a_time_with_the_cache_equals_one_full_forward(tmp_path):
    model = _lm(tmp_path)
    ids = torch.randint(1, VOCAB, (2, 9), generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        full = model(ids)  # (B, T, V)
        cache = KVCache()
        steps = [model(ids[:, t : t + 1], cache=cache) for t in range(ids.shape[1])]
        # and a prompt of 5 at once, then the rest one by one
        cache2 = KVCache()
        mixed = [model(ids[:, :5], cache=cache2)]
        mixed += [model(ids[:, t : t + 1], cache=cache2) for t in range(5, ids.shape[1])]
    assert cache.length == 9
    assert (torch.cat(steps, dim=1) - full).abs().max().item() < 1e-5
    assert (torch.cat(mixed, dim=1) - full).abs().max().item() < 1e-5


def test_left_padding_with_explicit_positions_and_the_cache_equals_the_unpadded_row(tmp_path):
    model = _lm(tmp_path)
    ids = torch.randint(1, VOCAB, (1, 6), generator=torch.Generator().manual_seed(5))
    padded = torch.cat([torch.full((1, 3), PAD), ids], dim=1)  # (1, 9), 3 pads on the left
    mask = torch.cat([torch.zeros(1, 3, dtype=torch.long), torch.ones(1, 6, dtype=torch.long)], 1)
    positions = (mask.cumsum(1) - 1).clamp(min=0)
    with torch.no_grad():
        alone = model(ids)
        cache = KVCache()
        first = model(padded[:, :5], mask[:, :5], position_ids=positions[:, :5], cache=cache)
        rest = [
            model(padded[:, t : t + 1], mask[:, : t + 1], position_ids=positions[:, t : t + 1], cache=cache)
            for t in range(5, 9)
        ]  # fmt: skip
    got = torch.cat([first, *rest], dim=1)[:, 3:]
    assert torch.isfinite(torch.cat([first, *rest], dim=1)).all()  # pads attend to themselves
    assert (got - alone).abs().max().item() < 1e-5


def test_packed_documents_equal_each_document_alone(tmp_path):
    model = _lm(tmp_path)
    g = torch.Generator().manual_seed(6)
    docs = [torch.randint(1, VOCAB, (1, n), generator=g) for n in (4, 7, 2)]
    packed = torch.cat(docs, dim=1)  # (1, 13)
    document_ids = torch.cat([torch.full((1, d.shape[1]), i) for i, d in enumerate(docs)], dim=1)
    with torch.no_grad():
        got = model(packed, document_ids=document_ids)
        alone = torch.cat([model(d) for d in docs], dim=1)
        unpacked = model(packed)
    assert (got - alone).abs().max().item() < 1e-5
    assert (unpacked - alone).abs().max().item() > 1e-3  # the documents do see each other otherwise


def test_position_ids_default_to_the_cache_offset(tmp_path):
    model = _lm(tmp_path)
    ids = torch.randint(1, VOCAB, (1, 4), generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        cache = KVCache()
        model(ids[:, :2], cache=cache)
        implicit = model(ids[:, 2:], cache=cache)
        cache = KVCache()
        model(ids[:, :2], cache=cache)
        explicit = model(ids[:, 2:], position_ids=torch.tensor([[2, 3]]), cache=cache)
    assert torch.equal(implicit, explicit)


def test_too_long_inputs_are_refused_with_a_message(tmp_path):
    from workbench.errors import UserError

    model = _lm(tmp_path)
    with pytest.raises(UserError, match="64 positions"):
        model(torch.ones(1, 65, dtype=torch.long))


def test_describing_a_gpt2_folder_reads_gpt2s_config_names(tmp_path):
    from tiny_gpt2 import write_tiny_gpt2

    from workbench.engine.models.registry import describe_model

    described = describe_model(write_tiny_gpt2(tmp_path / "m"))
    assert described["family"] == "gpt2"
    assert (described["layers"], described["hidden_size"], described["attention_heads"]) == (
        2,
        32,
        4,
    )
    assert described["max_positions"] == 128
    assert "text-classification" in described["tasks"]


def test_the_layers_prefix_names_the_blocks(tmp_path):
    from workbench.engine.models.gpt2 import FAMILY

    model = _lm(tmp_path)
    blocks = model.get_submodule(FAMILY.layers_prefix.rstrip("."))
    assert len(blocks) == 2
    keys = model.state_dict()
    assert any(k.startswith(f"{FAMILY.layers_prefix}1.") for k in keys)
    assert all(any(k.startswith(p) for k in keys) for p in FAMILY.embedding_prefixes)


def test_the_causal_mask_buffers_of_older_checkpoints_are_ignored(tmp_path):
    from safetensors.torch import load_file, save_file

    torch.manual_seed(0)
    transformers.GPT2Model(_config()).save_pretrained(tmp_path)
    weights = load_file(tmp_path / "model.safetensors")
    for i in range(2):  # as the original openai-community/gpt2 files carry them
        weights[f"h.{i}.attn.bias"] = torch.tril(torch.ones(1, 1, 64, 64))
        weights[f"h.{i}.attn.masked_bias"] = torch.tensor(-1e4)
    save_file(weights, tmp_path / "model.safetensors", metadata={"format": "pt"})
    loaded = build_model(tmp_path, "causal-lm", 0)
    assert loaded.fresh == []
    assert torch.equal(
        loaded.model.transformer.h[1].attn.c_attn.bias, weights["h.1.attn.c_attn.bias"]
    )
