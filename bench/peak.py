"""The machine's matmul ceilings: what MFU in bench/vs_trainer.py is measured against.

Large square matmuls (C = A @ B, 2 n^3 FLOPs each) per dtype (fp32 and bf16; fp16 too on
CUDA) and size, each repeated and timed best-of-N with the thread count training uses, so
the figure is the most this machine gave a dense GEMM while we looked, not an average over
other people's load. The ceiling of a dtype is its best size. A dtype the CPU has no fast
path for (bf16 on AVX2) is timed on fewer repeats under a time budget, so a 60x slower
matmul does not stall the probe. Prints one JSON object: GFLOP/s per dtype and size, the
ceiling per dtype, the CPU flags that decide bf16 speed (amx_bf16, avx512_bf16, avx512f,
avx2), torch's `get_cpu_capability()`, threads, date.

    python bench/peak.py [--sizes 1024 2048 4096] [--repeats 5] [--threads N] [--device cpu]

On a shared machine other processes lower the figures: a low ceiling raises MFU, so read
MFU next to the load average this prints.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

CPU_FLAGS = ("amx_bf16", "amx_tile", "avx512_bf16", "avx512f", "avx2", "fma")
DEFAULT_SIZES = (1024, 2048, 4096)
# Time budget per (dtype, size): at most this many seconds of repeats after the first.
BUDGET_SECONDS = 3.0


def cpu_flags() -> dict[str, bool]:
    """The /proc/cpuinfo flags that decide which precision is fast (all False off Linux)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return dict.fromkeys(CPU_FLAGS, False)
    flags: set[str] = set()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            break
    return {flag: flag in flags for flag in CPU_FLAGS}


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def matmul_gflops(n: int, dtype: Any, device: str, repeats: int) -> float:
    """Best-of-`repeats` GFLOP/s of an n x n x n matmul (2 n^3 FLOPs), within the budget."""
    import torch

    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    out = torch.empty(n, n, device=device, dtype=dtype)

    def sync() -> None:
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    torch.matmul(a, b, out=out)  # warm-up: the kernel choice and the pages
    sync()
    best, spent = float("inf"), 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        torch.matmul(a, b, out=out)
        sync()
        took = time.perf_counter() - start
        best, spent = min(best, took), spent + took
        if spent > BUDGET_SECONDS:
            break
    return 2 * n**3 / best / 1e9


def measure(
    sizes: tuple[int, ...] = DEFAULT_SIZES,
    repeats: int = 5,
    threads: int | None = None,
    device: str = "cpu",
) -> dict[str, Any]:
    """The probe as a dict (see the module docstring); `ceiling_gflops` is per dtype name."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    names = {"fp32": torch.float32, "bf16": torch.bfloat16}
    if device.startswith("cuda"):
        names["fp16"] = torch.float16
        torch.backends.cuda.matmul.allow_tf32 = False  # fp32 means fp32 (tf32 is its own mode)
    results: dict[str, dict[str, float]] = {}
    for name, dtype in names.items():
        results[name] = {str(n): round(matmul_gflops(n, dtype, device, repeats), 2) for n in sizes}
    report: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "device": device,
        "cpu": cpu_model(),
        "cpu_flags": cpu_flags(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "threads": torch.get_num_threads(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "torch": torch.__version__,
        "repeats": repeats,
        "gflops": results,
        "ceiling_gflops": {name: max(by_size.values()) for name, by_size in results.items()},
    }
    if device.startswith("cuda"):
        report["gpu"] = torch.cuda.get_device_name(device)
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: its own)"
    )
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    args = parser.parse_args(argv)
    report = measure(tuple(args.sizes), args.repeats, args.threads, args.device)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
