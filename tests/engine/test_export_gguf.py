"""GGUF export: a Llama-family causal LM written for llama.cpp reads back (gguf's reader: names,
shapes, types, metadata; our reader and transformers' GGUF loader: the same logits and token
ids), in f16 and q8_0; other families and heads are refused before anything is written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from workbench.config import RunConfig
from workbench.engine import export_model, train
from workbench.engine.export.gguf import FILE_NAME
from workbench.engine.models import gguf as reader
from workbench.engine.models.loading import build_model
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
]
PROBES = [
    "Hello world, 2024 was a year.",
    "Ünïcödé — 日本語 and emoji 🙂 too!",
    "<|im_start|>user\nWhat is 7 x 6?<|im_end|>\n",
]
TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
)
# largest logit difference, relative to the largest logit, after the round trip
BOUNDS = {"gguf-f16": 1e-2, "gguf-q8_0": 5e-2}


def _tokenizer(split: str = "digits"):
    """A byte-level BPE: single digits then GPT-2's split (SmolLM's, llama.cpp's "smollm"),
    or GPT-2's split alone ("gpt2")."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.pre_tokenizer = (
        pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), byte_level])
        if split == "digits"
        else byte_level
    )
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=360,
        special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator(CORPUS * 10, trainer)
    return tokenizer


