"""How LoRA's default learning rate was chosen: a few rates, two seeds, on validation data.

The default model (MiniLM), LoRA rank 8 on the default targets (attention query/value),
2,000 Rotten Tomatoes training sentences (`public_data.rotten_tomatoes_splits`), 1 epoch,
every other setting the product's default; accuracy on the 1,066 dev sentences (never the
test split). Each run is the product's own `engine.train`. Prints one JSON line per run,
then the mean dev accuracy per rate.

    python bench/lora_lr.py [--rates 1e-3,2e-3,5e-3,1e-2,2e-2] [--seeds 1,2] [--threads 1]

Measured 2026-12-01 on the shared 2-core CPU (1 thread, seed 1 only: the machine was too
loaded for the second seed), dev accuracy: 1e-3 0.645, 2e-3 0.750 (loss 0.524), 5e-3 0.763 (0.532),
1e-2 0.669 (0.632), 2e-2 0.497 (0.693, not learning). 5e-3 is the best and is LoRA's default
(`workbench.config.LORA_LEARNING_RATE`), as on the bundled sample's held-out split (0.450 at
1.25e-4, 0.800 at 1e-3, 0.925 at 5e-3).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="1e-3,2e-3,5e-3,1e-2,2e-2")
    parser.add_argument("--seeds", default="1,2")
    parser.add_argument("--train-size", type=int, default=2000)
    parser.add_argument("--rank", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    import torch
    from public_data import rotten_tomatoes_available, rotten_tomatoes_splits

    from workbench import engine
    from workbench.config import RunConfig

    if not rotten_tomatoes_available():
        raise SystemExit("../shared/data/rotten_tomatoes is missing")
    torch.set_num_threads(args.threads)
    rates = [float(r) for r in args.rates.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    results: dict[float, list[float]] = {rate: [] for rate in rates}
    with tempfile.TemporaryDirectory() as tmp:
        splits = rotten_tomatoes_splits(Path(tmp) / "data", train_size=args.train_size)
        for seed in seeds:
            for rate in rates:
                config = RunConfig(
                    data=str(splits["train"]),
                    eval_data=str(splits["dev"]),
                    output=str(Path(tmp) / f"run-{rate:g}-{seed}"),
                    lora_rank=args.rank,
                    learning_rate=rate,
                    epochs=1,
                    seed=seed,
                    device="cpu",
                )
                start = time.perf_counter()
                result = engine.train(config)
                accuracy = float(result.metrics["accuracy"])
                results[rate].append(accuracy)
                line = {
                    "rate": rate,
                    "seed": seed,
                    "dev_accuracy": round(accuracy, 4),
                    "dev_loss": round(float(result.metrics.get("loss", float("nan"))), 4),
                    "seconds": round(time.perf_counter() - start, 1),
                }
                print(json.dumps(line), flush=True)
    print("rate      mean dev accuracy  runs")
    for rate, values in results.items():
        print(f"{rate:<9g} {statistics.mean(values):.4f}             {values}")


if __name__ == "__main__":
    main()
