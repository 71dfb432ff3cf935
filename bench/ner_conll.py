"""NER on CoNLL-2003: train with the task's defaults on train.txt, evaluate on valid.txt.

This is how the token-classification defaults were chosen and checked: the same
`workbench.engine.train` a user runs (no loop of its own), on the bundled model, scored on
the validation split (the test split is held out elsewhere, on purpose). Prints one JSON
object: entity F1/precision/recall, word accuracy, per-type F1, seconds, examples/s, machine.

    python bench/ner_conll.py                       # the defaults, full train split
    python bench/ner_conll.py --train-size 4000 --lr 2e-4   # a quick variant on a slice

On 2 CPU cores one full epoch takes several minutes; on a GPU, seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from public_data import SHARED_DATA  # noqa: E402

CONLL = SHARED_DATA / "conll2003"


def write_slice(source: Path, target: Path, sentences: int | None) -> Path:
    """The first `sentences` sentences of a CoNLL file (all when None), as a CoNLL file."""
    if sentences is None:
        return source
    blocks = [b for b in source.read_text(encoding="utf-8").split("\n\n") if b.strip()]
    kept = [b for b in blocks if not b.lstrip().startswith("-DOCSTART-")][:sentences]
    target.write_text("\n\n".join(kept) + "\n", encoding="utf-8")
    return target


def machine() -> dict:
    import torch

    info = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "threads": torch.get_num_threads(),
        "cores": os.cpu_count(),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--train-size", type=int, default=None, help="first N training sentences (default: all)"
    )
    parser.add_argument(
        "--eval-size", type=int, default=None, help="first N validation sentences (default: all)"
    )
    parser.add_argument("--lr", type=float, default=None, help="default: the task's")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--max-length", type=int, default=None)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="auto")
    args = parser.parse_args(argv)
    if not (CONLL / "train.txt").exists():
        print(json.dumps({"error": f"CoNLL-2003 not found in {CONLL}"}))
        return 1

    from workbench.config import RunConfig
    from workbench.engine import train

    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        config = RunConfig(
            task="token-classification",
            data=str(write_slice(CONLL / "train.txt", tmp / "train.txt", args.train_size)),
            eval_data=str(write_slice(CONLL / "valid.txt", tmp / "valid.txt", args.eval_size)),
            epochs=args.epochs,
            learning_rate=args.lr,
            batch_size=args.batch_size,
            max_length=args.max_length,
            seed=args.seed,
            device=args.device,
            precision=args.precision,
            output=str(tmp / "run"),
        )
        started_events = []

        def on_event(event) -> None:
            if type(event).__name__ == "RunStarted":
                started_events.append(event)

        started = time.perf_counter()
        result = train(config, on_event=on_event)
        seconds = time.perf_counter() - started
        if result.status != "completed":
            print(json.dumps({"status": result.status, "error": result.error}))
            return 1
        resolved = RunConfig.from_toml(result.run_dir / "config.toml").with_task_defaults()
    m = result.metrics
    print(
        json.dumps(
            {
                "task": "token-classification",
                "data": "CoNLL-2003 train -> valid",
                "train_sentences": started_events[0].num_train_examples,
                "train_windows_seen": m["train_examples"],
                "eval_sentences": m["num_examples"],
                "epochs": resolved.epochs,
                "learning_rate": resolved.learning_rate,
                "batch_size": resolved.batch_size,
                "max_length": resolved.max_length,
                "seed": resolved.seed,
                "entity_f1": round(m["entity_f1"], 4),
                "entity_precision": round(m["entity_precision"], 4),
                "entity_recall": round(m["entity_recall"], 4),
                "token_accuracy": round(m["token_accuracy"], 4),
                "per_type_f1": {k: round(v["f1"], 4) for k, v in m["report"].items()},
                "loss": round(m["loss"], 4),
                "seconds": round(seconds, 1),
                "train_seconds": round(m["train_seconds"], 1),
                "train_examples_per_second": round(m["train_examples_per_second"], 1),
                "device": m["device"],
                "precision": m["precision"],
                "machine": machine(),
                "date": time.strftime("%Y-%m-%d"),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
