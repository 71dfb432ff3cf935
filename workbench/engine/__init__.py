"""The engine's public API: everything the CLI and the GUI call.

No Qt here, ever. Heavy modules (torch) are imported inside the functions so that
`import workbench.engine` stays cheap for the GUI's start-up and the CLI's --help.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workbench.config import RunConfig
    from workbench.engine.events import EventSink
    from workbench.engine.generation.generate import Generator
    from workbench.engine.predict import Predictor
    from workbench.engine.training.run import RunResult


def train(
    config: RunConfig,
    on_event: EventSink | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> RunResult:
    """Fine-tune as `config` says; report through `on_event`; stop soon after `should_stop()`
    turns true (the model trained so far is saved and evaluated). Raises UserError for bad
    input before anything is written; the last event is always RunFinished."""
    from workbench.engine.training.run import train as _train

    return _train(config, on_event=on_event, should_stop=should_stop)


def resume(
    run_dir: str | Path,
    on_event: EventSink | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> RunResult:
    """Continue a stopped, failed or killed run from its newest complete checkpoint, with the
    run's own settings, in the same folder (as `train`, but UserError when it cannot resume:
    `resume_status` says beforehand)."""
    from workbench.engine.training.run import resume as _resume

    return _resume(run_dir, on_event=on_event, should_stop=should_stop)


def resume_status(run_dir: str | Path) -> dict[str, Any]:
    """Whether a run folder can be resumed (the GUI's Resume button): {"resumable": bool,
    "step": the checkpoint's step or None, "epoch", "total_steps", "reason": a sentence}.
    Reads only small JSON files; never raises for a bad folder."""
    from workbench.engine.training.checkpointing import resume_status as _status

    return _status(run_dir)


def evaluate(
    run_or_model: str | Path,
    data: str | Path,
    columns: dict[str, str] | None = None,
    batch_size: int = 64,
) -> dict[str, Any]:
    """The task's metrics of a trained model (run folder or exported folder) on a labelled
    file; `columns` maps role fields (text_column, label_column …) to columns."""
    from workbench.engine.evaluation import evaluate_file

    return evaluate_file(run_or_model, data, columns or {}, batch_size)


def load_predictor(run_or_model: str | Path, device: str = "cpu") -> Predictor:
    """A predictor for a trained model. Create one per thread (tokenizers are not shareable)."""
    from workbench.engine.predict import Predictor

    return Predictor.load(run_or_model, device=device)


def load_generator(source: str | Path, device: str = "cpu") -> Generator:
    """A decoder model (model folder or run folder) ready to continue prompts:
    `load_generator(folder).start(prompt, GenerationSettings(...))` yields the new text piece
    by piece (`workbench.engine.generation.generate`). One per thread. UserError when the
    model has no causal-LM head."""
    from workbench.engine.generation.generate import Generator

    return Generator.load(source, device=device)


def export_model(run_or_model: str | Path, output: str | Path, format: str = "hf") -> Path:
    """Write the trained model in `format` (see `export_formats()`), checked, atomically."""
    from workbench.engine.export import get_exporter

    return get_exporter(format).export(Path(run_or_model), Path(output))


def export_hf(run_or_model: str | Path, output: str | Path) -> Path:
    """Write the trained model as a Hugging Face folder that `transformers` loads."""
    return export_model(run_or_model, output, "hf")


def export_formats() -> list[dict[str, str]]:
    """The export formats there are: name, title, description (CLI choices, GUI list)."""
    from workbench.engine.export import all_exporters

    return [
        {"name": e.name, "title": e.title, "description": e.description} for e in all_exporters()
    ]


def list_tasks() -> list[dict[str, Any]]:
    """Every task: name, title, description, roles, metrics (CLI help, GUI lists)."""
    from workbench.engine.tasks import all_tasks

    return [task.describe() for task in all_tasks()]


def task_defaults(task: str) -> dict[str, Any]:
    """The settings a task trains with unless told otherwise (epochs, learning rate …)."""
    from workbench.engine.tasks import task_defaults as _defaults

    return _defaults(task)


def resolve_model(name: str) -> Path:
    """The folder of a model: "default" is the bundled all-MiniLM-L6-v2."""
    from workbench.engine.models.registry import resolve_model as _resolve

    return _resolve(name)


def describe_model(name: str) -> dict[str, Any]:
    """Family, size, parameter count and supported tasks of a model folder (no weights loaded)."""
    from workbench.engine.models.registry import describe_model as _describe

    return _describe(name)


def list_models() -> list[dict[str, Any]]:
    """The bundled models and every model in the Hugging Face cache, described as
    `describe_model` does, plus `source` and `supported` (False with a `reason` for a model
    Workbench cannot read): the Model panel's list and `workbench models --list`."""
    from workbench.engine.models.registry import list_models as _list

    return _list()


def download_model(repo_id: str, revision: str | None = None) -> Path:
    """Download a model by repo id (org/name) into the Hugging Face cache; its folder."""
    from workbench.engine.models.hf_cache import download

    return download(repo_id, revision)


def guess_roles(task: str, frame: Any) -> dict[str, str | None]:
    """The columns a task would use in a table: role field (text_column …) -> column or None."""
    from workbench.engine.tasks import get_task

    return dict(get_task(task).guess_columns(frame))


def suggest_task(frame: Any) -> str | None:
    """The task a table's shape suggests (CoNLL tokens and tags -> NER, SQuAD -> QA, a lone
    text column -> masked LM), or None when nothing stands out (then keep the user's choice)."""
    from workbench.engine.tasks.suggest import suggest_task as _suggest

    return _suggest(frame)


def diagnose(
    config: RunConfig, sample: int = 5000, frame: Any = None, eval_frame: Any = None
) -> dict[str, Any]:
    """The data doctor's report on `config.data` (and `config.eval_data`), read as `config.task`
    reads them, with `config.model`'s tokenizer: findings (check, severity info/warning/problem,
    one-line message, counts, a few example rows) as plain JSON values. Tokenizer checks use a
    seeded sample of `sample` texts. Frames already loaded may be passed in; UserError when
    the data cannot be read at all."""
    from workbench.engine.data.doctor import diagnose as _diagnose

    return _diagnose(config, sample=sample, frame=frame, eval_frame=eval_frame)


def unknown_token_share(model: str | Path, texts: list[str], sample: int = 2000) -> float:
    """Share (0-1) of the tokens of `texts` that `model`'s vocabulary does not know ([UNK]);
    high (Chinese on the English default: ~0.6) means: choose a model that covers the text."""
    from workbench.engine.data.doctor import unknown_token_share as _share

    return _share(model, texts, sample=sample)


def parameter_counts(
    model: str | Path, task: str, settings: dict[str, Any] | None = None, num_outputs: int = 2
) -> dict[str, int]:
    """{"trainable", "total"}: the parameters a run of `task` on `model` would train under
    `settings` (RunConfig fields: lora_rank, lora_targets, head_only, freeze_layers …), with a
    new head of `num_outputs`. Built from config.json's shapes on torch's meta device: no
    weights are read, no memory is taken. UserError for settings the model cannot take."""
    from workbench.engine.peft.apply import estimate_counts
    from workbench.engine.tasks import get_task

    return estimate_counts(model, get_task(task).head_kind, settings or {}, num_outputs)
