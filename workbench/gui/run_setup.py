"""From the panels' values to a RunConfig: the one place the GUI decides what a run is."""

from __future__ import annotations

from typing import Any

from workbench.config import RunConfig
from workbench.errors import UserError

MESSAGES = {
    "roles_for_other_task": "The Data page shows the columns of another task ({roles_task}, "
    "not {task}); choose the task again on the Model page.",
}


def build_run_config(
    values: dict[str, Any], *problems: str | None, roles_task: str | None = None
) -> RunConfig:
    """A validated RunConfig; UserError with the first problem the panels found (data, model),
    else the first setting RunConfig refuses.

    `values` are the panels' `config_values()` merged: the task, its role columns (None for
    roles the task does not use), the header choice and the hyperparameters. `roles_task` is
    the task the role columns were chosen for; it must be the run's task."""
    for problem in problems:
        if problem:
            raise UserError(problem)
    task = values.get("task")
    if roles_task is not None and task is not None and roles_task != task:
        raise UserError(MESSAGES["roles_for_other_task"].format(roles_task=roles_task, task=task))
    return RunConfig.from_dict(values)
