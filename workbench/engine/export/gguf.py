"""GGUF file for llama.cpp, Ollama and LM Studio: a Llama-family causal LM in f16 or q8_0.

What llama.cpp's own `convert_hf_to_gguf.py` writes, done with the `gguf` package's
GGUFWriter: its tensor names (`blk.N.attn_q.weight` …, the inverse of our reader's
mapping in models/gguf.py), the rows of Llama's q/k projections permuted into its
interleaved RoPE layout (Qwen2 files are not permuted), its metadata keys (context length,
heads, RoPE theta and scaling, RMS epsilon) and the tokenizer: byte-level BPE
(`tokenizer.ggml.model` "gpt2": vocabulary, merges, token types, the pre-tokenizer's name)
or sentencepiece-style BPE with byte fallback ("llama": the same plus scores that merge in
the BPE's order and the space prefix), bos/eos/pad ids and the chat template. Norms and
biases stay float32 as llama.cpp keeps them; a q8_0 matrix whose rows are not a multiple of
32 is written in f16 (llama.cpp does the same). Mistral is written as "llama", as llama.cpp's
converter does (its sliding window is not kept: llama.cpp attends to the whole context).

The self-check reads the file back with our own GGUF reader (models/gguf.py) and compares
the logits and the token ids of probe texts with the trained model; the export is kept only
when they agree within the format's rounding.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from workbench import runs
from workbench.engine.export.base import Exporter
from workbench.engine.models.family import CAUSAL_LM
from workbench.engine.models.gguf import permute
from workbench.engine.trained import TrainedModel
from workbench.errors import UserError

FILE_NAME = "model.gguf"
ARCHITECTURES = {"llama": "llama", "mistral": "llama", "qwen2": "qwen2"}  # as llama.cpp's
_PERMUTED = ("llama",)  # llama.cpp permutes q/k rows of its "llama" architecture only
PROBE_TEXTS = [
    "A short probe sentence, with 12345 digits.",
    "Ein zweiter Satz, länger als der erste, mit Umlauten: Zürich, naïve café.",
]
_TOP = {
    "model.embed_tokens.weight": "token_embd.weight",
    "model.norm.weight": "output_norm.weight",
    "lm_head.weight": "output.weight",
}
_LAYER = {
    "input_layernorm.weight": "attn_norm.weight",
    "self_attn.q_proj.weight": "attn_q.weight",
    "self_attn.q_proj.bias": "attn_q.bias",
    "self_attn.k_proj.weight": "attn_k.weight",
    "self_attn.k_proj.bias": "attn_k.bias",
    "self_attn.v_proj.weight": "attn_v.weight",
    "self_attn.v_proj.bias": "attn_v.bias",
    "self_attn.o_proj.weight": "attn_output.weight",
    "self_attn.o_proj.bias": "attn_output.bias",
    "post_attention_layernorm.weight": "ffn_norm.weight",
    "mlp.gate_proj.weight": "ffn_gate.weight",
    "mlp.up_proj.weight": "ffn_up.weight",
    "mlp.down_proj.weight": "ffn_down.weight",
}
# llama.cpp's `tokenizer.ggml.pre` names for the splits our reader rebuilds (models/gguf.py)
_NORMAL, _UNKNOWN, _CONTROL, _USER_DEFINED, _UNUSED, _BYTE = 1, 2, 3, 4, 5, 6
_BYTE_TOKEN = re.compile(r"^<0x[0-9A-F]{2}>$")


def _gguf():
    try:
        import gguf
    except ImportError:
        raise UserError(
            "writing GGUF files needs the gguf package; run `pip install gguf`"
        ) from None
    return gguf


class GGUFExporter(Exporter):
    """One exporter per tensor type: `gguf-f16` and `gguf-q8_0` in the registry."""

    qtype: ClassVar[str]
    tolerance: ClassVar[float]
    """Largest logit difference the self-check accepts, relative to the largest logit: the
    rounding of the format on a model of the size the tests use, with room to spare."""

    def refuse(self, trained: TrainedModel) -> str | None:
        config = _read_json(trained.folder / "config.json")
        model_type = config.get("model_type")
        if model_type not in ARCHITECTURES:
            return (
                f"GGUF export takes Llama-family decoders ({', '.join(ARCHITECTURES)}); "
                f"this is a {model_type!r} model: export it with --format hf"
            )
        head = trained.task.head_for(trained.meta)
        if head != CAUSAL_LM:
            return (
                f"GGUF holds a causal language model; this {model_type} model has a {head} "
                "head (llama.cpp cannot run it): export it with --format hf"
            )
        if config.get("mlp_bias"):
            return "this model has biases on its MLP layers, which GGUF's llama layout lacks"
        rope = _rope(config)
        if rope.get("rope_type", "default") not in ("default", "linear", "yarn", "llama3"):
            return f"llama.cpp has no {rope['rope_type']!r} RoPE scaling; export with --format hf"
        if not (trained.folder / "tokenizer.json").exists():
            return "the model has no tokenizer.json, which the GGUF vocabulary is made from"
        try:
            _tokenizer_kind(json.loads((trained.folder / "tokenizer.json").read_text("utf-8")))
        except UserError as exc:
            return str(exc)
        return None

    def export(self, source: Path, output: Path) -> Path:
        """A folder with model.gguf and a README, or, when `output` ends in .gguf, that file
        alone; either whole and checked, or not at all."""
        output = Path(output).expanduser()
        if output.suffix.lower() != ".gguf":
            return super().export(source, output) / FILE_NAME
        output = output.resolve()
        if output.exists():
            raise UserError(f"{output} already exists; choose a new file name")
        staging_root = output.parent / f".{output.name}.staging"
        shutil.rmtree(staging_root, ignore_errors=True)  # our own leftover from a crash
        folder = super().export(source, staging_root)
        try:
            os.replace(folder / FILE_NAME, output)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return output

    def write(self, trained: TrainedModel, staging: Path) -> None:
        write_gguf(trained, staging / FILE_NAME, self.qtype)
        (staging / "README.md").write_text(_card(trained, self.qtype), encoding="utf-8")
        runs.match_umask(staging / FILE_NAME, 0o666)

    def self_check(self, trained: TrainedModel, written: Path) -> None:
        compare_with_reader(trained, written / FILE_NAME, self.tolerance)


class F16Exporter(GGUFExporter):
    name = "gguf-f16"
    title = "GGUF (f16)"
    description = (
        "one .gguf file for llama.cpp, Ollama and LM Studio; 16-bit weights (Llama, Qwen2, "
        "Mistral causal LMs)"
    )
    qtype = "F16"
    tolerance = 1e-2


class Q8Exporter(GGUFExporter):
    name = "gguf-q8_0"
    title = "GGUF (q8_0)"
    description = (
        "one .gguf file for llama.cpp, Ollama and LM Studio; 8-bit weights, half the size of "
        "f16 (Llama, Qwen2, Mistral causal LMs)"
    )
    qtype = "Q8_0"
    tolerance = 5e-2


# ---- writing -----------------------------------------------------------------------------
def write_gguf(trained: TrainedModel, path: Path, qtype: str) -> None:
    """The trained model as llama.cpp's converter writes it, tensors in `qtype` (F16, Q8_0)."""
    gguf = _gguf()
    config = _read_json(trained.folder / "config.json")
    arch = ARCHITECTURES[config["model_type"]]
    writer = gguf.GGUFWriter(str(path), arch)
    try:
        kind = gguf.GGMLQuantizationType[qtype]
        _write_settings(writer, gguf, config, trained, kind)
        _write_tokenizer(writer, gguf, trained)
        _write_tensors(writer, gguf, trained, config, arch, kind)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
    finally:
        writer.close()


