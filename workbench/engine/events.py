"""Plain, immutable events the engine reports while it trains.

The CLI prints them, the GUI plots them, and every one of them is appended to the run's
`metrics.jsonl`, so a run's curves can be rebuilt from disk. No Qt and no tensors here:
only numbers, strings, lists and dicts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RunStarted:
    run_dir: str
    total_steps: int
    num_train_examples: int
    num_eval_examples: int
    labels: list[str]
    device: str
    precision: str
    task: str = "text-classification"
    primary_metric: str = "accuracy"
    """The metric the curves plot and early stopping watches (a key of EvalFinished.metrics)."""
    trainable_parameters: int = 0
    """Parameters the optimizer updates (fewer than total with LoRA or frozen layers)."""
    total_parameters: int = 0
    resumed_from_step: int | None = None
    """The checkpoint's step when this process continues a run (its kind is then
    "run_resumed", so metrics.jsonl marks where the resume joined it)."""
    kind: str = "run_started"


@dataclass(frozen=True)
class StepLogged:
    step: int
    total_steps: int
    epoch: float
    loss: float
    learning_rate: float
    examples_per_second: float
    elapsed_seconds: float
    eta_seconds: float
    kind: str = "step"


@dataclass(frozen=True)
class StepSkipped:
    """A step whose loss or gradients were not finite: its update was not applied (no
    optimizer, scheduler or scaler step). `in_row` counts the bad steps up to this one;
    at the run's `max_bad_steps` it stops."""

    step: int
    total_steps: int
    epoch: float
    reason: str
    in_row: int
    kind: str = "step_skipped"


@dataclass(frozen=True)
class EvalFinished:
    """An evaluation on the validation data: `metrics` has the task's metrics (its primary
    one among them), and for classification `report` / `confusion_matrix` / `labels`.
    `metrics["evaluated_on"]` is "sample" for the bounded evaluations during training."""

    step: int
    epoch: float
    metrics: dict[str, Any]
    kind: str = "eval"


@dataclass(frozen=True)
class Notice:
    """Something the user should know that is not an error (a fallback, a skipped row)."""

    message: str
    kind: str = "notice"


@dataclass(frozen=True)
class RunFinished:
    """The last event of every run. status is "completed", "stopped" or "failed";
    a stopped run still has a usable model in `run_dir/model`."""

    status: str
    run_dir: str
    metrics: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    kind: str = "finished"


Event = RunStarted | StepLogged | StepSkipped | EvalFinished | Notice | RunFinished
EventSink = Callable[[Event], None]


def event_to_dict(event: Event) -> dict[str, Any]:
    """The JSON-ready form written to metrics.jsonl."""
    return dataclasses.asdict(event)
