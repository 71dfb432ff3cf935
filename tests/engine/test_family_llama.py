"""The Llama family (llama, qwen2, mistral) gives transformers' hidden states and logits on
small random checkpoints, its KV cache and packed batches equal plain forwards, and what we
save loads back in transformers."""

from __future__ import annotations

import json

import pytest
import torch
from family_parity import jitter, padded_batch

from workbench.engine.checkpoint import save_folder, shared_weights
from workbench.engine.generation.cache import KVCache
from workbench.engine.models.llama import LlamaConfig
from workbench.engine.models.loading import build_model
from workbench.errors import UserError

transformers = pytest.importorskip("transformers")

V, PAD = 128, 0
SMALL = dict(
    vocab_size=V, hidden_size=48, intermediate_size=80, num_hidden_layers=2,
    num_attention_heads=6, num_key_value_heads=2, max_position_embeddings=64,
    pad_token_id=PAD, rms_norm_eps=1e-5,
)  # fmt: skip
CASES = {
    # name: (transformers config class, extra settings)
    "llama-gqa-tied": ("LlamaConfig", {"tie_word_embeddings": True}),
    "llama-llama3-rope": (
        "LlamaConfig",
        {
            "rope_scaling": {
                "rope_type": "llama3",
                "factor": 8.0,
                "low_freq_factor": 1.0,
                "high_freq_factor": 4.0,
                "original_max_position_embeddings": 16,
            },
            "rope_theta": 50000.0,
            "attention_bias": True,
            "mlp_bias": True,
        },
    ),  # fmt: skip
    "llama-linear-rope": ("LlamaConfig", {"rope_scaling": {"type": "linear", "factor": 2.0}}),
    "llama-dynamic-rope": (
        "LlamaConfig",
        {"rope_scaling": {"rope_type": "dynamic", "factor": 2.0}, "max_position_embeddings": 8},
    ),
    "llama-yarn-rope": (
        "LlamaConfig",
        {
            "rope_scaling": {
                "rope_type": "yarn",
                "factor": 4.0,
                "original_max_position_embeddings": 16,
            }
        },
    ),  # fmt: skip
    "qwen2-bias-tied": ("Qwen2Config", {"tie_word_embeddings": True}),
    "qwen2-sliding": (
        "Qwen2Config",
        {"use_sliding_window": True, "sliding_window": 4, "max_window_layers": 1},
    ),
    "mistral-sliding": ("MistralConfig", {"sliding_window": 4, "head_dim": 16}),
}
FAMILY_CLASSES = {
    "LlamaConfig": ("LlamaModel", "LlamaForCausalLM", "LlamaForSequenceClassification"),
    "Qwen2Config": ("Qwen2Model", "Qwen2ForCausalLM", "Qwen2ForSequenceClassification"),
    "MistralConfig": ("MistralModel", "MistralForCausalLM", "MistralForSequenceClassification"),
}


def _config(name: str, num_labels: int = 3):
    cls, extra = CASES[name]
    return getattr(transformers, cls)(**{**SMALL, **extra}, num_labels=num_labels)


def _reference(name: str, which: int, num_labels: int = 3):
    """A jittered transformers model (0 base, 1 causal LM, 2 sequence classification)."""
    torch.manual_seed(0)
    cls = FAMILY_CLASSES[CASES[name][0]][which]
    model = getattr(transformers, cls)(_config(name, num_labels))
    jitter(model)
    return model.eval()


def _real(diff: torch.Tensor, mask: torch.Tensor) -> float:
    return diff[mask.bool()].abs().max().item()  # over real tokens only