def _write_settings(writer, gguf, config: dict[str, Any], trained: TrainedModel, kind) -> None:
    hidden = int(config["hidden_size"])
    heads = int(config["num_attention_heads"])
    head_dim = int(config.get("head_dim") or hidden // heads)
    layers = int(config["num_hidden_layers"])
    writer.add_name(_model_name(trained))
    writer.add_file_type(
        gguf.LlamaFileType.MOSTLY_F16
        if kind == gguf.GGMLQuantizationType.F16
        else gguf.LlamaFileType.MOSTLY_Q8_0
    )
    if kind != gguf.GGMLQuantizationType.F16:
        writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    writer.add_context_length(int(config.get("max_position_embeddings", 2048)))
    writer.add_embedding_length(hidden)
    writer.add_block_count(layers)
    writer.add_feed_forward_length(int(config["intermediate_size"]))
    writer.add_head_count(heads)
    writer.add_head_count_kv(int(config.get("num_key_value_heads") or heads))
    writer.add_rope_dimension_count(head_dim)
    if head_dim != hidden // heads:
        writer.add_key_length(head_dim)
        writer.add_value_length(head_dim)
    rope = _rope(config)
    writer.add_rope_freq_base(float(rope.get("rope_theta", 10000.0)))
    writer.add_layer_norm_rms_eps(float(config.get("rms_norm_eps", 1e-6)))
    writer.add_vocab_size(int(trained.model.state_dict()["model.embed_tokens.weight"].shape[0]))
    kind_name = rope.get("rope_type", "default")
    if kind_name in ("linear", "yarn"):
        writer.add_rope_scaling_type(
            gguf.RopeScalingType.LINEAR if kind_name == "linear" else gguf.RopeScalingType.YARN
        )
        writer.add_rope_scaling_factor(float(rope["factor"]))
        if kind_name == "yarn":
            original = rope.get("original_max_position_embeddings")
            writer.add_rope_scaling_orig_ctx_len(int(original or config["max_position_embeddings"]))
    elif kind_name == "llama3":  # as a tensor of frequency factors, llama.cpp's way
        writer.add_tensor("rope_freqs.weight", _llama3_factors(rope, head_dim))


def _rope(config: dict[str, Any]) -> dict[str, Any]:
    """RoPE settings in one dict (rope_theta, rope_type, factor …) from either spelling:
    transformers 5's `rope_parameters` or 4's `rope_theta` + `rope_scaling`."""
    params = config.get("rope_parameters")
    if isinstance(params, dict) and params:
        rope = dict(params)
    else:
        rope = dict(config.get("rope_scaling") or {})
        rope["rope_theta"] = config.get("rope_theta", 10000.0)
    rope.setdefault("rope_theta", config.get("rope_theta", 10000.0))
    rope["rope_type"] = rope.get("rope_type") or rope.get("type") or "default"
    return rope


def _llama3_factors(rope: dict[str, Any], head_dim: int) -> np.ndarray:
    """Llama 3.1's per-frequency scaling (llama.cpp's `generate_extra_tensors`), (hd/2,)."""
    base, factor = float(rope["rope_theta"]), float(rope["factor"])
    low, high = float(rope.get("low_freq_factor", 1.0)), float(rope.get("high_freq_factor", 4.0))
    original = float(rope.get("original_max_position_embeddings", 8192))
    freqs = 1.0 / base ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)
    wavelen = 2 * np.pi / freqs
    smooth = (original / wavelen - low) / (high - low)
    factors = np.where(
        wavelen < original / high,
        1.0,
        np.where(wavelen > original / low, factor, 1.0 / ((1 - smooth) / factor + smooth)),
    )
    return factors.astype(np.float32)


