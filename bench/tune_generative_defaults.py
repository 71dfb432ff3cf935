"""Small learning-rate sweeps for the generative tasks' defaults (causal-lm, seq2seq), run
through the product's own `train` (prepare, build, fit) and scored on validation data only.

causal-lm: full fine-tuning of a decoder (default: the offline default, SmolLM2-135M from its
GGUF) on Tiny Shakespeare speeches from the first 90 % of the file, validated on speeches from
the last 10 % (the split of bench/tinyshakespeare_gpt2.py); the test of a rate is the
validation loss after a fixed number of steps. seq2seq: a pretrained BART or T5 folder
(`--model`, required: none ships offline) on DialogSum's train.jsonl, validated on its
validation.jsonl (ROUGE-L and loss). One JSON object per run, then a summary by rate.

    python bench/tune_generative_defaults.py --task causal-lm --rates 5e-5,2e-4,5e-4 --steps 8
    python bench/tune_generative_defaults.py --task seq2seq --model path/to/bart-base

Small on purpose (the machine is shared): a few rates, one seed, a short run; what it shows
is the scale of rate that learns fastest without diverging, not a fine optimum.

Measured 2026-12-02 00:00-00:13 UTC, shared 2-core AMX CPU (load average 9-16), bf16, one
thread, causal-lm on SmolLM2-135M (dequantised from its 4-bit GGUF), 400 training speeches,
8 steps of 8 blocks of 64 tokens, 40 validation speeches (34 blocks, 2,088 predicted
tokens), validation loss 4.950 before: 5e-5 -> 4.437, 1e-4 -> 4.267, 2e-4 -> 4.250,
1e-3 -> 4.873 (`--rates 5e-5,2e-4,1e-3`, then `--rates 1e-4`; 3-7 minutes a run). The task's
default became 1e-4 (see causal_lm.py for why not 2e-4). seq2seq: not run (no pretrained
BART/T5 offline).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from public_data import SHARED_DATA  # noqa: E402

from workbench.config import RunConfig  # noqa: E402
from workbench.engine import train  # noqa: E402

SHAKESPEARE = SHARED_DATA / "tinyshakespeare" / "input.txt"
DIALOGSUM = SHARED_DATA / "summarization_dialogsum"


def causal_lm_files(work: Path, train_speeches: int, valid_speeches: int) -> tuple[Path, Path]:
    text = SHAKESPEARE.read_text(encoding="utf-8")
    cut = text.find("\n\n", int(len(text) * 0.9))
    train_part = [s for s in text[:cut].split("\n\n") if s.strip()]
    valid_part = [s for s in text[cut:].split("\n\n") if s.strip()]
    train_file, valid_file = work / "train.txt", work / "valid.txt"
    train_file.write_text("\n\n".join(train_part[:train_speeches]) + "\n", encoding="utf-8")
    valid_file.write_text("\n\n".join(valid_part[:valid_speeches]) + "\n", encoding="utf-8")
    return train_file, valid_file


def seq2seq_files(work: Path, train_rows: int, valid_rows: int) -> tuple[Path, Path]:
    out = []
    for name, count in (("train", train_rows), ("validation", valid_rows)):
        lines = (DIALOGSUM / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()[:count]
        path = work / f"{name}.jsonl"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        out.append(path)
    return out[0], out[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=("causal-lm", "seq2seq"), default="causal-lm")
    parser.add_argument("--model", default=None, help="default: smollm2 for causal-lm")
    parser.add_argument("--rates", default="5e-5,2e-4,5e-4")
    parser.add_argument("--steps", type=int, default=8, help="optimizer steps per run")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--train", type=int, default=400, help="speeches or dialogues")
    parser.add_argument("--valid", type=int, default=40)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    if args.task == "seq2seq" and not args.model:
        raise SystemExit("seq2seq needs --model: a pretrained BART or T5 folder")
    work = Path(tempfile.mkdtemp(prefix="tune-generative-"))
    files = causal_lm_files if args.task == "causal-lm" else seq2seq_files
    train_file, valid_file = files(work, args.train, args.valid)
    summary = []
    for rate in [float(r) for r in args.rates.split(",")]:
        started, load = time.time(), os.getloadavg()[0]
        result = train(
            RunConfig(
                task=args.task,
                data=str(train_file),
                eval_data=str(valid_file),
                model=args.model or "smollm2",
                output=str(work / f"run-{rate:g}"),
                learning_rate=rate,
                max_steps=args.steps,
                batch_size=args.batch_size,
                max_length=args.max_length,
                eval_every_steps=10**9,
                device="cpu",
            )  # fmt: skip
        )
        metrics = result.metrics
        row = {
            "task": args.task,
            "model": args.model or "smollm2",
            "learning_rate": rate,
            "status": result.status,
            "error": result.error,
            "steps": metrics.get("train_steps"),
            "loss_before": metrics.get("loss_before"),
            "loss": metrics.get("loss"),
            **({"rougeL": metrics.get("rougeL")} if args.task == "seq2seq" else {}),
            "seconds": round(time.time() - started, 1),
            "load_average": round(load, 1),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        }
        print(json.dumps(row), flush=True)
        summary.append(row)
    best = min((r for r in summary if r["loss"] is not None), key=lambda r: r["loss"])
    print(json.dumps({"best_learning_rate": best["learning_rate"], "by_rate": {
        f"{r['learning_rate']:g}": r["loss"] for r in summary}}))  # fmt: skip


if __name__ == "__main__":
    main()