@pytest.mark.parametrize("name", list(CASES))
def test_hidden_states_and_both_heads_match_transformers(tmp_path, name):
    ids, mask = padded_batch(V, pad_id=PAD)  # right-padded rows of 11, 7 and 3 tokens
    causal = _reference(name, 1)
    causal.save_pretrained(tmp_path / "lm")
    loaded = build_model(tmp_path / "lm", "causal-lm", 0)
    assert loaded.family.name == "llama" and loaded.fresh == []
    ours = loaded.model.eval()
    tied = CASES[name][1].get("tie_word_embeddings", False)
    assert (ours.lm_head.weight is ours.model.embed_tokens.weight) == tied
    with torch.no_grad():
        hidden = _real(ours.model(ids, mask) - causal.model(ids, mask).last_hidden_state, mask)
        logits = _real(ours(ids, mask) - causal(input_ids=ids, attention_mask=mask).logits, mask)

    classifier = _reference(name, 2)
    classifier.save_pretrained(tmp_path / "cls")
    ours_cls = build_model(tmp_path / "cls", "sequence-classification", 3).model.eval()
    with torch.no_grad():
        got, expected = ours_cls(ids, mask), classifier(input_ids=ids, attention_mask=mask).logits
    pooled = (got - expected).abs().max().item()
    print(f"{name}: hidden {hidden:.1e}, causal-lm {logits:.1e}, classification {pooled:.1e}")
    assert hidden < 1e-4 and logits < 1e-4 and pooled < 1e-4


def test_the_rope_frequencies_are_transformers_own():
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

    for name in ("llama-llama3-rope", "llama-linear-rope", "llama-yarn-rope"):
        reference = _config(name)
        ours = LlamaConfig.from_dict(json.loads(reference.to_json_string()))
        from workbench.engine.models.llama import rope_frequencies

        expected, scaling = ROPE_INIT_FUNCTIONS[ours.rope_type](reference, "cpu")
        got, our_scaling = rope_frequencies(ours)
        assert torch.allclose(got, expected, rtol=1e-6, atol=0), name
        assert our_scaling == pytest.approx(scaling), name


def test_old_and_new_rope_spellings_read_alike():
    old = {
        **SMALL, "model_type": "llama", "rope_theta": 500000.0,
        "rope_scaling": {"type": "linear", "factor": 2.0},
    }  # fmt: skip
    new = {
        **SMALL, "model_type": "llama",
        "rope_parameters": {"rope_type": "linear", "factor": 2.0, "rope_theta": 500000.0},
    }  # fmt: skip
    assert LlamaConfig.from_dict(old) == LlamaConfig.from_dict(new)
    assert LlamaConfig.from_dict(old).rope_theta == 500000.0


def test_unsupported_settings_say_what_is_wrong():
    with pytest.raises(UserError, match="RoPE scaling 'longrope'"):
        LlamaConfig.from_dict({**SMALL, "rope_scaling": {"rope_type": "longrope", "factor": 2}})
    with pytest.raises(UserError, match="num_key_value_heads"):
        LlamaConfig.from_dict({**SMALL, "num_key_value_heads": 4})
    with pytest.raises(UserError, match="hidden_act"):
        LlamaConfig.from_dict({**SMALL, "hidden_act": "tanhh"})


def _left_padded(lengths=(9, 5, 2), seed=4):
    g = torch.Generator().manual_seed(seed)
    T = max(lengths)
    ids = torch.randint(1, V, (len(lengths), T), generator=g)
    mask = torch.zeros_like(ids)
    for row, length in enumerate(lengths):
        mask[row, T - length :] = 1
    return ids.masked_fill(mask == 0, PAD), mask


@pytest.mark.parametrize("name", ["llama-gqa-tied", "mistral-sliding"])
def test_the_cache_step_by_step_equals_one_forward(tmp_path, name):
    _reference(name, 1).save_pretrained(tmp_path)
    model = build_model(tmp_path, "causal-lm", 0).model.eval()
    ids, mask = _left_padded()  # left padding, as generation pads a batch of prompts
    positions = (mask.cumsum(-1) - 1).clamp(min=0)  # counted from each row's first real token
    with torch.no_grad():
        full = model(ids, mask, position_ids=positions)  # (B, T, V)
        cache = KVCache()
        steps = [model(ids[:, :4], mask[:, :4], position_ids=positions[:, :4], cache=cache)]
        for t in range(4, ids.shape[1]):  # then one token at a time
            steps.append(
                model(ids[:, t : t + 1], mask[:, : t + 1], position_ids=positions[:, t : t + 1],
                      cache=cache)
            )  # fmt: skip
    stepped = torch.cat(steps, dim=1)
    assert cache.length == ids.shape[1]
    diff = _real(stepped - full, mask)
    print(f"{name}: cache vs one forward {diff:.1e}")
    assert diff < 1e-5


