"""GGUF files (llama.cpp, Ollama) as Hugging Face model folders, converted once and cached.

A GGUF holds the weights (often quantised to 4 or 8 bits), the settings under llama.cpp's
names and the tokenizer's vocabulary and merges. Converting it into a folder (config.json,
model.safetensors in float32, tokenizer.json, tokenizer_config.json with the chat template)
keeps the rest of the engine unchanged: loading, training, generation and export read that
folder as any other. The folder lives under WORKBENCH_HOME/gguf/ and is reused while the
file's path, size and modification time stay the same.

What differs from a Hugging Face checkpoint, and is undone here:
- tensor names (`blk.N.attn_q.weight` -> `model.layers.N.self_attn.q_proj.weight`);
- quantisation (dequantised by the `gguf` package to float32);
- llama.cpp's convert script permutes the rows of Llama's q/k projections for its own RoPE
  layout (interleaved pairs); HF's rotate-half layout needs them back (as transformers'
  GGUF loader does). Qwen2 files are not permuted.

No torch here: numpy and safetensors only, so `describe_model` stays fast.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from workbench.errors import UserError
from workbench.runs import match_umask

ARCHITECTURES = {"llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM"}
_PERMUTED = ("llama",)  # architectures whose q/k rows llama.cpp permutes
CONVERTER_VERSION = 1  # bump when the conversion changes: cached folders are redone

_LAYER_NAMES = {
    "attn_norm.weight": "input_layernorm.weight",
    "attn_q.weight": "self_attn.q_proj.weight",
    "attn_q.bias": "self_attn.q_proj.bias",
    "attn_k.weight": "self_attn.k_proj.weight",
    "attn_k.bias": "self_attn.k_proj.bias",
    "attn_v.weight": "self_attn.v_proj.weight",
    "attn_v.bias": "self_attn.v_proj.bias",
    "attn_output.weight": "self_attn.o_proj.weight",
    "attn_output.bias": "self_attn.o_proj.bias",
    "ffn_norm.weight": "post_attention_layernorm.weight",
    "ffn_gate.weight": "mlp.gate_proj.weight",
    "ffn_up.weight": "mlp.up_proj.weight",
    "ffn_down.weight": "mlp.down_proj.weight",
}
_TOP_NAMES = {
    "token_embd.weight": "model.embed_tokens.weight",
    "output_norm.weight": "model.norm.weight",
    "output.weight": "lm_head.weight",
}
_BLOCK = re.compile(r"^blk\.(\d+)\.(.+)$")

# How the text is split before BPE, by `tokenizer.ggml.pre` (llama.cpp's names).
_GPT2_SPLIT = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
_LLAMA3_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_QWEN2_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_PRE_TOKENIZERS = {
    "default": ("gpt2", None),
    "gpt2": ("gpt2", None),
    "gpt-2": ("gpt2", None),  # llama.cpp's own name for GPT-2's split
    # single digits first, then GPT-2's split (SmolLM's own tokenizer.json does the same)
    "smollm": ("digits", None),
    "starcoder": ("digits", None),
    "refact": ("digits", None),
    "command-r": ("digits", None),
    "codeshell": ("digits", None),
    "exaone": ("digits", None),
    "minerva-7b": ("digits", None),
    "llama3": ("regex", _LLAMA3_SPLIT),
    "llama-v3": ("regex", _LLAMA3_SPLIT),
    "llama-bpe": ("regex", _LLAMA3_SPLIT),
    "smaug-bpe": ("regex", _LLAMA3_SPLIT),
    "qwen2": ("regex", _QWEN2_SPLIT),
    "deepseek-r1-qwen": ("regex", _QWEN2_SPLIT),
}
_UNKNOWN, _CONTROL, _USER_DEFINED = 2, 3, 4  # tokenizer.ggml.token_type values


def _gguf():
    try:
        import gguf
    except ImportError:
        raise UserError(
            "reading GGUF files needs the gguf package; run `pip install gguf`"
        ) from None
    return gguf


# ---- the cache ---------------------------------------------------------------------------
def cache_root() -> Path:
    from workbench.runs import user_data_dir

    return user_data_dir() / "gguf"


def gguf_folder(path: str | Path) -> Path:
    """The model folder converted from the GGUF file at `path`: from the cache when the file
    is unchanged (same path, size and modification time), else converted now (seconds for a
    100 MB file) into a temporary folder renamed into place, so a crash leaves no half."""
    source = Path(path).expanduser().resolve()
    try:
        stat = source.stat()
    except OSError as exc:
        raise UserError(f"cannot read {source}: {exc.strerror or exc}") from None
    root = cache_root()
    folder = _converted_path(source, stat)
    if (folder / "config.json").exists():
        return folder
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=root))
    match_umask(staging, 0o777)  # mkdtemp makes it 0700; it becomes the model folder
    try:
        convert(source, staging)
        (staging / "gguf_source.json").write_text(
            json.dumps({"path": str(source), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}),
            encoding="utf-8",
        )
        try:
            os.replace(staging, folder)
        except OSError:
            if not (folder / "config.json").exists():  # not another process's finished copy
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    _drop_stale(root, source, keep=folder)
    return folder


def converted_folder(path: str | Path) -> Path | None:
    """The cached conversion of the GGUF file at `path`, or None when it has not been
    converted since it last changed (listing must not convert: seconds and 0.5 GB)."""
    source = Path(path).expanduser().resolve()
    try:
        folder = _converted_path(source, source.stat())
    except OSError:
        return None
    return folder if (folder / "config.json").exists() else None


def _converted_path(source: Path, stat: os.stat_result) -> Path:
    stamp = f"{source}|{stat.st_size}|{stat.st_mtime_ns}|{CONVERTER_VERSION}"
    key = hashlib.sha256(stamp.encode("utf-8")).hexdigest()[:16]
    return cache_root() / f"{_safe_name(source.stem)}-{key}"


def _safe_name(stem: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", stem)[:60] or "model"


def _drop_stale(root: Path, source: Path, keep: Path) -> None:
    """Earlier conversions of the same file (it changed since): they would only take space."""
    for folder in root.iterdir():
        if folder == keep or not folder.is_dir() or folder.name.startswith("."):
            continue
        try:
            info = json.loads((folder / "gguf_source.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if info.get("path") == str(source):
            shutil.rmtree(folder, ignore_errors=True)


# ---- conversion --------------------------------------------------------------------------
def convert(path: Path, out: Path) -> None:
    """Write config.json, model.safetensors, tokenizer.json and tokenizer_config.json."""
    from safetensors.numpy import save_file

    reader = open_gguf(path)
    meta = metadata(reader)
    config = config_from_metadata(meta, path)
    tensors = read_tensors(reader, config, path)
    config["tie_word_embeddings"] = "lm_head.weight" not in tensors
    config["vocab_size"] = int(tensors["model.embed_tokens.weight"].shape[0])
    tokenizer, tokenizer_config = tokenizer_from_metadata(meta, path)
    save_file(tensors, str(out / "model.safetensors"), metadata={"format": "pt"})
    match_umask(out / "model.safetensors", 0o666)  # safetensors writes it 0600
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    tokenizer.save(str(out / "tokenizer.json"))
    (out / "tokenizer_config.json").write_text(
        json.dumps(tokenizer_config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )


def open_gguf(path: Path):
    gguf = _gguf()
    try:
        return gguf.GGUFReader(str(path))
    except Exception as exc:  # not a GGUF, truncated, or a newer format version
        raise UserError(f"cannot read {path} as a GGUF file: {exc}") from None


def metadata(reader) -> dict[str, Any]:
    """Every key/value of the file as plain Python values (strings, numbers, lists)."""
    out: dict[str, Any] = {}
    for key, field in reader.fields.items():
        if key.startswith("GGUF."):
            continue
        try:
            out[key] = field.contents()
        except Exception:  # a value type this gguf version cannot decode: not one we read
            continue
    return out


def config_from_metadata(meta: dict[str, Any], path: Path | str = "") -> dict[str, Any]:
    """A Hugging Face config.json (llama or qwen2) from llama.cpp's metadata keys."""
    arch = meta.get("general.architecture")
    if arch not in ARCHITECTURES:
        raise UserError(
            f"{path} is a GGUF of architecture {arch!r}, which is not supported yet; "
            f"supported: {', '.join(ARCHITECTURES)}"
        )

    def get(name: str, default: Any = None) -> Any:
        return meta.get(f"{arch}.{name}", default)

    required = ("embedding_length", "block_count", "attention.head_count", "feed_forward_length")
    missing = [f"{arch}.{k}" for k in required if get(k) is None]
    if missing:
        raise UserError(f"{path} lacks GGUF settings {', '.join(missing)}; the file is incomplete")
    hidden, heads = int(get("embedding_length")), int(get("attention.head_count"))
    config: dict[str, Any] = {
        "architectures": [ARCHITECTURES[arch]],
        "model_type": arch,
        "hidden_size": hidden,
        "intermediate_size": int(get("feed_forward_length")),
        "num_hidden_layers": int(get("block_count")),
        "num_attention_heads": heads,
        "num_key_value_heads": int(get("attention.head_count_kv", heads)),
        "head_dim": int(get("attention.key_length") or get("rope.dimension_count") or 0)
        or hidden // heads,
        "hidden_act": "silu",
        "max_position_embeddings": int(get("context_length", 2048)),
        "rms_norm_eps": float(get("attention.layer_norm_rms_epsilon", 1e-6)),
        "rope_theta": float(get("rope.freq_base", 10000.0)),
        "torch_dtype": "float32",
    }
    scaling = get("rope.scaling.type")
    if scaling in ("linear", "yarn"):
        config["rope_scaling"] = {"rope_type": scaling, "factor": float(get("rope.scaling.factor"))}
        if get("rope.scaling.original_context_length"):
            config["rope_scaling"]["original_max_position_embeddings"] = int(
                get("rope.scaling.original_context_length")
            )
    elif scaling not in (None, "none"):
        raise UserError(f"{path} uses RoPE scaling {scaling!r}, which is not supported yet")
    if arch == "qwen2":
        config["use_sliding_window"] = False
    for name in ("bos", "eos", "padding"):
        value = meta.get(f"tokenizer.ggml.{name}_token_id")
        if value is not None:
            config["pad_token_id" if name == "padding" else f"{name}_token_id"] = int(value)
    return config


