"""Training speed of full fine-tuning vs LoRA (and head only) on the bundled MiniLM, measured
interleaved in one process, so a busy machine slows each setting alike.

    python bench/peft_speed.py [--rounds 3] [--steps 5] [--batch-size 32]

Prints one JSON object: examples/s per setting (median over rounds), trainable parameters.
Each step is a real training step (forward, backward, fused AdamW on the trainable
parameters) on batches of the bundled sample reviews, tokenised as training does.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import time
from pathlib import Path

import torch

from workbench.config import RunConfig
from workbench.engine.models.family import SEQUENCE_CLASSIFICATION
from workbench.engine.models.loading import build_model
from workbench.engine.models.registry import default_model_path
from workbench.engine.peft.apply import apply_parameter_efficiency
from workbench.engine.tokenizer import TextTokenizer
from workbench.engine.training.optim import make_optimizer

SAMPLE = Path(__file__).resolve().parents[1] / "resources" / "sample" / "reviews.csv"
SETTINGS = {
    "full": {},
    "lora_r8": {"lora_rank": 8},
    "head_only": {"head_only": True},
}


def batches(batch_size: int, count: int) -> list[dict[str, torch.Tensor]]:
    folder = default_model_path()
    tokenizer = TextTokenizer.from_folder(folder, 128)
    with open(SAMPLE, encoding="utf-8") as handle:
        texts = [row["text"] for row in csv.DictReader(handle)]
    out = []
    for i in range(count):
        chunk = texts[i * batch_size : (i + 1) * batch_size]
        encodings = tokenizer.encode(chunk, "tail")  # ids with special tokens
        T = max(len(e) for e in encodings)
        ids = torch.full((len(chunk), T), tokenizer.pad_id)
        mask = torch.zeros((len(chunk), T), dtype=torch.long)
        for row, e in enumerate(encodings):
            ids[row, : len(e)] = torch.tensor(e)
            mask[row, : len(e)] = 1
        out.append({"ids": ids, "mask": mask, "labels": torch.randint(0, 2, (len(chunk),))})
    return out


def make(settings: dict):
    torch.manual_seed(0)
    loaded = build_model(default_model_path(), SEQUENCE_CLASSIFICATION, 2, dropout=0.0)
    family = loaded.family
    counts = apply_parameter_efficiency(
        loaded.model,
        family,
        family.head(SEQUENCE_CLASSIFICATION),
        RunConfig(**settings),
        loaded.fresh,
    )
    loaded.model.train()
    return loaded.model, make_optimizer(loaded.model, 1e-4, 0.01), counts


def steps(model, optimizer, data) -> float:
    start = time.perf_counter()
    examples = 0
    for batch in data:
        logits = model(batch["ids"], batch["mask"])  # (B, 2)
        torch.nn.functional.cross_entropy(logits, batch["labels"]).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        examples += len(batch["labels"])
    return examples / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    data = batches(args.batch_size, args.steps)
    made = {name: make(settings) for name, settings in SETTINGS.items()}
    for model, optimizer, _ in made.values():
        steps(model, optimizer, data[:1])  # warm-up
    speeds: dict[str, list[float]] = {name: [] for name in SETTINGS}
    for _ in range(args.rounds):
        for name, (model, optimizer, _) in made.items():
            speeds[name].append(steps(model, optimizer, data))
    print(
        json.dumps(
            {
                "threads": torch.get_num_threads(),
                "batch_size": args.batch_size,
                "steps_per_round": args.steps,
                "rounds": args.rounds,
                "settings": {
                    name: {
                        "examples_per_second": round(statistics.median(speeds[name]), 2),
                        "all_rounds": [round(s, 2) for s in speeds[name]],
                        "trainable_parameters": made[name][2].trainable,
                        "total_parameters": made[name][2].total,
                    }
                    for name in SETTINGS
                },
            }
        )
    )


if __name__ == "__main__":
    main()
