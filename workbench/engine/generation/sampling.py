"""Choosing the next token from logits, as `transformers` does it, so settings mean the same.

Order (transformers' `generate`): repetition penalty, then for sampling temperature, top-k,
top-p, and a draw. Every function takes and returns (B, V) float logits.
"""

from __future__ import annotations

import torch


def repetition_penalty(logits: torch.Tensor, seen: torch.Tensor, penalty: float) -> torch.Tensor:
    """Make tokens already in the text less likely (CTRL, Keskar et al. 2019): a seen token's
    positive logit is divided by `penalty`, a negative one multiplied. `seen` (B, N) ids."""
    if penalty == 1.0 or seen.numel() == 0:
        return logits
    picked = logits.gather(1, seen)  # (B, N)
    picked = torch.where(picked < 0, picked * penalty, picked / penalty)
    return logits.scatter(1, seen, picked)


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the k largest logits (ties with the k-th kept too); -inf elsewhere. k <= 0: all."""
    if k <= 0 or k >= logits.shape[-1]:
        return logits
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]  # (B, 1)
    return logits.masked_fill(logits < kth, float("-inf"))


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Nucleus: keep the most likely tokens whose probabilities sum to at least `p` (at least
    one token); -inf elsewhere. As transformers: a token goes when the total probability of
    it and every less likely token is at most 1 - p."""
    if p >= 1.0:
        return logits
    ascending, order = torch.sort(logits, dim=-1)  # (B, V)
    cumulative = ascending.softmax(dim=-1).cumsum(dim=-1)
    drop_sorted = cumulative <= (1 - p)
    drop_sorted[..., -1] = False  # the most likely token always stays
    drop = drop_sorted.scatter(1, order, drop_sorted)
    return logits.masked_fill(drop, float("-inf"))


def next_token(
    logits: torch.Tensor,
    seen: torch.Tensor,
    *,
    temperature: float,
    top_k: int = 0,
    top_p: float = 1.0,
    penalty: float = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """(B, V) logits of the last position -> (B,) chosen ids. temperature 0 is greedy."""
    logits = repetition_penalty(logits.float(), seen, penalty)
    if temperature == 0:
        return logits.argmax(dim=-1)
    logits = top_p_filter(top_k_filter(logits / temperature, top_k), top_p)
    probs = logits.softmax(dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(1)
