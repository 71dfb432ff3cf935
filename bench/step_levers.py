"""A/B timing of Workbench's real training step, lever by lever; prints one JSON object.

Each variant is the engine's own `run.build` (tokenised data, model, optimizer, schedule,
`make_batch` and `loss`) with one lever changed; every step is `fit._step` (forward,
backward, clipping, the finiteness check, optimizer and scheduler) plus `make_batch`. The
variants take turns on the SAME batches in ONE process (step i of A, step i of B, ...), so
load from other work on the machine hits them alike: compare the ratios, not the absolute
numbers. The first `--warmup` batches are not timed (oneDNN primitive creation).

Case (a) of issue 17: the bundled MiniLM, 4,000 rotten_tomatoes sentences, batch 32.

    .venv/bin/python bench/step_levers.py --variants fp32,bf16 --steps 60
    .venv/bin/python bench/step_levers.py --variants fp32 --profile 8

Measured 2026-12-01 on the 2-core AMX Xeon, shared and loaded (load 4-16), ratios of the
first variant to each (CPU time, wall): --threads 1: bf16 (attention in fp32) 1.67x / 1.73x
fp32; bf16 with the bf16 flash attention 0.97x / 1.31x; --threads 2: bf16 1.22x / 1.27x.
bf16 pad 1 vs 16: 1.10x / 1.04x (8 steps); pad 32: 0.86x / 0.80x. AdamW foreach vs fused:
0.85x / 0.94x (fused kept).
2026-12-01 23:05, load 11-13, --threads 1, a whole epoch (124 steps after 1 warm-up, every
new shape's kernel creation included): bf16 pad 8 vs 16 1.07x CPU / 1.05x wall, pad 1 vs 16
1.14x / 1.12x (padding computed: 23 % at 16, 13 % at 8, 3 % at 1; 5, 9, 44 distinct
widths): kept, pad 1 is bf16's default on AMX CPUs (training/precision.py).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from bench.public_data import rotten_tomatoes_available, rotten_tomatoes_splits  # noqa: E402
from workbench.config import RunConfig  # noqa: E402
from workbench.engine.models import layers  # noqa: E402
from workbench.engine.training import guards  # noqa: E402
from workbench.engine.training.fit import _step  # noqa: E402
from workbench.engine.training.optim import linear_schedule, make_optimizer  # noqa: E402
from workbench.engine.training.precision import Precision  # noqa: E402
from workbench.engine.training.run import Built, build, prepare  # noqa: E402
from workbench.engine.training.runtime import Runtime  # noqa: E402
from workbench.engine.training.state import TrainState  # noqa: E402

CPU = torch.device("cpu")


def _with_optimizer(built: Built, config: RunConfig, **kwargs) -> None:
    """Replace the built optimizer (and its schedule) by AdamW with other kernel options."""
    model = built.plan.model
    old = make_optimizer(model, config.learning_rate, config.weight_decay)
    groups = [{"params": g["params"], "weight_decay": g["weight_decay"]} for g in old.param_groups]
    optimizer = torch.optim.AdamW(groups, lr=config.learning_rate, eps=1e-8, **kwargs)
    total = built.plan.total_steps
    scheduler = linear_schedule(optimizer, round(config.warmup_ratio * total), total)
    built.state = TrainState(optimizer, scheduler, None)


@dataclass(frozen=True)
class Variant:
    precision: str = "fp32"
    pad: int | None = None
    """Pad multiple instead of the precision's own (None: the precision's)."""
    tweak: Callable[[Built, RunConfig], None] | None = None
    attention_fp32: bool = True
    """layers.CPU_TRAIN_ATTENTION_IN_FP32 during this variant's steps."""


VARIANTS: dict[str, Variant] = {
    "fp32": Variant(),
    "fp32-pad16": Variant(pad=16),
    "bf16": Variant("bf16"),
    "bf16-flash-bf16": Variant("bf16", attention_fp32=False),
    "bf16-pad1": Variant("bf16", pad=1),
    "bf16-pad8": Variant("bf16", pad=8),
    "bf16-pad16": Variant("bf16", pad=16),
    "bf16-pad32": Variant("bf16", pad=32),
    "bf16-pad64": Variant("bf16", pad=64),
    "adamw-fused": Variant(tweak=lambda b, c: _with_optimizer(b, c, fused=True)),
    "adamw-foreach": Variant(tweak=lambda b, c: _with_optimizer(b, c, foreach=True)),
    "adamw-loop": Variant(tweak=lambda b, c: _with_optimizer(b, c, foreach=False)),
}


def make_precision(name: str, pad: int | None) -> Precision:
    precision = Precision(name, CPU, "bench")
    if pad is None:
        return precision

    @dataclass(frozen=True)
    class Padded(Precision):
        pad: int = 1

        @property
        def pad_multiple(self) -> int:
            return self.pad

    return Padded(name, CPU, "bench", pad)


