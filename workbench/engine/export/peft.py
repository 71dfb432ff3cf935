"""PEFT adapter folder: a LoRA run's adapter alone, for the `peft` library.

`adapter_config.json` + `adapter_model.safetensors`, as `peft`'s `save_pretrained` writes
them, with `base_model_name_or_path` naming the base model the run started from; load it
with `PeftModel.from_pretrained(AutoModelFor….from_pretrained(base), folder)`. The
self-check rebuilds base + adapter with our own modules and compares it with the trained
(merged) model on probe inputs.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np

from workbench.engine.export.base import Exporter
from workbench.engine.export.hf import _probe
from workbench.engine.peft.adapter import (
    ADAPTER_DIR,
    CONFIG_FILE,
    WEIGHTS_FILE,
    load_adapter,
    read_adapter_config,
)
from workbench.engine.trained import TrainedModel
from workbench.errors import UserError


class PeftExporter(Exporter):
    name = "peft"
    title = "PEFT adapter (LoRA)"
    description = (
        "the LoRA adapter alone (adapter_config.json, adapter_model.safetensors) with a pointer "
        "to its base model; loads with PeftModel.from_pretrained in peft"
    )

    def refuse(self, trained: TrainedModel) -> str | None:
        if not (trained.folder / ADAPTER_DIR / CONFIG_FILE).exists():
            return (
                "this model has no LoRA adapter (it was trained without --lora-rank, or its "
                "head cannot be saved in the PEFT layout); export it with --format hf"
            )
        return None

    def write(self, trained: TrainedModel, staging: Path) -> None:
        source = trained.folder / ADAPTER_DIR
        config = read_adapter_config(source)
        for name in (CONFIG_FILE, WEIGHTS_FILE):
            shutil.copyfile(source / name, staging / name)
        (staging / "README.md").write_text(_card(trained, config), encoding="utf-8")

    def self_check(self, trained: TrainedModel, written: Path) -> None:
        from workbench.engine.models.loading import build_model

        base = Path(read_adapter_config(written)["base_model_name_or_path"])
        if not (base / "config.json").exists():
            raise UserError(
                f"the base model this adapter was trained on, {base}, is gone; the adapter "
                "is useless without it: export with --format hf (the merged model) instead"
            )
        task, meta = trained.task, trained.meta
        # A head the adapter saves replaces the base's; one it lacks (an untied LM head, as
        # T5 v1.1's) was the base's own, frozen in training: keep it.
        saved = bool(read_adapter_config(written).get("modules_to_save"))
        loaded = build_model(base, task.head_for(meta), task.num_outputs(meta), keep_head=not saved)
        model = load_adapter(loaded.model, written).to(trained.precision.device).eval()
        rebuilt = dataclasses.replace(trained, model=model)
        for ours, theirs in zip(_probe(trained), _probe(rebuilt), strict=True):
            # Merged W + BA against W and BA apart: float32 rounding grows with the outputs'
            # size (an LM's logits reach tens), so 1e-5 of that size.
            scale = max(1.0, float(np.abs(ours).max(initial=0.0)))
            gap = float(np.abs(ours - theirs).max(initial=0.0))
            if ours.shape != theirs.shape or gap > 1e-5 * scale:
                raise UserError(
                    "the base model with this adapter does not reproduce the trained model; "
                    "nothing was written"
                )


def _card(trained: TrainedModel, config: dict) -> str:
    base = config["base_model_name_or_path"]
    return (
        "# LoRA adapter trained with Workbench\n\n"
        f"A rank-{config['r']} LoRA adapter for a {trained.family.name} model "
        f"({trained.task.title.lower()}), on the base model in `{base}`.\n"
        f"Adapted layers: {', '.join(config['target_modules'])}; trained fully: "
        f"{', '.join(config.get('modules_to_save') or []) or 'nothing else'}.\n\n"
        "```python\n"
        "from peft import PeftModel\n"
        "from transformers import AutoModel  # the AutoModelFor… class of the task\n"
        f'base = AutoModel.from_pretrained("{base}")\n'
        'model = PeftModel.from_pretrained(base, "path/to/this/folder")\n'
        "```\n"
    )


EXPORTER = PeftExporter()
