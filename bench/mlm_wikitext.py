"""Masked LM on WikiText-2: masked-token perplexity before and after one epoch. Prints JSON.

../shared/data/wikitext2 has only valid.txt and test.txt (train.txt is too big for the data
snapshot), so the measurement trains on valid.txt and evaluates on test.txt, with the
task's deterministic evaluation masks (the same tokens are masked before and after).
Evaluations during training are switched off (only the one before the first step and the
final one run), which changes nothing in the training itself.

    python bench/mlm_wikitext.py                       # the measurement, task defaults
    python bench/mlm_wikitext.py --tune 1.25e-4 3e-4 1e-3 --lines 600
        # choosing the learning rate: train on 90 % of the first 600 paragraphs of
        # valid.txt, evaluate on the held-out 10 % (test.txt is not looked at)

Measured 2026-12-01 on a shared 2-core AVX-512 CPU, all task defaults (MiniLM-L6, lr 3e-4,
batch 32, max length 128, one epoch = 66 steps over 2,085 blocks): masked-token perplexity
on test.txt (2,399 blocks, 44,479 masked tokens) 48,980 before training (MiniLM ships no
masked-LM head, so it starts fresh) and 100.2 after; 1,233 s training, 2,164 s in all.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from public_data import SHARED_DATA  # noqa: E402

from workbench.config import RunConfig  # noqa: E402
from workbench.engine import train  # noqa: E402

WIKITEXT = SHARED_DATA / "wikitext2"
NO_MIDRUN_EVALUATION = 10**9


def _paragraphs(name: str, limit: int | None) -> list[str]:
    lines = (WIKITEXT / name).read_text(encoding="utf-8").splitlines()
    kept = [line.strip() for line in lines if line.strip()]
    return kept[:limit] if limit else kept


def _run(train_file: Path, eval_file: Path | None, out: Path, args, lr: float | None) -> dict:
    config = RunConfig(
        task="masked-lm",
        data=str(train_file),
        eval_data=str(eval_file) if eval_file else None,
        output=str(out),
        learning_rate=lr,
        epochs=args.epochs,
        batch_size=args.batch_size,
        max_length=args.max_length,
        whole_word_masking=args.whole_word_masking,
        eval_every_steps=NO_MIDRUN_EVALUATION,
        seed=args.seed,
    )
    start = time.perf_counter()
    result = train(config)
    wall = time.perf_counter() - start
    if result.status != "completed":
        raise SystemExit(f"run failed: {result.error}")
    m = result.metrics
    used = RunConfig.from_toml(Path(result.run_dir) / "config.toml")
    return {
        "learning_rate": used.learning_rate,
        "batch_size": used.batch_size,
        "max_length": used.max_length,
        "perplexity_before": round(m["perplexity_before"], 2),
        "perplexity_after": round(m["perplexity"], 2),
        "loss_before": round(m["loss_before"], 4),
        "loss_after": round(m["loss"], 4),
        "eval_documents": m["num_examples"],
        "eval_blocks": m["num_blocks"],
        "masked_tokens": m["masked_tokens"],
        "train_steps": m["train_steps"],
        "train_blocks": m["train_examples"],
        "train_seconds": round(m["train_seconds"], 1),
        "wall_seconds": round(wall, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--tune", type=float, nargs="+", help="learning rates to compare on a split of valid.txt"
    )
    parser.add_argument("--lines", type=int, default=None, help="use only the first N paragraphs")
    parser.add_argument(
        "--lr", type=float, default=None, help="learning rate (default: the task's)"
    )
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--max-length", type=int, default=None)
    parser.add_argument("--whole-word-masking", action="store_true")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    if not (WIKITEXT / "valid.txt").exists():
        raise SystemExit(f"{WIKITEXT} is missing")
    started = datetime.datetime.now().isoformat(timespec="seconds")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if args.tune:
            train_file = folder / "valid_part.txt"
            train_file.write_text(
                "\n".join(_paragraphs("valid.txt", args.lines)) + "\n", encoding="utf-8"
            )
            runs = [
                _run(train_file, None, folder / f"run-{i}", args, lr)
                for i, lr in enumerate(args.tune)
            ]
            report = {
                "benchmark": "masked-lm learning rate on a 10 % validation split of wikitext2/valid.txt",
                "runs": runs,
                "best_learning_rate": min(runs, key=lambda r: r["perplexity_after"])[
                    "learning_rate"
                ],
            }
        else:
            train_file, eval_file = folder / "valid.txt", folder / "test.txt"
            train_file.write_text(
                "\n".join(_paragraphs("valid.txt", args.lines)) + "\n", encoding="utf-8"
            )
            eval_file.write_text(
                "\n".join(_paragraphs("test.txt", args.lines)) + "\n", encoding="utf-8"
            )
            report = {
                "benchmark": "masked-lm: train on wikitext2/valid.txt, evaluate on test.txt",
                **_run(train_file, eval_file, folder / "run", args, args.lr),
            }
    report.update(
        date=started,
        command=" ".join(["python", "bench/mlm_wikitext.py", *sys.argv[1:]]),
        settings={k: v for k, v in vars(args).items() if v is not None and k != "tune"},
        machine={
            "cpu": platform.processor() or platform.machine(),
            "threads": torch.get_num_threads(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        },
    )
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
