"""fit(): the training steps over an explicit TrainState, naming no task, family or format.

What differs between tasks (the batch, the loss, the evaluation) comes in the `TrainPlan`
as plain callables, built by `engine/training/run.py` from the Task and the Family. A
benchmark or a tuning script drives this same function through `FitHooks`; nothing
re-implements the loop.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from workbench.engine.events import EvalFinished, EventSink, Notice, StepLogged, StepSkipped
from workbench.engine.training import guards
from workbench.engine.training.runtime import Runtime
from workbench.engine.training.state import TrainState
from workbench.errors import UserError

Batch = dict[str, torch.Tensor]


@dataclass
class FitHooks:
    """Optional observers and tweaks, for benchmarks, tuning and tests."""

    on_step: Callable[[TrainState, torch.Tensor], None] | None = None
    """After each optimizer step, with the step's loss (a device tensor: no sync)."""
    on_evaluated: Callable[[TrainState, dict[str, Any]], None] | None = None
    before_optimizer_step: Callable[[TrainState, nn.Module], None] | None = None
    """After backward and clipping (gradient surgery, EMA …)."""


@dataclass
class TrainPlan:
    model: nn.Module
    batches: Callable[[int], list[list[int]]]
    """epoch -> that epoch's batches of example indices (seeded, so a resume gets the same)."""
    make_batch: Callable[[list[int]], Batch]
    """indices -> a batch of tensors on the device."""
    loss: Callable[[nn.Module, Batch], torch.Tensor]
    evaluate: Callable[[bool], dict[str, Any] | None]
    """final -> metrics; during training (final False) on a fixed sample, None if stopped."""
    epochs: int
    steps_per_epoch: int
    primary_metric: str
    max_steps: int = 0
    """Stop after this many steps, inside an epoch if need be (0: after `epochs`)."""
    greater_is_better: bool = True
    max_grad_norm: float = 1.0
    log_every: int = 5
    eval_every: int = 0
    """Evaluate every N steps (0: only at the end of each epoch)."""
    patience: int = 0
    """Stop after this many evaluations without a better primary metric (0: never)."""
    keep_best: bool = False
    """Restore the weights of the best evaluation at the end (not the last)."""
    hooks: FitHooks = field(default_factory=FitHooks)
    max_bad_steps: int = 3
    """A step with a non-finite loss or gradients is skipped; this many in a row stop the run
    (guards.NonFiniteSteps)."""
    loss_units: Callable[[Batch], torch.Tensor] = guards.example_units
    """What the loss is a mean over (examples, target tokens): the share each micro-batch's
    loss is scaled by when memory runs out (see guards.MicroBatches)."""
    checkpoint: Callable[[nn.Module, TrainState, str], None] | None = None
    """(model, state, reason) after each step inside an epoch ("step"), after an epoch's end
    and its evaluation but the last ("epoch"), and on a stop ("stop"); it decides whether
    to save (see training/checkpointing.py). The state is then complete: a resume from it
    continues as if never interrupted."""

    @property
    def total_steps(self) -> int:
        whole = self.steps_per_epoch * self.epochs
        return min(whole, self.max_steps) if self.max_steps else whole


