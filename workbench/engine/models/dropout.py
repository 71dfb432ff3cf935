"""Dropout whose random mask is cheap to draw on the CPU.

`nn.Dropout` on the CPU draws one Mersenne-Twister number per element (`bernoulli_`),
single-threaded: on a 6-layer MiniLM that was 10 % of a training step. Here each 64-bit
draw is split into four 16-bit lanes, one per element, so a mask costs a quarter of the
draws. p is kept to within 1/65536. On GPUs (fast counter-based RNG) it is plain
`F.dropout`. Seeded by `torch.manual_seed` like everything else.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

_LANES = 4  # int16 lanes in one int64 draw


def keep_mask(shape: torch.Size, p: float, dtype: torch.dtype) -> torch.Tensor:
    """0 where dropped, 1/(1-p) where kept: multiply by it to apply dropout."""
    count = shape.numel()
    draws = torch.randint(-(2**63), 2**63 - 1, ((count + _LANES - 1) // _LANES,), dtype=torch.int64)
    lanes = draws.view(torch.int16)[:count].view(shape)  # uniform over int16
    threshold = round(p * 65536) - 32768
    return (lanes >= threshold).to(dtype).mul_(1.0 / (1.0 - p))


def dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    if not training or p == 0.0:
        return x
    if x.device.type != "cpu":
        return F.dropout(x, p, training=True)
    return x * keep_mask(x.shape, p, x.dtype)


class Dropout(nn.Module):
    """Drop-in for nn.Dropout (no weights, so checkpoint keys are unaffected)."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"
