"""Question answering on SQuAD v1.1 through the product's own procedure (train, evaluate).

Two settings, never mixed:

- `--split validation` (how the task's defaults were chosen): four whole articles of
  `squad/train-subset.json` (HELD_OUT: 783 questions) are held out, the other seven
  (3,024 questions) trained on; the held-out articles are evaluated after each epoch.
- `--split test` (reported once, with the chosen defaults): trained on all of
  `squad/train-subset.json` (3,807 questions, 11 articles), evaluated on
  `xquad_en/xquad.en.json` (1,190 questions of 48 other articles, SQuAD v1.1 dev text).

Settings not given on the command line are the task's defaults. Prints one JSON object.

    python bench/qa_squad.py --split validation --epochs 3 --lr 1.5e-4
    python bench/qa_squad.py --split test

On 2 CPU cores one epoch of the 3,807 questions at 384 tokens takes about 15 minutes.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from public_data import SHARED_DATA  # noqa: E402

from workbench.config import RunConfig  # noqa: E402
from workbench.engine import evaluate, train  # noqa: E402

TRAIN = SHARED_DATA / "squad" / "train-subset.json"
TEST = SHARED_DATA / "xquad_en" / "xquad.en.json"
# Whole articles held out for validation: 4 of 11, about a fifth of the questions, from
# different domains (medicine, a product, a place, history).
HELD_OUT = ("Antibiotics", "IPod", "Montana", "Genocide")


def article_split(folder: Path) -> tuple[Path, Path]:
    """train.json / validation.json in SQuAD layout: HELD_OUT articles vs the rest."""
    document = json.loads(TRAIN.read_text(encoding="utf-8"))
    kept = [a for a in document["data"] if a["title"] not in HELD_OUT]
    held = [a for a in document["data"] if a["title"] in HELD_OUT]
    assert len(held) == len(HELD_OUT), "an article to hold out is missing"
    paths = []
    for name, articles in (("train", kept), ("validation", held)):
        path = folder / f"{name}.json"
        path.write_text(json.dumps({"data": articles, "version": "1.1"}), encoding="utf-8")
        paths.append(path)
    return paths[0], paths[1]


def seen_sample(folder: Path, count: int = 100) -> Path:
    """The first `count` training questions, for the test run's own (uninformative) evaluations."""
    document = json.loads(TRAIN.read_text(encoding="utf-8"))
    paragraphs, taken = [], 0
    for paragraph in document["data"][0]["paragraphs"]:
        if taken >= count:
            break
        paragraphs.append(paragraph)
        taken += len(paragraph["qas"])
    path = folder / "seen.json"
    article = {"title": document["data"][0]["title"], "paragraphs": paragraphs}
    path.write_text(json.dumps({"data": [article], "version": "1.1"}), encoding="utf-8")
    return path


def questions(path: Path) -> int:
    document = json.loads(path.read_text(encoding="utf-8"))
    return sum(len(p["qas"]) for a in document["data"] for p in a["paragraphs"])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--split", choices=("validation", "test"), required=True)
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--lr", type=float)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--max-length", type=int)
    parser.add_argument("--stride", type=int)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--keep", help="keep the run folder here (default: a temporary folder)")
    args = parser.parse_args()
    started = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if args.split == "validation":
            train_file, eval_file = article_split(folder)
        else:
            train_file, eval_file = TRAIN, TEST
        settings = {
            "epochs": args.epochs,
            "learning_rate": args.lr,
            "batch_size": args.batch_size,
            "max_length": args.max_length,
        }
        config = RunConfig(
            task="question-answering",
            data=str(train_file),
            # Validation: the held-out articles are the run's evaluation data, scored after each
            # epoch. Test: every question is trained on (the run's own evaluations see a few
            # training questions, to hold nothing out); xquad is evaluated once, after training,
            # by `workbench evaluate`'s function.
            eval_data=str(eval_file if args.split == "validation" else seen_sample(folder)),
            eval_every_steps=10**9,  # only at the end of each epoch
            eval_sample=100_000,  # always the whole evaluation set
            output=args.keep or str(folder / "run"),
            device=args.device,
            seed=args.seed,
            **({"stride": args.stride} if args.stride is not None else {}),
            **{k: v for k, v in settings.items() if v is not None},
        )
        result = train(config)
        if result.status != "completed":
            raise SystemExit(f"training {result.status}: {result.error}")
        run_dir = Path(result.run_dir)
        resolved = RunConfig.from_toml(run_dir / "config.toml")
        epochs = [
            {
                "epoch": round(r["epoch"], 2),
                **{k: r["metrics"][k] for k in ("f1", "exact_match", "loss")},
            }
            for r in map(
                json.loads, (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
            )
            if r.get("kind") == "eval"
        ]
        report = {
            "split": args.split,
            "date": date.today().isoformat(),
            "train": str(train_file.name),
            "train_questions": questions(train_file),
            "eval": str(eval_file.name)
            if args.split == "test"
            else f"validation articles {', '.join(HELD_OUT)}",
            "eval_questions": questions(eval_file),
            "settings": {
                k: getattr(resolved, k)
                for k in (
                    "epochs",
                    "learning_rate",
                    "batch_size",
                    "max_length",
                    "stride",
                    "warmup_ratio",
                    "seed",
                )
            },
            "train_seconds": round(result.metrics.get("train_seconds", 0.0), 1),
            "device": result.metrics.get("device"),
        }
        if args.split == "validation":
            report["per_epoch"] = epochs
            report.update(
                {k: result.metrics[k] for k in ("f1", "exact_match", "loss", "num_examples")}
            )
        else:
            metrics = evaluate(run_dir, eval_file)
            report.update({k: metrics[k] for k in ("f1", "exact_match", "num_examples")})
        report["seconds"] = round(time.time() - started, 1)
        print(json.dumps(report))


if __name__ == "__main__":
    main()
