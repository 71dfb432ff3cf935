"""A LoRA run's adapter, alone, in the folder layout the `peft` library reads.

`<run>/model/` holds the merged model (what evaluate, predict and the hf export use);
`<run>/model/adapter/` holds `adapter_config.json` and `adapter_model.safetensors` as
`peft`'s `save_pretrained` writes them: keys `base_model.model.<module>.lora_A.weight` /
`lora_B.weight`, the trained head under `base_model.model.<module>.<weight>` (listed in
`modules_to_save`), and `base_model_name_or_path` pointing at the base model's folder.
So `PeftModel.from_pretrained(AutoModelFor….from_pretrained(base), adapter)` works, and
`workbench export --format peft` copies it. This module is where that layout is written and
read; nothing else spells it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from workbench.engine.peft.lora import add_lora, lora_modules, merge_lora, takes_lora
from workbench.errors import UserError
from workbench.runs import match_umask

ADAPTER_DIR = "adapter"
CONFIG_FILE = "adapter_config.json"
WEIGHTS_FILE = "adapter_model.safetensors"
KEY_PREFIX = "base_model.model."

# Head kind -> peft's task_type (which PeftModel class wraps the base model).
PEFT_TASK_TYPES = {
    "sequence-classification": "SEQ_CLS",
    "token-classification": "TOKEN_CLS",
    "question-answering": "QUESTION_ANS",
    "causal-lm": "CAUSAL_LM",
    "seq2seq-lm": "SEQ_2_SEQ_LM",
}


def split_adapter(model: nn.Module, model_folder: Path, base: Path, head_kind: str) -> nn.Module:
    """For a model with LoRA layers: write the adapter into `model_folder/adapter/` and
    return the model with the adapter merged in (in place: the run is over). A model
    without LoRA is returned as it is. The adapter is left out, and only the merged model
    saved, when a trained weight has no module of its own that peft could save."""
    wrapped = lora_modules(model)
    if not wrapped:
        return model
    saved = _modules_to_save(model)
    if saved is not None:
        write_adapter(model_folder / ADAPTER_DIR, model, saved, base, head_kind)
    return merge_lora(model)


def _modules_to_save(model: nn.Module) -> list[str] | None:
    """The smallest set of whole modules holding every trained non-LoRA weight (the new
    head): peft saves whole modules. None when a trained weight shares its module with
    frozen ones (an LM head's bias beside the tied embeddings)."""
    lora_ids = {
        id(p) for m in lora_modules(model).values() for p in (m.lora_A.weight, m.lora_B.weight)
    }
    trained = {id(p) for p in model.parameters() if p.requires_grad and id(p) not in lora_ids}
    if not trained:
        return []
    names: list[str] = []
    covered: set[int] = set()
    for module_name, module in model.named_modules():
        if not module_name or any(module_name.startswith(n + ".") for n in names):
            continue
        own = {id(p) for p in module.parameters()}
        if own and own <= trained:
            names.append(module_name)
            covered |= own
    return names if covered == trained else None


def _target_modules(model: nn.Module, wrapped: list[str], saved: list[str]) -> list[str]:
    """peft's `target_modules`: the short suffixes ("query") when they pick exactly the
    wrapped layers by peft's rule (the name, or ends with "." + it), else the full names."""
    suffixes = sorted({name.rpartition(".")[2] for name in wrapped})
    picked = [
        name
        for name, module in model.named_modules()
        if (takes_lora(module) or name in wrapped)
        and any(name == s or name.endswith("." + s) for s in suffixes)
        and not any(name == m or name.startswith(m + ".") for m in saved)
    ]
    return suffixes if sorted(picked) == sorted(wrapped) else list(wrapped)


def write_adapter(
    folder: Path, model: nn.Module, saved: list[str], base: Path, head_kind: str
) -> None:
    wrapped = lora_modules(model)
    first = next(iter(wrapped.values()))
    names = list(wrapped)
    tensors: dict[str, torch.Tensor] = {}
    for name, module in wrapped.items():
        for part in ("lora_A", "lora_B"):
            weight = getattr(module, part).weight
            tensors[f"{KEY_PREFIX}{name}.{part}.weight"] = weight
    for module_name in saved:
        for key, value in model.get_submodule(module_name).state_dict().items():
            tensors[f"{KEY_PREFIX}{module_name}.{key}"] = value
    tensors = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in tensors.items()}
    config = {
        "peft_type": "LORA",
        "task_type": PEFT_TASK_TYPES.get(head_kind),
        "base_model_name_or_path": str(Path(base).resolve()),
        "r": first.rank,
        "lora_alpha": first.alpha,
        "lora_dropout": first.dropout_p,
        "target_modules": _target_modules(model, names, saved),
        "modules_to_save": saved or None,
        "bias": "none",
        "fan_in_fan_out": first.fan_in_fan_out,  # GPT-2's Conv1D: weights stored (in, out)
        "init_lora_weights": True,
        "inference_mode": True,
        "use_rslora": False,
        "use_dora": False,
    }
    folder.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(folder / WEIGHTS_FILE), metadata={"format": "pt"})
    match_umask(folder / WEIGHTS_FILE, 0o666)  # safetensors writes it 0600
    (folder / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def read_adapter_config(folder: Path) -> dict[str, Any]:
    path = Path(folder) / CONFIG_FILE
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read the LoRA adapter's {path}: {exc}") from None
    if not isinstance(config, dict) or config.get("peft_type") != "LORA":
        raise UserError(f"{path} is not a LoRA adapter's config")
    return config


def load_adapter(model: nn.Module, folder: Path) -> nn.Module:
    """Add the adapter in `folder` to a base model (in place), as peft would: LoRA layers on
    the target modules (not inside modules_to_save), then the saved weights."""
    config = read_adapter_config(folder)
    targets = list(config.get("target_modules") or [])
    saved = list(config.get("modules_to_save") or [])
    names = [
        name
        for name, module in model.named_modules()
        if takes_lora(module)
        and any(name == t or name.endswith("." + t) for t in targets)
        and not any(name == m or name.startswith(m + ".") for m in saved)
    ]
    if not names:
        raise UserError(f"the adapter in {folder} targets no layer of this model")
    add_lora(model, names, int(config["r"]), float(config["lora_alpha"]), 0.0)
    with safe_open(str(Path(folder) / WEIGHTS_FILE), framework="pt", device="cpu") as handle:
        weights = {key.removeprefix(KEY_PREFIX): handle.get_tensor(key) for key in handle.keys()}
    state = model.state_dict()
    unknown = sorted(set(weights) - set(state))
    if unknown:
        raise UserError(f"the adapter has weights this model lacks: {', '.join(unknown[:3])}")
    missing = [f"{n}.{p}.weight" for n in names for p in ("lora_A", "lora_B")]
    missing = [k for k in missing if k not in weights]
    if missing:
        raise UserError(f"the adapter lacks weights: {', '.join(missing[:3])}")
    with torch.no_grad():
        for key, tensor in weights.items():
            state[key].copy_(tensor.to(state[key].dtype))
    return model
