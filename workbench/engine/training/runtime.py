"""The Runtime seam: where and how the steps run (device, precision, which process).

The training procedure asks the runtime, never torch.distributed or the device directly,
so one process, one GPU and DDP (under `torchrun`) differ only here. This is the
single-process runtime; `training/distributed.py` adds real all-reduce, barrier and
sharding (`make_runtime` chooses between them from the environment `torchrun` sets).

Positions are global: `batch_size` is the global batch, every process takes its share of
each of an epoch's batches, so the steps, the schedule and a checkpoint's position are the
same whatever the number of processes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from workbench.engine.training.precision import Precision


@dataclass(frozen=True)
class Runtime:
    precision: Precision
    rank: int = 0
    world_size: int = 1

    @property
    def device(self) -> torch.device:
        return self.precision.device

    @property
    def is_main(self) -> bool:
        """Only the main process writes files and reports events."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def describe(self) -> str:
        """The devices in use, in words (for the log and the GUI)."""
        return str(self.device)

    def check_batch_size(self, batch_size: int) -> None:
        """UserError when the global batch cannot be shared evenly (one process: never)."""

    def shard(self, batches: list[list[int]]) -> list[list[int]]:
        """This process's part of each of an epoch's (global) batches, position by position;
        a part may be empty when a last batch has fewer examples than there are processes."""
        return batches

    def all_reduce_mean(self, value: torch.Tensor) -> torch.Tensor:
        return value

    def all_reduce_sum(self, value: torch.Tensor) -> torch.Tensor:
        return value

    def any_rank(self, flag: bool) -> bool:
        """True when any process says so (a stop request every rank must see)."""
        return flag

    def broadcast(self, value: Any) -> Any:
        """The main process's `value` (a picklable object), on every process."""
        return value

    def main_only(self, work: Callable[[], Any]) -> Any:
        """`work()` on the main process only (opening the run folder); its result, or its
        UserError, on every process."""
        return work()

    def barrier(self) -> None:
        pass

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """The model as the steps call it (a DDP wrapper in a distributed runtime)."""
        return model

    def micro_batches(self, units: Callable, notify: Callable[[str], None] | None):
        """The step's forward/backward guard (out of memory: micro-batches, guards.py)."""
        from workbench.engine.training import guards

        return guards.MicroBatches(units, notify=notify)

    def to_device(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """A collated batch on the device: pinned and copied without blocking to a GPU
        (the copy overlaps the previous step's work), as it is elsewhere."""
        device = self.device
        if device.type != "cuda":
            return {k: v.to(device) for k, v in batch.items()}
        return {k: v.pin_memory().to(device, non_blocking=True) for k, v in batch.items()}

    def close(self) -> None:
        """Leave the process group (distributed runtimes)."""
