"""Checkpoints for exact resume, written so that a kill at any moment leaves a usable run.

```
<run>/checkpoints/
  step-120/
    model.safetensors   the weights as trained (every key, tied ones too)
    state.safetensors   every tensor of the TrainState: optimizer moments, RNG states, running loss
    best.safetensors    the best weights so far (only when early stopping keeps the best)
    state.json          everything else: counters, scheduler, optimizer groups, the sampler's
                        position and a digest of the epoch's batch order, the logs' lengths
    COMPLETE            written last; a folder without it is ignored (and removed on resume)
  index.json            the checkpoints there are, their metric and their size on disk
```

Nothing is pickled: tensors go to safetensors (streamed by `_write_safetensors`, so a full
disk surfaces as an `OSError` with its errno), everything else to JSON. A checkpoint is
written into a hidden folder beside its final name, every file and the folder fsynced,
renamed into place, and only then marked COMPLETE; resume takes the newest complete one.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import struct
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench import runs
from workbench.errors import UserError

if TYPE_CHECKING:  # torch is imported where tensors are handled: `resume_status` stays light
    import torch

FORMAT = 1
FOLDER = "checkpoints"
MARKER = "COMPLETE"
INDEX = "index.json"
# The default when `checkpoint_every_steps` is 0: every 10 minutes of training time, and at the
# end of each epoch but the last. A checkpoint of the bundled MiniLM with its AdamW moments is
# 260 MB; saving one (fsynced, pruning the oldest) took 1.8-2.0 s here, on a 2-core VM under a
# load average of 15 (2026-12-01; the safetensors files alone 0.7 s): about 0.3 % of ten
# minutes, while a crash loses at most ten minutes of work. Epoch ends add one each because
# they are natural places to stop.
DEFAULT_EVERY_SECONDS = 600.0
# A completed run cannot be resumed and its model/ folder holds the result (the best weights
# too, when early stopping keeps them), so its checkpoints (hundreds of MB each) are removed.
REMOVE_ON_COMPLETION = True

_DTYPE_NAMES = {
    "float64": "F64",
    "float32": "F32",
    "float16": "F16",
    "bfloat16": "BF16",
    "int64": "I64",
    "int32": "I32",
    "int16": "I16",
    "int8": "I8",
    "uint8": "U8",
    "bool": "BOOL",
}


# ---------------------------------------------------------------------------------------
# Plain values and tensors <-> JSON + a flat dict of tensors


def encode(value: Any, tensors: dict[str, torch.Tensor], path: str = "s") -> Any:
    """A JSON-able copy of `value` with every tensor moved into `tensors` (by a path name).
    Tuples and dicts with non-string keys (an optimizer's state) keep their types."""
    import torch

    if isinstance(value, torch.Tensor):
        tensors[path] = value.detach().to("cpu").contiguous()
        return {"__tensor__": path}
    if isinstance(value, dict):
        if all(isinstance(k, str) and not k.startswith("__") for k in value):
            return {k: encode(v, tensors, f"{path}.{k}") for k, v in value.items()}
        return {
            "__items__": [
                [encode(k, tensors, f"{path}.k{i}"), encode(v, tensors, f"{path}.{i}")]
                for i, (k, v) in enumerate(value.items())
            ]
        }
    if isinstance(value, tuple):
        return {"__tuple__": [encode(v, tensors, f"{path}.{i}") for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [encode(v, tensors, f"{path}.{i}") for i, v in enumerate(value)]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "item") and callable(value.item):  # a NumPy scalar
        return value.item()
    raise TypeError(f"cannot checkpoint a {type(value).__name__} (at {path})")


def decode(value: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(value, list):
        return [decode(v, tensors) for v in value]
    if isinstance(value, dict):
        if "__tensor__" in value:
            return tensors[value["__tensor__"]]
        if "__tuple__" in value:
            return tuple(decode(v, tensors) for v in value["__tuple__"])
        if "__items__" in value:
            return {decode(k, tensors): decode(v, tensors) for k, v in value["__items__"]}
        return {k: decode(v, tensors) for k, v in value.items()}
    return value


# ---------------------------------------------------------------------------------------
# Low-level writes (every byte goes through `_write_chunk`, so tests can fill the disk)


def _write_chunk(handle, data) -> None:
    handle.write(data)


def _fsync_dir(folder: Path) -> None:
    if os.name == "nt":  # Windows cannot open a folder to fsync it; NTFS orders its metadata
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_bytes(path: Path, data: bytes) -> None:
    with open(path, "wb") as handle:
        _write_chunk(handle, data)
        handle.flush()
        os.fsync(handle.fileno())


def tensors_nbytes(tensors: dict[str, torch.Tensor]) -> int:
    return sum(t.numel() * t.element_size() for t in tensors.values())


def _write_safetensors(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    """The safetensors format, streamed tensor by tensor (no second copy of the weights in
    memory): an 8-byte header length, the JSON header padded to 8 bytes, then the data."""
    import torch

    names = sorted(tensors)
    header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name in names:
        t = tensors[name]
        dtype = _DTYPE_NAMES.get(str(t.dtype).removeprefix("torch."))
        if dtype is None:
            raise TypeError(f"cannot write a {t.dtype} tensor ({name}) to safetensors")
        size = t.numel() * t.element_size()
        header[name] = {
            "dtype": dtype,
            "shape": list(t.shape),
            "data_offsets": [offset, offset + size],
        }
        offset += size
    raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as handle:
        _write_chunk(handle, struct.pack("<Q", len(raw)))
        _write_chunk(handle, raw)
        for name in names:
            t = tensors[name].detach().to("cpu").contiguous()
            if t.numel():
                _write_chunk(handle, t.reshape(-1).view(torch.uint8).numpy().data)
        handle.flush()
        os.fsync(handle.fileno())


def read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt", device="cpu") as handle:
        return {key: handle.get_tensor(key) for key in handle.keys()}


# ---------------------------------------------------------------------------------------
# What is on disk


@dataclass(frozen=True)
class CheckpointInfo:
    """One complete checkpoint, as its COMPLETE marker describes it."""

    path: Path
    step: int
    epoch: int
    batch_in_epoch: int
    metric: float | None
    bytes: int


def checkpoints_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / FOLDER


def complete_checkpoints(run_dir: str | Path) -> list[CheckpointInfo]:
    """Every complete checkpoint of a run, oldest first (folders without a readable marker
    are not checkpoints)."""
    folder = checkpoints_dir(run_dir)
    if not folder.is_dir():
        return []
    found = []
    for child in folder.iterdir():
        if not child.name.startswith("step-") or not child.is_dir():
            continue
        try:
            info = json.loads((child / MARKER).read_text(encoding="utf-8"))
            found.append(
                CheckpointInfo(
                    child,
                    int(info["step"]),
                    int(info["epoch"]),
                    int(info["batch_in_epoch"]),
                    info.get("metric"),
                    int(info["bytes"]),
                )
            )
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return sorted(found, key=lambda c: c.step)


def remove_incomplete(run_dir: str | Path) -> list[str]:
    """Delete what a killed writer left (hidden staging folders, folders without a marker);
    returns their names. Only while no process is writing checkpoints for this run."""
    folder = checkpoints_dir(run_dir)
    if not folder.is_dir():
        return []
    complete = {c.path.name for c in complete_checkpoints(run_dir)}
    removed = []
    for child in folder.iterdir():
        if child.name in complete or child.name == INDEX:
            continue
        if child.name.startswith(".") or child.name.startswith("step-"):
            if child.is_dir():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)
            removed.append(child.name)
    return removed


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


# ---------------------------------------------------------------------------------------
# Writing


class SaveError(UserError):
    """A checkpoint that could not be written (full, read-only, too big a file): the message
    for the CLI, and what a caller that can wait for space needs (the GUI's "Save again")."""

    def __init__(self, message: str, errno_: int, folder: Path, needed: int) -> None:
        super().__init__(message)
        self.errno, self.folder, self.needed = errno_, folder, needed


def _disk_full(needed: int, folder: Path, previous: int | None, run_dir: Path) -> UserError:
    free = shutil.disk_usage(folder).free
    kept = (
        f"the checkpoint of step {previous} is intact, so free some space and continue with "
        f"`workbench train --resume {run_dir}`"
        if previous is not None
        else "no checkpoint was saved yet, so free some space and train again"
    )
    return SaveError(
        f"the disk is full: a checkpoint needs {_mb(needed)} and {_mb(free)} are free in "
        f"{folder}; {kept}",
        errno.ENOSPC,
        folder,
        needed,
    )


def _file_too_big(
    files: dict[str, dict[str, torch.Tensor]], folder: Path, previous: int | None, run_dir: Path
) -> UserError:
    biggest = max(tensors_nbytes(t) for t in files.values())
    kept = (
        f"the checkpoint of step {previous} is intact; continue with "
        f"`workbench train --resume {run_dir}`"
        if previous is not None
        else "no checkpoint was saved yet; train again"
    )
    return SaveError(
        f"a checkpoint file of {_mb(biggest)} is larger than this process may write in {folder} "
        f"(the file size limit, `ulimit -f`, or the file system's); raise the limit or choose "
        f"another --output: {kept}",
        errno.EFBIG,
        folder,
        sum(tensors_nbytes(t) for t in files.values()),
    )


def _mb(count: int) -> str:
    return f"{count / 2**20:,.1f} MB"


def write_checkpoint(
    run_dir: Path,
    step: int,
    files: dict[str, dict[str, torch.Tensor]],
    state_json: dict[str, Any],
    marker: dict[str, Any],
    previous: int | None = None,
) -> CheckpointInfo:
    """Write `checkpoints/step-<step>/` atomically: staging folder, fsync, rename, marker.
    On a full disk nothing but the staging folder is touched (and it is removed)."""
    folder = checkpoints_dir(run_dir)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"step-{step}"
    payload = json.dumps(state_json, ensure_ascii=False).encode("utf-8")
    needed = sum(tensors_nbytes(t) + 4096 for t in files.values()) + len(payload) + 4096
    if shutil.disk_usage(folder).free < needed:
        raise _disk_full(needed, folder, previous, run_dir)
    staging = Path(tempfile.mkdtemp(dir=folder, prefix=f".step-{step}.", suffix=".tmp"))
    runs.match_umask(staging, 0o777)  # mkdtemp makes it 0700: other tools could not read it
    try:
        for name, tensors in files.items():
            _write_safetensors(staging / name, tensors)
        _write_bytes(staging / "state.json", payload)
        _fsync_dir(staging)
        if target.exists():  # a leftover of a killed writer (never a complete checkpoint)
            shutil.rmtree(target)
        os.rename(staging, target)
        _fsync_dir(folder)
        size = _folder_bytes(target)
        marker = dict(marker, step=step, bytes=size, written=time.time())
        _write_bytes(target / MARKER, json.dumps(marker).encode("utf-8"))
        _fsync_dir(target)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        if not (target / MARKER).exists():
            shutil.rmtree(target, ignore_errors=True)
        if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
            raise _disk_full(needed, folder, previous, run_dir) from None
        if exc.errno == errno.EFBIG:  # RLIMIT_FSIZE (`ulimit -f`), or the file system's limit
            raise _file_too_big(files, folder, previous, run_dir) from None
        raise SaveError(
            f"cannot write a checkpoint in {folder}: {exc.strerror or exc}; check that the run "
            "folder is writable",
            exc.errno or 0,
            folder,
            needed,
        ) from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return CheckpointInfo(
        target,
        step,
        int(marker["epoch"]),
        int(marker["batch_in_epoch"]),
        marker.get("metric"),
        size,
    )


def _remove(path: Path) -> None:
    """Out of the way first (a hidden name is garbage to `remove_incomplete`), then deleted."""
    doomed = path.with_name(f".{path.name}.removing-{os.getpid()}")
    os.rename(path, doomed)
    shutil.rmtree(doomed, ignore_errors=True)


def prune(run_dir: Path, keep: int, greater_is_better: bool) -> list[CheckpointInfo]:
    """Keep the newest `keep` complete checkpoints and the one with the best metric; returns
    the ones kept."""
    found = complete_checkpoints(run_dir)
    kept = {c.step for c in found[-keep:]}
    rated = [c for c in found if isinstance(c.metric, (int, float))]
    if rated:
        best = (max if greater_is_better else min)(rated, key=lambda c: (c.metric, c.step))
        kept.add(best.step)
    for c in found:
        if c.step not in kept:
            _remove(c.path)
    return [c for c in found if c.step in kept]


def write_index(run_dir: Path, primary_metric: str, greater_is_better: bool, **extra: Any) -> None:
    """`checkpoints/index.json`: what there is and how much disk it takes (for the Runs page)."""
    found = complete_checkpoints(run_dir)
    rated = [c for c in found if isinstance(c.metric, (int, float))]
    best = (max if greater_is_better else min)(rated, key=lambda c: c.metric) if rated else None
    index = {
        "primary_metric": primary_metric,
        "greater_is_better": greater_is_better,
        "checkpoints": [
            {
                "name": c.path.name,
                "step": c.step,
                "epoch": c.epoch,
                "batch_in_epoch": c.batch_in_epoch,
                "metric": c.metric,
                "bytes": c.bytes,
            }
            for c in found
        ],
        "best_step": best.step if best else None,
        "last_step": found[-1].step if found else None,
        "total_bytes": sum(c.bytes for c in found),
        **extra,
    }
    runs.write_json_atomic(checkpoints_dir(run_dir) / INDEX, index)


def remove_all(run_dir: Path) -> int:
    """Delete a run's checkpoints (when it completed); returns the bytes freed."""
    folder = checkpoints_dir(run_dir)
    if not folder.is_dir():
        return 0
    freed = _folder_bytes(folder)
    doomed = folder.with_name(f".{FOLDER}.removing-{os.getpid()}")
    os.rename(folder, doomed)
    shutil.rmtree(doomed, ignore_errors=True)
    return freed


# ---------------------------------------------------------------------------------------
# The checkpointer fit() calls


def batches_digest(batches: list[list[int]]) -> str:
    """A digest of an epoch's batch order: resume refuses data that would give another."""
    return hashlib.sha256(json.dumps(batches, separators=(",", ":")).encode()).hexdigest()


def _log_sizes(run_dir: Path) -> dict[str, int]:
    """The lengths of metrics.jsonl and log.txt now (both are flushed after every line), made
    durable, so a resume can cut them back to exactly this point."""
    sizes = {}
    for key in ("metrics", "log"):
        path = run_dir / runs.LAYOUT[key]
        if path.exists():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
            sizes[runs.LAYOUT[key]] = path.stat().st_size
    return sizes


@dataclass
class Checkpointer:
    """Decides when to checkpoint and writes each one; `fit` calls it after steps, at epoch
    ends and on a stop. It reads the state and consumes no RNG, so training is unchanged."""

    run_dir: Path
    every_steps: int
    """0: every DEFAULT_EVERY_SECONDS of training time."""
    keep: int
    primary_metric: str
    greater_is_better: bool
    batches: Callable[[int], list[list[int]]]
    steps_per_epoch: int
    total_steps: int
    keep_best_weights: bool
    extra: dict[str, Any] = field(default_factory=dict)
    """Plain values saved with every checkpoint (meta, the metrics before training …)."""
    every_seconds: float = DEFAULT_EVERY_SECONDS
    last_step: int | None = None
    last_seconds: float = 0.0
    on_saved: Callable[[CheckpointInfo], None] | None = None

    def __call__(self, model: torch.nn.Module, state, reason: str) -> None:
        """reason: "step" (after a step inside an epoch), "epoch" (after an epoch's end and
        its evaluation) or "stop"."""
        if self.due(state, reason):
            self.save(model, state)

    def due(self, state, reason: str) -> bool:
        """Every `every_steps` steps (or `every_seconds` of training), at every epoch end and
        stop; never twice for one step, nor before the first."""
        if state.step == 0 or state.step == self.last_step:
            return False
        if reason != "step":
            return True
        if self.every_steps:
            return state.step % self.every_steps == 0
        return state.train_seconds - self.last_seconds >= self.every_seconds

    def save(self, model: torch.nn.Module, state) -> CheckpointInfo:
        tensors: dict[str, torch.Tensor] = {}
        encoded = encode(state.state_dict(), tensors)
        metric = None
        if state.last_eval_step == state.step and state.last_metrics:
            value = state.last_metrics.get(self.primary_metric)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                metric = float(value)
        epochs = -(-self.total_steps // self.steps_per_epoch)  # a --max-steps run ends mid-epoch
        batches = self.batches(state.epoch) if state.epoch < epochs else []
        position = {
            "epoch": state.epoch,
            "batch_in_epoch": state.batch_in_epoch,
        }
        state_json = {
            "format": FORMAT,
            "step": state.step,
            **position,
            "total_steps": self.total_steps,
            "steps_per_epoch": self.steps_per_epoch,
            "sampler": {"num_batches": len(batches), "digest": batches_digest(batches)},
            "logs": _log_sizes(self.run_dir),
            "metric": metric,
            "extra": self.extra,
            "state": encoded,
        }
        files = {
            "model.safetensors": dict(model.state_dict()),
            "state.safetensors": tensors,
        }
        if self.keep_best_weights and state.best_weights is not None:
            files["best.safetensors"] = state.best_weights
        info = write_checkpoint(
            self.run_dir,
            state.step,
            files,
            state_json,
            dict(position, metric=metric, primary_metric=self.primary_metric),
            previous=self.last_step,
        )
        self.last_step, self.last_seconds = state.step, state.train_seconds
        prune(self.run_dir, self.keep, self.greater_is_better)
        write_index(self.run_dir, self.primary_metric, self.greater_is_better)
        if self.on_saved:
            self.on_saved(info)
        return info


# ---------------------------------------------------------------------------------------
# Resuming


@dataclass
class ResumePoint:
    """The newest complete checkpoint of a run, read back."""

    run_dir: Path
    info: CheckpointInfo
    state_json: dict[str, Any]

    @property
    def step(self) -> int:
        return self.info.step

    @property
    def extra(self) -> dict[str, Any]:
        return self.state_json.get("extra", {})

    def truncate_logs(self) -> None:
        """Cut metrics.jsonl and log.txt back to their length at the checkpoint: what came
        after is replayed by the resumed run, so every step and evaluation is there once."""
        for name, size in self.state_json.get("logs", {}).items():
            path = self.run_dir / name
            if path.exists() and path.stat().st_size > size:
                os.truncate(path, size)

    def check_batches(self, batches: Callable[[int], list[list[int]]]) -> None:
        """UserError unless the data gives the epoch the same batches as when the checkpoint
        was written (the rest of the epoch must be the same batches)."""
        expected = self.state_json["sampler"]
        epoch = int(self.state_json["epoch"])
        now = batches(epoch) if expected["num_batches"] else []
        if batches_digest(now) != expected["digest"]:
            raise UserError(
                f"the training data of {self.run_dir} changed since step {self.step} was saved "
                "(its batches differ); resume needs the same data file, or train again"
            )

    def restore(self, model: torch.nn.Module, state) -> None:
        """Load the weights and the TrainState, the RNG states last."""
        folder = self.info.path
        try:
            weights = read_safetensors(folder / "model.safetensors")
            tensors = read_safetensors(folder / "state.safetensors")
            best = (
                read_safetensors(folder / "best.safetensors")
                if (folder / "best.safetensors").exists()
                else None
            )
        except Exception as exc:  # a checkpoint damaged after it was completed
            raise UserError(
                f"cannot read checkpoint {folder}: {exc}; delete that folder to resume from "
                "an earlier one"
            ) from None
        model.load_state_dict(weights)
        state.load_state_dict(decode(self.state_json["state"], tensors))
        state.best_weights = best


def _results_status(run_dir: Path) -> str | None:
    try:
        results = json.loads((run_dir / runs.LAYOUT["eval_results"]).read_text(encoding="utf-8"))
        return results.get("status") if isinstance(results, dict) else None
    except (OSError, ValueError):
        return None


def resume_status(run_dir: str | Path) -> dict[str, Any]:
    """Whether a run folder can be resumed, and from where, without raising: {"resumable",
    "step", "epoch", "total_steps", "reason"} (reason: a sentence for the user)."""
    run_dir = Path(run_dir).expanduser()
    out: dict[str, Any] = {"resumable": False, "step": None, "epoch": None, "total_steps": None}
    if not (run_dir / runs.LAYOUT["config"]).is_file():
        out["reason"] = f"{run_dir} is not a Workbench run folder (it has no config.toml)"
        return out
    if _results_status(run_dir) == "completed":
        out["reason"] = f"run {run_dir} has already completed; there is nothing to resume"
        return out
    found = complete_checkpoints(run_dir)
    if not found:
        out["reason"] = (
            f"run {run_dir} has no complete checkpoint (it ended before its first one); "
            "train it again"
        )
        return out
    last = found[-1]
    try:
        state_json = json.loads((last.path / "state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        state_json = {}
    out.update(
        resumable=True,
        step=last.step,
        epoch=last.epoch,
        total_steps=state_json.get("total_steps"),
        reason=f"resumes from the checkpoint of step {last.step}",
    )
    return out


def resume_point(run_dir: str | Path) -> ResumePoint:
    """The newest complete checkpoint, or a UserError saying why the run cannot resume."""
    run_dir = Path(run_dir).expanduser()
    if not run_dir.is_dir():
        raise UserError(f"run folder {run_dir} does not exist; check the path")
    status = resume_status(run_dir)
    if not status["resumable"]:
        raise UserError(status["reason"])
    info = complete_checkpoints(run_dir)[-1]
    try:
        state_json = json.loads((info.path / "state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserError(
            f"cannot read {info.path / 'state.json'}: {exc}; delete that folder to resume "
            "from an earlier checkpoint"
        ) from None
    if state_json.get("format") != FORMAT:
        raise UserError(
            f"checkpoint {info.path} has format {state_json.get('format')!r}, which this "
            f"Workbench does not read (it reads {FORMAT})"
        )
    return ResumePoint(run_dir, info, state_json)
