"""Evaluate a trained model on a labelled file, with the settings it was trained with."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from workbench.engine.data import load_table
from workbench.engine.inference import run_model
from workbench.engine.trained import inference_config, load_trained
from workbench.errors import UserError


def evaluate_file(
    run_or_model: str | Path,
    data: str | Path,
    columns: dict[str, str] | None = None,
    batch_size: int = 64,
) -> dict[str, Any]:
    trained = load_trained(run_or_model)
    task = trained.task
    run = _run_config(run_or_model)
    header = getattr(run, "header", "auto") if run else "auto"
    frame = load_table(data, header=header)
    # Columns: the ones given, else the run's own where the file has them, else guessed.
    chosen: dict[str, str | None] = {}
    for role in task.roles:
        given = (columns or {}).get(role.field)
        from_run = getattr(run, role.field, None) if run else None
        chosen[role.field] = given or (from_run if from_run in frame.columns else None)
    name = Path(data).name
    resolved = task.resolve_columns(frame, SimpleNamespace(**chosen), name)
    config = inference_config(trained, **resolved)
    rows, _ = task.examples(frame, resolved, trained.meta, name, config)
    features = task.encode(rows, trained.tokenizer, config, trained.meta)
    import torch

    with torch.inference_mode():  # a loaded model that never trains (see Predictor._outputs)
        outputs = run_model(
            trained.model, task, features, trained.tokenizer.pad_id, trained.precision, batch_size
        )
    # With `examples`: the rows behind the metrics, which the GUI lists (the CLI drops them).
    return task.metrics(outputs, features, rows, trained.meta)


def _run_config(run_or_model: str | Path):
    config_file = Path(run_or_model) / "config.toml"
    if not config_file.exists():
        return None
    from workbench.config import RunConfig

    try:
        return RunConfig.from_toml(config_file)
    except UserError:
        return None
