"""`max_length` against the model's positions, checked before a run folder exists.

A model cannot read more tokens than it has position embeddings. The tokenizer caps the
length it cuts to (engine/tokenizer.py), which used to lower a `--max-length 512` on a
128-position model without a word: the run said 512 and trained at 128. Now a length the
user asked for that the model cannot take is refused, naming the model's maximum; a task's
*default* that is too long for a small model is lowered to the maximum, said in a notice
and written into the run's config.toml (so resume and inference use what was trained).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from workbench.config import RunConfig
from workbench.errors import UserError


def model_positions(folder: str | Path) -> int | None:
    """The most tokens the model in `folder` reads at once; None when it has no such limit
    in its config.json (relative positions, as T5)."""
    from workbench.engine.tokenizer import _model_max_length

    return _model_max_length(Path(folder))


def fit_max_length(config: RunConfig, model_folder: Path) -> tuple[RunConfig, str | None]:
    """`config` with a max_length the model can take, and a notice when its default was
    lowered; UserError when the user's own `max_length` is above the model's positions.
    Call it before `with_task_defaults` (None there means "the task's default")."""
    positions = model_positions(model_folder)
    if positions is None:
        return config, None
    if config.max_length is not None:
        if config.max_length > positions:
            raise UserError(
                f"--max-length {config.max_length} is more than this model can read: "
                f"{model_folder.name} has {positions} positions; use --max-length {positions} "
                "or less"
            )
        return config, None
    from workbench.engine.tasks import task_defaults

    default = task_defaults(config.task)["max_length"]
    if default <= positions:
        return config, None
    notice = (
        f"max length {positions} (the task's default of {default} is more than "
        f"{model_folder.name}'s {positions} positions)"
    )
    return dataclasses.replace(config, max_length=positions), notice
