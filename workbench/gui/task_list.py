"""The engine's task registry as the GUI lists it (Model page chooser, Data page roles)."""

from __future__ import annotations

from typing import Any


def task_descriptions() -> list[dict[str, Any]]:
    """Every registered task: name, title, description, roles, metrics, defaults."""
    from workbench import engine

    return engine.list_tasks()


def tasks_by_name() -> dict[str, dict[str, Any]]:
    return {info["name"]: info for info in task_descriptions()}
