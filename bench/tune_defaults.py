"""How the default recipe was chosen: many variants of one fine-tune, several seeds each.

The setting is the one the defaults are judged on: the default model, 4,000 Rotten Tomatoes
training sentences (the product holds 10 % of them out for its own evaluation, as it does
when no eval file is given), 1 epoch, batch 32; accuracy on the 1,066 dev and 1,066 test
sentences of `public_data.rotten_tomatoes_splits`. Each variant changes one thing against
the baseline (the current defaults). The loop mirrors `engine/training/loop.py` step for
step, with hooks for the variants, so that a variant that wins here can move into the
product. Prints one JSON object per run, then a summary sorted by mean accuracy.

    python bench/tune_defaults.py [--device cuda] [--workers 8] [--seeds 5] [--only base,lr2e-4]

On a GPU the runs are fast (seconds each); on 2 CPU cores one run takes ~2 minutes.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

BASE: dict[str, Any] = dict(  # the product's defaults (RunConfig)
    lr=1.25e-4,
    warmup=0.1,
    schedule="linear",  # linear | cosine | constant
    batches="grouped",  # grouped | random
    dropout=0.0,
    attention_dropout=0.0,
    clip=1.0,
    betas=(0.9, 0.999),
    eps=1e-8,
    weight_decay=0.01,
    head_init="normal",  # normal | zero
    head_lr_mult=1.0,  # classifier (and pooler) learning rate multiplier
    pooler="pretrained",  # pretrained | reinit | identity | scaled
    pooling="pooler",  # pooler | cls | mean | mean_pooler (the last three are diagnostics)
    llrd=1.0,  # layer-wise learning-rate decay factor
    reinit_top=0,  # re-initialise the top N encoder layers
    epochs=1,
    batch_size=32,
    max_length=128,
    holdout=True,  # train on 90 % of the file, as the product does without an eval file
)

# The defaults before this sweep: 1e-4 and the checkpoint's dropout 0.1.
PREVIOUS = {"lr": 1e-4, "dropout": 0.1, "attention_dropout": 0.1}
NO_DROPOUT = {"dropout": 0.0, "attention_dropout": 0.0}

# One change each against the previous defaults ("prev:"), then against the current ones.
# "diag:" variants break a fixed condition (pooling, epochs, batch size, data) and only
# say where the limit is; they cannot become defaults.
_AGAINST_PREVIOUS: dict[str, dict[str, Any]] = {
    "": {},
    "lr5e-5": {"lr": 5e-5},
    "lr7e-5": {"lr": 7e-5},
    "lr1.25e-4": {"lr": 1.25e-4},
    "lr1.5e-4": {"lr": 1.5e-4},
    "lr2e-4": {"lr": 2e-4},
    "lr3e-4": {"lr": 3e-4},
    "warmup0": {"warmup": 0.0},
    "warmup0.06": {"warmup": 0.06},
    "warmup0.2": {"warmup": 0.2},
    "warmup0.3": {"warmup": 0.3},
    "cosine": {"schedule": "cosine"},
    "cosine_lr1.5e-4": {"schedule": "cosine", "lr": 1.5e-4},
    "constant": {"schedule": "constant"},
    "random_batches": {"batches": "random"},
    "dropout0": NO_DROPOUT,
    "attn_dropout0": {"attention_dropout": 0.0},
    "dropout0.05": {"dropout": 0.05, "attention_dropout": 0.05},
    "noclip": {"clip": 0.0},
    "betas0.98": {"betas": (0.9, 0.98)},
    "eps1e-6": {"eps": 1e-6},
    "wd0.1": {"weight_decay": 0.1},
    "head_zero": {"head_init": "zero"},
    "head_lr10": {"head_lr_mult": 10.0},
    "head_lr30": {"head_lr_mult": 30.0},
    "pooler_reinit": {"pooler": "reinit"},
    "pooler_identity": {"pooler": "identity"},
    "pooler_scaled5": {"pooler": "scaled"},
    "llrd0.9_lr1.5e-4": {"llrd": 0.9, "lr": 1.5e-4},
    "llrd0.8_lr2e-4": {"llrd": 0.8, "lr": 2e-4},
    "reinit_top1": {"reinit_top": 1},
    "lr1.5e-4_dropout0": {"lr": 1.5e-4, **NO_DROPOUT},
    "lr1.5e-4_dropout0.05": {"lr": 1.5e-4, "dropout": 0.05, "attention_dropout": 0.05},
    "lr1.5e-4_warmup0.06": {"lr": 1.5e-4, "warmup": 0.06},
    "diag:cls_without_pooler": {"pooling": "cls"},
    "diag:mean_pooling": {"pooling": "mean"},
    "diag:mean_pooling_lr2e-4": {"pooling": "mean", "lr": 2e-4},
    "diag:mean_pooling_then_pooler": {"pooling": "mean_pooler"},
    "diag:2_epochs": {"epochs": 2},
    "diag:batch16": {"batch_size": 16},
    "diag:all_4000_trained": {"holdout": False},
}
_AGAINST_CURRENT: dict[str, dict[str, Any]] = {
    "": {},
    "lr1e-4": {"lr": 1e-4},
    "lr1.5e-4": {"lr": 1.5e-4},
    "warmup0.06": {"warmup": 0.06},
    "warmup0.2": {"warmup": 0.2},
    "cosine": {"schedule": "cosine"},
    "random_batches": {"batches": "random"},
    "head_lr10": {"head_lr_mult": 10.0},
    "noclip": {"clip": 0.0},
    "diag:mean_pooling": {"pooling": "mean"},
    "diag:2_epochs": {"epochs": 2},
    "diag:all_4000_trained": {"holdout": False},
}
VARIANTS: dict[str, dict[str, Any]] = {
    **{f"prev:{name}".rstrip(":"): {**PREVIOUS, **change} for name, change in _AGAINST_PREVIOUS.items()},
    **{f"cur:{name}".rstrip(":"): change for name, change in _AGAINST_CURRENT.items()},
}

_CACHE: dict[str, Any] = {}


def _setting(model_folder: str, data_dir: str, max_length: int, holdout: bool) -> dict[str, Any]:
    """Data and tokenised ids, read once per worker process."""
    key = f"{model_folder}|{data_dir}|{max_length}|{holdout}"
    if key not in _CACHE:
        from workbench.config import RunConfig
        from workbench.engine.data import load_table, make_examples
        from workbench.engine.tokenizer import TextTokenizer
        from workbench.engine.training.loop import prepare

        eval_data = None if holdout else str(Path(data_dir) / "dev.csv")
        prepared = prepare(RunConfig(data=str(Path(data_dir) / "train.csv"), eval_data=eval_data, model=model_folder))
        tokenizer = TextTokenizer.from_folder(prepared.model_folder, max_length)
        held = {}
        for split in ("dev", "test"):
            examples, _ = make_examples(
                load_table(Path(data_dir) / f"{split}.csv"), "text", "label", labels=prepared.labels
            )
            held[split] = (tokenizer.encode(examples.texts), examples.label_ids)
        _CACHE[key] = dict(prepared=prepared, tokenizer=tokenizer, held=held)
    return _CACHE[key]


def run_one(task: tuple[str, dict[str, Any], int, str, str, str]) -> dict[str, Any]:
    name, overrides, seed, model_folder, data_dir, device_name = task
    import numpy as np
    import torch
    import torch.nn.functional as F

    from workbench.engine.inference import predict_logits
    from workbench.engine.tasks.classification import build_classifier
    from workbench.engine.training.batching import collate, length_grouped_batches
    from workbench.engine.training.loop import _seed_everything
    from workbench.engine.training.optim import linear_schedule
    from workbench.engine.training.precision import Precision

    torch.backends.cuda.matmul.allow_tf32 = False  # compare as fp32, as on the CPU
    torch.backends.cudnn.allow_tf32 = False
    hp = {**BASE, **overrides}
    s = _setting(model_folder, data_dir, hp["max_length"], hp["holdout"])
    prepared, tokenizer = s["prepared"], s["tokenizer"]
    device = torch.device(device_name)
    precision = Precision("fp32", device)
    start = time.perf_counter()

    _seed_everything(seed)
    train_ids = tokenizer.encode(prepared.train.texts)
    train_labels = torch.tensor(prepared.train.label_ids, dtype=torch.long)
    model, labels, _ = build_classifier(prepared.model_folder, prepared.labels, dropout=hp["dropout"])
    for layer in model.bert.encoder.layer:
        layer.attention.self.dropout_p = hp["attention_dropout"]
    _apply_head_variants(model, hp)
    model.to(device).train()
    forward = _forward_for(model, hp["pooling"])

    optimizer = torch.optim.AdamW(
        _param_groups(model, hp), lr=hp["lr"], betas=hp["betas"], eps=hp["eps"], fused=device.type in ("cpu", "cuda")
    )
    steps_per_epoch = math.ceil(len(train_ids) / hp["batch_size"])
    total = steps_per_epoch * hp["epochs"]
    warmup = round(hp["warmup"] * total)
    if hp["schedule"] == "linear":
        scheduler = linear_schedule(optimizer, warmup, total)
    else:

        def factor(step: int) -> float:
            if step < warmup:
                return (step + 1) / (warmup + 1)
            if hp["schedule"] == "constant":
                return 1.0
            return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)

    lengths = [len(t) for t in train_ids]
    losses = []
    for epoch in range(hp["epochs"]):
        if hp["batches"] == "grouped":
            batches = length_grouped_batches(lengths, hp["batch_size"], seed + epoch)
        else:
            order = np.random.default_rng(seed + epoch).permutation(len(lengths))
            batches = [order[i : i + hp["batch_size"]].tolist() for i in range(0, len(order), hp["batch_size"])]
        for indices in batches:
            ids, mask = collate(train_ids, indices, tokenizer.pad_id)
            logits = forward(ids.to(device), mask.to(device))
            loss = F.cross_entropy(logits.float(), train_labels[indices].to(device))
            loss.backward()
            if hp["clip"] > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), hp["clip"])
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(loss.detach())

    result: dict[str, Any] = {"variant": name, "seed": seed}
    model.eval()
    wrapped = _Wrapped(forward)
    for split, (ids, label_ids) in s["held"].items():
        logits = predict_logits(wrapped, ids, tokenizer.pad_id, precision)
        result[f"acc_{split}"] = float((logits.argmax(axis=1) == np.asarray(label_ids)).mean())
    result["acc"] = (result["acc_dev"] + result["acc_test"]) / 2
    result["final_train_loss"] = float(torch.stack(losses[-20:]).mean())
    result["seconds"] = round(time.perf_counter() - start, 1)
    return result


class _Wrapped:
    """Lets predict_logits call a variant's forward like a module."""

    def __init__(self, forward: Any) -> None:
        self.forward, self.training = forward, False

    def __call__(self, ids: Any, mask: Any) -> Any:
        return self.forward(ids, mask)

    def eval(self) -> None:
        pass

    def train(self, mode: bool = True) -> None:
        pass


