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
    from workbench.engine.predict import Predictor
    from workbench.engine.training.loop import RunResult


def train(
    config: RunConfig,
    on_event: EventSink | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> RunResult:
    """Fine-tune as `config` says; report through `on_event`; stop soon after `should_stop()`
    turns true (the model trained so far is saved and evaluated). Raises UserError for bad
    input before anything is written; the last event is always RunFinished."""
    from workbench.engine.training.loop import train as _train

    return _train(config, on_event=on_event, should_stop=should_stop)


def evaluate(
    run_or_model: str | Path,
    data: str | Path,
    text_column: str | None = None,
    label_column: str | None = None,
    batch_size: int = 64,
) -> dict[str, Any]:
    """Metrics of a trained model (run folder or exported folder) on a labelled file."""
    from workbench.engine.evaluate import evaluate_file

    return evaluate_file(run_or_model, data, text_column, label_column, batch_size)


def load_predictor(run_or_model: str | Path, device: str = "cpu") -> Predictor:
    """A predictor for texts. Create one per thread (tokenizers are not shareable)."""
    from workbench.engine.predict import Predictor

    return Predictor.load(run_or_model, device=device)


def export_hf(run_or_model: str | Path, output: str | Path) -> Path:
    """Write the trained model as a Hugging Face folder that `transformers` loads."""
    from workbench.engine.export.hf import export_hf as _export

    return _export(run_or_model, output)


def resolve_model(name: str) -> Path:
    """The folder of a model: "default" is the bundled all-MiniLM-L6-v2."""
    from workbench.engine.models.registry import resolve_model as _resolve

    return _resolve(name)


def describe_model(name: str) -> dict[str, Any]:
    """Family, size and vocabulary of a model folder, read from its config (no weights loaded)."""
    from workbench.engine.models.registry import describe_model as _describe

    return _describe(name)
