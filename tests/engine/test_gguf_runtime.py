"""llama.cpp itself runs our GGUF exports (through llama-cpp-python, where it is installed):
the texts' token ids are the same, the logits close, and 20 greedy tokens the same ids as
Workbench's own greedy generation (f16; near-ties of a random model aside) or llama.cpp's pick
at nearly every step of ours (q8_0). Tiny random decoders in transformers' layout with small
trained tokenizers of each kind llama.cpp reads: a Llama (grouped-query attention, q/k rows
permuted for llama.cpp's RoPE) with SmolLM's byte-level split, a tied Qwen2 with q/k/v biases
and Qwen2's split, a Llama with a sentencepiece-style vocabulary (byte fallback, "▁" for
spaces) and linear RoPE scaling, and a tied Llama with Llama 3's split and Llama 3.1's RoPE.

llama-cpp-python has no wheel on PyPI (its sdist builds llama.cpp: 29 min here with 2 jobs for
libllama alone), so CI skips this file; the README says where and when it was run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

# first, so that where it is missing the file is skipped without importing torch
llama_cpp = pytest.importorskip(
    "llama_cpp",
    reason="llama-cpp-python is not installed (a source build of llama.cpp: "
    "`pip install llama-cpp-python`); these tests run our GGUF exports in llama.cpp",
)
pytest.importorskip("gguf")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from workbench.engine import export_model  # noqa: E402
from workbench.engine.generation.generate import GenerationSettings, generate  # noqa: E402
from workbench.engine.models.loading import build_model  # noqa: E402
from workbench.engine.tokenizer import TextTokenizer  # noqa: E402

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "A small model writes a short story about a cat and a hat in 2024.",
    "Café, naïve, Zürich: accents are bytes too. 日本語のテキスト。",
    "Numbers 12345 and words that repeat, repeat, repeat.",
    "She said: \"it's done\", and we'll see what they've made of it!",
    "def add(a, b):\n    return a + b\n\n# tabs\tand   spaces",
]
TEXTS = [  # the tokenisation check: digits, accents, CJK, emoji, specials, runs of spaces
    "Hello world, 2024 was a year.",
    "Ünïcödé — 日本語 and emoji 🙂 too!",
    "<|im_start|>user\nWhat is 7 x 6?<|im_end|>\n",
    "two  spaces\n\nand   tabs\t here 12345678, it's 3.14",
    "def add(a, b):\n    return a + b",
]
PROMPT = "The quick brown fox"
NEW_TOKENS = 20
TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
)
# largest logit difference, relative to the largest logit: the exporter's own self-check bounds
BOUNDS = {"gguf-f16": 1e-2, "gguf-q8_0": 5e-2}
# top-2 logit gaps below this share of the largest logit are ties the format may break
TIE = {"gguf-f16": 2e-3, "gguf-q8_0": 5e-2}
Q8_AGREEMENT = 0.8  # q8_0: llama.cpp picks our greedy token at this share of the 20 steps at least

LLAMA3_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
QWEN2_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)


def _byte_level_tokenizer(split: str):
    """A byte-level BPE trained on CORPUS with the split of SmolLM ("smollm": single digits,
    then GPT-2's), Llama 3 ("llama-bpe") or Qwen2 ("qwen2")."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    if split == "smollm":
        tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
            [
                pre_tokenizers.Digits(individual_digits=True),
                pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
            ]
        )
    else:
        pattern = {"llama-bpe": LLAMA3_SPLIT, "qwen2": QWEN2_SPLIT}[split]
        tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
            [
                pre_tokenizers.Split(Regex(pattern), behavior="isolated"),
                pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
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


def _sentencepiece_tokenizer():
    """Sentencepiece-style BPE as TinyLlama's tokenizer.json has it: a "▁" put before the
    text and for every space (normalizer), byte fallback (<0x00> … <0xFF>), <s> first."""
    from tokenizers import Tokenizer, decoders, models, normalizers, processors, trainers

    tokenizer = Tokenizer(models.BPE(unk_token="<unk>", fuse_unk=True, byte_fallback=True))
    tokenizer.normalizer = normalizers.Sequence(
        [normalizers.Prepend("\u2581"), normalizers.Replace(" ", "\u2581")]
    )
    tokenizer.decoder = decoders.Sequence(
        [
            decoders.Replace("\u2581", " "),
            decoders.ByteFallback(),
            decoders.Fuse(),
            decoders.Strip(" ", 1, 0),
        ]
    )
    specials = ["<unk>", "<s>", "</s>"] + [f"<0x{i:02X}>" for i in range(256)]
    tokenizer.train_from_iterator(
        CORPUS * 10, trainers.BpeTrainer(vocab_size=460, special_tokens=specials)
    )
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", 1)]
    )
    return tokenizer


