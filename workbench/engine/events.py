"""Plain, immutable events the engine reports while it trains.

The CLI prints them, the GUI plots them, and every one of them but `Progress` is appended
to the run's `metrics.jsonl`, so a run's curves can be rebuilt from disk. No Qt and no
tensors here: only numbers, strings, lists and dicts.
"""

from __future__ import annotations

import dataclasses
import time
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


@dataclass(frozen=True)
class Progress:
    """Work before the first step that takes a while on a big file: reading a data file
    (`stage` "read", counted in bytes) and tokenising the examples ("tokenise", in rows).
    For the caller's eyes only (a status line): not written to metrics.jsonl, and sent
    before the run folder exists while reading. The last of a stage has done == total."""

    stage: str
    what: str  # a file's name, or "training data" / "validation data"
    done: int
    total: int  # 0: unknown (a folder of files)
    unit: str = "rows"  # "bytes" or "rows"
    kind: str = "progress"

    @property
    def fraction(self) -> float | None:
        return min(1.0, self.done / self.total) if self.total > 0 else None

    @property
    def message(self) -> str:
        """One line: "Reading data.csv… 45 %", "Tokenising training data… 120,000 / 1,000,000
        rows"."""
        verb = {"read": "Reading", "tokenise": "Tokenising"}.get(self.stage, self.stage.title())
        if self.fraction is None:
            return f"{verb} {self.what}…"
        if self.unit == "bytes":
            size = f"{self.total / 2**20:,.0f} MB" if self.total >= 2**20 else f"{self.total:,} B"
            return f"{verb} {self.what} ({size})… {100 * self.fraction:.0f} %"
        return f"{verb} {self.what}… {self.done:,} / {self.total:,} {self.unit}"


def progress_callback(
    sink: EventSink | None, stage: str, what: str, unit: str, interval: float = 0.25
) -> Callable[[int, int], None] | None:
    """A `(done, total)` callback that sends `Progress` events to `sink`: the first, then at
    most one every `interval` seconds, and always the last (done == total). None without a
    sink."""
    if sink is None:
        return None
    last = [-float("inf"), None]  # when the last event went, and its (done, total)

    def report(done: int, total: int) -> None:
        now = time.monotonic()
        if (done, total) == last[1] or (done < total and now - last[0] < interval):
            return
        last[0], last[1] = now, (done, total)
        sink(Progress(stage, what, done, total, unit))

    return report


Event = RunStarted | StepLogged | StepSkipped | EvalFinished | Notice | RunFinished | Progress
EventSink = Callable[[Event], None]


def event_to_dict(event: Event) -> dict[str, Any]:
    """The JSON-ready form written to metrics.jsonl."""
    return dataclasses.asdict(event)
