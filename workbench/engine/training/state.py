"""TrainState: everything that changes while a run trains, in one explicit object.

It is what exact resume saves and restores: the step, the epoch and the position inside it,
the RNG states, the optimizer, scheduler and scaler, and the best metric so far.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch


@dataclass
class TrainState:
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler | None = None
    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    """Batches of `epoch` already trained on (where a resumed epoch picks up)."""
    examples_seen: int = 0
    train_seconds: float = 0.0
    last_lr: float = 0.0
    best_metric: float | None = None
    best_step: int | None = None
    evals_since_best: int = 0
    last_eval_step: int | None = None
    last_metrics: dict[str, Any] | None = None
    status: str = "running"  # running | completed | stopped | early-stopped
    best_weights: dict[str, torch.Tensor] | None = field(default=None, repr=False)
    running_loss: torch.Tensor | None = field(default=None, repr=False)
    """Sum of the losses since the last logged step (a device tensor), and how many: a resume
    between two log steps must log the same mean as an uninterrupted run."""
    running_count: int = 0
    bad_in_row: int = 0
    """The guards' state, so a resume keeps them: non-finite steps in a row so far (and the
    first of them), all of them, and the micro-batch size an out-of-memory error left (None:
    whole batches; the gradient accumulation is the batch size over it)."""
    bad_first: int | None = None
    bad_total: int = 0
    micro_batch: int | None = None

    def state_dict(self) -> dict[str, Any]:
        """Plain values and tensors only (loads with `torch.load(weights_only=True)`); the
        best weights are not in it (a checkpoint stores them in their own file)."""
        running = self.running_loss
        return {
            "counters": {
                "step": self.step,
                "epoch": self.epoch,
                "batch_in_epoch": self.batch_in_epoch,
                "examples_seen": self.examples_seen,
                "train_seconds": self.train_seconds,
                "last_lr": self.last_lr,
                "best_metric": self.best_metric,
                "best_step": self.best_step,
                "evals_since_best": self.evals_since_best,
                "last_eval_step": self.last_eval_step,
                "running_count": self.running_count,
                "bad_in_row": self.bad_in_row,
                "bad_first": self.bad_first,
                "bad_total": self.bad_total,
                "micro_batch": self.micro_batch,
            },
            "running_loss": (
                running.detach().to("cpu", copy=True) if running is not None else torch.zeros(())
            ),
            "last_metrics": _plain_metrics(self.last_metrics),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "rng": capture_rng(),
        }

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        for key, value in saved["counters"].items():
            setattr(self, key, value)
        self.running_loss = saved["running_loss"].clone()
        self.last_metrics = saved.get("last_metrics")
        self.optimizer.load_state_dict(saved["optimizer"])
        self.scheduler.load_state_dict(saved["scheduler"])
        if self.scaler is not None and saved.get("scaler") is not None:
            self.scaler.load_state_dict(saved["scaler"])
        restore_rng(saved["rng"])


def _plain_metrics(metrics: dict[str, Any] | None) -> dict[str, Any] | None:
    """The last evaluation without the rows behind it (big, and only for the GUI's lists)."""
    if metrics is None:
        return None
    return {k: v for k, v in metrics.items() if k != "examples"}


def capture_rng() -> dict[str, Any]:
    """Python's, NumPy's and torch's global generators (CUDA's once CUDA is in use: asking
    earlier would start CUDA in a CPU run, and an unused generator is still at its seed)."""
    version, internal, gauss = random.getstate()
    state: dict[str, Any] = {
        "python": {"version": version, "internal": torch.tensor(internal), "gauss": gauss},
        "numpy": _numpy_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    python = state["python"]
    random.setstate((python["version"], tuple(int(x) for x in python["internal"]), python["gauss"]))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state(
        (name, keys.numpy().astype(np.uint32), int(pos), int(has_gauss), float(cached))
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _numpy_state() -> tuple:
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return (name, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
