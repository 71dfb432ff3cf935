"""The first-run experience: default model and settings on the bundled sample data.

Measures what a new user waits for (wall time, including model load and evaluation) and
the accuracy they see. Prints one JSON object.

    python bench/first_run.py
"""

from __future__ import annotations

import json
import platform
import tempfile
import time
from pathlib import Path

import torch

from workbench.config import RunConfig
from workbench.engine import train
from workbench.resources import sample_data_path


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        result = train(RunConfig(data=str(sample_data_path()), output=str(Path(tmp) / "run")))
        wall = time.perf_counter() - start
    m = result.metrics
    print(
        json.dumps(
            {
                "benchmark": "bundled sample (resources/sample/reviews.csv), all defaults",
                "status": result.status,
                "wall_seconds": round(wall, 1),
                "train_seconds": round(m["train_seconds"], 1),
                "train_examples_per_second": round(m["train_examples_per_second"], 1),
                "accuracy": m["accuracy"],
                "f1_macro": m["f1_macro"],
                "eval_examples": m["num_examples"],
                "peak_memory_mb": m.get("peak_memory_mb"),
                "machine": {
                    "cpu": platform.processor() or platform.machine(),
                    "threads": torch.get_num_threads(),
                    "cpu_capability": torch.backends.cpu.get_cpu_capability(),
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
