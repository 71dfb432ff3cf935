"""The engine's task registry as the GUI lists it (Model page chooser, Data page roles).

`workbench.engine.tasks()` cannot be called once the subpackage `workbench.engine.tasks` has
been imported (the submodule replaces the package attribute of the same name), so the GUI
reads the registry itself; the result is the same list of `Task.describe()` dicts.
"""

from __future__ import annotations

from typing import Any


def task_descriptions() -> list[dict[str, Any]]:
    """Every registered task: name, title, description, roles, metrics, defaults."""
    from workbench.engine.tasks import all_tasks

    return [task.describe() for task in all_tasks()]


def tasks_by_name() -> dict[str, dict[str, Any]]:
    return {info["name"]: info for info in task_descriptions()}
