"""The runs on disk, as a list the GUI's Runs page (and scripts) can show.

Every fact comes from the run folders themselves, so the list is right after a restart, after
another process added or deleted a run, or after a crash: there is no index to corrupt.
Only small files are read (config.toml, eval_results.json, run.json and the first and last
lines of metrics.jsonl); weights are never opened. A folder that is not a run (no readable
config.toml, a hidden staging folder, a file) is skipped, never an error.

Status: "running" while a process holds the run's lock (`workbench.runs.RunLock`), else
what the last RunFinished event says (completed / stopped / failed), else "killed" (the
process died without a word: no lock, no final event).
"""

from __future__ import annotations

import json
import os
import shutil
import time
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from workbench import runs
from workbench.errors import UserError

STATUSES = ("completed", "stopped", "failed", "running", "killed")
# Files bigger than this are not parsed for the listing (a run with thousands of labels can
# write a large eval_results.json; its metric is then taken from the last evaluation event).
SMALL_FILE = 4 * 2**20
TAIL_BYTES = 64 * 2**10  # the end of metrics.jsonl holds the last evaluation and the finish
# A run folder younger than this without any event yet is starting, not killed (between
# writing config.toml and opening metrics.jsonl, the process holds no lock yet).
STARTING_SECONDS = 30.0


@dataclass
class RunInfo:
    """One run folder, summarised for a table (plain values only)."""

    path: str
    folder: str
    name: str
    started: float  # seconds since the epoch
    task: str
    task_title: str
    model: str
    data: str
    status: str
    primary_metric: str = ""
    metric: float | None = None
    duration: float | None = None  # seconds from the first event to the last
    size: int = 0  # bytes on disk
    note: str = ""
    has_model: bool = False  # model/ is there: it can be opened in Evaluate/Playground/Export
    resumable: bool = False  # a stopped, failed or killed run with a complete checkpoint
    resume_reason: str = ""  # why (not): a sentence from the checkpoint code
    resume_step: int | None = None  # the step it would continue from
    error: str = ""
    steps: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def list_runs(root: str | Path | None = None) -> list[RunInfo]:
    """Every run folder directly under `root` (default: the runs folder), newest first."""
    root = Path(root) if root is not None else runs.default_runs_dir()
    try:
        entries = list(os.scandir(root))
    except OSError:
        return []  # no runs folder yet (or unreadable): no runs
    found = []
    for entry in entries:
        if entry.name.startswith("."):
            continue  # staging and deleting folders
        try:
            if not entry.is_dir(follow_symlinks=False):
                continue
            info = read_run(Path(entry.path))
        except (OSError, ValueError, TypeError, KeyError, UnicodeError):
            continue  # a folder half-written, foreign or vanishing while read
        if info is not None:
            found.append(info)
    found.sort(key=lambda info: info.started, reverse=True)
    return found


def read_run(run_dir: str | Path) -> RunInfo | None:
    """A run folder's summary, or None when it is not a readable run folder."""
    run_dir = Path(run_dir)
    config = _read_toml(run_dir / runs.LAYOUT["config"])
    if config is None:
        return None
    first, last, last_eval, finish = _events(run_dir / runs.LAYOUT["metrics"])
    results = _read_json(run_dir / runs.LAYOUT["eval_results"])
    results = results if isinstance(results, dict) else {}
    info_file = _read_json(run_dir / runs.LAYOUT["info"])
    info_file = info_file if isinstance(info_file, dict) else {}
    config_mtime = (run_dir / runs.LAYOUT["config"]).stat().st_mtime

    status = _status(run_dir, first, finish, results, config_mtime)
    task = _text(config.get("task")) or _text((first or {}).get("task"))
    registered_primary, task_title = _task_facts(task)
    primary = _text((first or {}).get("primary_metric")) or registered_primary
    metric = _number(results.get(primary)) if status != "running" else None
    if metric is None and last_eval is not None:
        metric = _number((last_eval.get("metrics") or {}).get(primary))
    started = _number((first or {}).get("time")) or config_mtime
    ended = _number((last or {}).get("time"))
    duration = ended - started if ended is not None and first is not None else None
    if duration is None:
        duration = _number(results.get("train_seconds"))
    info = RunInfo(
        path=str(run_dir),
        folder=run_dir.name,
        name=_text(info_file.get("name")) or run_dir.name,
        started=started,
        task=task,
        task_title=task_title or task,
        model=_text(config.get("model")),
        data=_text(config.get("data")),
        status=status,
        primary_metric=primary,
        metric=metric,
        duration=duration,
        size=folder_size(run_dir),
        note=_text(info_file.get("note")),
        has_model=(run_dir / runs.LAYOUT["model"] / "config.json").is_file(),
        error=_text((finish or {}).get("error")),
        steps=_int(results.get("train_steps")),
    )
    if status in ("stopped", "failed", "killed"):
        info.resumable, info.resume_reason, info.resume_step = _resumable(run_dir)
    return info


