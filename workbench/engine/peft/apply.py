"""What trains: the RunConfig's freezing / LoRA settings applied to a head model.

Full fine-tuning trains everything. `freeze_embeddings` and `freeze_layers` (the bottom N
layers) freeze parts of it; `head_only` trains the task head's new weights alone; LoRA
(`lora_rank` >= 1) freezes every base weight and adds low-rank updates to the chosen linear
layers. Weights the checkpoint lacked (a new task head, a missing pooler) always train —
as `peft`'s `modules_to_save` — since they start random. The optimizer then receives only
parameters with `requires_grad`.
"""

from __future__ import annotations

import re
import types
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from workbench.engine.peft.lora import add_lora, takes_lora
from workbench.errors import UserError

if TYPE_CHECKING:
    from workbench.config import RunConfig
    from workbench.engine.models.family import Family, Head

LORA_PRESETS = ("default", "attention", "all")


@dataclass(frozen=True)
class ParameterCounts:
    trainable: int
    total: int

    @property
    def percent(self) -> float:
        return 100.0 * self.trainable / self.total if self.total else 0.0

    def as_event_fields(self) -> dict[str, int]:
        return {"trainable_parameters": self.trainable, "total_parameters": self.total}

    def describe(self) -> str:
        """ "trainable parameters: 1,234 of 22,713,216 (0.01 %)" """
        return f"trainable parameters: {self.trainable:,} of {self.total:,} ({self.percent:.3g} %)"


def count_parameters(model: nn.Module) -> ParameterCounts:
    """Trainable and total parameters, each shared (tied) tensor counted once."""
    params = list(model.parameters())  # deduplicated by nn.Module
    return ParameterCounts(
        sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)
    )


def uses_parameter_efficiency(config: RunConfig) -> bool:
    return bool(
        config.lora_rank
        or config.head_only
        or config.freeze_layers
        or config.freeze_embeddings
        or config.gradient_checkpointing
    )


def lora_alpha(config: RunConfig) -> float:
    """The run's alpha: as given, else 2 * rank. The update is scaled by alpha / rank, so a
    fixed ratio keeps the update's size (and the learning rate that suits it) the same
    whatever the rank; the LoRA paper fixes alpha for the same reason, and alpha = 2r is
    the common choice in practice (peft's own default, 8, is 2r only at r = 4)."""
    if config.lora_alpha is not None:
        return float(config.lora_alpha)
    return 2.0 * config.lora_rank


def layer_stacks(model: nn.Module, family: Family) -> list[str]:
    """The layer prefixes of this head model: the family's `layer_stacks` that it has (an
    encoder-decoder's encoder and decoder), else its `layers_prefix`; [] when none."""
    prefixes = family.layer_stacks or ((family.layers_prefix,) if family.layers_prefix else ())
    modules = {name for name, _ in model.named_modules()}
    return [p for p in prefixes if p.rstrip(".") in modules]


def stack_layer_count(model: nn.Module, prefix: str) -> int:
    pattern = re.compile(re.escape(prefix) + r"(\d+)\.")
    indices = {
        int(m.group(1)) for name, _ in model.named_parameters() if (m := pattern.match(name))
    }
    return len(indices)


def layer_count(model: nn.Module, family: Family) -> int:
    """How many transformer layers the model has (0 when the family declares none); of an
    encoder-decoder, its deepest stack's (what --freeze-layers can reach)."""
    return max((stack_layer_count(model, p) for p in layer_stacks(model, family)), default=0)


def target_suffixes(family: Family, targets: str) -> tuple[str, ...]:
    """`--lora-targets` ("default", "attention", "all" or comma-separated suffixes) as
    module-name suffixes."""
    text = targets.strip()
    if text in LORA_PRESETS:
        if text not in family.lora_targets:
            raise UserError(
                f"{family.name} models declare no {text!r} LoRA targets; name the layers "
                "with --lora-targets (comma-separated module names such as query,value)"
            )
        return tuple(family.lora_targets[text])
    suffixes = tuple(s.strip() for s in text.split(",") if s.strip())
    if not suffixes:
        raise UserError(
            "--lora-targets is empty; give default, attention, all or module names such as "
            "query,value"
        )
    return suffixes


