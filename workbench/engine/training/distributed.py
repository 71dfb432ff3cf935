"""Several processes, one run: PyTorch DDP under `torchrun`.

`torchrun --nproc-per-node N -m workbench train --config run.toml` starts N copies of the
CLI with WORLD_SIZE, RANK and LOCAL_RANK in their environment; `make_runtime` sees them and
joins the process group (NCCL between CUDA GPUs, gloo on the CPU). Every process reads the
data, tokenises it and builds the same model from the same seed; DistributedDataParallel
averages the gradients. `batch_size` stays the GLOBAL batch: each process takes
batch_size / N examples of each of an epoch's batches, and each process's loss is weighted
by its share of the batch's loss units (examples or target tokens), so a step's gradient and
its logged loss are those of the whole batch, as in one process. Only rank 0 writes the run
folder, its logs, checkpoints and the model; positions (step, epoch, batch in the epoch) are
global, so a checkpoint resumes under any number of processes.

A process that fails exits (the CLI returns non-zero); `torchrun` then stops the others,
and a collective waiting on a dead peer fails (gloo at once, NCCL at `timeout`).
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from workbench.engine.training import guards
from workbench.engine.training.launch import STOP_FILE_ENV, batch_size_problem
from workbench.engine.training.precision import pick_device, pick_precision
from workbench.engine.training.runtime import Runtime
from workbench.errors import UserError

# A collective that waits longer than this fails rather than hanging (a peer died without
# its process exiting). Generous: rank 0 writes checkpoints while the others wait.
TIMEOUT = datetime.timedelta(minutes=int(os.environ.get("WORKBENCH_DDP_TIMEOUT_MINUTES", "30")))


def launched_world_size(environ: dict[str, str] | None = None) -> int:
    """The number of processes `torchrun` started (1 when not under torchrun)."""
    env = os.environ if environ is None else environ
    try:
        return max(1, int(env.get("WORLD_SIZE", "1")))
    except ValueError:
        return 1


def make_runtime(device_name: str, precision_name: str) -> Runtime:
    """The runtime this process runs in: distributed when launched by `torchrun` with more
    than one process, else the single-process one."""
    world = launched_world_size()
    if world == 1:
        device = pick_device(device_name)
        return Runtime(pick_precision(precision_name, device))
    import torch.distributed as dist

    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(device_name)
    if device.type == "mps":
        raise UserError(
            "training on several processes needs CUDA GPUs or the CPU, not Apple MPS; "
            "pass --device cpu or train in one process"
        )
    if device.type == "cuda":
        count = torch.cuda.device_count()
        if local_rank >= count:
            raise UserError(
                f"process {local_rank} on this machine has no GPU of its own ({count} CUDA "
                f"GPU(s)); start at most {count} processes per machine (--nproc-per-node)"
            )
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    # NCCL between GPUs where it is built (not on Windows or macOS); gloo otherwise.
    backend = "nccl" if device.type == "cuda" and dist.is_nccl_available() else "gloo"
    if not dist.is_initialized():
        if "MASTER_ADDR" not in os.environ:
            raise UserError(
                f"WORLD_SIZE is {world} but MASTER_ADDR is not set; start several processes "
                "with torchrun (torchrun --nproc-per-node N -m workbench train ...)"
            )
        kwargs: dict[str, Any] = {"backend": backend, "timeout": TIMEOUT}
        if backend == "nccl":
            kwargs["device_id"] = device  # binds NCCL to this GPU (no guessing at barriers)
        dist.init_process_group(**kwargs)
    return DistributedRuntime(
        pick_precision(precision_name, device),
        rank=dist.get_rank(),
        world_size=dist.get_world_size(),
        local_rank=local_rank,
        backend=backend,
    )


def even_parts(batch: list[int], parts: int) -> list[list[int]]:
    """`batch` cut into `parts` consecutive pieces whose sizes differ by at most one."""
    size, extra = divmod(len(batch), parts)
    out, start = [], 0
    for part in range(parts):
        end = start + size + (1 if part < extra else 0)
        out.append(batch[start:end])
        start = end
    return out


@dataclass(frozen=True)
class DistributedRuntime(Runtime):
    local_rank: int = 0
    backend: str = "gloo"

    def describe(self) -> str:
        if self.device.type != "cuda":
            return f"{self.world_size} processes on the CPU ({self.backend})"
        local = int(os.environ.get("LOCAL_WORLD_SIZE", str(self.world_size)))
        gpus = ", ".join(f"cuda:{i}" for i in range(local))
        if local < self.world_size:
            gpus += f" on each of {self.world_size // max(local, 1)} machines"
        name = torch.cuda.get_device_name(self.device)
        return f"{self.world_size} processes, one per GPU ({gpus}: {name}; {self.backend})"

    def check_batch_size(self, batch_size: int) -> None:
        problem = batch_size_problem(batch_size, self.world_size)
        if problem:
            raise UserError(problem)

    def shard(self, batches: list[list[int]]) -> list[list[int]]:
        return [even_parts(batch, self.world_size)[self.rank] for batch in batches]

    def all_reduce_sum(self, value: torch.Tensor) -> torch.Tensor:
        import torch.distributed as dist

        out = value.detach().clone()
        dist.all_reduce(out, op=dist.ReduceOp.SUM)
        return out

    def all_reduce_mean(self, value: torch.Tensor) -> torch.Tensor:
        return self.all_reduce_sum(value) / self.world_size

    def any_rank(self, flag: bool) -> bool:
        import torch.distributed as dist

        value = torch.tensor(1.0 if flag else 0.0, device=self.device)
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item())

    def broadcast(self, value: Any) -> Any:
        import torch.distributed as dist

        box = [value if self.is_main else None]
        dist.broadcast_object_list(box, src=0, device=self.device)
        return box[0]

    def main_only(self, work: Callable[[], Any]) -> Any:
        outcome: tuple[str, Any] | None = None
        error: Exception | None = None
        if self.is_main:
            try:
                outcome = ("ok", work())
            except UserError as exc:
                outcome, error = ("user", str(exc)), exc
            except Exception as exc:
                outcome, error = ("error", f"{type(exc).__name__}: {exc}"), exc
        outcome = self.broadcast(outcome)  # the others learn the result or the error
        if error is not None:
            raise error
        kind, value = outcome
        if kind == "user":
            raise UserError(value)
        if kind == "error":
            raise RuntimeError(f"the main process (rank 0) failed: {value}")
        return value

    def barrier(self) -> None:
        import torch.distributed as dist

        if self.backend == "nccl":
            dist.barrier(device_ids=[self.device.index])
        else:
            dist.barrier()

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        from torch.nn.parallel import DistributedDataParallel

        # Heads and adapters may leave parameters out of the loss (a pooler a token task
        # does not use): DDP must not wait for their gradients.
        return DistributedDataParallel(
            model,
            device_ids=[self.device.index] if self.device.type == "cuda" else None,
            find_unused_parameters=True,
        )

    def micro_batches(self, units: Callable, notify: Callable[[str], None] | None):
        return DistributedMicroBatches(units, notify=notify, rank=self.rank)

    def close(self) -> None:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


class DistributedMicroBatches(guards.MicroBatches):
    """The micro-batches of one process of a DDP run: gradients are all-reduced once per
    step (the parts but the last run under `no_sync`), so processes whose parts differ in
    number stay in step. Running out of memory ends the run: a backward that failed half way
    cannot be taken back from the other processes' all-reduce."""

    def __init__(self, *args: Any, rank: int = 0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rank = rank

    def backward(self, loss_fn, model, batch, optimizer, scale=lambda loss: loss):
        try:
            return self._accumulate_synced(loss_fn, model, batch, scale)
        except (RuntimeError, MemoryError) as exc:
            if not guards.is_out_of_memory(exc):
                raise
        raise UserError(
            f"out of memory in process {self.rank} of a run on several processes; lower "
            "--batch-size (the global batch) or --max-length, or train with --lora-rank 8"
        )

    def _accumulate_synced(self, loss_fn, model, batch, scale) -> torch.Tensor:
        from workbench.engine.tasks.loss_units import batch_rows

        rows = batch_rows(batch)
        size = min(self.size or rows, rows)
        if size >= rows:
            loss = loss_fn(model, batch)
            scale(loss).backward()
            return loss.detach()
        total_units = self.units(batch)
        parts = guards.split_batch(batch, size)
        total = None
        for number, part in enumerate(parts):
            units = self.units(part)
            share = torch.where(
                total_units > 0, units / total_units.clamp(min=1e-12), batch_rows(part) / rows
            )
            last = number == len(parts) - 1
            device = next(iter(part.values())).device
            with _maybe_no_sync(model, not last):
                loss = loss_fn(model, part) * share.to(device=device)
                scale(loss).backward()
            total = loss.detach() if total is None else total + loss.detach()
            del loss
        return total


def _maybe_no_sync(model: torch.nn.Module, skip: bool):
    import contextlib

    no_sync = getattr(model, "no_sync", None)
    return no_sync() if skip and no_sync is not None else contextlib.nullcontext()


def stop_file_requested() -> bool:
    """True once the file named by WORKBENCH_STOP_FILE exists (False when none is named)."""
    name = os.environ.get(STOP_FILE_ENV)
    return bool(name) and Path(name).exists()


class QuietReporter:
    """What a process other than rank 0 reports to: nothing (rank 0 writes the run's files
    and events; the others train the same steps)."""

    def emit(self, event: Any) -> None:
        pass

    def close(self) -> None:
        pass


def launched_rank() -> int:
    """This process's rank as `torchrun` set it (0 when not under torchrun), before the
    process group exists."""
    try:
        return int(os.environ.get("RANK", "0"))
    except ValueError:
        return 0


def stop_requests(should_stop: Callable[[], bool] | None) -> Callable[[], bool]:
    """The caller's stop request, or the stop file's (`fit` makes every rank see either)."""

    def stop() -> bool:
        return bool(should_stop is not None and should_stop()) or stop_file_requested()

    return stop