def test_greedy_decoding_with_the_cache_gives_transformers_ids(tmp_path):
    reference = _reference("qwen2-bias-tied", 1)
    reference.save_pretrained(tmp_path)
    model = build_model(tmp_path, "causal-lm", 0).model.eval()
    prompt = torch.tensor([[5, 17, 33, 2, 91]])
    with torch.no_grad():
        expected = reference.generate(
            prompt, max_new_tokens=20, do_sample=False, pad_token_id=PAD, eos_token_id=None
        )[0, prompt.shape[1] :].tolist()
        cache, ids, got = KVCache(), prompt, []
        for _ in range(20):
            logits = model(ids, cache=cache)  # positions continue from the cache's length
            ids = logits[:, -1:].argmax(-1)
            got.append(int(ids))
    assert got == expected


def test_packed_documents_equal_each_document_alone(tmp_path):
    _reference("llama-gqa-tied", 1).save_pretrained(tmp_path)
    model = build_model(tmp_path, "causal-lm", 0).model.eval()
    g = torch.Generator().manual_seed(5)
    lengths = (5, 3, 6)
    docs = [torch.randint(1, V, (1, n), generator=g) for n in lengths]
    packed = torch.cat(docs, dim=1)  # (1, 14)
    document_ids = torch.cat([torch.full((1, n), i) for i, n in enumerate(lengths)], dim=1)
    with torch.no_grad():
        together = model(packed, document_ids=document_ids)
        alone = torch.cat([model(doc) for doc in docs], dim=1)
        plain = model(packed)
    diff = (together - alone).abs().max().item()
    print(f"packed vs alone {diff:.1e}")
    assert diff < 1e-5
    assert (plain[:, lengths[0] :] - alone[:, lengths[0] :]).abs().max() > 1e-3  # mask matters


class _NoTokenizer:
    def save(self, folder) -> None:
        pass


@pytest.mark.parametrize(
    ("name", "kind", "auto"),
    [
        ("llama-gqa-tied", "causal-lm", "AutoModelForCausalLM"),
        ("llama-llama3-rope", "causal-lm", "AutoModelForCausalLM"),
        ("qwen2-bias-tied", "causal-lm", "AutoModelForCausalLM"),
        ("mistral-sliding", "sequence-classification", "AutoModelForSequenceClassification"),
    ],
)
def test_what_we_save_loads_in_transformers(tmp_path, name, kind, auto):
    which = 1 if kind == "causal-lm" else 2
    _reference(name, which).save_pretrained(tmp_path / "hf")
    loaded = build_model(tmp_path / "hf", kind, 3)
    jitter(loaded.model, seed=3)
    head = loaded.family.head(kind)
    config = dict(loaded.raw_config, architectures=[head.architecture])
    (tmp_path / "ours").mkdir()
    save_folder(tmp_path / "ours", loaded.model, config, tmp_path / "hf", _NoTokenizer())
    saved = json.loads((tmp_path / "ours" / "config.json").read_text())
    from safetensors import safe_open

    with safe_open(str(tmp_path / "ours" / "model.safetensors"), "pt") as handle:
        keys = set(handle.keys())
    tied = bool(saved.get("tie_word_embeddings"))
    assert ("lm_head.weight" in keys) == (kind == "causal-lm" and not tied)
    assert set(shared_weights(loaded.model)) == ({"lm_head.weight"} if tied else set())
    reference, info = getattr(transformers, auto).from_pretrained(
        tmp_path / "ours", output_loading_info=True
    )
    assert not info["missing_keys"] and not info["unexpected_keys"], info
    ids, mask = padded_batch(V, pad_id=PAD)
    with torch.no_grad():
        got = loaded.model.eval()(ids, mask)
        expected = reference.eval()(input_ids=ids, attention_mask=mask).logits
    diff = _real(got - expected, mask) if kind == "causal-lm" else (got - expected).abs().max()
    print(f"{name} {kind} round trip: {float(diff):.1e}")
    assert diff < 1e-5
