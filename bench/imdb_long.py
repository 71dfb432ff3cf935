"""Long reviews: IMDB with text classification at max_length 256, tail vs head+tail truncation.

Most IMDB reviews are longer than 256 tokens, so what a review loses matters: `tail` keeps
its start, `head+tail` keeps the first quarter of the budget and the rest from the end
(where reviewers sum up). The 5,000 reviews of shared/data/imdb/train.csv are shuffled once
(seed 1234) and cut into three disjoint parts: 2,000 to train on, 1,000 for validation
(choosing the truncation) and 2,000 for the test (reported once, never chosen on).

Each truncation trains once with the task's defaults (validation as its evaluation data)
and the trained model is then evaluated on the test reviews with `workbench.engine.evaluate`.
Prints one JSON object per truncation (and appends it to `--log`).

    python bench/imdb_long.py                       # tail and head+tail
    python bench/imdb_long.py --truncations head+tail --limit 64   # a smoke test

On 2 shared CPU cores one run takes the better part of an hour; on a GPU, a minute.
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

SIZES = {"train": 2000, "validation": 1000, "test": 2000}
SEED = 1234
MAX_LENGTH = 256


def split_files(folder: Path, limit: int | None) -> dict[str, Path]:
    import pandas as pd

    frame = pd.read_csv(SHARED_DATA / "imdb" / "train.csv")
    order = np.random.default_rng(SEED).permutation(len(frame))
    paths, start = {}, 0
    for name, size in SIZES.items():
        part = frame.iloc[order[start : start + size]]
        start += size
        if limit is not None:
            part = part.head(limit)
        paths[name] = folder / f"{name}.csv"
        part.to_csv(paths[name], index=False)
    return paths


def long_share(path: Path) -> float:
    """Share of the reviews longer than MAX_LENGTH tokens (with the special tokens)."""
    import pandas as pd

    from workbench.engine.models.registry import default_model_path
    from workbench.engine.tokenizer import TextTokenizer

    tokenizer = TextTokenizer.from_folder(default_model_path(), MAX_LENGTH)
    texts = pd.read_csv(path)["text"].astype(str).tolist()
    lengths = [
        len(ids) + tokenizer.template.single_extra for ids in tokenizer.encode_content(texts)
    ]
    return float(np.mean(np.asarray(lengths) > MAX_LENGTH))


def run_one(truncation: str, paths: dict[str, Path], folder: Path, seed: int) -> dict[str, Any]:
    from workbench.config import RunConfig
    from workbench.engine import evaluate, train

    config = RunConfig(
        task="text-classification",
        data=str(paths["train"]),
        eval_data=str(paths["validation"]),
        max_length=MAX_LENGTH,
        truncation=truncation,
        output=str(folder / f"run-{truncation.replace('+', '_')}"),
        seed=seed,
        eval_every_steps=10**9,  # only at the end of each epoch
    )
    start = time.time()
    result = train(config)
    train_seconds = time.time() - start
    if result.status != "completed":
        raise SystemExit(f"run failed: {result.error}")
    start = time.time()
    test = evaluate(result.run_dir, paths["test"])
    resolved = config.with_task_defaults()
    return {
        "truncation": truncation,
        "max_length": MAX_LENGTH,
        "epochs": resolved.epochs,
        "learning_rate": resolved.learning_rate,
        "batch_size": resolved.batch_size,
        "seed": seed,
        "num_train": result.metrics["train_examples"] // resolved.epochs,
        "validation_accuracy": result.metrics["accuracy"],
        "validation_f1_macro": result.metrics["f1_macro"],
        "num_validation": result.metrics["num_examples"],
        "test_accuracy": test["accuracy"],
        "test_f1_macro": test["f1_macro"],
        "num_test": test["num_examples"],
        "train_seconds": round(train_seconds, 1),
        "test_seconds": round(time.time() - start, 1),
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": f"{platform.machine()} {platform.processor()}".strip(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--truncations", default="tail,head+tail")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--limit", type=int, help="only the first N reviews of each part (smoke test)"
    )
    parser.add_argument("--log", help="also append each JSON line to this file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        paths = split_files(Path(folder), args.limit)
        longer = {name: round(long_share(path), 4) for name, path in paths.items()}
        for truncation in args.truncations.split(","):
            record = run_one(truncation, paths, Path(folder), args.seed)
            record["share_longer_than_max_length"] = longer
            record["limit"] = args.limit
            line = json.dumps(record)
            print(line, flush=True)
            if args.log:
                with open(args.log, "a", encoding="utf-8") as handle:
                    handle.write(line + "\n")


if __name__ == "__main__":
    main()
