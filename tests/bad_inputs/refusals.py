"""What a refusal must look like, shared by the catalogue's tests (a module of its own: every
test folder has a `conftest`, so importing from "conftest" would find another folder's)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Result:
    code: int
    out: str
    err: str


def snapshot(*roots: Path) -> dict[str, tuple]:
    """Every path under `roots` with its size and modification time (hidden ones too)."""
    found: dict[str, tuple] = {}
    for root in roots:
        if not root.exists():
            continue
        for path in [root, *root.rglob("*")]:
            info = path.lstat()
            found[str(path)] = (path.is_dir(), info.st_size, info.st_mtime_ns)
    return found


def assert_refused(result: Result, pattern: str) -> str:
    """Exit 2, nothing on stdout, ONE line on stderr that matches `pattern`; no traceback."""
    assert "Traceback" not in result.err, result.err
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1, result.err
    assert result.code == 2, (result.code, result.err)
    assert result.out == ""
    assert lines[0].startswith("workbench"), lines[0]
    assert re.search(pattern, lines[0]), (pattern, lines[0])
    return lines[0]
