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
import re
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
    Progress,
    RunFinished,
    RunStarted,
    StepSkipped,
    event_to_dict,
    progress_callback,
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
from workbench.engine.saving import RETRY, SAVE_ERRNOS, SaveAnswer, SaveFailure, on_save_failed
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
from workbench.engine.training.fit import FitHooks, TrainPlan, _finish, fit
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


def prepare(config: RunConfig, on_event: EventSink | None = None) -> Prepared:
    """Read and check data, columns and model; raise UserError for anything wrong.
    `on_event` gets `Progress` while the data files are read (a big file takes a while)."""
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

    sink = on_event if launched_rank() == 0 else None  # under torchrun rank 0 says it once

    def load(path: str):
        reading = progress_callback(sink, "read", Path(path).name, "bytes")
        return load_table(path, header=config.header, progress=reading)

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
        self.keep_going = False
        """True while a save-failure handler waits for space: an event whose line cannot be
        written (the same full disk) still reaches the caller."""

    def emit(self, event: Event) -> None:
        if isinstance(event, Progress):  # a status line, not part of the run's record
            if self._sink is not None:
                self._sink(event)
            return
        if not self.keep_going:
            self._write(event)
        else:
            try:
                self._write(event)
            except OSError as exc:
                if exc.errno not in SAVE_ERRNOS:
                    raise
        if self._sink is not None:
            self._sink(event)

    def _write(self, event: Event) -> None:
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

    def close(self) -> None:
        for close in (self._metrics.close, self._log.close):
            try:
                close()
            except OSError as exc:  # the last buffered line, on the disk that is full
                if not self.keep_going or exc.errno not in SAVE_ERRNOS:
                    raise


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
    prepared = prepare(config, on_event)
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
    prepared = prepare(config, on_event)
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
            # Tokenised and loaded; nothing written.
            built = build(prepared, runtime, stop, hooks, on_event if runtime.is_main else None)
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
    on_event: EventSink | None = None,
) -> Built:
    """Tokenise, load the model, and make the plan and a fresh state (seeded). The data is
    tokenised a chunk at a time into packed features (`Task.encode_in_chunks`), with
    `Progress` events to `on_event`."""
    config, task, data = prepared.config, prepared.task, prepared.data
    seed_everything(config.seed)
    torch.set_grad_enabled(True)  # grad mode is per thread
    precision = runtime.precision
    tokenizer = TextTokenizer.from_folder(prepared.model_folder, config.max_length)
    meta = data.meta
    train_features = task.encode_in_chunks(
        data.train,
        tokenizer,
        config,
        meta,
        progress_callback(on_event, "tokenise", "training data", "rows"),
    )
    eval_features = task.encode_in_chunks(
        data.eval,
        tokenizer,
        config,
        meta,
        progress_callback(on_event, "tokenise", "validation data", "rows"),
    )
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
    epochs, total_steps = config.epochs, steps_per_epoch * config.epochs
    if config.max_steps:  # that many steps, in as many epochs as they take (the last partly)
        epochs, total_steps = math.ceil(config.max_steps / steps_per_epoch), config.max_steps
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
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        max_steps=config.max_steps,
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
        built = build(prepared, runtime, should_stop, hooks, reporter.emit)
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
    handler = on_save_failed.get() if runtime.is_main and not runtime.distributed else None
    if handler is not None and isinstance(reporter, Reporter):
        reporter.keep_going = True
    saving = _Saving(run_dir, prepared, built, handler)
    target = run_dir  # where the model and results go ("Save elsewhere…" changes it)
    try:
        state = fit(plan, built.state, runtime, reporter.emit, should_stop)
    except (checkpointing.SaveError, OSError) as exc:
        if handler is None or _save_errno(exc) is None:
            raise
        # The disk is full (or read-only): stop here and keep the model in memory; the
        # handler says when to save again (the checkpoint of this step first) or where.
        state = _finish(plan, built.state, reporter.emit)
        state.status = "stopped"
        reporter.emit(Notice(f"stopped at step {state.step}: {saving.words(exc)}"))
        target = saving.until_saved(exc, "checkpoint", run_dir, saving.checkpoint(plan, state))
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

    def save(folder: Path) -> None:
        if folder != run_dir:  # elsewhere: a run folder of its own, with what it needs
            saving.start_elsewhere(folder, config)
        _save_model(folder / runs.LAYOUT["model"], prepared, built, settings)
        runs.write_json_atomic(
            folder / runs.LAYOUT["eval_results"], _compact(results, keep_report=True)
        )
        if "examples" in results:
            runs.write_json_atomic(folder / runs.LAYOUT["eval_examples"], results["examples"])

    try:
        save(target)
    except Exception as exc:  # OSError, or the safetensors writer's own error
        if handler is None or _save_errno(exc) is None:
            raise
        reporter.emit(Notice(f"the model was not saved: {saving.words(exc)}"))
        target = saving.until_saved(exc, "model", target, save)
    if target != run_dir:
        reporter.emit(Notice(f"the run was saved in {target} instead of {run_dir}"))
    elif status == "completed" and checkpointing.REMOVE_ON_COMPLETION:  # results say completed
        freed = checkpointing.remove_all(run_dir)
        if freed:
            reporter.emit(Notice(f"removed the run's checkpoints ({freed / 2**20:,.0f} MB)"))
    reporter.emit(RunFinished(status, str(target), results))
    return RunResult(target, status, results)


