"""Batched forward passes for evaluation and prediction (no gradients, original order kept)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from workbench.engine.training.batching import collate, sorted_batches
from workbench.engine.training.precision import Precision


@torch.no_grad()
def predict_logits(
    model: torch.nn.Module,
    token_ids: list[list[int]],
    pad_id: int,
    precision: Precision,
    batch_size: int = 64,
    should_stop: Callable[[], bool] | None = None,
) -> np.ndarray | None:
    """Logits (N, num_labels) as float32 numpy, in input order; None if stopped midway."""
    was_training = model.training
    model.eval()
    device = precision.device
    out: np.ndarray | None = None
    try:
        for indices in sorted_batches([len(t) for t in token_ids], batch_size):
            if should_stop is not None and should_stop():
                return None
            ids, mask = collate(token_ids, indices, pad_id, precision.pad_multiple)
            with precision.autocast():
                logits = model(ids.to(device), mask.to(device))
            logits = logits.float().cpu().numpy()
            if out is None:
                out = np.zeros((len(token_ids), logits.shape[1]), dtype=np.float32)
            out[indices] = logits
    finally:
        model.train(was_training)
    return out


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def cross_entropy(logits: np.ndarray, label_ids: np.ndarray) -> float:
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float(-log_probs[np.arange(len(label_ids)), label_ids].mean())
