"""How the default recipe was chosen: many variants of one fine-tune, several seeds each.

The setting is the one the defaults are judged on: the default model, 4,000 Rotten Tomatoes
training sentences (the product holds 10 % of them out for its own evaluation, as it does
when no eval file is given), 1 epoch, batch 32; accuracy on the 1,066 dev sentences of
`public_data.rotten_tomatoes_splits` (and its 1,066 test sentences with --with-test). Each variant changes one thing against
the baseline (the current defaults). Each run is the product's own procedure
(`engine/training/run.py`: prepare, build, fit); a variant changes the plan and state that
`build` made (optimizer groups, schedule, batches, head) before `fit` runs, so nothing here
re-implements the loop. Variants are ranked on the dev split only; `--with-test` also scores
the test split, to be reported once for the chosen defaults, never to choose by. Prints one
JSON object per run, then a summary sorted by mean dev accuracy.

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
    **{
        f"prev:{name}".rstrip(":"): {**PREVIOUS, **change}
        for name, change in _AGAINST_PREVIOUS.items()
    },
    **{f"cur:{name}".rstrip(":"): change for name, change in _AGAINST_CURRENT.items()},
}


def _config(hp: dict[str, Any], seed: int, model_folder: str, data_dir: str, device: str):
    from workbench.config import RunConfig

    return RunConfig(
        data=str(Path(data_dir) / "train.csv"),
        eval_data=None if hp["holdout"] else str(Path(data_dir) / "dev.csv"),
        model=model_folder,
        seed=seed,
        epochs=hp["epochs"],
        batch_size=hp["batch_size"],
        max_length=hp["max_length"],
        learning_rate=hp["lr"],
        warmup_ratio=hp["warmup"],
        weight_decay=hp["weight_decay"],
        dropout=hp["dropout"],
        max_grad_norm=hp["clip"],
        precision="fp32",
        device=device,
    )


def run_one(task: tuple[str, dict[str, Any], int, str, str, str, bool]) -> dict[str, Any]:
    """One variant at one seed: the product's own prepare/build/fit, with the variant applied
    to the plan and state that `build` made (the hooks), then accuracy on the dev split (and,
    when asked, the test split)."""
    name, overrides, seed, model_folder, data_dir, device_name, with_test = task
    import numpy as np
    import torch

    from workbench.engine.data import load_table
    from workbench.engine.inference import run_model
    from workbench.engine.training.fit import FitHooks, fit
    from workbench.engine.training.precision import Precision
    from workbench.engine.training.run import build, prepare
    from workbench.engine.training.runtime import Runtime

    torch.backends.cuda.matmul.allow_tf32 = False  # compare as fp32, as on the CPU
    torch.backends.cudnn.allow_tf32 = False
    hp = {**BASE, **overrides}
    start = time.perf_counter()
    prepared = prepare(_config(hp, seed, model_folder, data_dir, device_name))
    runtime = Runtime(Precision("fp32", torch.device(device_name)))
    losses: list[torch.Tensor] = []
    built = build(
        prepared,
        runtime,
        lambda: False,
        FitHooks(on_step=lambda _s, loss: losses.append(loss.detach())),
    )
    plan, state, model = built.plan, built.state, built.plan.model
    for layer in model.bert.encoder.layer:
        layer.attention.self.dropout_p = hp["attention_dropout"]
    _apply_head_variants(model, hp)
    _apply_pooling(model, hp["pooling"])
    state.optimizer = torch.optim.AdamW(
        _param_groups(model, hp),
        lr=hp["lr"],
        betas=hp["betas"],
        eps=hp["eps"],
        fused=runtime.device.type in ("cpu", "cuda"),
    )
    state.scheduler = _schedule(state.optimizer, hp, plan.total_steps)
    if hp["batches"] == "random":
        size, count = hp["batch_size"], len(built.train_features)

        def random_batches(epoch: int) -> list[list[int]]:
            order = np.random.default_rng(seed + epoch).permutation(count)
            return [order[i : i + size].tolist() for i in range(0, count, size)]

        plan.batches = random_batches
    plan.evaluate = lambda final: None  # judged below, on the benchmark's own splits
    fit(plan, state, runtime, lambda event: None, lambda: False)

    result: dict[str, Any] = {"variant": name, "seed": seed}
    task_, meta = prepared.task, prepared.data.meta
    splits = ("dev", "test") if with_test else ("dev",)
    for split in splits:
        frame = load_table(Path(data_dir) / f"{split}.csv")
        rows, _ = task_.examples(
            frame, prepared.data.columns, meta, f"{split}.csv", prepared.config
        )
        features = task_.encode(rows, built.tokenizer, prepared.config, meta)
        outputs = run_model(model, task_, features, built.tokenizer.pad_id, runtime.precision)
        predicted = np.stack(outputs).argmax(axis=1)
        result[f"acc_{split}"] = float((predicted == np.asarray(rows["label"])).mean())
    result["final_train_loss"] = float(torch.stack(losses[-20:]).mean())
    result["seconds"] = round(time.perf_counter() - start, 1)
    return result


def _schedule(optimizer: Any, hp: dict[str, Any], total: int) -> Any:
    import torch

    from workbench.engine.training.optim import linear_schedule

    warmup = round(hp["warmup"] * total)
    if hp["schedule"] == "linear":
        return linear_schedule(optimizer, warmup, total)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        if hp["schedule"] == "constant":
            return 1.0
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


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


def _apply_pooling(model: Any, pooling: str) -> None:
    """Diagnostics only: replace the head's input (pooled [CLS]) by another pooling."""
    import types

    import torch

    if pooling == "pooler":
        return

    def forward(
        self: Any, ids: torch.Tensor, mask: torch.Tensor, token_type_ids: Any = None
    ) -> torch.Tensor:
        hidden, _ = self.bert(ids, mask, token_type_ids)
        if pooling == "cls":
            features = hidden[:, 0]
        else:
            weights = mask.unsqueeze(-1).to(hidden.dtype)
            features = (hidden * weights).sum(1) / weights.sum(1)
            if pooling == "mean_pooler":
                features = torch.tanh(self.bert.pooler.dense(features))
        return self.classifier(self.dropout(features))

    model.forward = types.MethodType(forward, model)


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
    parser.add_argument(
        "--only", default="", help="comma-separated variant names, or prefixes ending in *"
    )
    parser.add_argument(
        "--data-dir", default="", help="folder with train/dev/test.csv (default: made here)"
    )
    parser.add_argument("--out", default="", help="also append each run's JSON to this file")
    parser.add_argument(
        "--with-test",
        action="store_true",
        help="also score the test split (report it once, for the chosen defaults; never choose on it)",
    )
    args = parser.parse_args()

    from workbench.engine.models.registry import resolve_model

    model_folder = str(resolve_model(args.model))
    data_dir = args.data_dir or tempfile.mkdtemp(prefix="wb-tune-")
    if not args.data_dir:
        rotten_tomatoes_splits(Path(data_dir), train_size=4000)
    wanted = [n for n in args.only.split(",") if n]
    names = [
        n
        for n in VARIANTS
        if not wanted
        or n in wanted
        or any(w.endswith("*") and n.startswith(w[:-1]) for w in wanted)
    ]
    unknown = [w for w in wanted if not w.endswith("*") and w not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant(s) {', '.join(unknown)}; known: {', '.join(VARIANTS)}")
    seeds = [42, 7, *range(1, 7), 8, 9, *range(10, 40)][: args.seeds]
    tasks = [
        (n, VARIANTS[n], seed, model_folder, data_dir, args.device, args.with_test)
        for seed in seeds
        for n in names
    ]
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
        runs = [r for r in results if r["variant"] == name]
        accs = [r["acc_dev"] for r in runs]
        row = {
            "variant": name,
            "mean_dev": round(statistics.mean(accs), 4),
            "stdev_dev": round(statistics.stdev(accs), 4) if len(accs) > 1 else 0.0,
            "runs": len(accs),
        }
        if args.with_test:
            row["mean_test"] = round(statistics.mean(r["acc_test"] for r in runs), 4)
        summary.append(row)
    summary.sort(key=lambda row: -row["mean_dev"])  # chosen on validation only
    print(json.dumps({"summary": summary, "base": BASE, "seeds": seeds}, default=str, indent=1))


if __name__ == "__main__":
    main()
