"""Hugging Face folder: `AutoModelFor<task>.from_pretrained(folder)` loads it.

The model folder of a run already is one (config.json with the head's architecture and the
task's fields, safetensors weights, tokenizer files); exporting copies it with a model card
and checks the copy by loading it back and comparing predictions on probe inputs.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from workbench.engine.export.base import Exporter
from workbench.engine.inference import run_model
from workbench.engine.tasks.base import Rows
from workbench.engine.trained import TrainedModel, inference_config, load_trained
from workbench.errors import UserError

MODEL_FILES = (
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
)
PROBE_TEXTS = ["A short probe sentence.", "Ein zweiter Satz, länger als der erste, mit Umlauten."]


class HuggingFaceExporter(Exporter):
    name = "hf"
    title = "Hugging Face folder"
    description = (
        "config.json, safetensors weights and tokenizer; loads with AutoModelFor… in transformers"
    )

    def write(self, trained: TrainedModel, staging: Path) -> None:
        for name in MODEL_FILES:
            if (trained.folder / name).exists():
                shutil.copyfile(trained.folder / name, staging / name)
        _name_the_pad_token(staging / "config.json", trained.tokenizer.pad_id)
        (staging / "README.md").write_text(_model_card(trained), encoding="utf-8")

    def self_check(self, trained: TrainedModel, written: Path) -> None:
        copy = load_trained(written)
        for ours, theirs in zip(_probe(trained), _probe(copy), strict=True):
            if ours.shape != theirs.shape or float(np.abs(ours - theirs).max(initial=0.0)) > 1e-5:
                raise UserError(
                    "the exported model does not reproduce the trained one; nothing was written"
                )


def _name_the_pad_token(config_path: Path, pad_id: int) -> None:
    """GPT-2 has no pad token, so its config.json names none; Workbench pads with the
    end-of-text token. transformers' GPT2ForSequenceClassification needs `pad_token_id` to
    find each row's last real token (without it, it refuses batches of more than one)."""
    config = json.loads(config_path.read_text(encoding="utf-8"))
    if config.get("pad_token_id") is None:
        config["pad_token_id"] = pad_id
        config_path.write_text(json.dumps(config, indent=2, ensure_ascii=False), encoding="utf-8")


def _probe(trained: TrainedModel) -> list[np.ndarray]:
    task = trained.task
    inputs = {"text": list(task.probe_texts or PROBE_TEXTS)}
    needs = task.inputs_for(trained.meta)
    if "text_pair" in needs:
        inputs["text_pair"] = list(reversed(PROBE_TEXTS))
    if "context" in needs:
        inputs["context"] = [" ".join(PROBE_TEXTS)] * len(PROBE_TEXTS)
    rows: Rows = task.rows_from_inputs(inputs)
    features = task.encode(rows, trained.tokenizer, inference_config(trained), trained.meta)
    outputs = run_model(trained.model, task, features, trained.tokenizer.pad_id, trained.precision)
    return list(outputs or [])


def _model_card(trained: TrainedModel) -> str:
    head_kind = trained.task.head_for(trained.meta)
    architecture = trained.family.head(head_kind).architecture
    auto_class = _AUTO_CLASSES.get(head_kind, "AutoModel")
    labels = trained.meta.get("labels") or []
    label_line = f"\nLabels: {', '.join(map(str, labels[:50]))}.\n" if labels else ""
    return (
        "# Fine-tuned with Workbench\n\n"
        f"A {trained.family.name} model for {trained.task.title.lower()} ({architecture}).\n"
        f"{label_line}\n"
        "Load it with:\n\n"
        "```python\n"
        f"from transformers import {auto_class}, AutoTokenizer\n"
        f'model = {auto_class}.from_pretrained("path/to/this/folder")\n'
        'tokenizer = AutoTokenizer.from_pretrained("path/to/this/folder")\n'
        "```\n"
    )


_AUTO_CLASSES = {
    "sequence-classification": "AutoModelForSequenceClassification",
    "token-classification": "AutoModelForTokenClassification",
    "question-answering": "AutoModelForQuestionAnswering",
    "masked-lm": "AutoModelForMaskedLM",
    "pretraining": "AutoModelForPreTraining",
    "causal-lm": "AutoModelForCausalLM",
    "seq2seq-lm": "AutoModelForSeq2SeqLM",
}

EXPORTER = HuggingFaceExporter()
