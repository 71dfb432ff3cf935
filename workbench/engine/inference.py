"""Batched forward passes for evaluation and prediction (no gradients, input order kept).

Levers for speed, each a named piece with a test that it gives the plain path's outputs
(tests/engine/test_inference_levers.py):
- `run_model` switches the model to eval mode only when it is training: walking ~100
  modules twice per call cost ~1 ms of a one-sentence prediction.
- `token_batches`: longest first, each batch at most `max_tokens` padded tokens (bounded
  shapes and memory for long documents, bigger batches for short sentences).
- `FrozenForward`: the task's forward traced once per input signature, frozen and
  optimised for inference by TorchScript (weights pre-packed for oneDNN, no Python per
  module); checked against the eager forward on a padded probe when built, eager otherwise.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from workbench.engine.training.batching import sorted_batches
from workbench.engine.training.precision import Precision

if TYPE_CHECKING:
    from workbench.engine.tasks.base import Features, Task

ForwardFn = Callable[[torch.nn.Module, dict[str, torch.Tensor]], Any]


@torch.no_grad()
def run_model(
    model: torch.nn.Module,
    task: Task,
    features: Features,
    pad_id: int,
    precision: Precision,
    batch_size: int = 64,
    should_stop: Callable[[], bool] | None = None,
    *,
    forward: ForwardFn | None = None,
    max_tokens: int | None = None,
) -> list[np.ndarray] | None:
    """The task's per-feature outputs (float32 numpy) in feature order; None if stopped.

    `forward` replaces `task.forward` (a `FrozenForward`); `max_tokens` batches by a padded
    token budget (`token_batches`) instead of `batch_size` rows."""
    was_training = model.training
    if was_training:  # a loaded model is in eval mode already: no walk over its modules
        model.eval()
    device = precision.device
    call = forward or task.forward
    out: list[Any] = [None] * len(features)
    if max_tokens is None:
        batches = sorted_batches(features.lengths, batch_size)
    else:
        batches = token_batches(features.lengths, max_tokens, batch_size)
    try:
        for positions in batches:
            if should_stop is not None and should_stop():
                return None
            batch = task.collate(
                features, positions, pad_id, precision.pad_multiple, training=False
            )
            batch = {k: v.to(device) for k, v in batch.items()}
            with precision.autocast():
                logits = call(model, batch)
            for p, output in zip(positions, task.gather(logits, batch), strict=True):
                out[p] = output
    finally:
        if was_training:
            model.train(True)
    return out


def token_batches(
    lengths: Sequence[int] | np.ndarray, max_tokens: int, max_rows: int | None = None
) -> list[list[int]]:
    """Positions in batches, longest first, each at most `max_tokens` tokens once padded to
    its longest (and at most `max_rows` rows); a feature longer than the budget goes alone.
    Sorted, a batch's padding is only the length differences of neighbours."""
    order = np.argsort(-np.asarray(lengths, dtype=np.int64), kind="stable")
    sizes = np.asarray(lengths, dtype=np.int64)[order]
    batches: list[list[int]] = []
    start = 0
    while start < len(order):
        longest = max(int(sizes[start]), 1)  # the batch's first is its longest
        rows = max(1, max_tokens // longest)
        if max_rows is not None:
            rows = min(rows, max_rows)
        batches.append(order[start : start + rows].tolist())
        start += rows
    return batches


class FrozenForward:
    """`task.forward(model, batch)` through TorchScript graphs: traced on the first batch of
    each input signature (the batch's names, dtypes and device), frozen (weights become
    constants) and optimised for inference (oneDNN pre-packed linear weights, fused ops).

    The graph is used only where it was checked: on its first batch and on a padded probe
    made from it, its outputs must equal the eager forward's within `TOLERANCE`; otherwise,
    or when tracing fails, that signature runs eagerly. Used only under inference mode on a
    model in eval mode (never for training); the model must not change afterwards (a
    Predictor's model never trains). Not thread-safe, like the Predictor that owns it."""

    TOLERANCE = 1e-5

    def __init__(self, task: Task) -> None:
        self.task = task
        self._graphs: dict[tuple, torch.jit.ScriptModule | None] = {}

    @property
    def built(self) -> int:
        """How many signatures run through a checked graph."""
        return sum(graph is not None for graph in self._graphs.values())

    def __call__(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> Any:
        if model.training or not torch.is_inference_mode_enabled():
            return self.task.forward(model, batch)
        names = tuple(sorted(batch))
        key = tuple((n, batch[n].dtype, batch[n].device.type) for n in names)
        if key not in self._graphs:
            self._graphs[key] = self._build(model, batch, names)
        graph = self._graphs[key]
        if graph is None:
            return self.task.forward(model, batch)
        return graph(*(batch[n] for n in names))

    def _build(
        self, model: torch.nn.Module, batch: dict[str, torch.Tensor], names: tuple[str, ...]
    ) -> torch.jit.ScriptModule | None:
        wrapper = _TaskCall(self.task, model, names)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # TorchScript's deprecation and tracer notes
                traced = torch.jit.trace(
                    wrapper, tuple(batch[n] for n in names), check_trace=False, strict=False
                )
                graph = torch.jit.optimize_for_inference(torch.jit.freeze(traced.eval()))
            for probe in (batch, padded_probe(batch)):
                expected = self.task.forward(model, probe)
                got = graph(*(probe[n] for n in names))
                if not outputs_close(got, expected, self.TOLERANCE):
                    return None
        except Exception:  # an op TorchScript cannot trace or freeze: eager is always right
            return None
        return graph


class _TaskCall(torch.nn.Module):
    """`task.forward(model, batch)` as a module of positional tensors (what tracing takes)."""

    def __init__(self, task: Task, model: torch.nn.Module, names: tuple[str, ...]) -> None:
        super().__init__()
        self.task = task
        self.model = model
        self.names = names

    def forward(self, *tensors: torch.Tensor) -> Any:
        return self.task.forward(self.model, dict(zip(self.names, tensors, strict=True)))


def padded_probe(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Two rows from the batch's first: itself, and its first half with the rest padded
    (attention mask 0), so a graph that ignored the mask or the batch size would show."""
    probe = {}
    width = batch["input_ids"].shape[1]
    keep = max(1, width // 2)
    for name, value in batch.items():
        rows = value[:1].repeat(2, *([1] * (value.dim() - 1)))
        if name == "attention_mask" and value.dim() == 2:
            rows[1, keep:] = 0
        probe[name] = rows
    return probe


def outputs_close(got: Any, expected: Any, tolerance: float) -> bool:
    """Tensors (or tuples/lists of them, equally nested) equal within `tolerance` of the
    largest magnitude."""
    if isinstance(expected, torch.Tensor):
        if not isinstance(got, torch.Tensor) or got.shape != expected.shape:
            return False
        scale = max(1.0, float(expected.abs().max())) if expected.numel() else 1.0
        return bool(torch.allclose(got.float(), expected.float(), rtol=0, atol=tolerance * scale))
    if isinstance(expected, (tuple, list)):
        return (
            isinstance(got, (tuple, list))
            and len(got) == len(expected)
            and all(outputs_close(g, e, tolerance) for g, e in zip(got, expected, strict=True))
        )
    return False
