"""Run directories: where they live, and writing into them without ever leaving half a file.

Every file is written to a temporary name in the same folder and renamed into place, so a
crash or a Stop leaves either the old file or the new one, never a torn one.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

LAYOUT = {
    "config": "config.toml",
    "metrics": "metrics.jsonl",
    "eval_results": "eval_results.json",
    "eval_examples": "eval_examples.json",
    "model": "model",
    "log": "log.txt",
}


def user_data_dir() -> Path:
    """Per-user data folder (WORKBENCH_HOME overrides it, e.g. in tests)."""
    if env := os.environ.get("WORKBENCH_HOME"):
        return Path(env)
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share"))
    return base / "workbench"


def default_runs_dir() -> Path:
    return user_data_dir() / "runs"


def new_run_dir(parent: Path | None = None, name: str = "run") -> Path:
    """A fresh, empty run folder named by the time it started."""
    parent = parent or default_runs_dir()
    parent.mkdir(parents=True, exist_ok=True)
    name = safe_name(name) or "run"
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for n in range(1000):
        candidate = parent / (f"{name}-{stamp}" + (f"-{n}" if n else ""))
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            continue
    raise RuntimeError(f"could not create a new run folder under {parent}")


def safe_name(text: str, limit: int = 80) -> str:
    """A name from data or a config as one harmless path component: no separators, no "..",
    no control characters, at most `limit` characters (the folder name is not the record:
    the full name lives in the files)."""
    kept = "".join(c if c.isalnum() or c in "-_.+@ " else "-" for c in str(text))
    return kept.strip(" .")[:limit].strip(" .")


def write_bytes_atomic(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        match_umask(tmp, 0o666)  # mkstemp makes it 0600: others could not read it
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: Path, value: Any) -> None:
    write_text_atomic(path, json.dumps(value, indent=2, ensure_ascii=False) + "\n")


def replace_dir_atomic(staging: Path, target: Path) -> None:
    """Move a fully written staging folder to `target`, replacing what was there.

    The old folder is moved aside first and removed only after the new one is in place.
    """
    staging, target = Path(staging), Path(target)
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}-{time.monotonic_ns()}")
        os.replace(target, old)
    os.replace(staging, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def staging_dir_for(target: Path) -> Path:
    """A temporary folder beside `target` (same file system, so the final rename is atomic)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    match_umask(staging, 0o777)  # mkdtemp makes it 0700; it becomes the real folder
    return Path(staging)


def current_umask() -> int:
    """The process umask, read without changing it where the system allows (os.umask can
    only be read by setting it, which races with other threads creating files)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


_UMASK_LOCK = threading.Lock()


def match_umask(path: str | Path, mode: int) -> None:
    """Give a temp file or folder the mode open()/mkdir() would have given it (0644/0755
    under umask 022), so exports and run files are readable by other tools and users."""
    if sys.platform != "win32":
        os.chmod(path, mode & ~current_umask())


class MetricsLog:
    """Appends one JSON object per line and flushes, so a killed run keeps its curves."""

    def __init__(self, path: Path) -> None:
        self._handle = open(path, "a", encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        self._handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._handle.flush()

    def close(self) -> None:
        self._handle.close()


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    path = Path(run_dir) / LAYOUT["metrics"]
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            break  # a line cut short by a crash ends the readable part
    return records