def read_tensors(reader, config: dict[str, Any], path: Path | str = "") -> dict[str, np.ndarray]:
    """The weights under Hugging Face names, dequantised to float32, q/k rows un-permuted."""
    gguf = _gguf()
    from gguf.quants import dequantize

    heads, kv_heads = config["num_attention_heads"], config["num_key_value_heads"]
    permuted = config["model_type"] in _PERMUTED
    tensors: dict[str, np.ndarray] = {}
    rope_freqs = None
    for tensor in reader.tensors:
        name = tensor.name
        if name == "rope_freqs.weight":  # Llama 3.1's frequency factors, as a tensor
            rope_freqs = np.asarray(tensor.data, dtype=np.float32).reshape(-1)
            continue
        key = _hf_name(name)
        if key is None:
            raise UserError(
                f"{path} has a tensor {name!r} this reader does not know; "
                "is it a plain Llama/Qwen2 model (not a LoRA adapter, vision or MoE model)?"
            )
        kind = gguf.GGMLQuantizationType(tensor.tensor_type)
        try:
            values = dequantize(tensor.data, kind)
        except (NotImplementedError, gguf.quants.QuantError, KeyError) as exc:
            raise UserError(
                f"{path}: tensor {name} is stored as {kind.name}, which cannot be read yet "
                f"({exc}); re-quantise it to Q8_0, Q4_0/Q4_1, F16, BF16 or F32"
            ) from None
        shape = tuple(int(d) for d in reversed(tensor.shape))  # GGUF lists dims inner first
        values = np.ascontiguousarray(values, dtype=np.float32).reshape(shape)
        if permuted and name.endswith(("attn_q.weight", "attn_q.bias")):
            values = unpermute(values, heads)
        elif permuted and name.endswith(("attn_k.weight", "attn_k.bias")):
            values = unpermute(values, kv_heads)
        tensors[key] = values
    if rope_freqs is not None:
        config["rope_scaling"] = _llama3_scaling(rope_freqs, config, path)
    layers = config["num_hidden_layers"]
    needed = ["model.embed_tokens.weight", "model.norm.weight"] + [
        f"model.layers.{i}.{suffix}"
        for i in range(layers)
        for suffix in ("input_layernorm.weight", "self_attn.q_proj.weight", "mlp.down_proj.weight")
    ]
    lacking = [k for k in needed if k not in tensors]
    if lacking:
        raise UserError(f"{path} lacks weights: {', '.join(lacking[:5])}; the file is incomplete")
    return tensors


