"""A trained model as the engine uses it after training: task, family, tokenizer, settings.

The model folder's config.json carries a `workbench` block (the task, its meta such as the
labels or a tuned threshold, and the run settings inference must repeat, such as
`max_length`), so a run folder and an exported folder predict exactly alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from workbench.engine.models.checks import check_model
from workbench.engine.models.family import Family
from workbench.engine.models.registry import family_for, read_config, resolve_model
from workbench.engine.tasks import get_task
from workbench.engine.tasks.base import Task
from workbench.engine.tokenizer import TextTokenizer
from workbench.engine.training.precision import Precision, pick_device
from workbench.errors import UserError

# Run settings that inference repeats exactly as in training.
INFERENCE_SETTINGS = ("max_length", "truncation", "stride")
_DROPPED_KEYS = ("_name_or_path", "gradient_checkpointing", "transformers_version")


def saved_meta(raw: dict[str, Any], task: Task, family: Family) -> dict[str, Any] | None:
    """The task meta a model folder was trained with, or None (a base model, another task)."""
    block = raw.get("workbench")
    if isinstance(block, dict):
        return dict(block.get("meta") or {}) if block.get("task") == task.name else None
    head = family.heads.get(task.head_kind)
    id2label = raw.get("id2label")
    if head and head.architecture in (raw.get("architectures") or []) and id2label:
        return {"labels": [str(id2label[k]) for k in sorted(id2label, key=int)]}
    return None


def saved_task_name(raw: dict[str, Any], family: Family) -> str | None:
    block = raw.get("workbench")
    if isinstance(block, dict) and isinstance(block.get("task"), str):
        return block["task"]
    architectures = raw.get("architectures") or []
    for kind, head in family.heads.items():
        if head.architecture in architectures:
            from workbench.engine.tasks import all_tasks

            for task in all_tasks():
                if task.head_kind == kind:
                    return task.name
    return None


def model_config(
    source: dict[str, Any],
    family: Family,
    task: Task,
    meta: dict[str, Any],
    settings: dict[str, Any],
) -> dict[str, Any]:
    """config.json of a trained model: the source's settings, the head's architecture, the
    task's export fields, and the workbench block."""
    config = {k: v for k, v in source.items() if k not in _DROPPED_KEYS and k != "workbench"}
    for key in ("id2label", "label2id", "problem_type", "num_labels"):
        config.pop(key, None)
    config.update(
        architectures=[family.head(task.head_for(meta)).architecture],
        torch_dtype="float32",
        **task.export_fields(meta),
    )
    config["workbench"] = {
        "task": task.name,
        "meta": meta,
        **{k: settings[k] for k in INFERENCE_SETTINGS if k in settings},
    }
    return config


@dataclass
class TrainedModel:
    model: torch.nn.Module
    task: Task
    family: Family
    tokenizer: TextTokenizer
    meta: dict[str, Any]
    settings: dict[str, Any]
    folder: Path
    precision: Precision


def load_trained(run_or_model: str | Path, device: str = "cpu") -> TrainedModel:
    """The trained model of a run folder or an exported folder; UserError when it is not one."""
    from workbench.engine.models.loading import build_model

    path = Path(run_or_model).expanduser()
    if not path.exists():
        if str(run_or_model) == "default":  # the bundled model, not trained for any task
            raise UserError(
                '"default" is the bundled pretrained model, not trained for a task yet; train '
                "one with `workbench train --data FILE` and give the run folder it prints"
            )
        raise UserError(f"{path} does not exist; give a run folder or an exported model folder")
    if path.is_dir() and (path / "config.toml").exists() and not (path / "model").exists():
        raise UserError(f"run {path} has no trained model yet (it failed or is still running)")
    folder = resolve_model(path)
    check_model(folder)
    raw = read_config(folder)
    family = family_for(raw, folder)
    task_name = saved_task_name(raw, family)
    if task_name is None:
        raise UserError(
            f"{folder} is not a trained model (its config.json names no task head); "
            "train one first with `workbench train`"
        )
    task = get_task(task_name)
    meta = saved_meta(raw, task, family)
    if meta is None:
        raise UserError(f"{folder} is not a trained classifier (its config.json has no id2label)")
    block = raw.get("workbench") if isinstance(raw.get("workbench"), dict) else {}
    settings = {k: block[k] for k in INFERENCE_SETTINGS if k in block}
    settings.setdefault("truncation", "tail")  # what models saved without it were trained with
    loaded = build_model(folder, task.head_for(meta), task.num_outputs(meta))
    precision = Precision("fp32", pick_device(device))
    loaded.model.to(precision.device).eval()
    tokenizer = TextTokenizer.from_folder(folder, settings.get("max_length", 512))
    return TrainedModel(loaded.model, task, family, tokenizer, meta, settings, folder, precision)


def inference_config(trained: TrainedModel, **columns: str | None):
    """A RunConfig with the settings the model was trained with (what inference repeats)."""
    from workbench.config import RunConfig

    settings = {k: v for k, v in trained.settings.items() if v is not None}
    given = {k: v for k, v in columns.items() if v}
    return RunConfig(task=trained.task.name, **settings, **given).with_task_defaults()
