"""Guards around each training step: non-finite losses and gradients, and out of memory.

Two things end fine-tunes that need not end:

- A NaN or inf loss or gradient. Applied, it makes every weight NaN; the old check at log
  steps only noticed after several such updates. `BadSteps` is told at every step, before
  the optimizer runs, whether the step was finite: a bad step is skipped (no optimizer,
  scheduler or scaler step) and `max_bad_steps` of them in a row stop the run
  (`NonFiniteSteps`), which the procedure turns into a rollback to the last good checkpoint.
- Out of memory in forward/backward. `MicroBatches` catches it, releases what it can, and
  runs the same batch again in micro-batches of half the size, accumulating gradients, so
  the effective batch (and so the run's hyper-parameters) is unchanged. Each micro-batch's
  loss is scaled by its share of the batch's loss units (what the task's loss is a mean
  over: `Task.loss_units`), so the accumulated gradient equals the whole batch's.
- Out of memory elsewhere: in the optimizer step (AdamW allocates its running averages at
  the first step) the run stops with what AdamW needed and what would fit (no retry: a
  half-applied update cannot be told from a whole one); in an evaluation, `EvalBatches`
  runs it again with half the batch.

Both guards live in the TrainState (`save_guards`/`restore_guards`), so a checkpoint keeps
the bad-step streak and the micro-batch size: a resume neither runs out of memory again to
find it nor forgets the bad steps it was in the middle of.
"""

from __future__ import annotations

import gc
import math
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import torch

from workbench.engine.tasks.loss_units import Batch, batch_rows, example_units
from workbench.errors import UserError

# ---------------------------------------------------------------------------------------
# Non-finite steps


class NonFiniteSteps(Exception):
    """`limit` steps in a row had a non-finite loss or gradients; the last was `last`."""

    def __init__(self, first: int, last: int, reason: str) -> None:
        super().__init__(f"steps {first} to {last} were not finite ({reason})")
        self.first, self.last, self.reason = first, last, reason


def step_is_finite(loss: torch.Tensor, grad_norm: torch.Tensor | None) -> torch.Tensor:
    """A 0-dim bool tensor on the loss's device: no sync until someone asks for its value.
    The gradient norm is the one clipping computes anyway (inf or NaN if any gradient is)."""
    ok = torch.isfinite(loss.detach())
    if grad_norm is not None:
        ok = ok & torch.isfinite(grad_norm.detach())
    return ok


def grad_norm(parameters: list[torch.nn.Parameter]) -> torch.Tensor:
    """The total L2 norm of the gradients (for runs without clipping)."""
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return torch.zeros(())
    return torch.nn.utils.get_total_norm(grads)


def describe(loss: torch.Tensor, grad_norm: torch.Tensor | None) -> str:
    """What was not finite, in words (only on a bad step: the values are read here)."""
    value = float(loss.detach().float())
    if not math.isfinite(value):
        return f"the loss was {value}"
    norm = float(grad_norm.detach().float()) if grad_norm is not None else float("nan")
    return f"the gradient norm was {norm}"


class BadSteps:
    """Counts bad steps in a row; raises NonFiniteSteps at the `limit`-th."""

    def __init__(self, limit: int) -> None:
        self.limit = max(1, int(limit))
        self.in_row = 0
        self.first: int | None = None
        self.total = 0

    def good(self) -> None:
        self.in_row, self.first = 0, None

    def bad(self, step: int, reason: str) -> None:
        self.total += 1
        self.in_row += 1
        if self.first is None:
            self.first = step
        if self.in_row >= self.limit:
            raise NonFiniteSteps(self.first, step, reason)


def roll_back(
    run_dir: Path, first_bad: int, primary_metric: str, greater_is_better: bool
) -> int | None:
    """Remove the checkpoints saved from step `first_bad` on, so that the run's newest
    complete checkpoint (the one `--resume` continues from) is the last one before the bad
    steps began; returns its step (None: there is none)."""
    from workbench.engine.training import checkpointing

    for info in checkpointing.complete_checkpoints(run_dir):
        if info.step >= first_bad:
            # Out of the way first: a hidden folder is garbage to remove_incomplete if killed.
            doomed = info.path.with_name(f".{info.path.name}.rolled-back-{os.getpid()}")
            os.rename(info.path, doomed)
            shutil.rmtree(doomed, ignore_errors=True)
    left = checkpointing.complete_checkpoints(run_dir)
    if checkpointing.checkpoints_dir(run_dir).is_dir():
        checkpointing.write_index(run_dir, primary_metric, greater_is_better)
    return left[-1].step if left else None


