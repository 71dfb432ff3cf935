"""The training procedure: prepare (read and check everything), build the plan, fit, save.

Everything the user can get wrong is checked in `prepare` before the run folder exists, so
bad input leaves nothing behind. The task and the family are reached only through their
seams; `fit` itself names neither.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from workbench import applog, runs
from workbench.config import RunConfig
from workbench.engine.checkpoint import save_folder
from workbench.engine.data import load_table
from workbench.engine.events import (
    EvalFinished,
    Event,
    EventSink,
    Notice,
    RunFinished,
    RunStarted,
    StepSkipped,
    event_to_dict,
)
from workbench.engine.inference import run_model
from workbench.engine.max_length import fit_max_length
from workbench.engine.models.checks import check_model
from workbench.engine.models.family import Family
from workbench.engine.models.loading import LoadedModel, build_model
from workbench.engine.models.registry import family_for, read_config, resolve_model
from workbench.engine.peft.adapter import split_adapter
from workbench.engine.peft.apply import (
    apply_parameter_efficiency,
    check_for_model,
    count_parameters,
)
from workbench.engine.tasks import get_task
from workbench.engine.tasks.base import Features, Rows, Task, TaskData
from workbench.engine.tokenizer import TextTokenizer
from workbench.engine.trained import INFERENCE_SETTINGS, model_config, saved_meta
from workbench.engine.training import checkpointing, guards
from workbench.engine.training.batching import length_grouped_batches
from workbench.engine.training.distributed import (
    QuietReporter,
    launched_rank,
    make_runtime,
    stop_requests,
)
from workbench.engine.training.fit import FitHooks, TrainPlan, fit
from workbench.engine.training.optim import linear_schedule, make_optimizer
from workbench.engine.training.runtime import Runtime
from workbench.engine.training.state import TrainState, seed_everything
from workbench.errors import UserError

# Keys of a task's metrics that are too big for every line of metrics.jsonl and log.txt.
_BULKY = ("examples", "report", "confusion_matrix")
EVALUATIONS_PER_RUN = 5


@dataclass
class RunResult:
    run_dir: Path
    status: str  # completed | stopped | failed
    metrics: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass
class Prepared:
    """Everything read and checked before a run folder exists."""

    config: RunConfig
    task: Task
    family: Family
    model_folder: Path
    data: TaskData

    # The foundation's names, kept for scripts that read them.
    @property
    def labels(self) -> list[str]:
        return list(self.data.meta.get("labels", []))


def prepare(config: RunConfig) -> Prepared:
    """Read and check data, columns and model; raise UserError for anything wrong."""
    config.validate()
    if not config.data:
        raise UserError(
            "no training data given; pass --data FILE (CSV, TSV, JSONL, JSON or Parquet)"
        )
    task = get_task(config.task)
    model_folder = resolve_model(config.model)
    check_model(model_folder)  # config, weight headers and shapes, tokenizer: before any work
    config, length_notice = fit_max_length(config, model_folder)  # the user's, or the default's
    config = config.with_task_defaults()
    family = family_for(read_config(model_folder), model_folder)
    if task.head_kind not in family.heads:
        raise UserError(
            f"{family.name} models cannot do {task.title.lower()} (they have no {task.head_kind} "
            "head); choose another model or another --task"
        )
    task.check_model(family.name)

    def load(path: str):
        return load_table(path, header=config.header)

    data = task.read(config, load)
    if length_notice:
        data.notices.append(length_notice)
    head_kind = task.head_for(data.meta)
    if head_kind not in family.heads:  # a setting asked for another head (the task says which)
        raise UserError(
            f"{family.name} models have no {head_kind} head, which {task.title.lower()} needs "
            "with these settings; choose another model or change the settings"
        )
    check_for_model(
        config, family, read_config(model_folder), head_kind, task.num_outputs(data.meta)
    )
    resolved = dataclasses.replace(
        config,
        data=str(Path(config.data).resolve()),
        eval_data=str(Path(config.eval_data).resolve()) if config.eval_data else None,
        **data.columns,
    )
    return Prepared(resolved, task, family, model_folder, data)


def open_run_dir(config: RunConfig) -> Path:
    if config.output:
        run_dir = Path(config.output).expanduser()
        if (run_dir.exists() or run_dir.is_symlink()) and not run_dir.is_dir():
            what = "a file" if run_dir.exists() else "a link to nothing (a dangling symlink)"
            raise UserError(f"--output {run_dir} is {what}, not a folder; choose a new --output")
        if run_dir.exists() and any(run_dir.iterdir()):
            raise UserError(
                f"run folder {run_dir} already exists and is not empty; choose a new --output"
            )
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # a parent that is a file, a read-only or full disk
            raise UserError(
                f"cannot create the run folder {run_dir} ({exc.strerror}); choose an --output "
                "in a folder you can write to"
            ) from None
        if not os.access(run_dir, os.W_OK | os.X_OK):
            raise UserError(f"cannot write into {run_dir}; choose an --output you can write to")
        return run_dir.resolve()
    parent = runs.default_runs_dir()
    try:  # the user's runs folder: read-only, on a full disk, or a file where it should be
        return runs.new_run_dir(parent)
    except OSError as exc:
        raise UserError(
            f"cannot create a run folder in {parent} ({exc.strerror or exc}); make it a folder "
            "you can write to, or set WORKBENCH_HOME to one (or pass --output)"
        ) from None


class Reporter:
    """Sends each event to the caller and appends it to metrics.jsonl (and log.txt)."""

    def __init__(
        self, run_dir: Path, sink: EventSink | None, lock: runs.RunLock | None = None
    ) -> None:
        self._sink = sink
        self._metrics = runs.MetricsLog(run_dir / runs.LAYOUT["metrics"], lock)
        self._log = open(run_dir / runs.LAYOUT["log"], "a", encoding="utf-8")

    def emit(self, event: Event) -> None:
        record = event_to_dict(event)
        if isinstance(record.get("metrics"), dict):
            record["metrics"] = _compact(
                record["metrics"], keep_report=isinstance(event, RunFinished)
            )
        record["time"] = time.time()
        self._metrics.write(record)
        line = _log_line(event)
        if line:
            self._log.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}\n")
            self._log.flush()
        if self._sink is not None:
            self._sink(event)

    def close(self) -> None:
        self._metrics.close()
        self._log.close()


def _compact(metrics: dict[str, Any], keep_report: bool) -> dict[str, Any]:
    drop = ("examples",) if keep_report else _BULKY
    return {k: v for k, v in metrics.items() if k not in drop}


def _log_line(event: Event) -> str | None:
    if isinstance(event, Notice):
        return event.message
    if isinstance(event, StepSkipped):
        return f"step {event.step} skipped ({event.in_row} in a row): {event.reason}"
    if isinstance(event, RunStarted):
        return (
            f"started {event.task} on {event.num_train_examples} examples "
            f"({event.total_steps} steps, {event.device}, {event.precision})"
        )
    if isinstance(event, EvalFinished | RunFinished):
        metrics = event.metrics or {}
        scalars = ", ".join(
            f"{k} {v:.4g}"
            for k, v in metrics.items()
            if isinstance(v, float | int) and not isinstance(v, bool)
        )
        if isinstance(event, EvalFinished):
            return f"evaluation at step {event.step}: {scalars}"
        return f"run {event.status}" + (f": {event.error}" if event.error else f"; {scalars}")
    return None


def train(
    config: RunConfig,
    on_event: EventSink | None = None,
    should_stop: Callable[[], bool] | None = None,
    hooks: FitHooks | None = None,
) -> RunResult:
    prepared = prepare(config)
    # One process, or one of several under torchrun (training/distributed.py).
    runtime = make_runtime(prepared.config.device, prepared.config.precision)
    try:
        runtime.check_batch_size(prepared.config.batch_size)
        run_dir = runtime.main_only(lambda: _open_run(prepared.config))  # rank 0 writes
        prepared.config.output = str(run_dir)
        reporter = Reporter(run_dir, on_event) if runtime.is_main else QuietReporter()
        try:
            return _run(prepared, runtime, run_dir, reporter, stop_requests(should_stop), hooks)
        except Exception as exc:  # every failure ends the run with a readable message
            return _failed(run_dir, reporter, exc)
        finally:
            reporter.close()
    finally:
        runtime.close()


def _open_run(config: RunConfig) -> Path:
    """The new run folder, with the resolved config.toml in it."""
    run_dir = open_run_dir(config)
    config.output = str(run_dir)
    runs.write_text_atomic(run_dir / runs.LAYOUT["config"], config.to_toml())
    return run_dir


def _failed(run_dir: Path, reporter: Reporter, exc: Exception) -> RunResult:
    message = str(exc) if isinstance(exc, UserError) else f"{type(exc).__name__}: {exc}"
    if not isinstance(exc, UserError):  # a bug or the machine: its traceback, in the app log
        applog.log_exception(f"run {run_dir}", exc)
    if isinstance(exc, torch.OutOfMemoryError):
        message = "out of memory; lower the batch size or max length and train again"
    reporter.emit(RunFinished("failed", str(run_dir), {}, message))
    return RunResult(run_dir, "failed", {}, message)


def resume(
    run_dir: str | Path,
    on_event: EventSink | None = None,
    should_stop: Callable[[], bool] | None = None,
    hooks: FitHooks | None = None,
) -> RunResult:
    """Continue a stopped, failed or killed run from its newest complete checkpoint, in its own
    folder with its own config.toml, appending to its metrics.jsonl (cut back to the
    checkpoint, so every step is there once). On the same machine in fp32 the result is
    bitwise the uninterrupted run's. UserError, before anything is touched, when the run
    cannot resume (completed, no complete checkpoint, data changed)."""
    run_dir = Path(run_dir).expanduser().resolve()
    point = checkpointing.resume_point(run_dir)
    lock = runs.RunLock(run_dir)  # held from here to the end: one writer per run
    writer = launched_rank() == 0  # under torchrun only rank 0 writes (and locks)
    if writer and not lock.acquire(timeout=0.5):
        raise UserError(
            f"{run_dir} is being written by process {runs.lock_holder(run_dir) or '?'}; "
            "wait for it or stop it"
        )
    try:
        return _resume_locked(run_dir, point, lock, on_event, should_stop, hooks)
    finally:
        if writer:
            lock.release()


def _resume_locked(
    run_dir: Path,
    point: checkpointing.ResumePoint,
    lock: runs.RunLock,
    on_event: EventSink | None,
    should_stop: Callable[[], bool] | None,
    hooks: FitHooks | None,
) -> RunResult:
    config = RunConfig.from_toml(run_dir / runs.LAYOUT["config"])
    config.output = str(run_dir)
    prepared = prepare(config)
    saved = point.extra.get("meta")
    if saved is not None and json.loads(json.dumps(prepared.data.meta)) != saved:
        raise UserError(
            f"the training data of {run_dir} changed since step {point.step} was saved (its "
            "labels or settings differ); resume needs the same data file, or train again"
        )
    # Positions are global: a checkpoint resumes under any number of processes.
    runtime = make_runtime(prepared.config.device, prepared.config.precision)
    try:
        runtime.check_batch_size(prepared.config.batch_size)
        stop = stop_requests(should_stop)
        try:
            built = build(prepared, runtime, stop, hooks)  # tokenised and loaded; nothing written
        except torch.OutOfMemoryError:
            raise UserError("out of memory while loading the run; close other programs") from None
        point.check_batches(built.plan.batches)
        runtime.main_only(lambda: (checkpointing.remove_incomplete(run_dir), point.truncate_logs()))
        reporter = Reporter(run_dir, on_event, lock) if runtime.is_main else QuietReporter()
        try:
            return _run(prepared, runtime, run_dir, reporter, stop, hooks, point, built)
        except Exception as exc:
            return _failed(run_dir, reporter, exc)
        finally:
            reporter.close()
    finally:
        runtime.close()


@dataclass
class Built:
    """What `build` makes from a Prepared: ready for `fit`."""

    loaded: LoadedModel
    tokenizer: TextTokenizer
    train_features: Features
    eval_rows: Rows
    eval_features: Features
    sample_rows: Rows
    sample_features: Features
    plan: TrainPlan
    state: TrainState
    eval_batches: guards.EvalBatches = field(default_factory=guards.EvalBatches)
    """The evaluation's batch size, halved when an evaluation runs out of memory."""


