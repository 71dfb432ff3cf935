"""What a task's loss is a mean over, counted per batch: `Task.loss_units` returns one of
these, so training can cut a batch into micro-batches (out of memory: engine/training/
guards.py) and weight each micro-batch's loss by its share, giving exactly the whole batch's
gradient. Imported only when a run trains (it needs torch).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

Batch = dict[str, torch.Tensor]
IGNORE = -100  # labels that carry no loss (padding, sub-word tails, prompts)


def batch_rows(batch: Batch) -> int:
    return int(next(iter(batch.values())).shape[0])


def example_units(batch: Batch) -> torch.Tensor:
    """Losses that are a mean over examples (classification, regression, QA spans)."""
    return torch.tensor(float(batch_rows(batch)))


def token_units(shift: bool = False) -> Callable[[Batch], torch.Tensor]:
    """Losses that are a mean over target tokens (labels not -100); `shift`: a causal LM's
    targets are the labels from position 1 on."""

    def units(batch: Batch) -> torch.Tensor:
        labels = batch["labels"][:, 1:] if shift else batch["labels"]
        return (labels != IGNORE).sum().float()

    return units


def weighted_token_units(weights: list[float]) -> Callable[[Batch], torch.Tensor]:
    """Token classification with class weights: the loss is divided by the targets' weights."""

    def units(batch: Batch) -> torch.Tensor:
        labels = batch["labels"]
        table = torch.tensor(weights, dtype=torch.float32, device=labels.device)
        return (table[labels.clamp(min=0)] * (labels != IGNORE)).sum()

    return units


def weighted_example_units(weights: list[float]) -> Callable[[Batch], torch.Tensor]:
    """Cross-entropy with class weights: the mean is divided by the examples' weights."""

    def units(batch: Batch) -> torch.Tensor:
        labels = batch["labels"]
        return torch.tensor(weights, dtype=torch.float32, device=labels.device)[labels].sum()

    return units