def _sentencepiece_tokenizer():
    """Sentencepiece-style BPE as Llama 2's tokenizer.json has it: "▁" for spaces, one
    before the text, byte fallback (<0x00> … <0xFF>), <s> before every text."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tokenizer = Tokenizer(models.BPE(unk_token="<unk>", fuse_unk=True, byte_fallback=True))
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(
        replacement="\u2581", prepend_scheme="first", split=False
    )
    tokenizer.decoder = decoders.Sequence(
        [decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse(),
         decoders.Strip(" ", 1, 0)]
    )  # fmt: skip
    specials = ["<unk>", "<s>", "</s>"] + [f"<0x{i:02X}>" for i in range(256)]
    tokenizer.train_from_iterator(
        CORPUS * 10, trainers.BpeTrainer(vocab_size=420, special_tokens=specials)
    )
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", 1)]
    )
    return tokenizer


def write_model(
    folder: Path, model_type: str = "llama", tied: bool = False, task: str | None = "causal-lm",
    split: str = "digits", tokenizer=None, bos: str = "<|im_start|>", eos: str = "<|im_end|>",
    pad: str = "<|endoftext|>", **settings,
) -> Path:  # fmt: skip
    """A random decoder as transformers writes it (hidden 64: q8_0 blocks of 32 fit), with a
    tokenizer and chat template; `task` adds the workbench block a trained model carries."""
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = tokenizer or _tokenizer(split)
    eos_token = eos
    eos = tokenizer.token_to_id(eos_token)
    torch.manual_seed(0)
    config_class = {"llama": transformers.LlamaConfig, "qwen2": transformers.Qwen2Config}
    config = config_class[model_type](
        vocab_size=tokenizer.get_vocab_size() + 3,  # 3 rows no token uses (padded vocab)
        hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=128, rms_norm_eps=1e-5,
        bos_token_id=tokenizer.token_to_id(bos), eos_token_id=eos,
        tie_word_embeddings=tied, **settings,
    )  # fmt: skip
    model = transformers.AutoModelForCausalLM.from_config(config)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(torch.randn(param.shape) * 0.05)
    model.save_pretrained(folder)
    tokenizer.save(str(folder / "tokenizer.json"))
    tokenizer_config = {
        "eos_token": eos_token, "bos_token": bos, "pad_token": pad,
        "chat_template": TEMPLATE, "model_max_length": 128,
    }  # fmt: skip
    (folder / "tokenizer_config.json").write_text(json.dumps(tokenizer_config), encoding="utf-8")
    if task:
        raw = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        raw["workbench"] = {"task": task, "meta": {"packing": True, "eos_token_id": eos}}
        (folder / "config.json").write_text(json.dumps(raw), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def llama_model(tmp_path_factory) -> Path:
    """A trained causal LM's folder (config.json with the workbench block training writes):
    a random Llama with grouped-query attention."""
    return write_model(tmp_path_factory.mktemp("gguf-model") / "llama")


@pytest.fixture(scope="module")
def llama_run(tmp_path_factory) -> Path:
    """One real (short) causal-LM run on a random Llama."""
    root = tmp_path_factory.mktemp("gguf-run")
    folder = write_model(root / "llama", task=None)
    data = root / "stories.txt"
    data.write_text("\n".join(CORPUS * 3) + "\n", encoding="utf-8")
    config = RunConfig(
        task="causal-lm", data=str(data), model=str(folder), output=str(root / "run"),
        epochs=1, batch_size=4, max_length=32, learning_rate=1e-3, precision="fp32",
    )  # fmt: skip
    result = train(config)
    assert result.status == "completed", result.error
    return result.run_dir


def _logits(folder: Path, texts: list[str]) -> tuple[list[list[int]], list[torch.Tensor]]:
    model = build_model(folder, "causal-lm", 0).model.eval()
    tokenizer = TextTokenizer.from_folder(folder, 128)
    ids = [tokenizer.encode_prompt(text) for text in texts]
    with torch.no_grad():
        logits = [
            model(torch.tensor([row]), torch.ones(1, len(row), dtype=torch.long))[0] for row in ids
        ]
    return ids, logits


def _read_back(path: Path, tmp_path: Path) -> Path:
    out = tmp_path / "read-back"
    out.mkdir()
    reader.convert(path, out)
    return out


def _field(gguf_reader, key: str):
    return gguf_reader.fields[key].contents()


@pytest.mark.parametrize("format", ["gguf-f16", "gguf-q8_0"])
def test_a_llama_exports_to_gguf_and_reads_back(llama_model, tmp_path, format):
    exported = export_model(llama_model, tmp_path / "export", format)
    assert exported == tmp_path / "export" / FILE_NAME and exported.is_file()
    assert sorted(p.name for p in exported.parent.iterdir()) == ["README.md", FILE_NAME]
    model_folder = llama_model
    config = json.loads((model_folder / "config.json").read_text())
    file = gguf.GGUFReader(str(exported))

    # tensors: llama.cpp's names, shapes (inner dimension first), 2-D in the format's type
    state = build_model(model_folder, "causal-lm", 0).model.state_dict()
    tensors = {t.name: t for t in file.tensors}
    expected = {"token_embd.weight", "output_norm.weight", "output.weight"} | {
        f"blk.{i}.{n}.weight"
        for i in range(2)
        for n in ("attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm",
                  "ffn_gate", "ffn_up", "ffn_down")
    }  # fmt: skip
    assert set(tensors) == expected
    kind = Q.F16 if format == "gguf-f16" else Q.Q8_0
    for name, tensor in tensors.items():
        key = reader._hf_name(name)
        assert tuple(int(d) for d in reversed(tensor.shape)) == tuple(state[key].shape), name
        assert tensor.tensor_type == (Q.F32 if state[key].ndim == 1 else kind), name

    # q/k rows are in llama.cpp's interleaved order: its permutation, written out again here
    def llama_cpp_permute(w: np.ndarray, n_head: int) -> np.ndarray:
        return (
            w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])
            .swapaxes(1, 2)
            .reshape(w.shape)
        )

    for name, heads in (("attn_q", 4), ("attn_k", 2)):
        stored = gguf.quants.dequantize(tensors[f"blk.1.{name}.weight"].data, kind)
        stored = stored.reshape(state[reader._hf_name(f"blk.1.{name}.weight")].shape)
        original = state[reader._hf_name(f"blk.1.{name}.weight")].numpy()
        step = 2e-3 if kind == Q.F16 else np.abs(original).max() / 100
        assert np.abs(stored - llama_cpp_permute(original, heads)).max() <= step
        assert np.abs(stored - original).max() > 10 * step  # not written unpermuted

    # metadata, under llama.cpp's keys
    assert _field(file, "general.architecture") == "llama"
    assert _field(file, "general.file_type") == (1 if kind == Q.F16 else 7)
    assert _field(file, "llama.context_length") == 128
    assert _field(file, "llama.embedding_length") == 64
    assert _field(file, "llama.block_count") == 2
    assert _field(file, "llama.feed_forward_length") == 128
    assert _field(file, "llama.attention.head_count") == 4
    assert _field(file, "llama.attention.head_count_kv") == 2
    assert _field(file, "llama.rope.dimension_count") == 16
    assert _field(file, "llama.rope.freq_base") == pytest.approx(config.get("rope_theta", 10000.0))
    assert _field(file, "llama.attention.layer_norm_rms_epsilon") == pytest.approx(1e-5)
    tokenizer = json.loads((model_folder / "tokenizer.json").read_text())
    vocab = {t: i for t, i in tokenizer["model"]["vocab"].items()}
    tokens = _field(file, "tokenizer.ggml.tokens")
    assert len(tokens) == config["vocab_size"] == len(vocab) + 3
    assert all(tokens[i] == t for t, i in vocab.items())
    assert tokens[-3:] == [f"[PAD{i}]" for i in range(len(vocab), len(vocab) + 3)]
    types = _field(file, "tokenizer.ggml.token_type")
    assert [types[vocab[t]] for t in SPECIALS] == [3, 3, 3] and types[-1] == 5
    assert types[vocab["a"]] == 1
    assert _field(file, "tokenizer.ggml.model") == "gpt2"
    assert _field(file, "tokenizer.ggml.pre") == "smollm"
    merges = tokenizer["model"]["merges"]
    assert _field(file, "tokenizer.ggml.merges") == [
        m if isinstance(m, str) else " ".join(m) for m in merges
    ]
    assert _field(file, "tokenizer.ggml.bos_token_id") == vocab["<|im_start|>"]
    assert _field(file, "tokenizer.ggml.eos_token_id") == vocab["<|im_end|>"]
    pad = TextTokenizer.from_folder(model_folder).pad_id  # what Workbench pads with
    assert _field(file, "tokenizer.ggml.padding_token_id") == pad
    assert _field(file, "tokenizer.ggml.add_bos_token") is False
    assert _field(file, "tokenizer.chat_template") == TEMPLATE

    # our reader: the same token ids, the logits within the format's rounding
    back = _read_back(exported, tmp_path)
    ids, logits = _logits(model_folder, PROBES)
    back_ids, back_logits = _logits(back, PROBES)
    assert back_ids == ids
    for ours, theirs in zip(logits, back_logits, strict=True):
        assert float((ours - theirs).abs().max()) <= BOUNDS[format] * float(ours.abs().max())
    if format == "gguf-f16":  # f16 rounds each weight by ~1e-3 of itself: far closer than 1e-2
        assert max(float((a - b).abs().max()) for a, b in zip(logits, back_logits)) < 2e-3 * float(
            max(a.abs().max() for a in logits)
        )


def test_transformers_gguf_loader_reads_our_export(llama_model, tmp_path):
    """An independent reader of llama.cpp's layout (its own un-permutation and names)."""
    pytest.importorskip("accelerate")
    exported = export_model(llama_model, tmp_path / "export", "gguf-f16")
    model = transformers.AutoModelForCausalLM.from_pretrained(
        str(exported.parent), gguf_file=FILE_NAME, dtype=torch.float32
    ).eval()
    ids, logits = _logits(llama_model, PROBES[:2])
    with torch.no_grad():
        for row, ours in zip(ids, logits, strict=True):
            theirs = model(input_ids=torch.tensor([row])).logits[0]
            assert float((ours - theirs).abs().max()) <= 1e-2 * float(ours.abs().max())


