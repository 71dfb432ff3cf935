"""The Runtime seam: where and how the steps run (device, precision, which process).

The training procedure asks the runtime, never torch.distributed or the device directly,
so one process, one GPU and DDP (under `torchrun`) differ only here. This is the
single-process runtime; a distributed one adds real all-reduce, barrier and sharding.
"""

from __future__ import annotations

from dataclasses import dataclass

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

    def shard(self, batches: list[list[int]]) -> list[list[int]]:
        """This process's share of an epoch's batches."""
        return batches[self.rank :: self.world_size]

    def all_reduce_mean(self, value: torch.Tensor) -> torch.Tensor:
        return value

    def any_rank(self, flag: bool) -> bool:
        """True when any process says so (a stop request every rank must see)."""
        return flag

    def barrier(self) -> None:
        pass

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """The model as the steps call it (a DDP wrapper in a distributed runtime)."""
        return model