def _matches(name: str, suffix: str) -> bool:
    return name == suffix or name.endswith("." + suffix)


def lora_target_names(model: nn.Module, family: Family, targets: str) -> list[str]:
    """The linear layers inside the transformer layers whose names end with a target suffix."""
    suffixes = target_suffixes(family, targets)
    stacks = tuple(layer_stacks(model, family))
    names = [
        name
        for name, module in model.named_modules()
        if takes_lora(module)
        and name.startswith(stacks)
        and any(_matches(name, s) for s in suffixes)
    ]
    if not names:
        inside = sorted(
            {
                name[len(stack) :].split(".", 1)[-1]
                for name, module in model.named_modules()
                for stack in stacks
                if takes_lora(module) and name.startswith(stack)
            }
        )
        raise UserError(
            f"--lora-targets {targets!r} matches no linear layer of this {family.name} model; "
            f"its layers have: {', '.join(inside)} (or use default, attention, all)"
        )
    return names


def check_settings(config: RunConfig, family: Family, model: nn.Module) -> None:
    """Raise UserError (naming the flag) for settings this model cannot take. `model` may
    live on the meta device: only names and shapes are read."""
    if not uses_parameter_efficiency(config):
        return
    needs_layers = config.lora_rank or config.freeze_layers or config.gradient_checkpointing
    if needs_layers and not layer_stacks(model, family):
        flag = (
            "--lora-rank"
            if config.lora_rank
            else "--freeze-layers"
            if config.freeze_layers
            else "--gradient-checkpointing"
        )
        raise UserError(f"{family.name} models do not support {flag} yet; train without it")
    if config.freeze_embeddings and not family.embedding_prefixes:
        raise UserError(f"{family.name} models do not support --freeze-embeddings yet")
    layers = layer_count(model, family)
    if config.freeze_layers > layers:
        raise UserError(
            f"--freeze-layers {config.freeze_layers} is more than this model's {layers} layers; "
            f"give at most {layers}"
        )
    if config.lora_rank:
        lora_target_names(model, family, config.lora_targets)


def check_for_model(
    config: RunConfig, family: Family, raw_config: dict[str, Any], head_kind: str, outputs: int
) -> None:
    """`check_settings` on the model a run will build, built on the meta device (no weights
    read, no memory): called before the run folder exists."""
    if not uses_parameter_efficiency(config):
        return
    with torch.device("meta"):
        model = family.head(head_kind).build(family.config_from_dict(raw_config), outputs)
    check_settings(config, family, model)


def apply_parameter_efficiency(
    model: nn.Module,
    family: Family,
    head: Head,
    config: RunConfig,
    fresh: list[str] | tuple[str, ...] = (),
) -> ParameterCounts:
    """Freeze, add LoRA layers and switch on gradient checkpointing as `config` says, in
    place. `fresh`: the weights the checkpoint lacked (they always train). Call it before
    the optimizer is made."""
    check_settings(config, family, model)
    if config.gradient_checkpointing:
        enable_gradient_checkpointing(model, family)
    if not (
        config.lora_rank or config.head_only or config.freeze_layers or config.freeze_embeddings
    ):
        return count_parameters(model)
    new = set(fresh)
    params = dict(model.named_parameters())  # deduplicated: a tied weight under its first name
    if config.lora_rank or config.head_only:
        for name, param in params.items():
            param.requires_grad_(name in new)
        if config.head_only and not any(p.requires_grad for p in params.values()):
            # The checkpoint brought its own head (a fine-tuned classifier, an LM head):
            # train that head's weights, but none shared with the backbone (tied embeddings).
            for name, param in params.items():
                param.requires_grad_(name.startswith(head.new_prefixes))
        if config.lora_rank:
            names = lora_target_names(model, family, config.lora_targets)
            add_lora(model, names, config.lora_rank, lora_alpha(config), config.lora_dropout)
    else:
        frozen = tuple(family.embedding_prefixes) if config.freeze_embeddings else ()
        # An encoder-decoder freezes the bottom N of each stack (encoder and decoder);
        # a stack with fewer layers freezes whole.
        frozen += tuple(
            f"{stack}{i}."
            for stack in layer_stacks(model, family)
            for i in range(config.freeze_layers)
        )
        for name, param in params.items():
            if name.startswith(frozen) and name not in new:
                param.requires_grad_(False)
    counts = count_parameters(model)
    if counts.trainable == 0:
        raise UserError(
            "these settings leave nothing to train; drop --head-only or --freeze-layers, "
            "or add --lora-rank"
        )
    return counts