def _hf_name(name: str) -> str | None:
    if name in _TOP_NAMES:
        return _TOP_NAMES[name]
    match = _BLOCK.match(name)
    if match and match.group(2) in _LAYER_NAMES:
        return f"model.layers.{match.group(1)}.{_LAYER_NAMES[match.group(2)]}"
    return None


def unpermute(weights: np.ndarray, n_head: int) -> np.ndarray:
    """Undo llama.cpp's `permute` of q/k rows: per head, rows (pair, half) -> (half, pair).

    llama.cpp writes rows of each head as interleaved (x0, x_half, x1, x_half+1 …) pairs for
    its RoPE; HF's rotate-half wants the two halves as blocks again."""
    dim = weights.shape[0] // n_head // 2
    return (
        weights.reshape(n_head, dim, 2, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
        .copy()
    )


def permute(weights: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp's own permutation (its convert script), the inverse of `unpermute`."""
    return (
        weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
        .copy()
    )


def _llama3_scaling(factors: np.ndarray, config: dict[str, Any], path: Path | str) -> dict:
    """Llama 3.1's RoPE factors come as a tensor; find the llama3 settings that make them
    (Meta's published ones), or say the file needs something else."""
    dim, base = config["head_dim"], config["rope_theta"]
    inv_freq = 1.0 / base ** (np.arange(0, dim, 2, dtype=np.float64) / dim)
    for original in (8192, 4096, 2048, 16384, 32768, 131072):
        for factor in (8.0, 32.0, 16.0, 4.0, 2.0):
            settings = {
                "rope_type": "llama3", "factor": factor, "low_freq_factor": 1.0,
                "high_freq_factor": 4.0, "original_max_position_embeddings": original,
            }  # fmt: skip
            wavelen = 2 * np.pi / inv_freq
            low, high = original / 1.0, original / 4.0
            smooth = (original / wavelen - 1.0) / (4.0 - 1.0)
            expected = np.where(
                wavelen > low,
                factor,
                np.where(wavelen < high, 1.0, 1.0 / ((1 - smooth) / factor + smooth)),
            )
            if expected.shape == factors.shape and np.allclose(expected, factors, rtol=1e-3):
                return settings
    raise UserError(f"{path} has RoPE frequency factors (rope_freqs) this reader cannot match")


# ---- the tokenizer -----------------------------------------------------------------------
def tokenizer_from_metadata(meta: dict[str, Any], path: Path | str = ""):
    """(tokenizers.Tokenizer, tokenizer_config.json dict) from the vocabulary, merges and
    special tokens the GGUF stores: byte-level BPE (`tokenizer.ggml.model` "gpt2": SmolLM2,
    Llama 3, Qwen2) or sentencepiece-style BPE with byte fallback ("llama": Llama 2,
    TinyLlama, Mistral)."""
    from tokenizers import AddedToken

    kind = meta.get("tokenizer.ggml.model")
    tokens: list[str] = list(meta.get("tokenizer.ggml.tokens") or [])
    if kind not in ("gpt2", "llama"):
        raise UserError(
            f"{path} has a {kind!r} tokenizer; only byte-level BPE ('gpt2': SmolLM2, Llama 3, "
            "Qwen2) and sentencepiece BPE ('llama': Llama 2, TinyLlama, Mistral) GGUF "
            "tokenizers are supported yet"
        )
    if not tokens:
        raise UserError(f"{path} has no tokenizer vocabulary; the file is incomplete")
    if kind == "gpt2":
        backend = _byte_level(meta, tokens, path)
        add_bos_default = False
    else:
        backend = _sentencepiece(meta, tokens, path)
        add_bos_default = True  # llama.cpp adds BOS to a sentencepiece vocabulary by default
    types = list(meta.get("tokenizer.ggml.token_type") or [])
    special = [t for t, k in zip(tokens, types) if k in (_UNKNOWN, _CONTROL)]
    user = [t for t, k in zip(tokens, types) if k == _USER_DEFINED]
    backend.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in special])
    backend.add_tokens([AddedToken(t, special=False, normalized=False) for t in user])

    def token(name: str) -> str | None:
        index = meta.get(f"tokenizer.ggml.{name}_token_id")
        return tokens[index] if isinstance(index, int) and 0 <= index < len(tokens) else None

    bos, eos = token("bos"), token("eos")
    add_bos = bool(meta.get("tokenizer.ggml.add_bos_token", add_bos_default)) and bos is not None
    add_eos = bool(meta.get("tokenizer.ggml.add_eos_token", False)) and eos is not None
    _post_processor(backend, kind, bos if add_bos else None, eos if add_eos else None)
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": bos,
        "eos_token": eos,
        "unk_token": token("unknown"),
        "pad_token": token("padding"),
        "add_bos_token": add_bos,
        "add_eos_token": add_eos,
        "clean_up_tokenization_spaces": False,
        "model_max_length": int(
            meta.get(f"{meta.get('general.architecture')}.context_length", 2048)
        ),
    }
    if meta.get("tokenizer.chat_template"):
        config["chat_template"] = meta["tokenizer.chat_template"]
    return backend, {k: v for k, v in config.items() if v is not None}