def test_qwen2_is_written_unpermuted_with_its_biases_and_a_tied_head(tmp_path):
    folder = write_model(tmp_path / "qwen2", model_type="qwen2", tied=True, split="gpt2")
    exported = export_model(folder, tmp_path / "export", "gguf-f16")
    file = gguf.GGUFReader(str(exported))
    names = {t.name for t in file.tensors}
    assert "output.weight" not in names  # tied: llama.cpp reuses token_embd
    assert {"blk.0.attn_q.bias", "blk.0.attn_k.bias", "blk.0.attn_v.bias"} <= names
    assert _field(file, "general.architecture") == "qwen2"
    assert _field(file, "tokenizer.ggml.pre") == "gpt-2"  # llama.cpp's name
    state = build_model(folder, "causal-lm", 0).model.state_dict()
    q = next(t for t in file.tensors if t.name == "blk.0.attn_q.weight")
    stored = np.asarray(q.data, dtype=np.float32).reshape(
        state["model.layers.0.self_attn.q_proj.weight"].shape
    )
    assert np.abs(stored - state["model.layers.0.self_attn.q_proj.weight"].numpy()).max() < 2e-3
    back = _read_back(exported, tmp_path)
    assert json.loads((back / "config.json").read_text())["tie_word_embeddings"] is True
    ids, logits = _logits(folder, PROBES)
    back_ids, back_logits = _logits(back, PROBES)
    assert back_ids == ids
    for ours, theirs in zip(logits, back_logits, strict=True):
        assert float((ours - theirs).abs().max()) <= 1e-2 * float(ours.abs().max())


def test_linear_rope_scaling_is_written_and_read_back(tmp_path):
    folder = write_model(
        tmp_path / "llama", rope_scaling={"rope_type": "linear", "factor": 2.0}, rope_theta=5e4
    )
    exported = export_model(folder, tmp_path / "out.gguf", "gguf-q8_0")
    assert exported == tmp_path / "out.gguf" and exported.is_file()  # a file, not a folder
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no staging left
    file = gguf.GGUFReader(str(exported))
    assert _field(file, "llama.rope.scaling.type") == "linear"
    assert _field(file, "llama.rope.scaling.factor") == pytest.approx(2.0)
    assert _field(file, "llama.rope.freq_base") == pytest.approx(5e4)
    back = _read_back(exported, tmp_path)
    ids, logits = _logits(folder, PROBES)
    _, back_logits = _logits(back, PROBES)
    for ours, theirs in zip(logits, back_logits, strict=True):
        assert float((ours - theirs).abs().max()) <= 5e-2 * float(ours.abs().max())


