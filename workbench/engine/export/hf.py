"""Export as a Hugging Face folder (`AutoModelForSequenceClassification.from_pretrained`)."""

from __future__ import annotations

import shutil
from pathlib import Path

from workbench import runs
from workbench.engine.models.registry import resolve_model
from workbench.engine.tasks.classification import build_classifier
from workbench.errors import UserError

MODEL_FILES = (
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
)


def export_hf(run_or_model: str | Path, output: str | Path) -> Path:
    """Copy the trained model's files into `output`, written whole or not at all."""
    source = Path(run_or_model)
    if not source.exists():
        raise UserError(f"{source} does not exist; give a run folder")
    if (source / "config.toml").exists() and not (source / "model").exists():
        raise UserError(f"run {source} has no trained model to export (it failed or is still running)")
    folder = resolve_model(source)
    build_classifier(folder)  # refuses folders that are not trained classifiers, with a reason
    output = Path(output).expanduser().resolve()
    if output == folder.resolve() or folder.resolve() in output.parents:
        raise UserError("choose an export folder outside the run's model folder")
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise UserError(f"export folder {output} already exists and is not empty; choose a new folder")
    staging = runs.staging_dir_for(output)
    try:
        for name in MODEL_FILES:
            if (folder / name).exists():
                shutil.copyfile(folder / name, staging / name)
        (staging / "README.md").write_text(_model_card(folder), encoding="utf-8")
        if output.exists():
            output.rmdir()
        runs.replace_dir_atomic(staging, output)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return output


def _model_card(folder: Path) -> str:
    return (
        "# Fine-tuned with Workbench\n\n"
        "A BERT text classifier. Load it with:\n\n"
        "```python\n"
        "from transformers import AutoModelForSequenceClassification, AutoTokenizer\n"
        "model = AutoModelForSequenceClassification.from_pretrained(\"path/to/this/folder\")\n"
        "tokenizer = AutoTokenizer.from_pretrained(\"path/to/this/folder\")\n"
        "```\n"
    )