def _status(
    run_dir: Path,
    first: dict[str, Any] | None,
    finish: dict[str, Any] | None,
    results: dict[str, Any],
    config_mtime: float,
) -> str:
    if runs.run_is_live(run_dir):
        return "running"
    if finish is not None and finish.get("status") in STATUSES:
        return str(finish["status"])
    if first is None:  # no events: a run made by hand or by another tool, or starting
        if results.get("status") in STATUSES:
            return str(results["status"])
        if time.time() - config_mtime < STARTING_SECONDS:
            return "running"
    return "killed"


def _resumable(run_dir: Path) -> tuple[bool, str, int | None]:
    """Whether the checkpoint code can resume it (it reads only small JSON files)."""
    from workbench.engine.training.checkpointing import resume_status

    try:
        answer = resume_status(run_dir)
    except Exception:  # a damaged checkpoint folder must not hide the run
        return False, "", None
    return bool(answer.get("resumable")), str(answer.get("reason") or ""), _int(answer.get("step"))


def _task_facts(task: str) -> tuple[str, str]:
    """(primary metric, title) of a registered task; ("", "") for an unknown one."""
    if not task:
        return "", ""
    try:
        from workbench.engine.tasks import get_task

        found = get_task(task)
    except Exception:  # an unknown task (a newer Workbench wrote the run)
        return "", ""
    return found.primary_metric, found.title


