"""Heavy modules imported on first use: `from workbench.lazy import pandas as pd`.

pandas costs about a second to import on a loaded 2-core machine, and the task registry
imports every task module for its names, column roles and defaults (the CLI's help, the
GUI's task list) before any data is read. Those modules name `pd` at module level only in
annotations; the real import happens the first time an attribute such as `pd.DataFrame` is
read, so `workbench --help` and the window's first frame go without it (issue 17).
"""

from __future__ import annotations

import importlib
import types
from typing import Any


class LazyModule(types.ModuleType):
    """Stands in for a module until one of its attributes is read, then imports it and
    copies its namespace here, so later reads cost what a module attribute costs."""

    def __init__(self, name: str) -> None:
        super().__init__(name)

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("__") and attribute.endswith("__"):
            raise AttributeError(attribute)  # copy, pickle and inspect probes: not an import
        module = importlib.import_module(self.__name__)
        self.__dict__.update(module.__dict__)
        return getattr(module, attribute)

    def __repr__(self) -> str:
        return f"<lazy module {self.__name__!r}>"


pandas: Any = LazyModule("pandas")
