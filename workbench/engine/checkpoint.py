"""The one place where Hugging Face folders are read and written.

Module attribute names equal the checkpoint keys, so loading is a state-dict copy with
loud errors: a missing key, an unexpected key or a shape mismatch names the key.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from workbench.errors import UserError

# Keys some checkpoints carry that no fine-tuning model uses (pre-training heads, buffers).
_IGNORED_PREFIXES = ("cls.", "lm_head.")
_IGNORED_SUFFIXES = ("position_ids",)
TOKENIZER_FILES = ("tokenizer_config.json", "special_tokens_map.json", "vocab.txt")


def read_state_dict(folder: str | Path) -> dict[str, torch.Tensor]:
    """Weights from model.safetensors (memory-mapped) or pytorch_model.bin (weights only)."""
    folder = Path(folder)
    safetensors_file = folder / "model.safetensors"
    if safetensors_file.exists():
        try:
            with safe_open(str(safetensors_file), framework="pt", device="cpu") as handle:
                return {key: handle.get_tensor(key) for key in handle.keys()}
        except Exception as exc:  # a truncated or foreign file
            raise UserError(f"cannot read {safetensors_file}: {exc}") from None
    bin_file = folder / "pytorch_model.bin"
    if bin_file.exists():
        # weights_only refuses pickled code; torch >= 2.6 is required for it to be safe
        # (CVE-2025-32434), which our pinned torch satisfies.
        try:
            return torch.load(bin_file, map_location="cpu", weights_only=True, mmap=True)
        except Exception as exc:
            raise UserError(f"cannot read {bin_file} safely: {exc}") from None
    raise UserError(f"{folder} has no model.safetensors or pytorch_model.bin")


def load_into(
    model: torch.nn.Module, weights: dict[str, torch.Tensor], prefix: str, allow_missing: tuple[str, ...] = ()
) -> list[str]:
    """Copy `weights` into `model`. Checkpoint keys without `prefix` (a bare encoder) get it
    added. Keys starting with one of `allow_missing` may be absent (a new task head); their
    names are returned so the caller can say they were freshly initialised."""
    expected = model.state_dict()
    renamed: dict[str, torch.Tensor] = {}
    for key, tensor in weights.items():
        if key.startswith(_IGNORED_PREFIXES) or key.endswith(_IGNORED_SUFFIXES):
            continue
        name = key if key in expected or not prefix else f"{prefix}{key}"
        renamed[name] = tensor
    unexpected = sorted(set(renamed) - set(expected))
    if unexpected:
        raise UserError(
            f"the checkpoint has weights this model does not use: {', '.join(unexpected[:5])}"
            + (" …" if len(unexpected) > 5 else "")
            + "; is it the right model family?"
        )
    missing = sorted(set(expected) - set(renamed))
    fresh = [k for k in missing if k.startswith(allow_missing)]
    really_missing = [k for k in missing if not k.startswith(allow_missing)]
    if really_missing:
        raise UserError(
            f"the checkpoint lacks weights: {', '.join(really_missing[:5])}"
            + (" …" if len(really_missing) > 5 else "")
        )
    for name, tensor in renamed.items():
        if tuple(tensor.shape) != tuple(expected[name].shape):
            raise UserError(
                f"weight {name} has shape {tuple(tensor.shape)} in the checkpoint but the "
                f"model expects {tuple(expected[name].shape)}; the config does not match the weights"
            )
    with torch.no_grad():
        state = dict(model.named_parameters())
        state.update(dict(model.named_buffers()))
        for name, tensor in renamed.items():
            state[name].copy_(tensor.to(state[name].dtype))
    return fresh


def save_folder(
    folder: Path, model: torch.nn.Module, config: dict, tokenizer_source: Path, tokenizer
) -> None:
    """Write config.json, model.safetensors and tokenizer files into an existing folder."""
    tensors = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    (folder / "config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    for name in TOKENIZER_FILES:
        if (tokenizer_source / name).exists():
            shutil.copyfile(tokenizer_source / name, folder / name)
    tokenizer.save(folder)