def build_variant(name: str, config: RunConfig) -> tuple[Built, guards.MicroBatches]:
    variant = VARIANTS[name]
    prepared = prepare(config)
    runtime = Runtime(make_precision(variant.precision, variant.pad))
    built = build(prepared, runtime, lambda: False)
    if variant.tweak is not None:
        variant.tweak(built, prepared.config)
    built.variant = variant  # type: ignore[attr-defined]
    return built, guards.MicroBatches(built.plan.loss_units)


def one_step(built: Built, micro: guards.MicroBatches, indices: list[int]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of one step."""
    layers.CPU_TRAIN_ATTENTION_IN_FP32 = built.variant.attention_fp32  # type: ignore[attr-defined]
    start, cpu_start = time.perf_counter(), time.process_time()
    plan = built.plan
    _step(plan, built.state, plan.model, plan.make_batch(indices), micro)
    built.state.step += 1
    return time.perf_counter() - start, time.process_time() - cpu_start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default="fp32,bf16")
    parser.add_argument("--steps", type=int, default=40, help="timed steps per variant")
    parser.add_argument("--warmup", type=int, default=8)
    parser.add_argument("--train-size", type=int, default=4000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: as is)")
    parser.add_argument("--profile", type=int, default=0, help="profile N steps of each variant")
    args = parser.parse_args()
    if not rotten_tomatoes_available():
        sys.exit("rotten_tomatoes is missing from ../shared/data")
    if args.threads:
        torch.set_num_threads(args.threads)
    names = args.variants.split(",")
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        sys.exit(f"unknown variants {unknown}; choose from {list(VARIANTS)}")

    folder = Path(tempfile.mkdtemp(prefix="step_levers_"))
    paths = rotten_tomatoes_splits(folder, train_size=args.train_size)
    config = RunConfig(
        data=str(paths["train"]),
        eval_data=str(paths["dev"]),
        batch_size=args.batch_size,
        output=str(folder / "unused"),
    )
    variants = {n: build_variant(n, config) for n in names}
    batches = next(iter(variants.values()))[0].plan.batches(0)
    needed = args.warmup + max(args.steps, args.profile)
    batches = (batches * (needed // len(batches) + 1))[:needed]

    for position in range(args.warmup):
        for name, (built, micro) in variants.items():
            wall, cpu = one_step(built, micro, batches[position])
            print(
                f"warm-up {position} {name}: {1000 * wall:.0f} ms ({1000 * cpu:.0f} CPU)",
                file=sys.stderr,
            )

    result: dict = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "batch_size": args.batch_size,
        "train_size": args.train_size,
    }
    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        tables = {}
        for name, (built, micro) in variants.items():
            with profile(activities=[ProfilerActivity.CPU], record_shapes=False) as prof:
                for indices in batches[args.warmup : args.warmup + args.profile]:
                    one_step(built, micro, indices)
            tables[name] = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=30)
        for name, table in tables.items():
            print(f"== {name}", file=sys.stderr)
            print(table, file=sys.stderr)
        return

    times: dict[str, list[float]] = {n: [] for n in names}
    cpu_times: dict[str, list[float]] = {n: [] for n in names}
    base = names[0]
    tokens = 0
    for indices in batches[args.warmup :]:
        tokens += sum(variants[names[0]][0].train_features.lengths[i] for i in indices)
        for name, (built, micro) in variants.items():
            wall, cpu = one_step(built, micro, indices)
            times[name].append(wall)
            cpu_times[name].append(cpu)
        if len(times[base]) % 5 == 0:
            done = {n: round(1000 * statistics.median(t), 1) for n, t in cpu_times.items()}
            print(f"{len(times[base])} steps, median CPU ms {done}", file=sys.stderr)
    result["steps"] = args.steps
    result["real_tokens_per_step"] = round(tokens / args.steps, 1)
    # Wall time is what a user waits for, but on a shared machine it mostly measures the
    # share of the CPU this process got; its CPU time (with --threads 1, no OpenMP spinning)
    # is what the step costs. Both as ratios to the first variant.
    result["variants"] = {
        name: {
            "median_step_ms": round(1000 * statistics.median(t), 2),
            "median_step_cpu_ms": round(1000 * statistics.median(cpu_times[name]), 2),
            "examples_per_second": round(args.batch_size * len(t) / sum(t), 1),
            f"speedup_vs_{base}": round(sum(times[base]) / sum(t), 3),
            f"cpu_speedup_vs_{base}": round(sum(cpu_times[base]) / sum(cpu_times[name]), 3),
        }
        for name, t in times.items()
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
