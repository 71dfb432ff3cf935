"""LoRA (Hu et al., 2021): a frozen linear layer plus a trainable low-rank update.

y = x W^T + b + (alpha / r) * dropout(x) A^T B^T, with A (r, in) and B (out, r). A starts
kaiming-uniform and B at zero (as the paper and `peft` do), so before the first step the
model computes exactly what the base model computes.

A wrapped layer keeps its `weight` and `bias` under their own names and adds `lora_A.weight`
and `lora_B.weight`: a state dict's keys are the base model's plus the adapter's, named as
`peft` names them (without its adapter name), and merging gives back a plain nn.Linear.
Shapes: N any leading dims, I in features, O out features, r rank.

A layer whose weight is stored transposed, (I, O) — GPT-2's `Conv1D`, marked by a
`fan_in_fan_out = True` attribute — takes LoRA too, as `peft` does with its option of that
name: the adapter's A and B keep the same shapes, only the base weight is read transposed.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from workbench.engine.models.dropout import Dropout


def takes_lora(module: nn.Module) -> bool:
    """An nn.Linear, or a linear layer whose weight is stored (in, out) (`fan_in_fan_out`)."""
    return isinstance(module, nn.Linear) or bool(getattr(module, "fan_in_fan_out", False))


class LoRALinear(nn.Module):
    """A linear layer's frozen weight and bias, plus the low-rank update that trains."""

    def __init__(self, base: nn.Module, rank: int, alpha: float, dropout: float) -> None:
        super().__init__()
        self.fan_in_fan_out = not isinstance(base, nn.Linear)
        if self.fan_in_fan_out:  # weight (I, O)
            self.in_features, self.out_features = base.weight.shape
            # Kept outside the module tree (no state-dict keys): `merged` copies it.
            object.__setattr__(self, "_transposed_base", base)
        else:
            self.in_features, self.out_features = base.in_features, base.out_features
        self.weight = base.weight  # the same Parameters: ties and optimizer refs survive
        self.bias = base.bias
        self.rank, self.alpha, self.dropout_p = rank, alpha, dropout
        self.scaling = alpha / rank
        # The adapter trains in fp32 even on a bf16/fp16 base (small, and updates need it).
        device = base.weight.device
        self.lora_A = nn.Linear(self.in_features, rank, bias=False, device=device)
        self.lora_B = nn.Linear(rank, self.out_features, bias=False, device=device)
        self.lora_dropout = Dropout(dropout)
        nn.init.kaiming_uniform_(self.lora_A.weight, a=math.sqrt(5))
        nn.init.zeros_(self.lora_B.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.weight.t() if self.fan_in_fan_out else self.weight  # (O, I)
        out = F.linear(x, weight, self.bias)  # (N, O)
        h = self.lora_dropout(x.to(self.lora_A.weight.dtype))  # (N, I)
        delta = self.lora_B(self.lora_A(h)) * self.scaling  # (N, r) -> (N, O)
        return out + delta.to(out.dtype)

    def delta_weight(self) -> torch.Tensor:
        return (self.lora_B.weight @ self.lora_A.weight) * self.scaling  # (O, r) @ (r, I)

    def merged(self) -> nn.Module:
        """A plain layer of the base's kind computing what this layer computes
        (W + scaling * B A)."""
        if self.fan_in_fan_out:
            layer = copy.deepcopy(self._transposed_base)  # new Parameters, the same values
            with torch.no_grad():
                layer.weight.add_(self.delta_weight().t().to(layer.weight.dtype))
            return layer
        linear = nn.Linear(
            self.in_features,
            self.out_features,
            bias=self.bias is not None,
            device=self.weight.device,
            dtype=self.weight.dtype,
        )
        with torch.no_grad():
            linear.weight.copy_(self.weight + self.delta_weight().to(self.weight.dtype))
            if self.bias is not None:
                linear.bias.copy_(self.bias)
        linear.weight.requires_grad_(self.weight.requires_grad)
        if self.bias is not None:
            linear.bias.requires_grad_(self.bias.requires_grad)
        return linear

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"rank={self.rank}, alpha={self.alpha:g}, dropout={self.dropout_p:g}"
        )


def add_lora(
    model: nn.Module, names: list[str], rank: int, alpha: float, dropout: float
) -> list[str]:
    """Replace the linear layers `names` by LoRA layers; freeze their base weights.
    Returns the names wrapped (in model order)."""
    for name in names:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        base = getattr(parent, child)
        if not takes_lora(base):
            raise TypeError(f"{name} is a {type(base).__name__}, not a linear layer")
        base.weight.requires_grad_(False)
        if base.bias is not None:
            base.bias.requires_grad_(False)
        setattr(parent, child, LoRALinear(base, rank, alpha, dropout))
    return list(names)


def lora_modules(model: nn.Module) -> dict[str, LoRALinear]:
    return {name: m for name, m in model.named_modules() if isinstance(m, LoRALinear)}


def merge_lora(model: nn.Module) -> nn.Module:
    """Fold every LoRA update into its base weight, in place: the model becomes a plain one
    (the base model's state-dict keys, no adapter) computing the same outputs."""
    for name, module in lora_modules(model).items():
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, module.merged())
    return model