def _write_tensors(writer, gguf, trained: TrainedModel, config, arch: str, kind) -> None:
    from gguf.quants import quantize

    heads = int(config["num_attention_heads"])
    kv_heads = int(config.get("num_key_value_heads") or heads)
    state = trained.model.state_dict()
    embed = state["model.embed_tokens.weight"]
    for key, tensor in state.items():
        if key == "lm_head.weight" and (
            tensor.data_ptr() == embed.data_ptr() or config.get("tie_word_embeddings")
        ):
            continue  # a tied head: llama.cpp reuses token_embd
        name = gguf_name(key)
        values = tensor.detach().float().cpu().numpy()  # (out, in) as torch stores them
        if arch in _PERMUTED and key.endswith(("q_proj.weight", "q_proj.bias")):
            values = permute(values, heads)
        elif arch in _PERMUTED and key.endswith(("k_proj.weight", "k_proj.bias")):
            values = permute(values, kv_heads)
        values = np.ascontiguousarray(values, dtype=np.float32)
        if values.ndim == 1:
            writer.add_tensor(name, values)  # norms and biases stay float32
        elif kind == gguf.GGMLQuantizationType.Q8_0 and values.shape[-1] % 32 == 0:
            writer.add_tensor(name, quantize(values, kind), raw_dtype=kind)  # (out, bytes)
        else:
            writer.add_tensor(name, values.astype(np.float16))