def _byte_level(meta: dict[str, Any], tokens: list[str], path: Path | str):
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers

    if not meta.get("tokenizer.ggml.merges"):
        raise UserError(f"{path} has no tokenizer merges; the file is incomplete")
    pre = meta.get("tokenizer.ggml.pre", "default")
    if pre not in _PRE_TOKENIZERS:
        raise UserError(
            f"{path} splits text the {pre!r} way (tokenizer.ggml.pre), which is not supported "
            f"yet; supported: {', '.join(sorted(_PRE_TOKENIZERS))}"
        )
    merges = [tuple(m.split(" ", 1)) for m in meta["tokenizer.ggml.merges"]]
    vocab = {token: index for index, token in enumerate(tokens)}
    backend = Tokenizer(models.BPE(vocab, merges, fuse_unk=False))
    split, regex = _PRE_TOKENIZERS[pre]
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=split != "regex")
    if split == "gpt2":
        backend.pre_tokenizer = byte_level
    elif split == "digits":  # each digit alone, then GPT-2's split
        digits = pre_tokenizers.Digits(individual_digits=True)
        backend.pre_tokenizer = pre_tokenizers.Sequence([digits, byte_level])
    else:
        backend.pre_tokenizer = pre_tokenizers.Sequence(
            [pre_tokenizers.Split(Regex(regex), behavior="isolated"), byte_level]
        )
    backend.decoder = decoders.ByteLevel()
    return backend


