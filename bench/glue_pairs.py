"""MRPC (pair classification) and STS-B (regression on pairs) with the bundled model.

How the `pair-classification` and `regression` defaults were chosen, and checked: the same
`workbench.engine.train` a user runs, never a loop of its own.

- `--split holdout` (choosing): train on 88 % of the TRAIN file, score on the other 12 %
  (a fixed shuffle, seed 1234). Defaults are chosen here only.
- `--split dev` (reporting): train on the whole train file, score on GLUE's dev file once,
  with the chosen settings.

Each run prints one JSON object (and appends it to `--log`): the settings, MRPC accuracy,
F1 of the paraphrase class (GLUE's MRPC F1) and macro-F1, or STS-B Pearson, Spearman and
MSE, the seconds it took, the date and the machine.

    python bench/glue_pairs.py --dataset mrpc --split holdout --runs e4:lr1e-4,e4:lr2e-4
    python bench/glue_pairs.py --dataset stsb --split dev           # the task's defaults

A run spec is `e<epochs>:lr<rate>[:d<dropout>][:b<batch>][:nobias]`; `nobias` (STS-B)
leaves the regression head's bias at 0 instead of the training mean. Evaluation runs only
at each epoch's end (it changes nothing in training, only costs time). On 2 shared CPU cores
an epoch of STS-B or MRPC takes several minutes; on a GPU, seconds.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from public_data import SHARED_DATA  # noqa: E402

DATASETS = {
    # name: (task, folder, dev file, metrics to print)
    "mrpc": ("pair-classification", "mrpc", "dev.tsv", ("f1", "accuracy", "f1_macro", "loss")),
    "stsb": ("regression", "stsb", "dev.tsv", ("pearson", "spearman", "mse")),
}
HOLDOUT_FRACTION = 0.12
HOLDOUT_SEED = 1234


def holdout_files(dataset: str, folder: Path) -> tuple[Path, Path]:
    """88 % / 12 % of the train file as JSON Lines (no quoting trouble), a fixed shuffle."""
    from workbench.engine.data import load_table

    frame = load_table(SHARED_DATA / DATASETS[dataset][1] / "train.tsv")
    order = np.random.default_rng(HOLDOUT_SEED).permutation(len(frame))
    held = int(round(len(frame) * HOLDOUT_FRACTION))
    train, evaluation = folder / "train.jsonl", folder / "holdout.jsonl"
    frame.iloc[np.sort(order[held:])].to_json(
        train, orient="records", lines=True, force_ascii=False
    )
    frame.iloc[np.sort(order[:held])].to_json(
        evaluation, orient="records", lines=True, force_ascii=False
    )
    return train, evaluation


def parse_spec(spec: str) -> dict[str, Any]:
    """ "e4:lr1e-4:d0.1" -> {"epochs": 4, "learning_rate": 1e-4, "dropout": 0.1}; "" -> defaults."""
    out: dict[str, Any] = {}
    for part in filter(None, spec.split(":")):
        if part == "nobias":
            out["bias_init"] = False
        elif part.startswith("lr"):
            out["learning_rate"] = float(part[2:])
        elif part.startswith("e"):
            out["epochs"] = int(part[1:])
        elif part.startswith("d"):
            out["dropout"] = float(part[1:])
        elif part.startswith("b"):
            out["batch_size"] = int(part[1:])
        else:
            raise SystemExit(f"cannot read run spec part {part!r} of {spec!r}")
    return out


def limited(path: Path, limit: int | None, folder: Path, name: str) -> Path:
    """The first `limit` rows of a data file (all when None): quick smoke runs only."""
    if limit is None:
        return path
    from workbench.engine.data import load_table

    target = folder / f"{name}-first{limit}.jsonl"
    load_table(path).head(limit).to_json(target, orient="records", lines=True, force_ascii=False)
    return target


def run_one(
    dataset: str, split: str, spec: str, folder: Path, seed: int, limit: int | None = None
) -> dict[str, Any]:
    from workbench.config import RunConfig
    from workbench.engine import train
    from workbench.engine.tasks import get_task

    task, source, dev_file, shown = DATASETS[dataset]
    if split == "holdout":
        train_file, eval_file = holdout_files(dataset, folder)
    else:
        train_file, eval_file = SHARED_DATA / source / "train.tsv", SHARED_DATA / source / dev_file
    train_file = limited(train_file, limit, folder, "train")
    eval_file = limited(eval_file, limit, folder, "eval")
    settings = parse_spec(spec)
    bias_init = settings.pop("bias_init", True)
    task_object = get_task(task)
    if not bias_init:  # the ablation: the head's bias starts at 0, as built
        task_object.init_head = lambda model, meta: None  # type: ignore[method-assign]
    config = RunConfig(
        task=task,
        data=str(train_file),
        eval_data=str(eval_file),
        output=str(folder / f"run-{time.time_ns()}"),
        seed=seed,
        eval_every_steps=10**9,  # only at the end of each epoch
        **settings,
    )
    epochs_seen: list[dict[str, Any]] = []

    def on_event(event) -> None:
        if type(event).__name__ == "EvalFinished":
            epochs_seen.append({k: round(event.metrics[k], 4) for k in shown if k in event.metrics})

    start = time.time()
    result = train(config, on_event=on_event)
    seconds = time.time() - start
    if result.status != "completed":
        raise SystemExit(f"run failed: {result.error}")
    resolved = config.with_task_defaults()
    metrics = result.metrics
    return {
        "dataset": dataset,
        "split": split,
        "task": task,
        "spec": spec or "defaults",
        "epochs": resolved.epochs,
        "learning_rate": resolved.learning_rate,
        "batch_size": resolved.batch_size,
        "dropout": resolved.dropout,
        "bias_init": bias_init if task == "regression" else None,
        "seed": seed,
        "limit": limit,
        **{k: metrics[k] for k in shown if k in metrics},
        "per_epoch": epochs_seen,
        "num_train": metrics.get("train_examples", 0) // max(resolved.epochs, 1),
        "num_eval": metrics.get("num_examples"),
        "seconds": round(seconds, 1),
        "train_examples_per_second": round(metrics.get("train_examples_per_second", 0.0), 2),
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": f"{platform.machine()} {platform.processor()}".strip(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", choices=DATASETS, required=True)
    parser.add_argument("--split", choices=("holdout", "dev"), default="holdout")
    parser.add_argument(
        "--runs", default="", help="comma-separated run specs (default: the task's defaults)"
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--limit", type=int, help="only the first N rows of each file (smoke test)")
    parser.add_argument("--log", help="also append each JSON line to this file")
    args = parser.parse_args()
    for spec in args.runs.split(",") if args.runs else [""]:
        with tempfile.TemporaryDirectory() as folder:
            record = run_one(args.dataset, args.split, spec, Path(folder), args.seed, args.limit)
        line = json.dumps(record)
        print(line, flush=True)
        if args.log:
            with open(args.log, "a", encoding="utf-8") as handle:
                handle.write(line + "\n")


if __name__ == "__main__":
    main()