def build(
    prepared: Prepared,
    runtime: Runtime,
    should_stop: Callable[[], bool],
    hooks: FitHooks | None = None,
) -> Built:
    """Tokenise, load the model, and make the plan and a fresh state (seeded)."""
    config, task, data = prepared.config, prepared.task, prepared.data
    seed_everything(config.seed)
    torch.set_grad_enabled(True)  # grad mode is per thread
    precision = runtime.precision
    tokenizer = TextTokenizer.from_folder(prepared.model_folder, config.max_length)
    meta = data.meta
    train_features = task.encode(data.train, tokenizer, config, meta)
    eval_features = task.encode(data.eval, tokenizer, config, meta)
    sample = _eval_sample(len(data.eval), config.eval_sample, config.seed)
    if sample is None:
        sample_rows, sample_features = data.eval, eval_features
    else:
        sample_rows = data.eval.subset(sample)
        sample_features = task.encode(sample_rows, tokenizer, config, meta)

    raw = read_config(prepared.model_folder)
    keep_head = task.head_matches(saved_meta(raw, task, prepared.family), meta)
    loaded = build_model(
        prepared.model_folder,
        task.head_for(meta),
        task.num_outputs(meta),
        keep_head=keep_head,
        dropout=config.dropout,
    )
    head_prefixes = prepared.family.head(task.head_for(meta)).new_prefixes
    if any(k.startswith(head_prefixes) for k in loaded.fresh):
        task.init_head(loaded.model, meta)
    apply_parameter_efficiency(
        loaded.model,
        prepared.family,
        prepared.family.head(task.head_for(meta)),
        config,
        loaded.fresh,
    )
    model = loaded.model.to(runtime.device)
    model.train()

    steps_per_epoch = math.ceil(len(train_features) / config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    optimizer = make_optimizer(model, config.learning_rate, config.weight_decay)
    scheduler = linear_schedule(optimizer, round(config.warmup_ratio * total_steps), total_steps)
    state = TrainState(optimizer, scheduler, precision.grad_scaler())
    lengths = train_features.lengths

    def batches(epoch: int) -> list[list[int]]:
        return length_grouped_batches(lengths, config.batch_size, config.seed + epoch)

    def make_batch(indices: list[int]) -> dict[str, torch.Tensor]:
        batch = task.collate(
            train_features, indices, tokenizer.pad_id, precision.pad_multiple, True
        )
        return runtime.to_device(batch)  # pinned, non-blocking copies to a GPU

    def loss(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        with precision.autocast():
            logits = task.forward(model, batch)
        return task.loss(logits, batch, meta)

    eval_batches = guards.EvalBatches()

    # The final evaluation runs in fp32, as `evaluate` and `predict` run the saved model, so
    # the run reports what its model gives (a bf16 pass differed in the 4th digit); the
    # evaluations during training keep the training precision's speed.
    final_precision = dataclasses.replace(precision, name="fp32")

    def evaluate(final: bool) -> dict[str, Any] | None:
        rows, features = (data.eval, eval_features) if final else (sample_rows, sample_features)
        outputs = eval_batches.run(
            lambda size: run_model(
                model,
                task,
                features,
                tokenizer.pad_id,
                final_precision if final else precision,
                batch_size=size,
                should_stop=None if final else should_stop,
            ),
            runtime.device,
        )
        if outputs is None:
            return None
        if final:
            meta.update(task.tune(outputs, features, rows, meta))
        metrics = task.metrics(outputs, features, rows, meta)
        metrics["evaluated_on"] = "all" if final or sample is None else "sample"
        metrics.update(eval_generations(task, model, tokenizer, data.eval, meta))
        return metrics

    eval_every = config.eval_every_steps or max(1, total_steps // EVALUATIONS_PER_RUN)
    plan = TrainPlan(
        model=model,
        batches=batches,
        make_batch=make_batch,
        loss=loss,
        evaluate=evaluate,
        epochs=config.epochs,
        steps_per_epoch=steps_per_epoch,
        primary_metric=task.primary_metric,
        greater_is_better=task.greater_is_better,
        max_grad_norm=config.max_grad_norm,
        log_every=config.log_every_steps,
        eval_every=eval_every,
        patience=config.early_stopping_patience,
        keep_best=config.early_stopping_patience > 0,
        hooks=hooks or FitHooks(),
        max_bad_steps=config.max_bad_steps,
        loss_units=task.loss_units(meta),
    )
    return Built(
        loaded,
        tokenizer,
        train_features,
        data.eval,
        eval_features,
        sample_rows,
        sample_features,
        plan,
        state,
        eval_batches,
    )


def _eval_sample(count: int, limit: int, seed: int) -> list[int] | None:
    """A fixed sample of the evaluation set for the evaluations during training."""
    if count <= limit:
        return None
    rng = np.random.default_rng(seed + 1_000_003)
    return sorted(rng.choice(count, size=limit, replace=False).tolist())


def _run(
    prepared: Prepared,
    runtime: Runtime,
    run_dir: Path,
    reporter: Reporter,
    should_stop: Callable[[], bool],
    hooks: FitHooks | None,
    resume_from: checkpointing.ResumePoint | None = None,
    built: Built | None = None,
) -> RunResult:
    config, task = prepared.config, prepared.task
    if built is None:
        built = build(prepared, runtime, should_stop, hooks)
    plan, precision = built.plan, runtime.precision
    built.eval_batches.notify = lambda text: reporter.emit(Notice(text))
    meta = prepared.data.meta
    for message in prepared.data.notices if resume_from is None else []:  # logged already
        reporter.emit(Notice(message))
    head = prepared.family.head(task.head_for(meta))
    head_fresh = [k for k in built.loaded.fresh if k.startswith(head.new_prefixes)]
    if head_fresh and resume_from is None:
        outputs = task.num_outputs(meta)  # 0: sized by the model (a masked LM's vocabulary)
        size = f" ({outputs} outputs)" if outputs else ""
        reporter.emit(Notice(f"a new head for {task.title} was initialised{size}"))
    if precision.reason and config.precision == "auto":
        reporter.emit(
            Notice(f"precision {precision.name} on {runtime.device.type}: {precision.reason}")
        )
    if runtime.distributed:
        reporter.emit(
            Notice(
                f"training on {runtime.describe()}: each takes {config.batch_size // runtime.world_size}"
                f" of each batch of {config.batch_size}"
            )
        )
    reporter.emit(
        RunStarted(
            str(run_dir),
            plan.total_steps,
            len(prepared.data.train),
            len(prepared.data.eval),
            list(meta.get("labels", [])),
            runtime.device.type,
            precision.name,
            task=task.name,
            primary_metric=task.primary_metric,
            **count_parameters(plan.model).as_event_fields(),
            **(
                {}
                if resume_from is None
                else {"resumed_from_step": resume_from.step, "kind": "run_resumed"}
            ),
        )
    )
    before = {}
    if resume_from is not None:
        resume_from.restore(plan.model, built.state)  # the RNG states last
        before = resume_from.extra.get("before", {})
        reporter.emit(
            Notice(f"resumed from the checkpoint of step {built.state.step} of {plan.total_steps}")
        )
    elif task.evaluate_before_training and runtime.is_main:  # the others wait in fit
        before = _evaluate_before_training(prepared, built, runtime, reporter, should_stop)
    plan.checkpoint = _checkpointer(prepared, run_dir, plan, built.state, before, reporter)
    try:
        state = fit(plan, built.state, runtime, reporter.emit, should_stop)
    except guards.NonFiniteSteps as exc:
        first = exc.first
        kept = runtime.main_only(
            lambda: guards.roll_back(run_dir, first, task.primary_metric, task.greater_is_better)
        )
        raise UserError(
            guards.diverged_message(
                exc,
                str(run_dir),
                kept,
                config.learning_rate,
                precision.name,
                config.max_grad_norm,
            )
        ) from None
    stopped = state.status == "stopped"
    if not runtime.is_main:  # rank 0 evaluates, saves and reports; this process is done
        return RunResult(run_dir, "stopped" if stopped else "completed", {})
    if stopped:
        reporter.emit(
            Notice(
                f"stopped at step {state.step} of {plan.total_steps}; saving the model trained so far"
            )
        )
    final_is_last = (
        state.last_metrics is not None
        and state.last_eval_step == state.step
        and state.last_metrics.get("evaluated_on") == "all"
        and state.best_step in (None, state.step)
    )
    # A stopped run is still evaluated, so its model can be judged.
    metrics = state.last_metrics if final_is_last else plan.evaluate(True)
    metrics = dict(metrics or {})
    settings = {k: getattr(config, k) for k in INFERENCE_SETTINGS}
    _save_model(run_dir / runs.LAYOUT["model"], prepared, built, settings)
    status = "stopped" if stopped else "completed"
    results = dict(metrics)
    results.update(
        status=status,
        train_steps=state.step,
        train_examples=state.examples_seen,
        train_seconds=state.train_seconds,
        train_examples_per_second=state.examples_seen / state.train_seconds
        if state.train_seconds
        else 0.0,
        device=runtime.device.type,
        precision=precision.name,
        precision_reason=precision.reason,
        **_peak_memory(runtime.device),
    )
    if runtime.distributed:
        results.update(processes=runtime.world_size, devices=runtime.describe())
    results.update(
        {f"{k}_before": v for k, v in before.items() if isinstance(v, float) and k in metrics}
    )
    if state.status == "early-stopped":
        results["early_stopped_at_step"] = state.step
    if state.best_step is not None and plan.keep_best:
        results["best_step"] = state.best_step
    runs.write_json_atomic(
        run_dir / runs.LAYOUT["eval_results"], _compact(results, keep_report=True)
    )
    if "examples" in results:
        runs.write_json_atomic(run_dir / runs.LAYOUT["eval_examples"], results["examples"])
    if status == "completed" and checkpointing.REMOVE_ON_COMPLETION:  # results say completed
        freed = checkpointing.remove_all(run_dir)
        if freed:
            reporter.emit(Notice(f"removed the run's checkpoints ({freed / 2**20:,.0f} MB)"))
    reporter.emit(RunFinished(status, str(run_dir), results))
    return RunResult(run_dir, status, results)


def _checkpointer(
    prepared: Prepared,
    run_dir: Path,
    plan: TrainPlan,
    state: TrainState,
    before: dict[str, Any],
    reporter: Reporter,
) -> checkpointing.Checkpointer:
    """Checkpoints for `workbench train --resume`, with what a resume must find again."""
    config, task = prepared.config, prepared.task

    def saved(info: checkpointing.CheckpointInfo) -> None:
        reporter.emit(
            Notice(f"checkpoint saved at step {info.step} ({info.bytes / 2**20:,.0f} MB)")
        )

    return checkpointing.Checkpointer(
        run_dir,
        every_steps=config.checkpoint_every_steps,
        keep=config.keep_checkpoints,
        primary_metric=task.primary_metric,
        greater_is_better=task.greater_is_better,
        batches=plan.batches,
        steps_per_epoch=plan.steps_per_epoch,
        total_steps=plan.total_steps,
        keep_best_weights=plan.keep_best,
        extra={
            "meta": prepared.data.meta,
            "before": {k: v for k, v in before.items() if isinstance(v, float)},
        },
        last_step=state.step or None,
        last_seconds=state.train_seconds,
        on_saved=saved,
    )


def _evaluate_before_training(
    prepared: Prepared,
    built: Built,
    runtime: Runtime,
    reporter: Reporter,
    should_stop: Callable[[], bool],
) -> dict[str, Any]:
    """The metrics at step 0, on the whole evaluation set (as the final ones), reported as an
    evaluation at step 0. Evaluation draws on no global RNG, so training is unchanged by it."""
    task, features = prepared.task, built.eval_features
    outputs = built.eval_batches.run(
        lambda size: run_model(
            built.plan.model,
            task,
            features,
            built.tokenizer.pad_id,
            runtime.precision,
            batch_size=size,
            should_stop=should_stop,
        ),
        runtime.device,
    )
    if outputs is None:  # stopped: fit stops at once too
        return {}
    meta = prepared.data.meta
    metrics = task.metrics(outputs, features, built.eval_rows, meta)
    metrics["evaluated_on"] = "all"
    metrics.update(eval_generations(task, built.plan.model, built.tokenizer, built.eval_rows, meta))
    reporter.emit(EvalFinished(0, 0.0, metrics))
    return metrics


def eval_generations(
    task: Task, model: torch.nn.Module, tokenizer: TextTokenizer, rows: Rows, meta: dict[str, Any]
) -> dict[str, Any]:
    """What an evaluation shows beside the metrics that needs the model itself: a generative
    task's continuations of a few fixed validation prompts (`generations`); {} for others."""
    generations = getattr(task, "eval_generations", None)
    return {} if generations is None else generations(model, tokenizer, rows, meta)


def _save_model(target: Path, prepared: Prepared, built: Built, settings: dict[str, Any]) -> None:
    task, family = prepared.task, prepared.family
    config = model_config(
        read_config(prepared.model_folder), family, task, prepared.data.meta, settings
    )
    tied = tuple(family.head(task.head_for(prepared.data.meta)).tied)
    staging = runs.staging_dir_for(target)
    try:
        head_kind = task.head_for(prepared.data.meta)
        model = split_adapter(built.plan.model, staging, prepared.model_folder, head_kind)
        save_folder(staging, model, config, prepared.model_folder, built.tokenizer, tied)
        runs.replace_dir_atomic(staging, target)
    except BaseException:
        import shutil

        shutil.rmtree(staging, ignore_errors=True)
        raise


def _peak_memory(device: torch.device) -> dict[str, float]:
    out: dict[str, float] = {}
    try:
        import resource  # not on Windows

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        out["peak_memory_mb"] = round(
            (peak if sys.platform == "darwin" else peak * 1024) / 2**20, 1
        )
    except ImportError:
        pass
    if device.type == "cuda":
        out["peak_gpu_memory_mb"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    return out
