"""Small model folders for the bad-model tests: a tiny random BERT with the bundled model's
tokenizer (a few MB, not the real 90 MB weights), and one way to break it per kind of
broken download. Each breaker returns (what it broke, text the message must contain)."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors.torch import save_file

from workbench.engine.models.bert import BertConfig, BertForSequenceClassification, BertModel
from workbench.engine.models.registry import default_model_path

TOKENIZER_FILES = (
    "tokenizer.json",
    "vocab.txt",
    "tokenizer_config.json",
    "special_tokens_map.json",
)
TINY = {
    "model_type": "bert",
    "architectures": ["BertModel"],
    "vocab_size": 30522,  # the bundled tokenizer's
    "hidden_size": 16,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 32,
    "max_position_embeddings": 64,
    "type_vocab_size": 2,
    "hidden_act": "gelu",
    "layer_norm_eps": 1e-12,
    "pad_token_id": 0,
}
LABELS = ["negative", "positive"]


def tiny_state(config: dict, trained: bool = False) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    c = BertConfig.from_dict(config)
    model = BertForSequenceClassification(c, len(LABELS)) if trained else BertModel(c)
    return {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}


def tiny_bert(folder: Path, trained: bool = False, **overrides) -> Path:
    """A small, valid BERT folder: config.json, model.safetensors and the bundled tokenizer.
    `trained=True` makes it a Workbench text classifier (what predict and evaluate load)."""
    folder.mkdir(parents=True, exist_ok=True)
    config = {**TINY, **overrides}
    if trained:
        config["architectures"] = ["BertForSequenceClassification"]
        config["id2label"] = {str(i): label for i, label in enumerate(LABELS)}
        config["label2id"] = {label: i for i, label in enumerate(LABELS)}
        config["workbench"] = {
            "task": "text-classification",
            "meta": {"labels": LABELS},
            "max_length": 32,
        }
    (folder / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    save_file(tiny_state(config, trained), str(folder / "model.safetensors"))
    source = default_model_path()
    for name in TOKENIZER_FILES:
        shutil.copyfile(source / name, folder / name)
    return folder


def _edit_config(folder: Path, **changes) -> None:
    path = folder / "config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    config.update(changes)
    path.write_text(json.dumps(config), encoding="utf-8")


def _rewrite_weights(folder: Path, **config_changes) -> None:
    """Weights made for another config, while config.json stays as it was."""
    config = {**json.loads((folder / "config.json").read_text(encoding="utf-8")), **config_changes}
    trained = "workbench" in config
    save_file(tiny_state(config, trained), str(folder / "model.safetensors"))


def _truncate(path: Path, keep: float) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


class Evil:
    """Unpickling this runs a shell command that creates a file: what a malicious
    pytorch_model.bin does. Workbench must never run it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def write_evil_bin(folder: Path, marker: Path, legacy: bool = False) -> Path:
    """Replace the weights by a pytorch_model.bin whose unpickling would create `marker`."""
    (folder / "model.safetensors").unlink(missing_ok=True)
    state: dict = dict(tiny_state(json.loads((folder / "config.json").read_text("utf-8"))))
    state["embeddings.word_embeddings.weight"] = Evil(marker)
    path = folder / "pytorch_model.bin"
    torch.save(state, path, _use_new_zipfile_serialization=not legacy)
    return path


def write_bin(folder: Path, legacy: bool = False, dtype: torch.dtype | None = None) -> Path:
    """The same weights as pytorch_model.bin (zip, or the legacy pre-1.6 format)."""
    state = dict(tiny_state(json.loads((folder / "config.json").read_text("utf-8"))))
    if dtype is not None:
        state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}
    (folder / "model.safetensors").unlink(missing_ok=True)
    path = folder / "pytorch_model.bin"
    torch.save(state, path, _use_new_zipfile_serialization=not legacy)
    return path


def shard(folder: Path, parts: int = 2, fmt: str = "safetensors") -> list[Path]:
    """Split model.safetensors into `parts` shards and an index, as `transformers` saves
    large models (model-00001-of-00002.safetensors + model.safetensors.index.json)."""
    from safetensors.torch import load_file

    state = load_file(str(folder / "model.safetensors"))
    (folder / "model.safetensors").unlink()
    keys = sorted(state)
    files, weight_map = [], {}
    ext = "safetensors" if fmt == "safetensors" else "bin"
    stem = "model" if fmt == "safetensors" else "pytorch_model"
    for i in range(parts):
        name = f"{stem}-{i + 1:05d}-of-{parts:05d}.{ext}"
        chunk = {k: state[k] for k in keys[i::parts]}
        if fmt == "safetensors":
            save_file(chunk, str(folder / name))
        else:
            torch.save(chunk, folder / name)
        weight_map.update({k: name for k in chunk})
        files.append(folder / name)
    index = {"metadata": {"total_size": 0}, "weight_map": weight_map}
    (folder / f"{stem}.{ext}.index.json").write_text(json.dumps(index), encoding="utf-8")
    return files


def _break_shard_index(folder: Path, shard_name: str) -> None:
    shard(folder)
    path = folder / "model.safetensors.index.json"
    index = json.loads(path.read_text(encoding="utf-8"))
    first = next(iter(index["weight_map"]))
    index["weight_map"][first] = shard_name
    path.write_text(json.dumps(index), encoding="utf-8")


