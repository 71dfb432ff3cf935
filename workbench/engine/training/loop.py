"""The training procedure: prepare data and model, run the steps, evaluate, save.

A short function over the named pieces next to it. Everything the user can get wrong is
checked in `prepare` before the run folder is created, so bad input leaves nothing behind.
"""

from __future__ import annotations

import dataclasses
import math
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from workbench import runs
from workbench.config import RunConfig
from workbench.engine.checkpoint import save_folder
from workbench.engine.data import (
    LabelledTexts,
    guess_columns,
    load_table,
    make_examples,
    stratified_split,
)
from workbench.engine.data.examples import check_columns
from workbench.engine.events import (
    EvalFinished,
    Event,
    EventSink,
    Notice,
    RunFinished,
    RunStarted,
    StepLogged,
    event_to_dict,
)
from workbench.engine.inference import cross_entropy, predict_logits
from workbench.engine.models.registry import resolve_model
from workbench.engine.tasks.classification import (
    build_classifier,
    classification_metrics,
    export_config,
)
from workbench.engine.tokenizer import TextTokenizer
from workbench.engine.training.batching import collate, length_grouped_batches
from workbench.engine.training.optim import linear_schedule, make_optimizer
from workbench.engine.training.precision import Precision, pick_device, pick_precision
from workbench.errors import UserError


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
    model_folder: Path
    train: LabelledTexts
    eval: LabelledTexts
    labels: list[str]


def prepare(config: RunConfig) -> Prepared:
    """Read and check data, columns and model; raise UserError for anything wrong."""
    config.validate()
    if not config.data:
        raise UserError("no training data given; pass --data FILE (CSV, TSV, JSONL or Parquet)")
    frame = load_table(config.data)
    guess = guess_columns(frame)
    text_column = config.text_column or guess.text
    label_column = config.label_column or guess.label
    if text_column is None or label_column is None:
        raise UserError(
            f"cannot tell which columns of {Path(config.data).name} hold the text and the label; "
            "name them with --text-column and --label-column"
        )
    check_columns(frame, text_column, label_column, Path(config.data).name)
    if text_column == label_column:
        raise UserError("the text and label columns must differ; pick them with --text-column/--label-column")
    model_folder = resolve_model(config.model)
    train, labels = make_examples(frame, text_column, label_column, name=Path(config.data).name)
    if config.eval_data:
        eval_frame = load_table(config.eval_data)
        evaluation, _ = make_examples(
            eval_frame, text_column, label_column, labels=labels, name=Path(config.eval_data).name
        )
    else:
        train, evaluation = stratified_split(train, config.eval_split, config.seed)
    resolved = dataclasses.replace(
        config,
        data=str(Path(config.data).resolve()),
        eval_data=str(Path(config.eval_data).resolve()) if config.eval_data else None,
        text_column=text_column,
        label_column=label_column,
    )
    return Prepared(resolved, model_folder, train, evaluation, labels)


def open_run_dir(config: RunConfig) -> Path:
    if config.output:
        run_dir = Path(config.output).expanduser()
        if run_dir.exists() and (not run_dir.is_dir() or any(run_dir.iterdir())):
            raise UserError(f"run folder {run_dir} already exists and is not empty; choose a new --output")
        run_dir.mkdir(parents=True, exist_ok=True)
        return run_dir.resolve()
    return runs.new_run_dir()


class Reporter:
    """Sends each event to the caller and appends it to metrics.jsonl (and log.txt)."""

    def __init__(self, run_dir: Path, sink: EventSink | None) -> None:
        self._sink = sink
        self._metrics = runs.MetricsLog(run_dir / runs.LAYOUT["metrics"])
        self._log = open(run_dir / runs.LAYOUT["log"], "a", encoding="utf-8")

    def emit(self, event: Event) -> None:
        record = event_to_dict(event)
        record["time"] = time.time()
        self._metrics.write(record)
        if isinstance(event, (Notice, RunStarted, EvalFinished, RunFinished)):
            summary = {k: v for k, v in record.items() if k not in ("report", "confusion_matrix")}
            self._log.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {summary}\n")
            self._log.flush()
        if self._sink is not None:
            self._sink(event)

    def close(self) -> None:
        self._metrics.close()
        self._log.close()


