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
    "lock": "run.lock",  # held by the process writing the run (see RunLock)
    "info": "run.json",  # the user's display name and note (see workbench/engine/run_index.py)
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


class RunLock:
    """A lock on `<run>/run.lock` that the process writing the run holds while it writes.

    A run whose process died still says "running" in none of its files, and its last event
    is not a RunFinished: the lock tells such a killed run from one still in progress,
    because the operating system drops a dead process's lock (an flock on POSIX, a byte
    lock on Windows) while the file with its pid stays. `run_is_live` probes it.
    """

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / LAYOUT["lock"]
        self._handle: Any = None

    def acquire(self, timeout: float = 1.0) -> bool:
        """Take the lock (False if another writer still holds it after `timeout` seconds)."""
        handle = open(self.path, "a+b")
        deadline = time.monotonic() + timeout
        while not _try_lock(handle):
            if time.monotonic() >= deadline:
                handle.close()
                return False
            time.sleep(0.05)  # a listing probing the lock holds it for microseconds
        handle.seek(0)
        handle.truncate()
        record = {"pid": os.getpid(), "started": time.time()}
        handle.write(json.dumps(record).encode("utf-8"))
        handle.flush()
        self._handle = handle
        return True

    def release(self) -> None:
        """Drop the lock and its file (removed first on POSIX, so no one sees it unlocked)."""
        handle, self._handle = self._handle, None
        if handle is None:
            return
        if sys.platform != "win32":
            self.path.unlink(missing_ok=True)
        handle.close()
        if sys.platform == "win32":
            try:
                self.path.unlink(missing_ok=True)
            except OSError:
                pass  # another process is probing it; the next writer truncates it


def _try_lock(handle: Any) -> bool:
    try:
        if sys.platform == "win32":
            import msvcrt

            handle.seek(0)
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            # flock, not lockf: its lock belongs to the open file, so a second open in the
            # same process (the GUI lists runs while it trains one) sees it taken.
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def lock_holder(run_dir: Path) -> int | None:
    """The pid the run's lock file names (the process that took the lock last)."""
    try:
        record = json.loads((Path(run_dir) / LAYOUT["lock"]).read_text(encoding="utf-8"))
        return int(record["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def run_is_live(run_dir: Path) -> bool:
    """Whether a process is writing this run now (it holds its RunLock)."""
    path = Path(run_dir) / LAYOUT["lock"]
    try:
        handle = open(path, "rb")
    except OSError:
        return False  # no lock file: nobody writes it (or an older Workbench wrote it)
    try:
        if not _try_lock(handle):
            return True
        if sys.platform == "win32":
            import msvcrt

            handle.seek(0)
            msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
        return False
    finally:
        handle.close()  # closing drops a probe's flock


class MetricsLog:
    """Appends one JSON object per line and flushes, so a killed run keeps its curves.

    Whoever appends holds the run's RunLock until `close`, so a listing can tell a live run
    from a killed one."""

    def __init__(self, path: Path, lock: RunLock | None = None) -> None:
        """`lock`: one the caller holds already (a resume takes it before it touches the
        run); it is released on `close` too."""
        if lock is None:
            lock = RunLock(Path(path).parent)
            lock.acquire()  # False: another process writes it too; the log still works
        self._lock = lock
        self._handle = open(path, "a", encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        self._handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._handle.flush()

    def close(self) -> None:
        self._handle.close()
        self._lock.release()


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
