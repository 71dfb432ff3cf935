"""Reading and writing the files of Hugging Face folders (weights, config, tokenizer).

Matching weights to modules is `engine/models/loading.py`'s job.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from workbench.errors import UserError

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


def save_folder(
    folder: Path,
    model: torch.nn.Module,
    config: dict,
    tokenizer_source: Path,
    tokenizer,
    tied: tuple[str, ...] = (),
) -> None:
    """Write config.json, model.safetensors and tokenizer files into an existing folder.
    `tied` keys (one tensor shared with another, e.g. an LM decoder and the embeddings)
    are left out, as `transformers` does; loading ties them again."""
    skip = set(tied) | set(shared_weights(model))
    tensors = {
        k: v.detach().to("cpu", torch.float32).clone().contiguous()
        for k, v in model.state_dict().items()
        if k not in skip
    }
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    (folder / "config.json").write_text(
        json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    for name in TOKENIZER_FILES:
        if (tokenizer_source / name).exists():
            shutil.copyfile(tokenizer_source / name, folder / name)
    tokenizer.save(folder)

def shared_weights(model: torch.nn.Module) -> dict[str, str]:
    """Parameters that are another one under a second name (key -> the first name), e.g. a
    Llama LM head tied to the embeddings only when its config says so: saved once, loaded
    once, found on the model itself because a family's Head cannot know it in advance."""
    first: dict[int, str] = {}
    shared: dict[str, str] = {}
    for name, param in model.named_parameters(remove_duplicate=False):
        if id(param) in first:
            shared[name] = first[id(param)]
        else:
            first[id(param)] = name
    return shared