def fit(
    plan: TrainPlan,
    state: TrainState,
    runtime: Runtime,
    sink: EventSink,
    should_stop: Callable[[], bool],
) -> TrainState:
    """Train from `state` (fresh, or restored for a resume) until done, stopped or
    early-stopped; `state.status` says which."""
    model = runtime.wrap(plan.model)
    model.train()
    total = plan.total_steps
    device = runtime.device
    # The loss window since the last log step lives in the state: a resume logs the same means.
    if state.running_loss is None:
        running_loss = torch.zeros((), device=device)
    else:
        running_loss = state.running_loss.to(device)
    state.running_loss = running_loss  # updated in place below
    running_count = state.running_count
    window_start, window_examples = time.perf_counter(), 0
    bad_steps = guards.BadSteps(plan.max_bad_steps)
    micro = runtime.micro_batches(plan.loss_units, lambda text: sink(Notice(text)))
    guards.restore_guards(state, bad_steps, micro, sink)  # a resume goes on mid-streak

    def checkpoint(reason: str) -> None:
        if plan.checkpoint is not None and runtime.is_main:  # one writer per run
            state.running_count = running_count
            guards.save_guards(state, bad_steps, micro)
            plan.checkpoint(plan.model, state, reason)

    def evaluate(final: bool) -> bool:
        """Evaluate, track the best, and say whether to stop early."""
        nonlocal window_start, window_examples
        metrics = plan.evaluate(final)
        window_start, window_examples = time.perf_counter(), 0
        if metrics is None:
            return runtime.any_rank(False)  # every process takes part in the decision
        state.last_eval_step, state.last_metrics = state.step, metrics
        sink(EvalFinished(state.step, state.step / plan.steps_per_epoch, metrics))
        if plan.hooks.on_evaluated:
            plan.hooks.on_evaluated(state, metrics)
        return runtime.any_rank(_track_best(plan, state, metrics, sink))

    for epoch in range(state.epoch, plan.epochs):
        whole = plan.batches(epoch)  # the global batches; this process trains on its part
        batches = runtime.shard(whole)
        for position in range(state.batch_in_epoch, len(batches)):
            if runtime.any_rank(should_stop()):
                state.status = "stopped"
                checkpoint("stop")
                return _finish(plan, state, sink)
            indices = batches[position]
            step_start = time.perf_counter()
            # An empty part (a last batch smaller than the number of processes): a stand-in
            # example of weight 0, so that this process still takes part in the all-reduce.
            batch = plan.make_batch(indices or whole[position][:1])
            weight = _loss_weight(plan, runtime, batch, bool(indices))
            loss, skipped = _step(plan, state, model, batch, micro, runtime, weight)
            state.step += 1
            state.batch_in_epoch = position + 1
            state.examples_seen += len(whole[position])
            window_examples += len(whole[position])
            if skipped is None:
                bad_steps.good()
                running_loss += loss.detach()
                running_count += 1
            else:  # shown on the curve; the loss window leaves it out
                sink(
                    StepSkipped(
                        state.step,
                        total,
                        state.step / plan.steps_per_epoch,
                        skipped,
                        bad_steps.in_row + 1,
                    )
                )
                bad_steps.bad(state.step, skipped)  # NonFiniteSteps at the limit
            state.train_seconds += time.perf_counter() - step_start
            if plan.hooks.on_step:
                plan.hooks.on_step(state, loss)

            log_step = state.step % plan.log_every == 0 or state.step == total
            if log_step and running_count:  # a window of skipped steps only has no mean
                # The step losses are the whole batches' already (reduced in _step).
                mean = (running_loss / running_count).item()  # the only sync
                if not math.isfinite(mean):
                    raise UserError(
                        f"the training loss became {mean} at step {state.step}; lower the learning "
                        "rate (--lr), or train in fp32 (--precision fp32)"
                    )
                now = time.perf_counter()
                sink(
                    StepLogged(
                        step=state.step,
                        total_steps=total,
                        epoch=state.step / plan.steps_per_epoch,
                        loss=mean,
                        learning_rate=state.last_lr,
                        examples_per_second=window_examples / max(now - window_start, 1e-9),
                        elapsed_seconds=state.train_seconds,
                        eta_seconds=state.train_seconds / state.step * (total - state.step),
                    )
                )
                running_loss.zero_()
                running_count = 0
                state.running_count = 0
                window_start, window_examples = time.perf_counter(), 0
            # The epoch's last batch, or --max-steps reached: the end's evaluation follows.
            ends = position + 1 == len(batches) or state.step >= total
            mid_run = plan.eval_every and state.step % plan.eval_every == 0
            if mid_run and not ends and evaluate(final=False):
                state.status = "early-stopped"
                return _finish(plan, state, sink)
            if ends:
                break
            checkpoint("step")  # the epoch's end has its own, after its evaluation
        state.epoch, state.batch_in_epoch = epoch + 1, 0
        last = state.epoch == plan.epochs or state.step >= total
        if evaluate(final=last and not plan.keep_best):
            state.status = "early-stopped"
            return _finish(plan, state, sink)
        if last:  # the model is saved at once
            break
        checkpoint("epoch")
    state.status = "completed"
    return _finish(plan, state, sink)


