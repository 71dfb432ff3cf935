"""GPT-1 (openai-gpt): transformers' outputs on small random checkpoints (padded batches, both
heads), its greedy generations, exports that load back, and its lowercasing `</w>` BPE."""

from __future__ import annotations

import json

import pytest
import torch
from family_parity import padded_batch, save_like_workbench
from tiny_openai_gpt import UNK, write_tiny_openai_gpt

from workbench.engine.generation.cache import KVCache
from workbench.engine.models.loading import build_model
from workbench.engine.tokenizer import TextTokenizer

transformers = pytest.importorskip("transformers")

TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "HELLO World!  Café, naïve — Zürich?",
    "日本語 and words never seen: xylophone qq",
    "",
]


def _real_diff(got: torch.Tensor, expected: torch.Tensor, mask: torch.Tensor) -> float:
    assert got.shape == expected.shape, (got.shape, expected.shape)
    return (got - expected).abs()[mask.bool()].max().item()


def _reference(folder, cls: str = "OpenAIGPTLMHeadModel"):
    return getattr(transformers, cls).from_pretrained(folder).eval()


def _batch(vocab_size: int, pad: int):
    """family_parity's three rows (11, 7, 3 tokens) padded with `pad`, ids below it."""
    ids, mask = padded_batch(pad, pad_id=0)  # ids in 1..pad-1
    return ids.masked_fill(mask == 0, pad), mask


def _left_padded(ids: torch.Tensor, mask: torch.Tensor, pad: int):
    """The same rows with their padding moved to the left."""
    lengths = mask.sum(1)
    out, out_mask = torch.full_like(ids, pad), torch.zeros_like(mask)
    for row, n in enumerate(lengths.tolist()):
        out[row, ids.shape[1] - n :] = ids[row, :n]
        out_mask[row, ids.shape[1] - n :] = 1
    return out, out_mask


@pytest.mark.parametrize("files", ["tokenizer.json", "vocab+merges"])
def test_the_tokenizer_gives_transformers_ids_and_pads_with_unk(tmp_path, files):
    folder = write_tiny_openai_gpt(tmp_path / "m", files=files)
    theirs = transformers.AutoTokenizer.from_pretrained(folder)
    ours = TextTokenizer.from_folder(folder, 64)
    for text in TEXTS:
        assert ours.encode([text])[0] == theirs(text)["input_ids"], text
    unk = ours.id_to_token(ours.pad_id)
    assert unk == UNK and ours.pad_id == ours.vocab_size - 1 != 0  # id 0 is an ordinary token
    assert ours.eos_id is None and ours.template.single_extra == 0
    ids = ours.encode(["Hello again, world"])[0]
    assert ours.decode(ids) == "hello again , world"  # lowercased, BPEDecoder's spacing


def test_hidden_states_and_lm_logits_match_transformers_on_padded_batches(tmp_path):
    folder = write_tiny_openai_gpt(tmp_path / "m")
    reference = _reference(folder)
    loaded = build_model(folder, "causal-lm", 0)
    assert loaded.family.name == "openai-gpt" and loaded.fresh == []
    model = loaded.model.eval()
    assert model.lm_head.weight is model.transformer.tokens_embed.weight
    vocab = loaded.config.vocab_size
    right = _batch(vocab, vocab - 1)
    for ids, mask in (right, _left_padded(*right, vocab - 1)):
        with torch.no_grad():
            expected = reference(input_ids=ids, attention_mask=mask, output_hidden_states=True)
            hidden = model.transformer(ids, mask)
            logits = model(ids, mask)
        diff_hidden = _real_diff(hidden, expected.hidden_states[-1], mask)
        diff_logits = _real_diff(logits, expected.logits, mask)
        print(f"openai-gpt hidden {diff_hidden:.2e}, causal-lm logits {diff_logits:.2e}")
        assert diff_hidden < 1e-4 and diff_logits < 1e-4


def test_relu_blocks_match_transformers(tmp_path):
    folder = write_tiny_openai_gpt(tmp_path / "m", afn="relu")
    ids, mask = padded_batch(100, pad_id=0)
    with torch.no_grad():
        got = build_model(folder, "causal-lm", 0).model.eval()(ids, mask)
        expected = _reference(folder)(input_ids=ids, attention_mask=mask).logits
    assert _real_diff(got, expected, mask) < 1e-4


def test_sequence_classification_pools_the_last_real_token_as_transformers_does(tmp_path):
    folder = write_tiny_openai_gpt(
        tmp_path / "m", head="OpenAIGPTForSequenceClassification", num_labels=3, pad_token_id=174
    )
    reference = _reference(folder, "OpenAIGPTForSequenceClassification")
    loaded = build_model(folder, "sequence-classification", 3)
    assert loaded.fresh == []
    right = _batch(175, 174)
    for ids, mask in (right, _left_padded(*right, 174)):
        with torch.no_grad():
            got = loaded.model.eval()(ids, mask)
            expected = reference(input_ids=ids, attention_mask=mask).logits
        assert got.shape == (3, 3)
        diff = (got - expected).abs().max().item()
        print(f"openai-gpt sequence-classification {diff:.2e}")
        assert diff < 1e-4