def test_other_families_and_heads_are_refused_before_writing(tmp_path):
    from tiny_gpt2 import write_tiny_gpt2

    gpt2 = write_tiny_gpt2(tmp_path / "gpt2")
    raw = json.loads((gpt2 / "config.json").read_text())
    raw["workbench"] = {"task": "causal-lm", "meta": {"packing": True, "eos_token_id": 0}}
    (gpt2 / "config.json").write_text(json.dumps(raw))
    with pytest.raises(UserError, match="Llama-family decoders.*'gpt2'.*--format hf"):
        export_model(gpt2, tmp_path / "out", "gguf-f16")
    classifier = write_model(tmp_path / "classifier", task=None)
    raw = json.loads((classifier / "config.json").read_text())
    raw["architectures"] = ["LlamaForSequenceClassification"]
    raw["workbench"] = {"task": "text-classification", "meta": {"labels": ["neg", "pos"]}}
    (classifier / "config.json").write_text(json.dumps(raw))
    from safetensors.torch import load_file, save_file

    weights = load_file(str(classifier / "model.safetensors"))
    weights.pop("lm_head.weight", None)
    weights["score.weight"] = torch.zeros(2, 64)
    save_file(weights, str(classifier / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(UserError, match="causal language model.*sequence-classification"):
        export_model(classifier, tmp_path / "out", "gguf-q8_0")
    assert list(tmp_path.glob("out*")) == [] and list(tmp_path.glob(".out*")) == []


def test_a_sentencepiece_tokenizer_is_written_as_llama_s(tmp_path):
    """Llama 2 / TinyLlama / Mistral: tokenizer.ggml.model "llama" with scores, byte tokens,
    the space prefix and a leading <s>; the ids and logits come back."""
    tokenizer = _sentencepiece_tokenizer()
    folder = write_model(
        tmp_path / "llama2", tokenizer=tokenizer, bos="<s>", eos="</s>", pad="<unk>"
    )
    exported = export_model(folder, tmp_path / "export", "gguf-f16")
    file = gguf.GGUFReader(str(exported))
    assert _field(file, "tokenizer.ggml.model") == "llama"
    assert "tokenizer.ggml.pre" not in file.fields
    assert _field(file, "tokenizer.ggml.add_space_prefix") is True
    assert _field(file, "tokenizer.ggml.add_bos_token") is True
    tokens = _field(file, "tokenizer.ggml.tokens")
    types = _field(file, "tokenizer.ggml.token_type")
    assert types[tokens.index("<unk>")] == 2 and types[tokens.index("<s>")] == 3
    assert types[tokens.index("<0x0A>")] == 6 and types[tokens.index("a")] == 1
    assert _field(file, "tokenizer.ggml.unknown_token_id") == tokens.index("<unk>")
    scores = _field(file, "tokenizer.ggml.scores")
    assert len(scores) == len(tokens)
    first_merge = _field(file, "tokenizer.ggml.merges")[0].replace(" ", "")
    assert scores[tokens.index(first_merge)] == 0.0  # the first merge is the best-scored
    assert types[tokens.index(first_merge)] == 1
    back = _read_back(exported, tmp_path)
    ids, logits = _logits(folder, PROBES)
    back_ids, back_logits = _logits(back, PROBES)
    assert ids[0][0] == tokens.index("<s>") and back_ids == ids
    assert any(tokens[i] == "<0xF0>" for i in ids[1])  # the emoji fell back to bytes
    for ours, theirs in zip(logits, back_logits, strict=True):
        assert float((ours - theirs).abs().max()) <= 1e-2 * float(ours.abs().max())


def test_a_wordpiece_tokenizer_is_refused(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers

    folder = write_model(tmp_path / "llama")
    vocab = {"[UNK]": 0, "a": 1, "##b": 2}
    tokenizer = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.save(str(folder / "tokenizer.json"))
    with pytest.raises(UserError, match="only BPE tokenizers"):
        export_model(folder, tmp_path / "out", "gguf-f16")


@pytest.mark.slow
def test_cli_exports_a_trained_run_as_gguf(llama_run, tmp_path):
    out = tmp_path / "cli-export"
    done = subprocess.run(
        [sys.executable, "-m", "workbench", "export", str(llama_run), "--format", "gguf-q8_0",
         "--output", str(out)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(out / FILE_NAME)
    file = gguf.GGUFReader(str(out / FILE_NAME))
    assert file.fields["general.architecture"].contents() == "llama"
    back = _read_back(out / FILE_NAME, tmp_path)
    ids, logits = _logits(llama_run / "model", PROBES)
    back_ids, back_logits = _logits(back, PROBES)
    assert back_ids == ids
    for ours, theirs in zip(logits, back_logits, strict=True):
        assert float((ours - theirs).abs().max()) <= BOUNDS["gguf-q8_0"] * float(ours.abs().max())
