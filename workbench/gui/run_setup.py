"""From the panels' values to a RunConfig: the one place the GUI decides what a run is."""

from __future__ import annotations

from typing import Any

from workbench.config import RunConfig
from workbench.errors import UserError


def build_run_config(values: dict[str, Any], data_problem: str | None = None) -> RunConfig:
    """A validated RunConfig; UserError with the first problem (data or settings)."""
    if data_problem:
        raise UserError(data_problem)
    return RunConfig.from_dict(values)