def diverged_message(
    error: NonFiniteSteps,
    run_dir: str,
    checkpoint_step: int | None,
    learning_rate: float,
    precision: str,
    max_grad_norm: float,
) -> str:
    """The one line a run stopped by NonFiniteSteps ends with: where, what is kept, what to
    try (only the hints that change something for this run)."""
    count = error.last - error.first + 1
    where = (
        f"step {error.first}"
        if count == 1
        else f"{count} steps in a row ({error.first}-{error.last})"
    )
    if checkpoint_step is not None:
        kept = (
            f"rolled back to the checkpoint of step {checkpoint_step}, which "
            f"`workbench train --resume {run_dir}` continues from (with the same settings)"
        )
    else:
        kept = "no checkpoint was saved before that, so nothing can be resumed"
    hints = [f"lower the learning rate (--lr, now {learning_rate:g})"]
    if precision != "fp32":
        hints.append("train in fp32 (--precision fp32)")
    if max_grad_norm <= 0:
        hints.append("clip gradients (max_grad_norm = 1.0 in a --config file)")
    elif max_grad_norm > 1.0:
        hints.append(f"clip gradients harder (max_grad_norm below {max_grad_norm:g})")
    return (
        f"the training loss or gradients were not finite at {where}: {error.reason}; the run "
        f"stopped at step {error.last} and was {kept}; to train past it, " + ", or ".join(hints)
    )


# ---------------------------------------------------------------------------------------
# The guards' state in a checkpoint


def save_guards(state, bad_steps: BadSteps, micro: MicroBatches) -> None:
    """Copy the guards' counters into the TrainState (a checkpoint saves them)."""
    state.bad_in_row, state.bad_first, state.bad_total = (
        bad_steps.in_row,
        bad_steps.first,
        bad_steps.total,
    )
    state.micro_batch = micro.size


def restore_guards(
    state, bad_steps: BadSteps, micro: MicroBatches, notify: Callable[[object], None]
) -> None:
    """Set the guards from a (restored) TrainState: a resumed run keeps the micro-batch an
    out-of-memory error left (the whole batch would fail again) and the bad steps of a streak
    it was in (the limit counts them all), and says so."""
    from workbench.engine.events import Notice

    bad_steps.in_row, bad_steps.first = int(state.bad_in_row), state.bad_first
    bad_steps.total = int(state.bad_total)
    if bad_steps.in_row == 0:
        bad_steps.first = None
    micro.size = None if state.micro_batch is None else max(1, int(state.micro_batch))
    if micro.size is not None:
        notify(
            Notice(
                f"continuing with micro-batches of {micro.size}, as before the resume (memory "
                "ran out with larger ones; gradients are accumulated, the effective batch is "
                "unchanged)"
            )
        )
    if bad_steps.in_row:
        left = bad_steps.limit - bad_steps.in_row
        notify(
            Notice(
                f"resumed after {bad_steps.in_row} non-finite step(s) in a row (from step "
                f"{bad_steps.first}); {max(left, 0)} more in a row stop the run"
            )
        )


# ---------------------------------------------------------------------------------------
# Micro-batches


def split_batch(batch: Batch, size: int) -> list[Batch]:
    """The batch as consecutive micro-batches of at most `size` rows (every tensor whose
    first dimension is the batch's is cut; any other is shared by all)."""
    rows = batch_rows(batch)
    parts = []
    for start in range(0, rows, size):
        parts.append(
            {
                k: v[start : start + size] if v.dim() and v.shape[0] == rows else v
                for k, v in batch.items()
            }
        )
    return parts


def is_out_of_memory(exc: BaseException) -> bool:
    """CUDA's OutOfMemoryError, MPS's and the CPU allocator's RuntimeErrors, MemoryError."""
    if isinstance(exc, torch.OutOfMemoryError | MemoryError):
        return True
    if not isinstance(exc, RuntimeError):
        return False
    text = str(exc)
    return any(
        marker in text
        for marker in (
            "out of memory",  # CUDA (older torch), MPS ("MPS backend out of memory")
            "can't allocate memory",  # DefaultCPUAllocator on Linux/macOS
            "not enough memory",  # DefaultCPUAllocator on Windows
            "Cannot allocate memory",
            # oneDNN (CPU matmuls, convolutions) when its scratch buffer cannot be allocated:
            # seen under a memory cap in evaluation (tests/engine/test_guard_state.py)
            "could not create a primitive",
        )
    )