def _write_decoder(
    folder: Path, model_type: str, tokenizer, tied: bool, bos: str, eos: str, rope: dict
) -> Path:
    """A random decoder in the layout `transformers` saves (config.json, model.safetensors
    with its key names), as a trained causal LM's folder (the workbench block), with 3
    embedding rows no token uses (a padded vocabulary). Written directly: building it with
    transformers' classes costs ~20 s of imports on the loaded machine, and the reference
    here is Workbench's own model (its parity with transformers is tested elsewhere)."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True)
    hidden, inner, layers, heads, kv_heads = 64, 128, 2, 4, 2
    head_dim = hidden // heads
    vocab = tokenizer.get_vocab_size() + 3
    generator = torch.Generator().manual_seed(0)

    def matrix(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=generator) * 0.05

    def norm() -> torch.Tensor:
        return 1 + torch.randn(hidden, generator=generator) * 0.05

    state = {"model.embed_tokens.weight": matrix(vocab, hidden), "model.norm.weight": norm()}
    if not tied:
        state["lm_head.weight"] = matrix(vocab, hidden)
    for i in range(layers):
        layer = f"model.layers.{i}."
        state[layer + "input_layernorm.weight"] = norm()
        state[layer + "post_attention_layernorm.weight"] = norm()
        for name, rows in (("q", heads), ("k", kv_heads), ("v", kv_heads)):
            state[f"{layer}self_attn.{name}_proj.weight"] = matrix(rows * head_dim, hidden)
            if model_type == "qwen2":
                state[f"{layer}self_attn.{name}_proj.bias"] = matrix(rows * head_dim)
        state[layer + "self_attn.o_proj.weight"] = matrix(hidden, heads * head_dim)
        state[layer + "mlp.gate_proj.weight"] = matrix(inner, hidden)
        state[layer + "mlp.up_proj.weight"] = matrix(inner, hidden)
        state[layer + "mlp.down_proj.weight"] = matrix(hidden, inner)
    save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})
    eos_id = tokenizer.token_to_id(eos)
    config = {
        "architectures": ["Qwen2ForCausalLM" if model_type == "qwen2" else "LlamaForCausalLM"],
        "model_type": model_type,
        "vocab_size": vocab,
        "hidden_size": hidden,
        "intermediate_size": inner,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "num_key_value_heads": kv_heads,
        "hidden_act": "silu",
        "max_position_embeddings": 128,
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "bos_token_id": tokenizer.token_to_id(bos),
        "eos_token_id": eos_id,
        "tie_word_embeddings": tied,
        "torch_dtype": "float32",
        "workbench": {"task": "causal-lm", "meta": {"packing": True, "eos_token_id": eos_id}},
    }
    if model_type == "qwen2":
        config["use_sliding_window"] = False
    if rope:
        rope = dict(rope)
        config["rope_theta"] = rope.pop("rope_theta", config["rope_theta"])
        config["rope_scaling"] = rope
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    tokenizer.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(
        json.dumps({"bos_token": bos, "eos_token": eos, "chat_template": TEMPLATE}),
        encoding="utf-8",
    )
    return folder


LLAMA3_ROPE = {  # Llama 3.1's settings (llama.cpp reads them as the rope_freqs.weight tensor)
    "rope_type": "llama3",
    "factor": 8.0,
    "low_freq_factor": 1.0,
    "high_freq_factor": 4.0,
    "original_max_position_embeddings": 8192,
    "rope_theta": 500000.0,
}
# name: (model_type, tokenizer, tied, bos, RoPE scaling)
MODELS = {
    "llama-smollm": ("llama", lambda: _byte_level_tokenizer("smollm"), False, "<|im_start|>", {}),
    "qwen2-tied": ("qwen2", lambda: _byte_level_tokenizer("qwen2"), True, "<|im_start|>", {}),
    "llama-sentencepiece-linear-rope": (
        "llama",
        _sentencepiece_tokenizer,
        False,
        "<s>",
        {"rope_type": "linear", "factor": 2.0},
    ),
    "llama-llama3-split-llama3-rope": (
        "llama",
        lambda: _byte_level_tokenizer("llama-bpe"),
        True,
        "<|im_start|>",
        LLAMA3_ROPE,
    ),
}
CASES = [
    ("llama-smollm", "gguf-f16"),
    ("llama-smollm", "gguf-q8_0"),
    ("qwen2-tied", "gguf-f16"),
    ("llama-sentencepiece-linear-rope", "gguf-f16"),
    ("llama-llama3-split-llama3-rope", "gguf-q8_0"),
]


@pytest.fixture(scope="module")
def decoders(tmp_path_factory):
    """name -> the decoder's folder, written on first use."""
    root = tmp_path_factory.mktemp("gguf-runtime")
    made: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in made:
            model_type, make_tokenizer, tied, bos, rope = MODELS[name]
            eos = "</s>" if bos == "<s>" else "<|im_end|>"
            made[name] = _write_decoder(
                root / name, model_type, make_tokenizer(), tied, bos, eos, rope
            )
        return made[name]

    return get