def gguf_name(key: str) -> str:
    """llama.cpp's name for a Hugging Face state-dict key; UserError for one it has none for."""
    if key in _TOP:
        return _TOP[key]
    parts = key.split(".", 3)
    if len(parts) == 4 and parts[:2] == ["model", "layers"] and parts[3] in _LAYER:
        return f"blk.{parts[2]}.{_LAYER[parts[3]]}"
    raise UserError(f"the model has a weight {key!r} that GGUF's llama layout has no name for")


# ---- the tokenizer -----------------------------------------------------------------------
def _tokenizer_kind(tokenizer: dict[str, Any]) -> tuple[str, str | None]:
    """(`tokenizer.ggml.model`, `tokenizer.ggml.pre`): ("gpt2", the split's name) for
    byte-level BPE, ("llama", None) for sentencepiece-style BPE with byte fallback (Llama 2,
    TinyLlama, Mistral); UserError for a tokenizer GGUF cannot describe."""
    if _is_sentencepiece(tokenizer):
        return "llama", None
    return "gpt2", _pre_tokenizer(tokenizer)


def _is_sentencepiece(tokenizer: dict[str, Any]) -> bool:
    model = tokenizer.get("model") or {}
    return (
        model.get("type") == "BPE"
        and bool(model.get("byte_fallback"))
        and (
            "Metaspace" in json.dumps(tokenizer.get("pre_tokenizer"))
            or "\u2581" in json.dumps(tokenizer.get("normalizer"), ensure_ascii=False)
        )
    )


def _space_prefix(tokenizer: dict[str, Any]) -> bool:
    """Whether a "▁" is put before the text (sentencepiece's add_dummy_prefix)."""
    pre = tokenizer.get("pre_tokenizer") or {}
    steps = pre.get("pretokenizers", [pre]) if pre.get("type") == "Sequence" else [pre]
    for step in steps:
        if step.get("type") == "Metaspace":
            scheme = step.get("prepend_scheme")
            return scheme in ("first", "always") if scheme else bool(step.get("add_prefix_space"))
    return '"Prepend"' in json.dumps(tokenizer.get("normalizer"))