def _save_errno(exc: BaseException) -> int | None:
    """The errno of a failed save that waiting or another folder can fix, else None (the
    safetensors writer says "I/O error: … (os error 28)" instead of raising an OSError)."""
    code = getattr(exc, "errno", None)
    if code is None:
        found = re.search(r"\(os error (\d+)\)", str(exc))
        code = int(found.group(1)) if found else None
    return code if code in SAVE_ERRNOS else None


class _Saving:
    """Saving again after a full or read-only disk, as `on_save_failed`'s handler answers
    (the GUI's "Save again" / "Save elsewhere…"); the model stays in memory meanwhile."""

    def __init__(
        self,
        run_dir: Path,
        prepared: Prepared,
        built: Built,
        handler: Callable[[SaveFailure], SaveAnswer] | None,
    ) -> None:
        self.run_dir, self.prepared, self.built, self.handler = run_dir, prepared, built, handler

    def checkpoint(self, plan: TrainPlan, state: TrainState) -> Callable[[Path], None]:
        """Save again: the checkpoint of this step first (a resume starts there); elsewhere
        has no checkpoints. Not when the best weights replaced the last ones in the model."""

        def save(folder: Path) -> None:
            if folder == self.run_dir and plan.checkpoint is not None and not plan.keep_best:
                plan.checkpoint.save(plan.model, state)

        return save

    def until_saved(
        self, exc: BaseException, what: str, target: Path, save: Callable[[Path], None]
    ) -> Path:
        """Ask, save as answered, ask again while it fails; the folder it was saved in."""
        assert self.handler is not None
        while True:
            answer = self.handler(self.failure(exc, what, target))
            if answer is None:
                raise UserError(f"the {what} was not saved: {self.words(exc)}") from None
            target = self.run_dir if answer == RETRY else Path(answer).expanduser().resolve()
            try:
                save(target)
                return target
            except Exception as again:  # as above
                if _save_errno(again) is None:
                    raise
                exc = again

    def failure(self, exc: BaseException, what: str, target: Path) -> SaveFailure:
        folder = Path(getattr(exc, "folder", None) or _failed_folder(exc, target))
        code = _save_errno(exc)
        state = self.built.state
        status = checkpointing.resume_status(self.run_dir)
        return SaveFailure(
            what=what,
            run_dir=str(self.run_dir),
            folder=str(folder),
            errno=code or 0,
            error=os.strerror(code) if code else str(exc),
            needed_bytes=int(getattr(exc, "needed", 0) or self.model_bytes()),
            free_bytes=_free_bytes(folder),
            step=state.step,
            total_steps=self.built.plan.total_steps,
            checkpoint_step=status.get("step") if status.get("resumable") else None,
        )

    def model_bytes(self) -> int:
        """What the model folder takes: its weights and the tokenizer's files."""
        weights = checkpointing.tensors_nbytes(dict(self.built.plan.model.state_dict()))
        folder = Path(self.prepared.model_folder)
        weight_files = (".safetensors", ".bin", ".pt", ".h5", ".msgpack", ".onnx", ".gguf")
        others = sum(
            f.stat().st_size
            for f in folder.iterdir()
            if f.is_file() and f.suffix not in weight_files
        )
        return weights + others + 64 * 1024  # config.json and the header

    def words(self, exc: BaseException) -> str:
        """One line: what failed, what it needs and what is free."""
        if isinstance(exc, UserError):
            return str(exc)
        failure = self.failure(exc, "model", self.run_dir)
        return (
            f"{failure.error} in {failure.folder} (the model needs {failure.needed_bytes / 2**20:,.1f}"
            f" MB, {failure.free_bytes / 2**20:,.1f} MB are free)"
        )

    def start_elsewhere(self, folder: Path, config: RunConfig) -> None:
        """A new run folder at `folder`: the config (its output there) and the logs so far."""
        import shutil

        folder.mkdir(parents=True, exist_ok=True)
        if any(folder.iterdir()):
            raise UserError(f"{folder} is not empty; choose a new folder to save the run in")
        runs.write_text_atomic(
            folder / runs.LAYOUT["config"],
            dataclasses.replace(config, output=str(folder)).to_toml(),
        )
        for name in (runs.LAYOUT["metrics"], runs.LAYOUT["log"]):
            if (self.run_dir / name).is_file():
                shutil.copyfile(self.run_dir / name, folder / name)


def _failed_folder(exc: BaseException, target: Path) -> Path:
    filename = getattr(exc, "filename", None)
    return Path(filename).parent if filename else target


def _free_bytes(folder: Path) -> int:
    import shutil

    for candidate in (folder, *folder.parents):  # the folder may not exist (yet)
        try:
            return shutil.disk_usage(candidate).free
        except OSError:
            continue
    return 0


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
    config = model_config(  # the loaded config: a head untied on loading says so
        built.loaded.raw_config, family, task, prepared.data.meta, settings
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