def _step(
    plan: TrainPlan,
    state: TrainState,
    model: nn.Module,
    batch: Batch,
    micro: guards.MicroBatches,
    runtime: Runtime | None = None,
    weight: torch.Tensor | None = None,
) -> tuple[torch.Tensor, str | None]:
    """One optimizer step; returns the loss and None, or why the step was skipped. With
    several processes, `weight` is this process's share of the batch (see _loss_weight) and
    the loss returned is the whole batch's, the same on every process, so every process
    decides alike whether the step is finite."""
    scaler = state.scaler
    scale = scaler.scale if scaler is not None else (lambda loss: loss)
    loss_fn = plan.loss if weight is None else (lambda m, b: plan.loss(m, b) * weight)
    loss = micro.backward(loss_fn, model, batch, state.optimizer, scale)
    if runtime is not None:
        loss = runtime.all_reduce_mean(loss)
    if scaler is not None:
        scaler.unscale_(state.optimizer)
    parameters = [p for p in plan.model.parameters() if p.grad is not None]
    if plan.max_grad_norm > 0:
        norm = torch.nn.utils.clip_grad_norm_(parameters, plan.max_grad_norm)
    else:
        norm = guards.grad_norm(parameters)
    # With a grad scaler, inf gradients are its own business (it skips and lowers the scale);
    # a non-finite loss is not. One sync per step, for a bool: the update must not be applied.
    finite = guards.step_is_finite(loss, None if scaler is not None else norm)
    if not bool(finite):
        reason = guards.describe(loss, norm)
        state.optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.update()  # ends this step's unscale_ (and lowers the scale if it overflowed)
        return loss, reason
    if plan.hooks.before_optimizer_step:
        plan.hooks.before_optimizer_step(state, plan.model)
    state.last_lr = state.scheduler.get_last_lr()[0]  # the rate this step used
    try:
        if scaler is not None:
            scaler.step(state.optimizer)
            scaler.update()
        else:
            state.optimizer.step()
    except (RuntimeError, MemoryError) as exc:
        if not guards.is_out_of_memory(exc):
            raise
        oom = True  # no retry: a half-applied update cannot be told from a whole one
    else:
        oom = False
    if oom:  # out of the except block: the failed allocation's frames are gone
        state.optimizer.zero_grad(set_to_none=True)
        guards.release_memory(loss.device)
        raise UserError(guards.optimizer_oom_message(plan.model, state.step + 1))
    state.scheduler.step()
    state.optimizer.zero_grad(set_to_none=True)
    return loss, None


def _loss_weight(
    plan: TrainPlan, runtime: Runtime, batch: Batch, real: bool
) -> torch.Tensor | None:
    """This process's share of the whole batch's loss units (examples, target tokens) times
    the number of processes: DDP averages the processes' gradients, so losses so weighted
    give the whole batch's gradient however unevenly its units fall. None in one process."""
    if not runtime.distributed:
        return None
    units = plan.loss_units(batch).to(device=runtime.device, dtype=torch.float32)
    if not real:
        units = units * 0.0
    total = runtime.all_reduce_sum(units)
    # No units anywhere (every label ignored): the loss is not finite and the step skipped.
    return torch.where(total > 0, units * runtime.world_size / total.clamp(min=1e-12), 1.0)


def _track_best(
    plan: TrainPlan, state: TrainState, metrics: dict[str, Any], sink: EventSink
) -> bool:
    value = metrics.get(plan.primary_metric)
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        return False
    better = state.best_metric is None or (
        value > state.best_metric if plan.greater_is_better else value < state.best_metric
    )
    if better:
        state.best_metric, state.best_step, state.evals_since_best = float(value), state.step, 0
        if plan.keep_best:
            state.best_weights = {
                k: v.detach().to("cpu", copy=True) for k, v in plan.model.state_dict().items()
            }
        return False
    state.evals_since_best += 1
    if plan.patience and state.evals_since_best >= plan.patience:
        sink(
            Notice(
                f"stopped early at step {state.step}: {plan.primary_metric} did not improve for "
                f"{plan.patience} evaluations (best {state.best_metric:.4f} at step {state.best_step})"
            )
        )
        return True
    return False


def _finish(plan: TrainPlan, state: TrainState, sink: EventSink) -> TrainState:
    if plan.keep_best and state.best_weights is not None and state.best_step != state.step:
        plan.model.load_state_dict(state.best_weights)
        sink(
            Notice(
                f"keeping the model of step {state.best_step}, the best {plan.primary_metric} "
                f"({state.best_metric:.4f}), not the last"
            )
        )
    state.best_weights = None
    return state