def test_a_base_checkpoint_loads_under_transformer_and_gets_a_fresh_score(tmp_path):
    folder = write_tiny_openai_gpt(tmp_path / "m", head="OpenAIGPTModel")
    assert build_model(folder, "causal-lm", 0).fresh == []
    assert build_model(folder, "sequence-classification", 2).fresh == ["score.weight"]


def test_greedy_generation_gives_transformers_20_tokens(tmp_path):
    from workbench.engine.generation.generate import GenerationSettings, generate

    folder = write_tiny_openai_gpt(tmp_path / "m")
    tokenizer = TextTokenizer.from_folder(folder, 64)
    model = build_model(folder, "causal-lm", 0).model
    reference = _reference(folder)
    for text in ("the quick brown", "hello world !"):
        prompt = tokenizer.encode_prompt(text)
        with torch.no_grad():
            expected = reference.generate(
                torch.tensor([prompt]),
                attention_mask=torch.ones(1, len(prompt), dtype=torch.long),
                max_new_tokens=20,
                do_sample=False,
                pad_token_id=tokenizer.pad_id,
            )[0, len(prompt) :].tolist()
        for use_cache in (True, False):
            settings = GenerationSettings(max_new_tokens=20, use_cache=use_cache)
            got = list(generate(model, tokenizer, prompt, settings))
            assert got == expected and len(got) == 20


@pytest.mark.parametrize(
    ("kind", "auto", "cls", "n"),
    [
        ("causal-lm", "AutoModelForCausalLM", "OpenAIGPTLMHeadModel", 0),
        (
            "sequence-classification",
            "AutoModelForSequenceClassification",
            "OpenAIGPTForSequenceClassification",
            3,
        ),
    ],
)
def test_what_we_save_loads_back_in_transformers(tmp_path, kind, auto, cls, n):
    from family_parity import jitter

    folder = write_tiny_openai_gpt(tmp_path / "m", head=cls, num_labels=max(n, 2), pad_token_id=0)
    loaded = build_model(folder, kind, n)
    jitter(loaded.model, seed=3)
    save_like_workbench(loaded, kind, tmp_path / "ours")
    reference, info = getattr(transformers, auto).from_pretrained(
        tmp_path / "ours", output_loading_info=True
    )
    assert not info["missing_keys"] and not info["unexpected_keys"], info
    assert type(reference).__name__ == cls
    ids, mask = padded_batch(100, pad_id=0)
    with torch.no_grad():
        got = loaded.model.eval()(ids, mask)
        expected = reference.eval()(input_ids=ids, attention_mask=mask).logits
    real = mask if kind == "causal-lm" else torch.ones(len(ids), dtype=torch.bool)
    diff = _real_diff(got, expected, real)
    print(f"openai-gpt {kind} round trip: {diff:.2e}")
    assert diff < 1e-5


def test_the_cache_and_packed_documents_follow_the_decoder_contract(tmp_path):
    folder = write_tiny_openai_gpt(tmp_path / "m")
    model = build_model(folder, "causal-lm", 0).model.eval()
    g = torch.Generator().manual_seed(4)
    ids = torch.randint(0, 100, (2, 9), generator=g)
    docs = [torch.randint(0, 100, (1, n), generator=g) for n in (4, 7, 2)]
    document_ids = torch.cat([torch.full((1, d.shape[1]), i) for i, d in enumerate(docs)], dim=1)
    with torch.no_grad():
        full = model(ids)
        cache = KVCache()
        steps = [model(ids[:, :5], cache=cache)]
        steps += [model(ids[:, t : t + 1], cache=cache) for t in range(5, 9)]
        packed = model(torch.cat(docs, dim=1), document_ids=document_ids)
        alone = torch.cat([model(d) for d in docs], dim=1)
    assert (torch.cat(steps, dim=1) - full).abs().max().item() < 1e-5
    assert (packed - alone).abs().max().item() < 1e-5


def test_config_errors_name_the_key(tmp_path):
    from workbench.engine.models.openai_gpt import OpenAIGPTConfig
    from workbench.errors import UserError

    with pytest.raises(UserError, match="afn 'tanh'"):
        OpenAIGPTConfig.from_dict({"afn": "tanh"})
    with pytest.raises(UserError, match="multiple of n_head"):
        OpenAIGPTConfig.from_dict({"n_embd": 30, "n_head": 4})
    model = build_model(write_tiny_openai_gpt(tmp_path / "m"), "causal-lm", 0).model
    with pytest.raises(UserError, match="64 positions"):
        model(torch.ones(1, 65, dtype=torch.long))


def test_describing_an_openai_gpt_folder(tmp_path):
    from workbench.engine.models.registry import describe_model

    described = describe_model(write_tiny_openai_gpt(tmp_path / "m"))
    assert described["family"] == "openai-gpt"
    assert (described["layers"], described["hidden_size"], described["max_positions"]) == (
        2,
        32,
        64,
    )
    assert "text-classification" in described["tasks"]
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["model_type"] == "openai-gpt"
