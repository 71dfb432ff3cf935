"""Shared checks for the family parity tests: our model on a small random `transformers`
checkpoint gives transformers' logits, and what we save loads back in transformers."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import save_file

from workbench.engine.models.family import QUESTION_ANSWERING, TOKEN_CLASSIFICATION
from workbench.engine.models.loading import LoadedModel, build_model

TOKEN_LEVEL = (TOKEN_CLASSIFICATION, QUESTION_ANSWERING, "masked-lm")
LENGTHS = (11, 7, 3)


def padded_batch(vocab_size: int, pad_id: int, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Three rows of different lengths, padded with `pad_id`: (ids (B, T), mask (B, T))."""
    g = torch.Generator().manual_seed(seed)
    T = max(LENGTHS)
    ids = torch.randint(pad_id + 1, vocab_size, (len(LENGTHS), T), generator=g)
    mask = torch.zeros_like(ids)
    for row, length in enumerate(LENGTHS):
        mask[row, :length] = 1
    return ids.masked_fill(mask == 0, pad_id), mask


def jitter(model: torch.nn.Module, seed: int = 2) -> None:
    """Move every weight off its initial value (zero biases, unit LayerNorms), so a weight
    that is read wrongly shows in the logits. Tied weights move together."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(torch.randn(param.shape, generator=g) * 0.05)


def reference_logits(output, kind: str) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    if kind == QUESTION_ANSWERING:
        return torch.stack([output.start_logits, output.end_logits], dim=-1)  # (B, T, 2)
    if kind == "pretraining":
        return output.prediction_logits, output.seq_relationship_logits
    return output.logits


def max_diff(got, expected, kind: str, mask: torch.Tensor) -> float:
    """Largest difference, over real tokens only for token-level outputs."""
    if kind == "pretraining":
        mlm = max_diff(got[0], expected[0], "masked-lm", mask)
        return max(mlm, (got[1] - expected[1]).abs().max().item())
    assert got.shape == expected.shape, (got.shape, expected.shape)
    diff = (got - expected).abs()
    if kind in TOKEN_LEVEL:
        diff = diff[mask.bool()]
    return diff.max().item()


def run_both(ours: torch.nn.Module, reference: torch.nn.Module, kind: str, ids, mask, types=None):
    ours.eval()
    reference.eval()
    with torch.no_grad():
        got = ours(ids, mask, types)
        extra = {} if types is None else {"token_type_ids": types}
        expected = reference_logits(reference(input_ids=ids, attention_mask=mask, **extra), kind)
    return got, expected


def load_ours(folder: Path, kind: str, num_outputs: int) -> LoadedModel:
    return build_model(folder, kind, num_outputs)


def save_like_workbench(loaded: LoadedModel, kind: str, folder: Path) -> None:
    """Our state dict minus tied keys, and config.json naming the head's architecture."""
    head = loaded.family.head(kind)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {
        k: v.detach().clone().contiguous()
        for k, v in loaded.model.state_dict().items()
        if k not in head.tied
    }
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    config = dict(loaded.raw_config, architectures=[head.architecture])
    (folder / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")


def round_trip_diff(loaded: LoadedModel, kind: str, folder: Path, auto_class, ids, mask) -> float:
    """Save our (jittered) model, load it in `auto_class`; max logit difference. Loading must
    find every weight it expects and no others."""
    jitter(loaded.model, seed=3)
    save_like_workbench(loaded, kind, folder)
    reference, info = auto_class.from_pretrained(folder, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"], info
    assert type(reference).__name__ == loaded.family.head(kind).architecture
    got, expected = run_both(loaded.model, reference, kind, ids, mask)
    return max_diff(got, expected, kind, mask)


def dropout_rates(model: torch.nn.Module) -> set[float]:
    """Every dropout rate in the model: Dropout modules and attention's `dropout_p`."""
    modules = list(model.modules())
    rates = {m.p for m in modules if type(m).__name__ == "Dropout"}
    return rates | {m.dropout_p for m in modules if hasattr(m, "dropout_p")}