def _pre_tokenizer(tokenizer: dict[str, Any]) -> str:
    """llama.cpp's name (`tokenizer.ggml.pre`) for how tokenizer.json splits text before BPE;
    UserError when it is a split llama.cpp would not repeat."""
    from workbench.engine.models.gguf import _LLAMA3_SPLIT, _QWEN2_SPLIT

    model = tokenizer.get("model") or {}
    pre = tokenizer.get("pre_tokenizer") or {}
    steps = pre.get("pretokenizers", [pre]) if pre.get("type") == "Sequence" else [pre]
    types = [step.get("type") for step in steps]
    if model.get("type") != "BPE" or "ByteLevel" not in types:
        raise UserError(
            "only BPE tokenizers (byte-level: SmolLM2, Llama 3, Qwen2; sentencepiece-style "
            "with byte fallback: Llama 2, TinyLlama, Mistral) can be written to GGUF; this "
            "model's tokenizer is another kind"
        )
    if types == ["ByteLevel"] and steps[0].get("use_regex", True):
        return "gpt-2"  # llama.cpp's name for GPT-2's split ("gpt2" is refused as unknown)
    if types == ["Digits", "ByteLevel"] and steps[0].get("individual_digits"):
        return "smollm"
    if types == ["Split", "ByteLevel"] and not steps[1].get("use_regex", True):
        pattern = (steps[0].get("pattern") or {}).get("Regex")
        names = {_LLAMA3_SPLIT: "llama-bpe", _QWEN2_SPLIT: "qwen2"}
        if pattern in names:
            return names[pattern]
    raise UserError(
        "the tokenizer splits text in a way llama.cpp has no name for "
        f"({' + '.join(map(str, types))}); GGUF export cannot keep it"
    )


def _write_tokenizer(writer, gguf, trained: TrainedModel) -> None:
    folder = trained.folder
    data = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
    vocab: dict[str, int] = dict(data["model"]["vocab"])
    added = {t["content"]: t for t in data.get("added_tokens") or []}
    for token, info in added.items():
        vocab[token] = int(info["id"])
    size = int(trained.model.state_dict()["model.embed_tokens.weight"].shape[0])
    size = max(size, max(vocab.values()) + 1)
    by_id: dict[int, str] = {index: token for token, index in vocab.items()}
    kind, pre = _tokenizer_kind(data)
    unk = data["model"].get("unk_token")
    tokens, types = [], []
    for index in range(size):
        token = by_id.get(index)
        if token is None:  # embedding rows no token uses (padded vocabularies): llama.cpp's way
            tokens.append(f"[PAD{index}]")
            types.append(_UNUSED)
            continue
        tokens.append(token)
        if kind == "llama" and token == unk:
            types.append(_UNKNOWN)
        elif kind == "llama" and _BYTE_TOKEN.match(token):
            types.append(_BYTE)
        elif token in added:
            types.append(_CONTROL if added[token].get("special") else _USER_DEFINED)
        else:
            types.append(_NORMAL)
    merges = [m if isinstance(m, str) else " ".join(m) for m in data["model"].get("merges") or []]
    writer.add_tokenizer_model(kind)
    if pre:
        writer.add_tokenizer_pre(pre)
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    if kind == "llama":
        writer.add_token_scores(_scores(tokens, merges))
        writer.add_add_space_prefix(_space_prefix(data))
        if unk in vocab:
            writer.add_unk_token_id(vocab[unk])

    tokenizer = trained.tokenizer
    config = _read_json(folder / "config.json")
    bos = _token_id(config.get("bos_token_id"), folder, "bos_token", vocab)
    if bos is not None:
        writer.add_bos_token_id(bos)
    if tokenizer.eos_id is not None:
        writer.add_eos_token_id(tokenizer.eos_id)
    writer.add_pad_token_id(tokenizer.pad_id)
    prefix, suffix = tokenizer.template.prefix, tokenizer.template.suffix
    writer.add_add_bos_token(bos is not None and list(prefix) == [bos])
    writer.add_add_eos_token(tokenizer.eos_id is not None and list(suffix) == [tokenizer.eos_id])
    if list(prefix) not in ([], [bos]) or list(suffix) not in ([], [tokenizer.eos_id]):
        raise UserError(
            "the tokenizer adds special tokens around a text that GGUF cannot describe "
            "(only a leading bos and a trailing eos)"
        )
    template = _chat_template(folder)
    if template:
        writer.add_chat_template(template)