def _sentencepiece(meta: dict[str, Any], tokens: list[str], path: Path | str):
    """BPE over "▁"-for-space text with byte fallback (<0x0A> …), as transformers' Llama
    tokenizer builds it; merges from the file, or derived from the token scores when the file
    has none (older conversions)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    vocab = {token: index for index, token in enumerate(tokens)}
    if meta.get("tokenizer.ggml.merges"):
        merges = [tuple(m.split(" ", 1)) for m in meta["tokenizer.ggml.merges"]]
    else:
        scores = meta.get("tokenizer.ggml.scores")
        if not scores or len(scores) != len(tokens):
            raise UserError(f"{path} has neither tokenizer merges nor scores; it is incomplete")
        merges = merges_from_scores(tokens, [float(x) for x in scores])
    unk_id = meta.get("tokenizer.ggml.unknown_token_id")
    unk = tokens[unk_id] if isinstance(unk_id, int) and 0 <= unk_id < len(tokens) else None
    backend = Tokenizer(models.BPE(vocab, merges, unk_token=unk, fuse_unk=True, byte_fallback=True))
    prefix = bool(meta.get("tokenizer.ggml.add_space_prefix", True))
    backend.pre_tokenizer = pre_tokenizers.Metaspace(
        replacement="\u2581", prepend_scheme="first" if prefix else "never", split=False
    )
    steps = [decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse()]
    if prefix:
        steps.append(decoders.Strip(content=" ", left=1, right=0))
    backend.decoder = decoders.Sequence(steps)
    return backend


def merges_from_scores(tokens: list[str], scores: list[float]) -> list[tuple[str, str]]:
    """Sentencepiece stores no merges, only a score per token: every split of a token into
    two known tokens is a merge, ranked by the merged token's score (best first)."""
    vocab = {token: index for index, token in enumerate(tokens)}
    found: list[tuple[float, int, int, str, str]] = []
    for token, score in zip(tokens, scores):
        pairs = [
            (token[:i], token[i:])
            for i in range(1, len(token))
            if token[:i] in vocab and token[i:] in vocab
        ]
        pairs.sort(key=lambda pair: (vocab[pair[0]], vocab[pair[1]]))
        found.extend((score, len(left), len(right), left, right) for left, right in pairs)
    # stable sort: equal keys keep their order above
    found.sort(key=lambda item: (item[0], item[1], item[2]), reverse=True)
    return [(left, right) for _, _, _, left, right in found]


def _post_processor(backend, kind: str, bos: str | None, eos: str | None) -> None:
    from tokenizers import processors

    if bos is None and eos is None:
        if kind == "gpt2":
            backend.post_processor = processors.ByteLevel(trim_offsets=False)
        return
    ids = {t: backend.token_to_id(t) for t in (bos, eos) if t is not None}
    first = ([f"{bos}:0"] if bos else []) + ["$A:0"] + ([f"{eos}:0"] if eos else [])
    second = ([f"{bos}:1"] if bos else []) + ["$B:1"] + ([f"{eos}:1"] if eos else [])
    backend.post_processor = processors.TemplateProcessing(
        single=" ".join(first), pair=" ".join(first + second), special_tokens=list(ids.items())
    )
