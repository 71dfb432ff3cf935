"""Build a family's head model from a folder: the one place weights meet modules.

Checkpoint keys equal module attribute names, so loading is a state-dict copy with loud
errors: an unexpected key, a missing key or a shape that does not fit names the key.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from workbench.engine.checkpoint import Weights, read_state_dict, shared_weights
from workbench.engine.models.family import Family, Head
from workbench.engine.models.registry import family_for, is_from_scratch, read_config
from workbench.errors import UserError


@dataclass
class LoadedModel:
    model: nn.Module
    family: Family
    config: Any
    raw_config: dict[str, Any]
    fresh: list[str]
    """Weights the checkpoint lacked, initialised fresh (a new head)."""


def build_model(
    folder: Path,
    head_kind: str,
    num_outputs: int,
    *,
    keep_head: bool = True,
    dropout: float | None = None,
) -> LoadedModel:
    """The `head_kind` model of the folder's family, with its weights.

    `keep_head=False` discards the checkpoint's head weights (other labels, another task),
    so the head starts fresh. `dropout` replaces the checkpoint's dropout rates (training
    only; exports keep the checkpoint's own).
    """
    folder = Path(folder)
    raw = read_config(folder)
    family = family_for(raw, folder)
    head = family.head(head_kind)
    values = dict(raw)
    if dropout is not None:
        values.update({key: dropout for key in family.dropout_keys})
    config = family.config_from_dict(values)
    model = head.build(config, num_outputs)
    if is_from_scratch(folder):  # config.json and a tokenizer only: every weight starts fresh
        fresh = [k for k in model.state_dict() if k not in head.tied]
        own_init = getattr(model, "init_from_scratch", None)
        if callable(own_init):  # not a transformer (ELMo's CNN and LSTMs): its own init
            own_init()
        else:
            init_fresh(model, fresh, getattr(config, "initializer_range", 0.02))
        return LoadedModel(model, family, config, raw, fresh)
    weights = read_state_dict(folder)
    if not keep_head:
        weights = weights.subset(k for k in weights if not k.startswith(head.new_prefixes))
    tied = {**head.tied, **shared_weights(model)}
    untied = untie_differing(model, weights, family, head)
    for name in untied:
        del tied[name]
    if untied:  # what is saved from it must say so, or transformers would tie the head again
        raw, config = untied_config(raw, config)
    fresh = load_into(model, weights, family, head.new_prefixes, tied)
    backbone_fresh = [k for k in fresh if k.startswith(family.optional_prefixes)]
    init_fresh(model, backbone_fresh, getattr(config, "initializer_range", 0.02))
    return LoadedModel(model, family, config, raw, fresh)


def _checkpoint_key(name: str, weights: Mapping[str, torch.Tensor], prefix: str) -> str | None:
    """The checkpoint's key for the model's weight `name` (a base checkpoint's keys lack
    the head model's backbone prefix), or None when the checkpoint lacks it."""
    if name in weights:
        return name
    if prefix and name.startswith(prefix) and name[len(prefix) :] in weights:
        return name[len(prefix) :]
    return None


def untie_differing(
    model: nn.Module, weights: Mapping[str, torch.Tensor], family: Family, head: Head
) -> list[str]:
    """Give a head weight tied to the embeddings because the config says so its own
    Parameter when the checkpoint holds both with different values, as transformers 5
    does; returns the names untied. The case: transformers 5 writes `tie_word_embeddings:
    true` for every T5, so a Flan-T5 (own LM head) it re-saves looks tied, yet keeps both
    weights. Ties the family always makes (`Head.tied`) are left alone."""
    untied: list[str] = []
    for name, source in shared_weights(model).items():
        if name in head.tied or not name.startswith(head.new_prefixes):
            continue
        key = _checkpoint_key(name, weights, family.backbone_prefix)
        source_key = _checkpoint_key(source, weights, family.backbone_prefix)
        if key is None or source_key is None or key == source_key:
            continue
        if torch.equal(weights[key], weights[source_key]):
            continue  # a .bin checkpoint stores a tied tensor under both names
        parent_name, _, attr = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        old = getattr(parent, attr)
        setattr(parent, attr, nn.Parameter(torch.empty_like(old), old.requires_grad))
        untied.append(name)
    return untied


# Settings whose meaning followed the tie (transformers 4 scaled T5's decoder output exactly
# when the head was tied): written down as in effect, so untying changes nothing else.
_FOLLOWS_THE_TIE = ("scale_decoder_outputs",)


def untied_config(raw: dict[str, Any], config: Any) -> tuple[dict[str, Any], Any]:
    """config.json (and the family's config) of a model whose head was untied on loading:
    `tie_word_embeddings: false`, so a re-saved or exported folder loads untied everywhere."""
    raw = dict(raw, tie_word_embeddings=False)
    for key in _FOLLOWS_THE_TIE:
        if hasattr(config, key):
            raw[key] = bool(getattr(config, key))
    if dataclasses.is_dataclass(config) and hasattr(config, "tie_word_embeddings"):
        config = dataclasses.replace(config, tie_word_embeddings=False)
    return raw, config


def load_into(
    model: nn.Module,
    weights: Mapping[str, torch.Tensor],
    family: Family,
    new_prefixes: tuple[str, ...] = (),
    tied: dict[str, str] | None = None,
) -> list[str]:
    """Copy `weights` into `model`; return the names of weights left as initialised.

    Keys and shapes are checked first (from the headers of a `Weights`); then each tensor is
    read, copied (cast to the parameter's dtype in place) and dropped, so a bf16 checkpoint
    never exists in memory as a whole, nor as a float32 copy."""
    expected = model.state_dict()
    prefix = family.backbone_prefix
    other_heads = tuple(p for p in family.all_head_prefixes() if p not in new_prefixes)
    renamed: dict[str, str] = {}  # model name -> checkpoint key
    for key in weights:
        if key.endswith(family.ignored_suffixes):
            continue
        name = key if key in expected or not prefix else f"{prefix}{key}"
        if name not in expected and key.startswith(other_heads):
            continue  # another task's head (a pretraining head on a base checkpoint)
        left_out = family.optional_prefixes
        if name not in expected and (key.startswith(left_out) or name.startswith(left_out)):
            continue  # an optional backbone part this head leaves out (BERT's pooler)
        renamed[name] = key
    unexpected = sorted(set(renamed) - set(expected))
    if unexpected:
        raise UserError(
            f"the checkpoint has weights this model does not use: {', '.join(unexpected[:5])}"
            + (" …" if len(unexpected) > 5 else "")
            + "; is it the right model family?"
        )
    tied = tied or {}
    missing = sorted(set(expected) - set(renamed) - set(tied))
    optional = tuple(new_prefixes) + family.optional_prefixes
    fresh = [k for k in missing if k.startswith(optional)]
    really_missing = [k for k in missing if not k.startswith(optional)]
    if really_missing:
        raise UserError(
            f"the checkpoint lacks weights: {', '.join(really_missing[:5])}"
            + (" …" if len(really_missing) > 5 else "")
        )
    for name, key in renamed.items():
        shape = weights.shape(key) if isinstance(weights, Weights) else weights[key].shape
        if tuple(shape) != tuple(expected[name].shape):
            raise UserError(
                f"weight {name} has shape {tuple(shape)} in the checkpoint but the "
                f"model expects {tuple(expected[name].shape)}; the config does not match the weights"
            )
    with torch.no_grad():
        state = dict(model.named_parameters(remove_duplicate=False))
        state.update(dict(model.named_buffers(remove_duplicate=False)))
        for name, key in renamed.items():
            if name in tied:
                continue  # the same tensor as its source, which is copied
            state[name].copy_(weights[key])  # one tensor at a time, cast by copy_
    return fresh


def init_fresh(model: nn.Module, names: list[str], std: float) -> None:
    """Initialise weights a checkpoint lacked as `transformers` does: N(0, std), biases 0,
    normalisation gains 1."""
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name in names:
            param = params.get(name)
            if param is None:
                continue
            if name.endswith("bias") or name.rsplit(".", 1)[-1].startswith("bias_"):  # LSTM
                param.zero_()
            elif param.ndim == 1:
                param.fill_(1.0)
            else:
                param.normal_(0.0, std)