def train(
    config: RunConfig,
    on_event: EventSink | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> RunResult:
    prepared = prepare(config)
    device = pick_device(config.device)
    precision = pick_precision(config.precision, device)
    run_dir = open_run_dir(config)
    prepared.config.output = str(run_dir)
    runs.write_text_atomic(run_dir / runs.LAYOUT["config"], prepared.config.to_toml())
    reporter = Reporter(run_dir, on_event)
    try:
        return _run(prepared, precision, run_dir, reporter, should_stop or (lambda: False))
    except Exception as exc:  # every failure ends the run with a readable message
        message = str(exc) if isinstance(exc, UserError) else f"{type(exc).__name__}: {exc}"
        if isinstance(exc, torch.OutOfMemoryError):
            message = "out of memory; lower the batch size or max length and train again"
        reporter.emit(RunFinished("failed", str(run_dir), {}, message))
        return RunResult(run_dir, "failed", {}, message)
    finally:
        reporter.close()


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _run(
    prepared: Prepared,
    precision: Precision,
    run_dir: Path,
    reporter: Reporter,
    should_stop: Callable[[], bool],
) -> RunResult:
    config = prepared.config
    _seed_everything(config.seed)
    torch.set_grad_enabled(True)  # grad mode is per thread
    device = precision.device

    tokenizer = TextTokenizer.from_folder(prepared.model_folder, config.max_length)
    train_ids = tokenizer.encode(prepared.train.texts)
    eval_ids = tokenizer.encode(prepared.eval.texts)
    train_labels = torch.tensor(prepared.train.label_ids, dtype=torch.long)
    eval_labels = np.asarray(prepared.eval.label_ids)

    model, labels, fresh = build_classifier(prepared.model_folder, prepared.labels, dropout=config.dropout)
    model.to(device).train()
    if any(name.startswith("classifier.") for name in fresh):
        reporter.emit(Notice(f"a new classification head for {len(labels)} labels was initialised"))

    optimizer = make_optimizer(model, config.learning_rate, config.weight_decay)
    steps_per_epoch = math.ceil(len(train_ids) / config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    scheduler = linear_schedule(optimizer, round(config.warmup_ratio * total_steps), total_steps)
    scaler = precision.grad_scaler()
    if precision.reason and config.precision == "auto":
        reporter.emit(Notice(f"precision {precision.name} on {device.type}: {precision.reason}"))
    reporter.emit(
        RunStarted(
            str(run_dir), total_steps, len(train_ids), len(eval_ids), labels, device.type, precision.name
        )
    )

    def evaluate(step: int, epoch: float, cancellable: bool = True) -> dict[str, Any] | None:
        stop = should_stop if cancellable else None
        logits = predict_logits(model, eval_ids, tokenizer.pad_id, precision, should_stop=stop)
        if logits is None:
            return None
        metrics = classification_metrics(
            eval_labels, logits.argmax(axis=1), labels, cross_entropy(logits, eval_labels)
        )
        reporter.emit(EvalFinished(step, epoch, metrics))
        return metrics

    lengths = [len(t) for t in train_ids]
    step = 0
    examples_seen = 0
    train_seconds = 0.0
    last_eval: tuple[int, dict[str, Any]] | None = None
    running_loss = torch.zeros((), device=device)
    running_count = 0
    stopped = False
    window_start, window_examples = time.perf_counter(), 0

    for epoch in range(config.epochs):
        for indices in length_grouped_batches(lengths, config.batch_size, config.seed + epoch):
            if should_stop():
                stopped = True
                break
            step_start = time.perf_counter()
            ids, mask = collate(train_ids, indices, tokenizer.pad_id, precision.pad_multiple)
            ids, mask, target = ids.to(device), mask.to(device), train_labels[indices].to(device)
            with precision.autocast():
                logits = model(ids, mask)
            loss = F.cross_entropy(logits.float(), target)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.unscale_(optimizer)
            else:
                loss.backward()
            if config.max_grad_norm > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
            if scaler is not None:
                scaler.step(optimizer)
                scaler.update()
            else:
                optimizer.step()
            step_lr = scheduler.get_last_lr()[0]  # the rate this step used
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            examples_seen += len(indices)
            window_examples += len(indices)
            running_loss += loss.detach()
            running_count += 1
            train_seconds += time.perf_counter() - step_start

            if step % config.log_every_steps == 0 or step == total_steps:
                mean_loss = (running_loss / running_count).item()  # the only sync per log
                if not math.isfinite(mean_loss):
                    raise UserError(
                        f"the training loss became {mean_loss} at step {step}; lower the learning "
                        "rate, or train in fp32 (--precision fp32)"
                    )
                now = time.perf_counter()
                rate = window_examples / max(now - window_start, 1e-9)
                per_step = train_seconds / step
                reporter.emit(
                    StepLogged(
                        step=step,
                        total_steps=total_steps,
                        epoch=step / steps_per_epoch,
                        loss=mean_loss,
                        learning_rate=step_lr,
                        examples_per_second=rate,
                        elapsed_seconds=train_seconds,
                        eta_seconds=per_step * (total_steps - step),
                    )
                )
                running_loss.zero_()
                running_count = 0
                window_start, window_examples = time.perf_counter(), 0
            if config.eval_every_steps and step % config.eval_every_steps == 0 and step < total_steps:
                metrics = evaluate(step, step / steps_per_epoch)
                if metrics is not None:
                    last_eval = (step, metrics)
                window_start, window_examples = time.perf_counter(), 0
        if stopped:
            break
        metrics = evaluate(step, step / steps_per_epoch)
        if metrics is not None:
            last_eval = (step, metrics)
        window_start, window_examples = time.perf_counter(), 0

    status = "stopped" if stopped else "completed"
    if stopped:
        reporter.emit(Notice(f"stopped at step {step} of {total_steps}; saving the model trained so far"))
    _save_model(run_dir / runs.LAYOUT["model"], model, prepared.model_folder, labels, tokenizer)
    if last_eval is not None and last_eval[0] == step:
        metrics = last_eval[1]
    else:
        # A stopped run is still evaluated, so its model can be judged.
        metrics = evaluate(step, step / steps_per_epoch, cancellable=False) or {}
    results = dict(metrics)
    results.update(
        status=status,
        train_steps=step,
        train_examples=examples_seen,
        train_seconds=train_seconds,
        train_examples_per_second=examples_seen / train_seconds if train_seconds else 0.0,
        device=device.type,
        precision=precision.name,
        **_peak_memory(device),
    )
    runs.write_json_atomic(run_dir / runs.LAYOUT["eval_results"], results)
    reporter.emit(RunFinished(status, str(run_dir), results))
    return RunResult(run_dir, status, results)


def _save_model(target: Path, model: torch.nn.Module, source: Path, labels: list[str], tokenizer: TextTokenizer) -> None:
    staging = runs.staging_dir_for(target)
    save_folder(staging, model, export_config(source, labels), source, tokenizer)
    runs.replace_dir_atomic(staging, target)


def _peak_memory(device: torch.device) -> dict[str, float]:
    out: dict[str, float] = {}
    try:
        import resource  # not on Windows

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        out["peak_memory_mb"] = round((peak if sys.platform == "darwin" else peak * 1024) / 2**20, 1)
    except ImportError:
        pass
    if device.type == "cuda":
        out["peak_gpu_memory_mb"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    return out
