"""Batched forward passes for evaluation and prediction (no gradients, input order kept)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from workbench.engine.training.batching import sorted_batches
from workbench.engine.training.precision import Precision

if TYPE_CHECKING:
    from workbench.engine.tasks.base import Features, Task


@torch.no_grad()
def run_model(
    model: torch.nn.Module,
    task: Task,
    features: Features,
    pad_id: int,
    precision: Precision,
    batch_size: int = 64,
    should_stop: Callable[[], bool] | None = None,
) -> list[np.ndarray] | None:
    """The task's per-feature outputs (float32 numpy) in feature order; None if stopped."""
    was_training = model.training
    model.eval()
    device = precision.device
    out: list[Any] = [None] * len(features)
    try:
        for positions in sorted_batches(features.lengths, batch_size):
            if should_stop is not None and should_stop():
                return None
            batch = task.collate(
                features, positions, pad_id, precision.pad_multiple, training=False
            )
            batch = {k: v.to(device) for k, v in batch.items()}
            with precision.autocast():
                logits = task.forward(model, batch)
            for p, output in zip(positions, task.gather(logits, batch), strict=True):
                out[p] = output
    finally:
        model.train(was_training)
    return out