def _apply_head_variants(model: Any, hp: dict[str, Any]) -> None:
    import torch

    if hp["head_init"] == "zero":
        torch.nn.init.zeros_(model.classifier.weight)
    pooler = model.bert.pooler.dense
    with torch.no_grad():
        if hp["pooler"] == "reinit":
            torch.nn.init.normal_(pooler.weight, std=0.02)
            pooler.bias.zero_()
        elif hp["pooler"] == "identity":
            pooler.weight.copy_(torch.eye(pooler.weight.shape[0]))
            pooler.bias.zero_()
        elif hp["pooler"] == "scaled":
            pooler.weight.mul_(5.0)
            pooler.bias.mul_(5.0)
    encoder = model.bert.encoder.layer
    for layer in list(encoder)[len(encoder) - hp["reinit_top"] :] if hp["reinit_top"] else []:
        for module in layer.modules():
            if isinstance(module, torch.nn.Linear):
                torch.nn.init.normal_(module.weight, std=0.02)
                torch.nn.init.zeros_(module.bias)
            elif isinstance(module, torch.nn.LayerNorm):
                torch.nn.init.ones_(module.weight)
                torch.nn.init.zeros_(module.bias)


def _forward_for(model: Any, pooling: str) -> Any:
    import torch

    if pooling == "pooler":
        return model

    def forward(ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        hidden, _ = model.bert(ids, mask)
        if pooling == "cls":
            features = hidden[:, 0]
        else:
            weights = mask.unsqueeze(-1).to(hidden.dtype)
            features = (hidden * weights).sum(1) / weights.sum(1)
            if pooling == "mean_pooler":
                features = torch.tanh(model.bert.pooler.dense(features))
        return model.classifier(model.dropout(features))

    return forward


def _param_groups(model: Any, hp: dict[str, Any]) -> list[dict[str, Any]]:
    n_layers = len(model.bert.encoder.layer)
    groups: dict[tuple[float, float], list[Any]] = {}
    for name, param in model.named_parameters():
        decay = hp["weight_decay"] if param.ndim >= 2 and "LayerNorm" not in name else 0.0
        if name.startswith(("classifier.", "bert.pooler.")):
            mult = hp["head_lr_mult"]
        elif name.startswith("bert.encoder.layer."):
            depth = int(name.split(".")[3])
            mult = hp["llrd"] ** (n_layers - depth)
        else:  # embeddings
            mult = hp["llrd"] ** (n_layers + 1)
        groups.setdefault((decay, mult), []).append(param)
    return [
        {"params": params, "weight_decay": decay, "lr": hp["lr"] * mult}
        for (decay, mult), params in groups.items()
    ]


def main() -> None:
    from public_data import rotten_tomatoes_splits

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--only", default="", help="comma-separated variant names, or prefixes ending in *")
    parser.add_argument("--data-dir", default="", help="folder with train/dev/test.csv (default: made here)")
    parser.add_argument("--out", default="", help="also append each run's JSON to this file")
    args = parser.parse_args()

    from workbench.engine.models.registry import resolve_model

    model_folder = str(resolve_model(args.model))
    data_dir = args.data_dir or tempfile.mkdtemp(prefix="wb-tune-")
    if not args.data_dir:
        rotten_tomatoes_splits(Path(data_dir), train_size=4000)
    wanted = [n for n in args.only.split(",") if n]
    names = [
        n for n in VARIANTS if not wanted or n in wanted or any(w.endswith("*") and n.startswith(w[:-1]) for w in wanted)
    ]
    unknown = [w for w in wanted if not w.endswith("*") and w not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant(s) {', '.join(unknown)}; known: {', '.join(VARIANTS)}")
    seeds = [42, 7, *range(1, 7), 8, 9, *range(10, 40)][: args.seeds]
    tasks = [(n, VARIANTS[n], seed, model_folder, data_dir, args.device) for seed in seeds for n in names]
    results: list[dict[str, Any]] = []
    out = open(args.out, "a", encoding="utf-8") if args.out else None
    if args.workers > 1:
        pool = mp.get_context("spawn").Pool(args.workers)
        iterator = pool.imap_unordered(run_one, tasks)
    else:
        iterator = map(run_one, tasks)
    for result in iterator:
        results.append(result)
        line = json.dumps(result)
        print(line, flush=True)
        if out:
            out.write(line + "\n")
            out.flush()
    summary = []
    for name in names:
        accs = [r["acc"] for r in results if r["variant"] == name]
        summary.append(
            {
                "variant": name,
                "mean_acc": round(statistics.mean(accs), 4),
                "stdev": round(statistics.stdev(accs), 4) if len(accs) > 1 else 0.0,
                "mean_dev": round(statistics.mean(r["acc_dev"] for r in results if r["variant"] == name), 4),
                "mean_test": round(statistics.mean(r["acc_test"] for r in results if r["variant"] == name), 4),
                "runs": len(accs),
            }
        )
    summary.sort(key=lambda row: -row["mean_acc"])
    print(json.dumps({"summary": summary, "base": BASE, "seeds": seeds}, default=str, indent=1))


if __name__ == "__main__":
    main()
