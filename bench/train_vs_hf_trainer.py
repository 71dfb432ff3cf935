"""Workbench vs Hugging Face Trainer: same data, model, batch size and machine, one script.

The issue's reference run: the bundled all-MiniLM-L6-v2, 4,000 training sentences of the
Rotten Tomatoes movie-review benchmark (our seeded split, see public_data.py), one epoch,
batch 32. Workbench runs with its defaults; Trainer with its defaults plus
group_by_length=True and dynamic padding (DataCollatorWithPadding). Workbench's default
trains without dropout, which is less work per step than Trainer's dropout 0.1, so a third
side runs Workbench with dropout 0.1: the like-for-like speed comparison. Each side runs in
its own process so peak memory is its own. Prints one JSON object.

    python bench/train_vs_hf_trainer.py [--train-size 4000] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SAME_DROPOUT = "workbench_dropout_0.1"
SIDES = ("hf_trainer", "workbench", SAME_DROPOUT)
sys.path.insert(0, str(HERE))


def run_workbench(
    train_csv: str, dev_csv: str, out: str, batch_size: int, dropout: float | None = None
) -> dict:
    from workbench.config import RunConfig
    from workbench.engine import train

    start = time.perf_counter()
    config = RunConfig(
        data=train_csv, eval_data=dev_csv, batch_size=batch_size, epochs=1, output=out
    )
    if dropout is not None:
        config.dropout = dropout
    result = train(config)
    m = result.metrics
    return {
        "accuracy": m["accuracy"],
        "f1_macro": m["f1_macro"],
        "train_examples_per_second": m["train_examples_per_second"],
        "train_seconds": m["train_seconds"],
        "wall_seconds": time.perf_counter() - start,
        "precision": m["precision"],
        "dropout": config.dropout,
    }


def run_hf_trainer(train_csv: str, dev_csv: str, out: str, batch_size: int) -> dict:
    import pandas as pd
    import torch
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
    )

    from workbench.engine.models.registry import default_model_path

    start = time.perf_counter()
    folder = default_model_path()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    labels = ["negative", "positive"]

    class Texts(torch.utils.data.Dataset):
        def __init__(self, path: str) -> None:
            frame = pd.read_csv(path)
            enc = tokenizer(frame["text"].tolist(), truncation=True, max_length=128)
            self.rows = [
                {"input_ids": ids, "attention_mask": mask, "labels": labels.index(label)}
                for ids, mask, label in zip(enc["input_ids"], enc["attention_mask"], frame["label"])
            ]

        def __len__(self) -> int:
            return len(self.rows)

        def __getitem__(self, i: int) -> dict:
            return self.rows[i]

    train_set, dev_set = Texts(train_csv), Texts(dev_csv)
    model = AutoModelForSequenceClassification.from_pretrained(folder, num_labels=2)
    import dataclasses

    names = {f.name for f in dataclasses.fields(TrainingArguments)}
    # transformers 5 renamed group_by_length=True to train_sampling_strategy="group_by_length".
    grouping = (
        {"train_sampling_strategy": "group_by_length"}
        if "train_sampling_strategy" in names
        else {"group_by_length": True}
    )
    args = TrainingArguments(
        output_dir=out,
        **grouping,
        per_device_train_batch_size=batch_size,
        per_device_eval_batch_size=64,
        num_train_epochs=1,
        eval_strategy="no",
        save_strategy="no",
        logging_steps=5,
        report_to=[],
        seed=42,
        use_cpu=not torch.cuda.is_available(),
        disable_tqdm=True,
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=train_set,
        data_collator=DataCollatorWithPadding(tokenizer),
    )
    train_metrics = trainer.train().metrics
    # Compare with the label ids predict returns: its evaluation order need not be ours.
    predicted = trainer.predict(dev_set)
    return {
        "accuracy": float((predicted.predictions.argmax(-1) == predicted.label_ids).mean()),
        "train_examples_per_second": train_metrics["train_samples_per_second"],
        "train_seconds": train_metrics["train_runtime"],
        "wall_seconds": time.perf_counter() - start,
        "learning_rate": args.learning_rate,
        "optimizer": str(args.optim),
        "sampler": type(trainer._get_train_sampler()).__name__,
    }


def child(
    which: str, train_csv: str, dev_csv: str, out: str, batch_size: int, threads: int | None
) -> None:
    if threads:
        import torch

        torch.set_num_threads(threads)
    if which == "hf_trainer":
        result = run_hf_trainer(train_csv, dev_csv, out, batch_size)
    else:
        result = run_workbench(
            train_csv, dev_csv, out, batch_size, 0.1 if which == SAME_DROPOUT else None
        )
    result["peak_memory_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--train-size", type=int, default=4000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=2, help="runs per side, alternating")
    parser.add_argument("--child", choices=SIDES)
    parser.add_argument("--paths", nargs=3)
    args = parser.parse_args()
    if args.child:
        child(args.child, *args.paths, args.batch_size, args.threads)
        return

    import platform

    import torch
    from public_data import rotten_tomatoes_splits

    with tempfile.TemporaryDirectory() as tmp:
        splits = rotten_tomatoes_splits(Path(tmp) / "rt", train_size=args.train_size)
        # Alternate the sides so a slow spell of a shared machine hits both alike.
        runs: dict[str, list[dict]] = {side: [] for side in SIDES}
        for i in range(args.repeats):
            for which in SIDES:
                cmd = [
                    sys.executable,
                    __file__,
                    "--child",
                    which,
                    "--batch-size",
                    str(args.batch_size),
                    "--paths",
                    str(splits["train"]),
                    str(splits["dev"]),
                    str(Path(tmp) / f"{which}-{i}"),
                ]
                if args.threads:
                    cmd += ["--threads", str(args.threads)]
                done = subprocess.run(cmd, capture_output=True, text=True, check=True)
                runs[which].append(json.loads(done.stdout.strip().splitlines()[-1]))
    wb, hf, same = (_median_run(runs[side]) for side in ("workbench", "hf_trainer", SAME_DROPOUT))
    print(
        json.dumps(
            {
                "benchmark": "rotten_tomatoes 4k train / 1,066 dev, 1 epoch, all-MiniLM-L6-v2",
                "train_size": args.train_size,
                "batch_size": args.batch_size,
                "machine": {
                    "cpu": platform.processor() or platform.machine(),
                    "threads": torch.get_num_threads(),
                    "cpu_capability": torch.backends.cpu.get_cpu_capability(),
                    "torch": torch.__version__,
                },
                "workbench": wb,
                "hf_trainer": hf,
                SAME_DROPOUT: same,
                "throughput_ratio_workbench_over_trainer": wb["train_examples_per_second"]
                / hf["train_examples_per_second"],
                "throughput_ratio_same_dropout_over_trainer": same["train_examples_per_second"]
                / hf["train_examples_per_second"],
                "all_runs": runs,
            },
            indent=2,
        )
    )


def _median_run(side_runs: list[dict]) -> dict:
    """The run with the median throughput (its accuracy is that run's, not a median)."""
    ordered = sorted(side_runs, key=lambda r: r["train_examples_per_second"])
    return ordered[(len(ordered) - 1) // 2]


if __name__ == "__main__":
    main()
