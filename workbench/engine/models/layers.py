"""Pieces every family's modules share: activations, attention, how new layers start.

Shapes: B batch, T tokens, H hidden size, nh heads, hs head size.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from workbench.engine.models.dropout import dropout
from workbench.errors import UserError

# config.json activation names, as `transformers` spells them.
ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "gelu": F.gelu,
    "gelu_new": lambda x: F.gelu(x, approximate="tanh"),
    "gelu_pytorch_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "relu": F.relu,
    "silu": F.silu,
    "swish": F.silu,
}


def activation(name: str, key: str = "hidden_act") -> Callable[[torch.Tensor], torch.Tensor]:
    if name not in ACTIVATIONS:
        raise UserError(f"unsupported {key} {name!r} in config.json")
    return ACTIVATIONS[name]


def split_heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    B, T, H = x.shape
    return x.view(B, T, num_heads, H // num_heads).transpose(1, 2)  # (B, nh, T, hs)


_REDUCED = (torch.bfloat16, torch.float16)
CPU_TRAIN_ATTENTION_IN_FP32 = True
"""Reduced-precision attention on the CPU runs its flash kernel in fp32 when gradients are
needed (see `attention`); a switch only so bench/step_levers.py can time the other way."""


def sdpa(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, **kwargs) -> torch.Tensor:
    """`F.scaled_dot_product_attention`, run in fp32 when a reduced-precision CPU step trains.

    The CPU flash kernel's backward is ~5x slower in bf16 than in fp32 (torch 2.13, AMX Xeon,
    MiniLM: 40 % of a bf16 training step, which made bf16 slower than fp32 end to end); the
    matmuls around it keep their bf16 speed-up. Autocast would cast the fp32 inputs back to
    bf16 (SDPA is on its CPU lower-precision list), hence the disabled region. Forward-only
    (evaluation, generation) stays in the reduced precision. Every family's attention calls
    this, so `auto` choosing bf16 on a CPU is never slowed by its attention backward.
    """
    if (
        q.device.type == "cpu"
        and q.dtype in _REDUCED
        and torch.is_grad_enabled()
        and CPU_TRAIN_ATTENTION_IN_FP32
    ):
        mask = kwargs.get("attn_mask")
        if mask is not None and mask.is_floating_point():
            kwargs["attn_mask"] = mask.float()
        with torch.autocast("cpu", enabled=False):
            return F.scaled_dot_product_attention(q.float(), k.float(), v.float(), **kwargs).to(
                q.dtype
            )
    return F.scaled_dot_product_attention(q, k, v, **kwargs)


def attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None,
    dropout_p: float,
    training: bool,
) -> torch.Tensor:
    """Scaled dot-product attention of (B, nh, T, hs) heads -> (B, T, H).

    `mask` is boolean (B, 1, 1, T), True = attend; it is always passed when there is one
    (never a Python branch on its values: that costs a device sync per forward and makes a
    traced or exported model ignore padding).
    """
    B, nh, T, hs = q.shape
    if training and dropout_p > 0 and q.device.type == "cpu":
        # Written out so the attention dropout uses the cheap CPU mask; this is what
        # SDPA's CPU path computes when it has to apply dropout.
        scores = (q @ k.transpose(-2, -1)) * hs**-0.5  # (B, nh, T, T)
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        y = dropout(scores.softmax(dim=-1), dropout_p, True) @ v
    else:
        y = sdpa(q, k, v, attn_mask=mask, dropout_p=dropout_p if training else 0.0)
    return y.transpose(1, 2).reshape(B, T, nh * hs)  # (B, T, H)


def attention_mask_of(attention_mask: torch.Tensor | None) -> torch.Tensor | None:
    """(B, T) of 1 = real token -> boolean (B, 1, 1, T) for `attention`."""
    return None if attention_mask is None else attention_mask.bool()[:, None, None, :]


def init_new(*modules: nn.Module, std: float) -> None:
    """Initialise new head layers as `transformers` does: linear weights N(0, std), biases 0,
    LayerNorm gains 1."""
    with torch.no_grad():
        for module in modules:
            for layer in module.modules():
                if isinstance(layer, nn.Linear):
                    layer.weight.normal_(0.0, std)
                    if layer.bias is not None:
                        layer.bias.zero_()
                elif isinstance(layer, nn.LayerNorm):
                    layer.weight.fill_(1.0)
                    layer.bias.zero_()


def last_real_token(
    logits: torch.Tensor,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None,
    pad_token_id: int | None,
) -> torch.Tensor:
    """(B, T, L) -> (B, L): each row's rightmost real token, as transformers pools a decoder
    (left or right padding). A token is real when the mask says so and, as transformers
    decides, when it is not the pad token."""
    B, T = input_ids.shape
    real = torch.ones_like(input_ids, dtype=torch.bool)
    if attention_mask is not None:
        real = real & attention_mask[:, -T:].bool()
    if pad_token_id is not None:
        real = real & input_ids.ne(pad_token_id)
    last = (torch.arange(T, device=input_ids.device) * real).argmax(-1)  # (B,)
    return logits[torch.arange(B, device=logits.device), last]
