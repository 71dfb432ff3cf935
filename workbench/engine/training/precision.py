"""Device and precision choice: `auto` never picks a slow bf16.

On CPUs without native bf16 (AVX2 only) a bf16 matmul runs ~60x slower than fp32, and even
with native bf16 (AVX-512, AMX) autocast's casts and many distinct shapes made whole training
steps slower; so on the CPU `auto` is fp32, decided the same way whatever else the machine
runs. `cpu_bf16_speedup` remains as a probe for benchmarks.
"""

from __future__ import annotations

import contextlib
import functools
import time
from dataclasses import dataclass

import torch

from workbench.errors import UserError

_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class Precision:
    name: str  # fp32 | bf16 | fp16
    device: torch.device
    reason: str = ""

    @property
    def pad_multiple(self) -> int:
        # Reduced precision kernels like few, aligned shapes.
        return 1 if self.name == "fp32" else 16

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
    # runs and bf16 in a third), and a matmul probe does not predict a training step. Measured
    # end to end, bf16 autocast trained slower than fp32 on every CPU kind we met: 0.65x on an
    # AMX Xeon (whose bf16 matmuls are faster), ~0.05x on AVX-512 with length-grouped shapes,
    # ~0.02x on AVX2. So `auto` is fp32 on every CPU; --precision bf16 is there to try.
    return Precision(
        "fp32", device, "bf16 autocast trains slower than fp32 on CPUs; fp32 is faster here"
    )


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
