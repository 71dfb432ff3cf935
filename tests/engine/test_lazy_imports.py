"""The task registry's metadata comes without pandas (issue 17): task modules and the data
readers name `pd` through workbench.lazy, which imports pandas on first real use."""

from __future__ import annotations

import os
import subprocess
import sys

PROBE = """
import sys
from workbench.engine.tasks import TASK_NAMES, get_task, task_defaults
from workbench.cli import build_parser
build_parser()  # the --help text reads every task's defaults
for name in TASK_NAMES:
    task = get_task(name)
    task_defaults(name), task.roles, task.head_kind
import workbench.engine.data.readers
print("before", sorted(m for m in ("pandas", "torch") if m in sys.modules))
from workbench.engine.data.columns import guess_columns
from workbench.lazy import pandas as pd
frame = pd.DataFrame({"review": ["good", "bad"], "sentiment": ["pos", "neg"]})
guess = guess_columns(frame)
print("after", "pandas" in sys.modules, isinstance(frame, sys.modules["pandas"].DataFrame))
print("guess", guess.text, guess.label)
"""


def test_task_metadata_imports_no_pandas_and_pandas_works_on_first_use(tmp_path):
    env = {**os.environ, "WORKBENCH_HOME": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=300
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[-3:] == ["before []", "after True True", "guess review sentiment"], out.stdout


def test_lazy_module_reads_like_the_module():
    from workbench.lazy import LazyModule

    lazy = LazyModule("json")
    assert lazy.dumps([1]) == "[1]"
    assert lazy.loads is sys.modules["json"].loads  # copied: later reads skip the hook
    try:
        lazy.no_such_name  # noqa: B018
    except AttributeError:
        pass
    else:
        raise AssertionError("a missing attribute must raise AttributeError")