def _checkpointed_forward(self: nn.Module, *args: Any, **kwargs: Any) -> Any:
    """A layer's own forward, its activations recomputed in backward rather than kept."""
    forward = type(self).forward
    if self.training and torch.is_grad_enabled():
        # Non-reentrant: works when the layer's inputs need no grad (frozen embeddings)
        # and with keyword arguments; dropout masks repeat (RNG state is saved).
        return torch.utils.checkpoint.checkpoint(
            forward, self, *args, use_reentrant=False, **kwargs
        )
    return forward(self, *args, **kwargs)


def enable_gradient_checkpointing(model: nn.Module, family: Family) -> None:
    """Recompute each transformer layer's activations in backward: memory for one layer's
    activations instead of all of them, for about a third more compute. Module names and
    state-dict keys are unchanged (the layer's forward is replaced, as a bound method, so
    a deep copy rebinds it to the copy)."""
    for stack in layer_stacks(model, family):
        for layer in model.get_submodule(stack.rstrip(".")).children():
            layer.forward = types.MethodType(_checkpointed_forward, layer)


def estimate_counts(
    model: str,
    head_kind: str,
    settings: dict[str, Any],
    num_outputs: int = 2,
) -> dict[str, int]:
    """Trainable and total parameters of `model` (a name or folder) under `settings`
    (RunConfig fields), for a new task head — built on the meta device, so no weights are
    read and no memory is taken. For the Model page and `workbench models`."""
    from workbench.config import RunConfig
    from workbench.engine.models.registry import family_for, read_config, resolve_model

    folder = resolve_model(model)
    raw = read_config(folder)
    family = family_for(raw, folder)
    head = family.head(head_kind)
    config = RunConfig(**{k: v for k, v in settings.items() if k != "task"})
    with torch.device("meta"):
        built = head.build(family.config_from_dict(raw), num_outputs)
        fresh = [n for n, _ in built.named_parameters() if n.startswith(head.new_prefixes)]
        kept = _pretrained_lm_head(folder, head_kind, family)
        fresh = [n for n in fresh if n not in kept]
        counts = apply_parameter_efficiency(built, family, head, config, fresh)
    return {"trainable": counts.trainable, "total": counts.total}


def _pretrained_lm_head(folder: Any, head_kind: str, family: Family) -> set[str]:
    """The LM head weights the checkpoint holds (names as in the head model), which a
    generative run keeps and, under LoRA, freezes — an untied head (T5 v1.1, Llama) is
    not new. From the weight headers; a classifier's head is always counted new."""
    from workbench.engine.models.checks import find_weights, weight_shapes
    from workbench.engine.models.family import CAUSAL_LM, SEQ2SEQ_LM
    from workbench.engine.models.registry import has_weights

    if head_kind not in (CAUSAL_LM, SEQ2SEQ_LM) or not has_weights(folder):
        return set()
    keys = set(weight_shapes(find_weights(folder)))
    prefix = family.backbone_prefix
    return keys | {f"{prefix}{k}" for k in keys}