class Runtime:
    """One GGUF file loaded in llama.cpp: token ids, logits of every position, greedy ids."""

    def __init__(self, path: Path) -> None:
        # Without llama.cpp's weight repacking ("extra buffer types"): on this AMX Xeon its
        # AMX q8_0 kernels crashed the process on these 64-wide matrices (llama-cpp-python
        # 0.3.36 built natively; an AVX2 build of llama.cpp b11739 ran the same file).
        low = llama_cpp.llama_cpp
        default = low.llama_model_default_params

        def without_repacking():
            params = default()
            params.use_extra_bufts = False
            return params

        low.llama_model_default_params = without_repacking
        try:
            self.llm = llama_cpp.Llama(
                str(path), n_ctx=128, n_batch=128, n_threads=1, logits_all=True, verbose=False
            )
        finally:
            low.llama_model_default_params = default

    def tokenize(self, text: str) -> list[int]:
        # add_bos: as the file says (tokenizer.ggml.add_bos_token); special: parse <|im_end|> …
        return list(self.llm.tokenize(text.encode("utf-8"), add_bos=True, special=True))

    def logits(self, ids: list[int]) -> np.ndarray:
        """(T, V) for a fresh text."""
        self.llm.reset()
        self.llm.eval(ids)
        return np.array(self.llm.scores[: len(ids)], dtype=np.float32)

    def greedy(self, ids: list[int], count: int, eos: int | None) -> list[int]:
        """The most likely token each step, fed back through llama.cpp's KV cache; stops at
        eos as Workbench does."""
        self.llm.reset()
        self.llm.eval(ids)
        new: list[int] = []
        for _ in range(count):
            token = int(np.argmax(self.llm.scores[self.llm.n_tokens - 1]))
            if token == eos:
                break
            new.append(token)
            self.llm.eval([token])
        return new

    def close(self) -> None:
        self.llm.close()


def _relative(ours: np.ndarray, theirs: np.ndarray) -> float:
    return float(np.abs(ours - theirs).max() / np.abs(ours).max())


@pytest.mark.parametrize(("name", "format"), CASES, ids=[f"{n}-{f}" for n, f in CASES])
def test_llama_cpp_runs_our_export(decoders, tmp_path, name, format):
    folder = decoders(name)
    exported = export_model(folder, tmp_path / "model.gguf", format)
    model = build_model(folder, "causal-lm", 0).model.eval()
    tokenizer = TextTokenizer.from_folder(folder, 1 << 20)
    runtime = Runtime(exported)
    try:
        llm = runtime.llm
        assert llm.n_vocab() == model.state_dict()["model.embed_tokens.weight"].shape[0]
        arch = llm.metadata["general.architecture"]
        assert arch == ("qwen2" if name.startswith("qwen2") else "llama")
        assert llm.metadata[f"{arch}.context_length"] == "128"
        assert llm.metadata["tokenizer.chat_template"] == TEMPLATE
        assert llm.token_eos() == tokenizer.eos_id

        # the same token ids for every text (special tokens parsed, a leading <s> where due)
        for text in TEXTS:
            ids = runtime.tokenize(text)
            assert ids == tokenizer.encode_prompt(text), text
            # and llama.cpp's own pieces give the text back (sentencepiece's "▁" before the
            # text may come back as a space)
            back = llm.detokenize(ids[len(tokenizer.template.prefix) :], special=True)
            assert back.decode("utf-8") in (text, " " + text)

        # the same greedy continuation; the logits of prompt + continuation close to ours
        ids = tokenizer.encode_prompt(PROMPT)
        ours = list(generate(model, tokenizer, ids, GenerationSettings(max_new_tokens=NEW_TOKENS)))
        theirs = runtime.greedy(ids, NEW_TOKENS, tokenizer.eos_id)
        text = ids + ours
        with torch.no_grad():
            expected = model(torch.tensor([text]), torch.ones(1, len(text), dtype=torch.long))
        expected = expected[0].float().numpy()  # (T, V)
        got = runtime.logits(text)
        assert got.shape == expected.shape
        assert _relative(expected, got) <= BOUNDS[format]
        # Where our top two logits are closer than the format's rounding (a random model has
        # such near-ties) either token is right; llama.cpp must pick ours at every other step
        # of our continuation, and its own greedy run must follow ours up to the first tie.
        top2 = np.sort(expected[len(ids) - 1 : len(text) - 1], axis=-1)[:, -2:]  # (N, 2)
        decisive = (top2[:, 1] - top2[:, 0]) > TIE[format] * np.abs(expected).max()
        chosen = got[len(ids) - 1 : len(text) - 1].argmax(-1)  # llama.cpp's pick at each step
        picked = chosen == np.array(ours, dtype=np.int64)
        agreement = float(picked.mean()) if ours else 1.0
        first_tie = int(np.argmin(decisive)) if not decisive.all() else len(ours)
        if format == "gguf-f16":
            assert picked[decisive].all(), (ours, chosen.tolist())
            assert theirs[:first_tie] == ours[:first_tie], (ours, theirs, first_tie)
            assert first_tie < len(ours) or theirs == ours
        else:
            assert agreement >= Q8_AGREEMENT, (agreement, ours, chosen.tolist())
    finally:
        runtime.close()
