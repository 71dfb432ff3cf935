"""Device and precision choice: `auto` never picks a slow bf16, and never flips with load.

On a CPU `auto` decides from what the CPU is, not from a timing (a small probe flipped
with machine load): bf16 where the CPU has AMX bf16 matrix units, fp32 everywhere else.
On AMX a bf16 MiniLM training step ran 1.67x faster than fp32 (CPU time; 1.73x wall;
1 thread, 10 interleaved steps of bench/step_levers.py, 2026-12-01; 1.22x CPU / 1.27x wall
with 2 threads on the loaded machine) once attention's flash kernel ran in fp32: its bf16
backward is ~5x slower than fp32, and with it bf16 was 0.97x (see models/layers.py). Without AMX bf16 measured slower
(~0.02x on AVX2; on AVX-512 BF16 fast only at fixed shapes). `cpu_bf16_speedup` remains
as a probe for benchmarks.
"""

from __future__ import annotations

import contextlib
import functools
import time
from dataclasses import dataclass

import torch

from workbench.errors import UserError

_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
AMX_PAD_MULTIPLE = 1
"""Pad multiple of reduced-precision CPU batches on AMX (bench/step_levers.py varies it)."""


@dataclass(frozen=True)
class Precision:
    name: str  # fp32 | bf16 | fp16
    device: torch.device
    reason: str = ""

    @property
    def pad_multiple(self) -> int:
        """What a batch's length is rounded up to (bounds the number of distinct shapes)."""
        if self.name == "fp32":
            return 1
        if self.device.type == "cpu" and cpu_has_amx_bf16():
            # oneDNN's AMX kernels are quick to make for a new shape: padding only wastes
            # work. Rotten Tomatoes at batch 32 computed 23 % padding at 16, 3 % at 1; a whole
            # epoch of bf16 steps ran 1.12x faster at 1 than at 16 (wall; 1.14x CPU time),
            # 44 distinct shapes included (bench/step_levers.py, 2026-12-01).
            return AMX_PAD_MULTIPLE
        # Elsewhere reduced precision kernels like few, aligned shapes (on AVX-512 bf16
        # short length-grouped batches ran far slower than one fixed shape).
        return 16

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.name == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=_DTYPES[self.name])

    def grad_scaler(self) -> torch.amp.GradScaler | None:
        if self.name == "fp16" and self.device.type == "cuda":
            return torch.amp.GradScaler("cuda")
        return None


def pick_device(requested: str) -> torch.device:
    if requested == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if requested == "cuda" and not torch.cuda.is_available():
        raise UserError("device cuda was asked for but no CUDA GPU is available; use --device auto")
    if requested == "mps" and not torch.backends.mps.is_available():
        raise UserError(
            "device mps was asked for but Apple MPS is not available; use --device auto"
        )
    return torch.device(requested)


def pick_precision(requested: str, device: torch.device) -> Precision:
    if requested == "fp32":
        return Precision("fp32", device, "asked for")
    if requested in ("bf16", "fp16"):
        if device.type == "cpu" and requested == "fp16":
            raise UserError("fp16 is not supported on the CPU; use --precision bf16 or fp32")
        if device.type == "mps" and requested == "bf16":
            raise UserError("bf16 is not reliable on Apple MPS; use --precision fp32")
        return Precision(requested, device, "asked for")
    # auto
    if device.type == "cuda":
        if torch.cuda.is_bf16_supported():
            return Precision("bf16", device, "GPU supports bf16")
        return Precision("fp32", device, "GPU lacks bf16")
    if device.type == "mps":
        return Precision("fp32", device, "MPS is most reliable in fp32")
    # Not a timing: a probe flipped with machine load (the same config chose fp32 in two
    # runs and bf16 in a third), and a matmul probe does not predict a training step.
    if cpu_has_amx_bf16():
        return Precision("bf16", device, AMX_REASON)
    return Precision("fp32", device, NO_AMX_REASON)


AMX_REASON = (
    "this CPU has AMX bf16 matrix units, where a bf16 training step ran 1.2-1.7x faster than "
    "fp32 (MiniLM, bench/step_levers.py)"
)
NO_AMX_REASON = (
    "this CPU has no AMX bf16 units, where bf16 autocast trains slower than fp32; fp32 is faster"
)


@functools.lru_cache(maxsize=1)
def cpu_has_amx_bf16() -> bool:
    """Whether the CPU has AMX bf16 tiles that PyTorch can use (Linux: /proc/cpuinfo flags,
    and the kernel lets the process use the tiles). Elsewhere False: fp32 is the safe side."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            flags = next((line for line in handle if line.startswith("flags")), "").split()
    except OSError:
        return False
    if "amx_bf16" not in flags or "amx_tile" not in flags:
        return False
    init_amx = getattr(torch._C._cpu, "_init_amx", None)  # asks the kernel for the tiles
    return bool(init_amx()) if init_amx is not None else True


@functools.lru_cache(maxsize=1)
def cpu_bf16_speedup() -> float:
    """fp32 time / bf16 time for a transformer-sized matmul on this CPU (> 1: bf16 faster)."""
    a = torch.randn(128, 384)
    b = torch.randn(384, 1024)

    def best_time(x: torch.Tensor, y: torch.Tensor) -> float:
        x @ y  # warm-up
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            x @ y
            best = min(best, time.perf_counter() - start)
        return best

    fp32 = best_time(a, b)
    bf16 = best_time(a.bfloat16(), b.bfloat16())
    return fp32 / max(bf16, 1e-9)
