"""The task registry: one module per task, one line here.

The CLI's `--task` choices, its help, and the GUI's task list are read from TASK_MODULES;
a module is imported only when its task is used.
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import TYPE_CHECKING, Any

from workbench.errors import UserError

if TYPE_CHECKING:
    from workbench.engine.tasks.base import Task

# --task name -> module defining TASK
TASK_MODULES = {
    "text-classification": "workbench.engine.tasks.text_classification",
    "masked-lm": "workbench.engine.tasks.masked_lm",
    "pair-classification": "workbench.engine.tasks.pair_classification",
    "regression": "workbench.engine.tasks.regression",
    "multi-label-classification": "workbench.engine.tasks.multi_label",
    "token-classification": "workbench.engine.tasks.token_classification",
    "question-answering": "workbench.engine.tasks.question_answering",
    "causal-lm": "workbench.engine.tasks.causal_lm",
    "seq2seq": "workbench.engine.tasks.seq2seq",
}
TASK_NAMES = tuple(TASK_MODULES)


@cache
def get_task(name: str) -> Task:
    if name not in TASK_MODULES:
        raise UserError(f"unknown task {name!r}; choose one of: {', '.join(TASK_NAMES)}")
    return importlib.import_module(TASK_MODULES[name]).TASK


def all_tasks() -> list[Task]:
    return [get_task(name) for name in TASK_NAMES]


def task_defaults(name: str) -> dict[str, Any]:
    """The general defaults with the task's own choices over them (`lora_learning_rate`:
    the rate with LoRA on)."""
    from workbench.config import GENERAL_DEFAULTS, LORA_LEARNING_RATE

    return {**GENERAL_DEFAULTS, "lora_learning_rate": LORA_LEARNING_RATE, **get_task(name).defaults}


def tasks_for_heads(heads: tuple[str, ...] | list[str]) -> list[str]:
    """The tasks a family with these head kinds can do."""
    return [task.name for task in all_tasks() if task.head_kind in heads]
