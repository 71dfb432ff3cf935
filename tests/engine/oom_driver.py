"""Child process for tests/engine/test_guards.py: a training step that really runs out of
memory.

    python oom_driver.py FOLDER HEADROOM_MIB BATCH_SIZE

Trains a tiny random BERT on long reviews with its address space capped (RLIMIT_AS) at what
the process holds when its first step begins plus HEADROOM_MIB: every allocation beyond it
fails inside torch's CPU allocator, as on a machine without free memory. Prints one JSON line:
the run's status, error and notices. Test-only instrumentation: the cap is set from outside
the engine, which sees nothing but the failing allocations.
"""

from __future__ import annotations

import json
import random
import resource
import sys
from pathlib import Path

WORDS = "the a film good bad great awful movie plot actor scene story music dull warm".split()


def _vm_size() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmSize in /proc/self/status")


def write_long_reviews(path: Path, rows: int = 36, words: int = 300) -> Path:
    rng = random.Random(0)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("text,label\n")
        for i in range(rows):
            text = " ".join(rng.choice(WORDS) for _ in range(words))
            handle.write(f"{text},{'positive' if i % 2 else 'negative'}\n")
    return path


def main(folder: Path, headroom_mib: int, batch_size: int) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: model_folders
    from model_folders import tiny_bert

    from workbench.config import RunConfig
    from workbench.engine.training import guards
    from workbench.engine.training.run import train

    model = folder / "tiny-bert"
    if not model.exists():
        # 8 heads of size 2: the (B, 8, T, T) attention scores dominate the step's memory
        tiny_bert(model, max_position_embeddings=256, num_attention_heads=8)
    data = folder / "long.csv"
    if not data.exists():
        write_long_reviews(data)

    real = guards.MicroBatches.backward
    capped = []

    def backward(self, *args, **kwargs):
        if not capped:  # everything is loaded: cap what the steps may add
            limit = _vm_size() + headroom_mib * 2**20
            resource.setrlimit(resource.RLIMIT_AS, (limit, resource.RLIM_INFINITY))
            capped.append(limit)
        return real(self, *args, **kwargs)

    guards.MicroBatches.backward = backward
    notices: list[str] = []
    config = RunConfig(
        data=str(data),
        model=str(model),
        batch_size=batch_size,
        max_length=256,
        epochs=1,
        dropout=0.1,  # the CPU path that materialises the attention scores
        device="cpu",
        precision="fp32",
        log_every_steps=1,
        output=str(folder / f"run-{headroom_mib}-{batch_size}"),
    )
    result = train(
        config, on_event=lambda e: notices.append(e.message) if e.kind == "notice" else None
    )
    resource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    print(
        json.dumps(
            {
                "status": result.status,
                "error": result.error,
                "notices": notices,
                "train_steps": result.metrics.get("train_steps"),
                "train_examples": result.metrics.get("train_examples"),
                "run_dir": str(result.run_dir),
            }
        )
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))