def _scores(tokens: list[str], merges: list[str]) -> list[float]:
    """Sentencepiece scores, which llama.cpp merges by (the best-scored pair first): the
    negated rank of the merge that makes a token, so it merges in the BPE's order; tokens no
    merge makes score below every merge."""
    index = {token: i for i, token in enumerate(tokens)}
    scores = [-float(len(merges) + i) for i in range(len(tokens))]
    made: set[int] = set()
    for rank, merge in enumerate(merges):
        token = index.get(merge.replace(" ", "", 1))
        if token is not None and token not in made:
            made.add(token)
            scores[token] = -float(rank)
    return scores


def _token_id(value: Any, folder: Path, key: str, vocab: dict[str, int]) -> int | None:
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = _read_json(folder / "tokenizer_config.json").get(key)
    if isinstance(text, dict):
        text = text.get("content")
    return vocab.get(text) if isinstance(text, str) else None


def _chat_template(folder: Path) -> str | None:
    """tokenizer_config.json's chat template, or transformers 5's chat_template.jinja."""
    template = _read_json(folder / "tokenizer_config.json").get("chat_template")
    if isinstance(template, list):  # named templates: llama.cpp reads the default one
        named = {t.get("name"): t.get("template") for t in template if isinstance(t, dict)}
        template = named.get("default")
    if isinstance(template, str) and template:
        return template
    jinja = folder / "chat_template.jinja"
    return jinja.read_text(encoding="utf-8") if jinja.exists() else None


# ---- checking ----------------------------------------------------------------------------
def compare_with_reader(trained: TrainedModel, path: Path, tolerance: float) -> None:
    """Read `path` back with our GGUF reader: the token ids of the probe texts must be the
    same and the logits within `tolerance` of the largest logit; else UserError."""
    import torch

    from workbench.engine.models.gguf import convert
    from workbench.engine.models.loading import build_model
    from workbench.engine.tokenizer import TextTokenizer

    with tempfile.TemporaryDirectory(prefix="workbench-gguf-check-") as tmp:
        convert(path, Path(tmp))
        tokenizer = TextTokenizer.from_folder(tmp, trained.tokenizer.max_length)
        ours = [trained.tokenizer.encode_prompt(t) for t in PROBE_TEXTS]
        theirs = [tokenizer.encode_prompt(t) for t in PROBE_TEXTS]
        if ours != theirs:
            raise UserError(
                "the GGUF file's tokenizer splits text differently from the model's; "
                "nothing was written"
            )
        model = build_model(Path(tmp), CAUSAL_LM, 0).model.eval()
        expected_model = trained.model
        with torch.no_grad():
            for ids in ours:
                batch = torch.tensor([ids])  # (1, T)
                mask = torch.ones_like(batch)
                expected = expected_model(batch, mask).float()  # (1, T, V)
                got = model(batch, mask).float()
                scale = float(expected.abs().max())
                difference = float((expected - got).abs().max())
                if got.shape != expected.shape or difference > tolerance * max(scale, 1e-6):
                    raise UserError(
                        f"the GGUF file does not reproduce the model (logits differ by "
                        f"{difference:.3g} of {scale:.3g}); nothing was written"
                    )


def _model_name(trained: TrainedModel) -> str:
    folder = trained.folder
    return folder.parent.name if folder.name == "model" else folder.name


def _card(trained: TrainedModel, qtype: str) -> str:
    return (
        "# Exported with Workbench\n\n"
        f"`{FILE_NAME}`: a {trained.family.name}-family causal language model in GGUF "
        f"({qtype.lower()} weights) for llama.cpp, Ollama or LM Studio.\n\n"
        "```\n"
        f'llama-cli -m {FILE_NAME} -p "Once upon a time"\n'
        f'workbench generate {FILE_NAME} --prompt "Once upon a time"\n'
        "```\n"
    )


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


F16 = F16Exporter()
Q8_0 = Q8Exporter()