def _events(
    path: Path,
) -> tuple[dict[str, Any] | None, dict[str, Any] | None, dict | None, dict | None]:
    """(first, last, last evaluation, finish) events of metrics.jsonl, from its head and tail."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            head = handle.readline(TAIL_BYTES)
            handle.seek(max(0, size - TAIL_BYTES))
            tail = handle.read(TAIL_BYTES)
    except OSError:
        return None, None, None, None
    first = _json_line(head)
    records = []
    lines = tail.split(b"\n")
    if size > TAIL_BYTES:
        lines = lines[1:]  # the first line of the tail is cut
    for line in lines:
        record = _json_line(line)
        if record is not None:
            records.append(record)
    if first is None and size <= TAIL_BYTES and records:
        first = records[0]
    last = records[-1] if records else first
    evals = [r for r in records if r.get("kind") == "eval"]
    finish = last if last is not None and last.get("kind") == "finished" else None
    return first, last, evals[-1] if evals else None, finish


def _json_line(line: bytes) -> dict[str, Any] | None:
    line = line.strip()
    if not line:
        return None
    try:
        value = json.loads(line.decode("utf-8"))
    except (ValueError, UnicodeError):
        return None  # a line cut short by a crash
    return value if isinstance(value, dict) else None


def _read_toml(path: Path) -> dict[str, Any] | None:
    try:
        if path.stat().st_size > SMALL_FILE:
            return None
        value = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeError):
        return None
    return value if isinstance(value, dict) else None


def _read_json(path: Path) -> Any:
    try:
        if path.stat().st_size > SMALL_FILE:
            return None
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeError):
        return None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if value == value else None  # NaN is no value


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def folder_size(folder: Path) -> int:
    """Bytes of the files under `folder` (links are not followed)."""
    total = 0
    stack = [folder]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
                elif entry.is_file(follow_symlinks=False):
                    total += entry.stat(follow_symlinks=False).st_size
            except OSError:
                continue  # removed while we looked
    return total


# ---- changing a run ---------------------------------------------------------------------------


def _checked_run(run_dir: str | Path, root: str | Path | None) -> Path:
    """`run_dir` as a run folder directly inside the runs root (nothing elsewhere is touched)."""
    root = Path(root) if root is not None else runs.default_runs_dir()
    run_dir = Path(run_dir)
    if run_dir.is_symlink() or not run_dir.is_dir():
        raise UserError(
            f"{run_dir} is not a run folder (it was moved or deleted); refresh the list"
        )
    if run_dir.resolve().parent != root.resolve():
        raise UserError(f"{run_dir} is not inside the runs folder {root}; it is left alone")
    if not (run_dir / runs.LAYOUT["config"]).is_file():
        raise UserError(f"{run_dir} is not a Workbench run folder (it has no config.toml)")
    return run_dir


def _update_info(run_dir: Path, **values: str) -> dict[str, Any]:
    path = run_dir / runs.LAYOUT["info"]
    current = _read_json(path)
    current = current if isinstance(current, dict) else {}
    current.update(values)
    runs.write_json_atomic(path, current)  # run.json only: the folder is never moved
    return current


def rename_run(run_dir: str | Path, name: str, root: str | Path | None = None) -> str:
    """Give a run a display name (kept in its run.json; the folder keeps its name, so a
    process using it is not disturbed). An empty name goes back to the folder's name."""
    folder = _checked_run(run_dir, root)
    name = " ".join(str(name).split())[:200]  # one line, bounded
    _update_info(folder, name=name)
    return name or folder.name


def set_run_note(run_dir: str | Path, note: str, root: str | Path | None = None) -> str:
    """Keep a free-text note beside the run (in its run.json)."""
    folder = _checked_run(run_dir, root)
    note = str(note).strip()[:20_000]
    _update_info(folder, note=note)
    return note


def delete_run(run_dir: str | Path, root: str | Path | None = None) -> None:
    """Remove a run folder from the runs root; refuses one that a process is writing.

    The folder is first renamed to a hidden name in the same root (so no listing shows a run
    half removed), then removed; links inside are removed, never followed."""
    folder = _checked_run(run_dir, root)
    if runs.run_is_live(folder):
        raise UserError(f"run {folder.name} is still running; stop it before deleting it")
    hidden = folder.with_name(f".deleting-{folder.name}-{os.getpid()}-{time.monotonic_ns()}")
    try:
        os.replace(folder, hidden)
    except OSError as exc:
        raise UserError(f"cannot delete {folder}: {exc.strerror or exc}") from None
    shutil.rmtree(hidden, ignore_errors=True)
    if hidden.exists():
        raise UserError(f"could not remove all of {hidden}; delete it by hand")


def load_run_results(run_dir: str | Path) -> dict[str, Any]:
    """What opening a run needs: its summary and its final metrics (eval_results.json with
    the per-example outputs of eval_examples.json), for the Evaluate page."""
    run_dir = Path(run_dir)
    info = read_run(run_dir)
    if info is None:
        raise UserError(f"{run_dir} is not a Workbench run folder (it has no config.toml)")
    if not info.has_model:
        raise UserError(
            f"run {info.name} has no trained model ({info.status}); resume it or train again"
        )
    try:
        metrics = json.loads((run_dir / runs.LAYOUT["eval_results"]).read_text("utf-8"))
    except (OSError, ValueError):
        metrics = {}
    metrics = metrics if isinstance(metrics, dict) else {}
    try:
        examples = json.loads((run_dir / runs.LAYOUT["eval_examples"]).read_text("utf-8"))
        if examples is not None:
            metrics["examples"] = examples
    except (OSError, ValueError):
        pass
    return {"info": info.to_dict(), "metrics": metrics}
