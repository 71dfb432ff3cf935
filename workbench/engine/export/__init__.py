"""The Exporter registry: one module per format, one line here.

`workbench export --format` and the GUI's Export list are read from EXPORTER_MODULES.
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import TYPE_CHECKING

from workbench.errors import UserError

if TYPE_CHECKING:
    from workbench.engine.export.base import Exporter

# --format name -> module defining EXPORTER, or "module:NAME" for a module with several
EXPORTER_MODULES = {
    "hf": "workbench.engine.export.hf",
    "peft": "workbench.engine.export.peft",
    "gguf-f16": "workbench.engine.export.gguf:F16",
    "gguf-q8_0": "workbench.engine.export.gguf:Q8_0",
}
FORMAT_NAMES = tuple(EXPORTER_MODULES)


@cache
def get_exporter(name: str) -> Exporter:
    if name not in EXPORTER_MODULES:
        raise UserError(f"unknown export format {name!r}; choose one of: {', '.join(FORMAT_NAMES)}")
    module, _, attribute = EXPORTER_MODULES[name].partition(":")
    return getattr(importlib.import_module(module), attribute or "EXPORTER")


def all_exporters() -> list[Exporter]:
    return [get_exporter(name) for name in FORMAT_NAMES]