def _missing_shard(folder: Path) -> None:
    files = shard(folder)
    files[1].unlink()


# name -> (break the folder, a piece of the expected message, the file it must name)
Breaker = Callable[[Path], None]
BROKEN: dict[str, tuple[Breaker, str, str]] = {
    "config missing": (lambda f: (f / "config.json").unlink(), "has no config.json", ""),
    "config not JSON": (
        lambda f: (f / "config.json").write_text('{\n  "model_type": "bert",,\n}', "utf-8"),
        "is not valid JSON (Expecting property name enclosed in double quotes at line 2, column 24)",
        "config.json",
    ),
    "config is a list": (
        lambda f: (f / "config.json").write_text("[1, 2]", "utf-8"),
        "is a JSON list, not an object",
        "config.json",
    ),
    "unknown model_type": (
        lambda f: _edit_config(f, model_type="gpt5"),
        "model type 'gpt5'",
        "",
    ),
    "hidden size not divisible by heads": (
        lambda f: _edit_config(f, num_attention_heads=3),
        "hidden_size 16 is not a multiple of num_attention_heads 3",
        "config.json",
    ),
    "zero heads": (
        lambda f: _edit_config(f, num_attention_heads=0),
        "num_attention_heads is 0",
        "config.json",
    ),
    "zero layers": (
        lambda f: _edit_config(f, num_hidden_layers=0),
        "num_hidden_layers is 0",
        "config.json",
    ),
    "negative size": (
        lambda f: _edit_config(f, intermediate_size=-32),
        "intermediate_size is -32",
        "config.json",
    ),
    "size as text": (
        lambda f: _edit_config(f, hidden_size="sixteen"),
        "hidden_size is 'sixteen'",
        "config.json",
    ),
    "non-numeric id2label key": (
        lambda f: _edit_config(f, id2label={"zero": "negative", "1": "positive"}),
        "id2label key 'zero' is not a class number",
        "config.json",
    ),
    "empty safetensors": (
        lambda f: (f / "model.safetensors").write_bytes(b""),
        "is empty (0 bytes)",
        "model.safetensors",
    ),
    "truncated safetensors": (
        lambda f: _truncate(f / "model.safetensors", 0.5),
        "is truncated",
        "model.safetensors",
    ),
    "safetensors header cut": (
        lambda f: _truncate(f / "model.safetensors", 0.001),
        "is truncated",
        "model.safetensors",
    ),
    "corrupt safetensors": (
        lambda f: (f / "model.safetensors").write_bytes(
            b"\x10\x00\x00\x00\x00\x00\x00\x00" + b"x" * 64
        ),
        "is corrupt",
        "model.safetensors",
    ),
    "hidden_size disagrees with the weights": (
        lambda f: _edit_config(f, hidden_size=32),
        "has shape [30522, 16] but",
        "model.safetensors",
    ),
    "vocab_size disagrees with the weights": (
        lambda f: _rewrite_weights(f, vocab_size=30000),
        "embeddings.word_embeddings.weight has shape [30000, 16] but",
        "model.safetensors",
    ),
    "more layers than config.json": (
        lambda f: _rewrite_weights(f, num_hidden_layers=3),
        "more layers than",
        "model.safetensors",
    ),
    "fewer layers than config.json": (
        lambda f: _edit_config(f, num_hidden_layers=4),
        "lacks encoder.layer.3",
        "model.safetensors",
    ),
    "tokenizer bigger than the embeddings": (
        lambda f: (_edit_config(f, vocab_size=1000), _rewrite_weights(f)),
        "has 30522 tokens but the model's embeddings have 1000 rows",
        "tokenizer.json",
    ),
    "tokenizer missing": (
        lambda f: [(f / n).unlink() for n in ("tokenizer.json", "vocab.txt")],
        "has no tokenizer (tokenizer.json, vocab.json with merges.txt, or vocab.txt)",
        "",
    ),
    "tokenizer.json corrupt": (
        lambda f: _truncate(f / "tokenizer.json", 0.5),
        "is not a readable tokenizer",
        "tokenizer.json",
    ),
    "vocab.txt empty": (
        lambda f: ((f / "tokenizer.json").unlink(), (f / "vocab.txt").write_text("\n", "utf-8")),
        "has no tokens",
        "vocab.txt",
    ),
    "shard missing": (_missing_shard, "model-00002-of-00002.safetensors is missing", ""),
    "shard outside the folder": (
        lambda f: _break_shard_index(f, "../elsewhere.safetensors"),
        "is not a file name in the folder",
        "model.safetensors.index.json",
    ),
    "truncated pytorch_model.bin": (
        lambda f: (write_bin(f), _truncate(f / "pytorch_model.bin", 0.5)),
        "is truncated or corrupt",
        "pytorch_model.bin",
    ),
    "pytorch_model.bin not a state dict": (
        lambda f: ((f / "model.safetensors").unlink(), torch.save([1, 2], f / "pytorch_model.bin")),
        "is not a state dict",
        "pytorch_model.bin",
    ),
}