def release_memory(device: torch.device) -> None:
    """Give back what a failed step held (its tensors are unreachable once the exception
    is gone): Python's garbage, and the device allocator's cache."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif device.type == "mps" and hasattr(torch, "mps"):
        torch.mps.empty_cache()


class MicroBatches:
    """Forward and backward of a batch, whole or in micro-batches once memory ran out.

    `size` is None until the first out-of-memory error; then each one halves it for the rest
    of the run (the batches that follow are as long, so they would fail too)."""

    def __init__(
        self,
        units: Callable[[Batch], torch.Tensor] = example_units,  # the Task's loss_units
        notify: Callable[[str], None] | None = None,
    ) -> None:
        self.units = units
        self.notify = notify
        self.size: int | None = None

    def backward(
        self,
        loss_fn: Callable[[torch.nn.Module, Batch], torch.Tensor],
        model: torch.nn.Module,
        batch: Batch,
        optimizer: torch.optim.Optimizer,
        scale: Callable[[torch.Tensor], torch.Tensor] = lambda loss: loss,
    ) -> torch.Tensor:
        """Accumulate the batch's gradients; returns its loss (detached, as for the whole
        batch at once). UserError when even one example does not fit."""
        rows = batch_rows(batch)
        device = next(iter(batch.values())).device
        while True:
            size = min(self.size or rows, rows)
            try:
                return self._accumulate(loss_fn, model, batch, size, scale)
            except (RuntimeError, MemoryError) as exc:
                if not is_out_of_memory(exc):
                    raise
            # Out of the except block: the traceback (and the step's tensors) are gone.
            optimizer.zero_grad(set_to_none=True)  # a partial accumulation is discarded
            release_memory(device)
            if size <= 1:
                raise UserError(
                    f"out of memory even with micro-batches of 1 example ({_width(batch)} "
                    "tokens); lower --max-length, train with --lora-rank 8, "
                    "--gradient-checkpointing or --precision bf16, or choose a smaller model"
                )
            self.size = (size + 1) // 2
            if self.notify:
                steps = math.ceil(rows / self.size)
                self.notify(
                    f"out of memory at batch {size}: continuing with micro-batches of "
                    f"{self.size} × {steps} (gradients accumulated: the effective batch is "
                    f"still {rows})"
                )

    def _accumulate(self, loss_fn, model, batch, size, scale) -> torch.Tensor:
        rows = batch_rows(batch)
        if size >= rows:
            loss = loss_fn(model, batch)
            scale(loss).backward()
            return loss.detach()
        total_units = self.units(batch)
        parts = split_batch(batch, size)
        total = None
        for part in parts:
            units = self.units(part)
            # (); no sync: a batch without any unit falls back to its share of rows
            share = torch.where(
                total_units > 0, units / total_units.clamp(min=1e-12), batch_rows(part) / rows
            )
            loss = loss_fn(model, part) * share.to(device=_loss_device(part))
            scale(loss).backward()
            total = loss.detach() if total is None else total + loss.detach()
            del loss
        return total


def _loss_device(batch: Batch) -> torch.device:
    return next(iter(batch.values())).device


def _width(batch: Batch) -> int:
    ids = batch.get("input_ids")
    return int(ids.shape[1]) if ids is not None and ids.dim() > 1 else 0


# ---------------------------------------------------------------------------------------
# Out of memory in the optimizer step and in evaluation


def _mb(count: float) -> str:
    return f"{count / 2**20:,.0f} MB"


def optimizer_oom_message(model: torch.nn.Module, step: int) -> str:
    """Why the optimizer step did not fit and what would: AdamW keeps two running averages
    per trained weight (allocated at the first step), so what it needs is known exactly."""
    trained = [p for p in model.parameters() if p.requires_grad]
    trained_bytes = sum(p.numel() * p.element_size() for p in trained)
    model_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    count = sum(p.numel() for p in trained)
    return (
        f"out of memory in the optimizer step of step {step}: AdamW needs {_mb(2 * trained_bytes)}"
        f" for its two running averages of the {count:,} trained parameters, besides the "
        f"model ({_mb(model_bytes)}) and its gradients ({_mb(trained_bytes)}); nothing of this "
        "step was kept. To fit, free that much memory (close other programs), train only "
        "adapters with --lora-rank 8 (their running averages take a few MB), or choose a "
        "smaller model"
    )


class EvalBatches:
    """The evaluation's batch size: halved for the rest of the run each time an evaluation
    runs out of memory (the scores do not depend on it: each example is scored alone)."""

    def __init__(self, size: int = 64, notify: Callable[[str], None] | None = None) -> None:
        self.size = max(1, int(size))
        self.notify = notify

    def run(self, evaluate: Callable[[int], object], device: torch.device):
        """`evaluate(batch_size)`, again with half the batch after an out-of-memory error;
        UserError when not even one example fits."""
        while True:
            try:
                return evaluate(self.size)
            except (RuntimeError, MemoryError) as exc:
                if not is_out_of_memory(exc):
                    raise
            release_memory(device)  # out of the except block: the failed batch is gone
            if self.size <= 1:
                raise UserError(
                    "out of memory while evaluating, even one example at a time; lower "
                    "--max-length, close other programs, or choose a smaller model"
                )
            before, self.size = self.size, (self.size + 1) // 2
            if self.notify:
                self.notify(
                    f"out of memory evaluating batches of {before}: evaluating in batches of "
                    f"{self.size} (the scores do not depend on it)"
                )
