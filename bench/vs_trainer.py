"""The judge: Workbench against Hugging Face `Trainer`, same model, data, batch, epochs,
schedule and seed, back to back in one invocation. Prints one JSON object.

Sides (each in its own subprocess, so peak RSS and GPU memory are its own):
  trainer_default       `Trainer` at its defaults for speed (random order, dynamic padding,
                        fp32, the version's default optimizer);
  trainer_grouped_fp32  `Trainer` at its best in fp32: length-grouped batches, fused AdamW;
  trainer_grouped_bf16  the same in bf16 autocast, padded to a multiple of 16 (its
                        faster choice: padded to the longest row it ran slower on AMX);
  workbench             `RunConfig` + `workbench.engine.train` at its defaults (what a GUI
                        user gets: its precision choice, its batching, its evaluations);
  workbench_dropout_0.1 (only when named in --sides) Workbench with Trainer's dropout: the
                        same work per step.
  workbench_fp32        (only when named in --sides) Workbench with --precision fp32:
                        `auto_over_fp32` checks that `auto` is never slower than fp32.
"trainer_best" is the faster (train examples/s) of the two grouped sides that finished.
The hyper-parameters are Workbench's task defaults (learning rate, batch size, epochs,
max length) given to both: linear warm-up over round(0.1 x steps) then linear decay to 0,
weight decay 0.01 (not on biases and LayerNorm), gradient clipping at 1.0, seed 42.
Dropout is each side's default (Trainer: the checkpoint's, 0.1 for MiniLM; Workbench: 0);
the JSON says which.

Cases (`--case`):
  a  the bundled all-MiniLM-L6-v2, 4,000 short sentences of Rotten Tomatoes (the seeded
     split of public_data.py), accuracy on its 1,066 dev sentences;
  b  the same model on long IMDB reviews (a seeded slice, `--train-size` 500, max length
     256; `--max-length 512` for the longer test), accuracy on `--eval-size` reviews;
  c  a random-init GPT-2-shaped decoder (12 layers x 768, 12 heads, a 8,192-token BPE
     trained on the training text, ~92 M parameters) on Tiny Shakespeare, causal LM:
     Workbench's `causal-lm` task packs documents into blocks (no attention across
     documents); Trainer gets the run_clm.py recipe (tokenise, concatenate, cut into blocks).
     `--train-size` counts blocks of `--max-length` (128) tokens (default 32, one epoch:
     `--epochs 3` for the task's default); metric: validation loss (nats per token);
  d  token classification on CoNLL-2003 (first `--train-size` sentences of train.txt, first
     `--eval-size` of valid.txt): Workbench's `token-classification` task against
     AutoModelForTokenClassification + DataCollatorForTokenClassification (first sub-token
     labelled), entity F1 (seqeval) on the dev words.

Per side: examples/s and tokens/s (real tokens; in case c the fair figure, as Trainer drops
the last partial block and Workbench keeps it) over the side's own training time (Workbench:
`train_seconds`, the sum of its steps, no evaluation; Trainer: `train_runtime`), wall time
of the whole subprocess, peak RSS, peak GPU memory, last logged training loss, the metric,
and MFU.

MFU. Training FLOPs = 6 N T + 12 n_layer d_model S, with N the parameters that do a matmul
per token (all parameters but the input embedding tables, plus a tied LM head's V x d, which
is a matmul), T the tokens and S the sum over sequences of their attended length squared
(forward 2 x 2 T^2 d per layer for QK^T and AV, backward twice that; causal masking is not
halved, as in PaLM's appendix). `mfu` counts the real (non-pad) tokens and, for packed
blocks, each document's own length: the useful work. `mfu_computed` counts what the kernels
ran: padded rows and whole blocks. Both are divided by the training time and the ceiling of
the precision the side trained in (bf16 autocast: the bf16 ceiling) from bench/peak.py, run
once at the start with the same threads. On a loaded machine the ceiling is measured low,
which makes MFU high: compare sides, not machines.

    python bench/vs_trainer.py --case a                  # all sides, the defaults
    python bench/vs_trainer.py --case d --train-size 2000 --eval-size 500
    python bench/vs_trainer.py --case all --sides workbench trainer_grouped_fp32

Timings on a shared machine are only comparable as ratios measured in one invocation.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from public_data import SHARED_DATA, rotten_tomatoes_splits  # noqa: E402

SIDES = ("trainer_default", "trainer_grouped_fp32", "trainer_grouped_bf16", "workbench")
# Optional (--sides): Workbench with Trainer's dropout 0.1, the same work per step.
SAME_DROPOUT = "workbench_dropout_0.1"
# Optional (--sides): Workbench in fp32 whatever `auto` chose: `auto` must never be slower.
FP32 = "workbench_fp32"
OPTIONAL = (SAME_DROPOUT, FP32)
GROUPED = ("trainer_grouped_fp32", "trainer_grouped_bf16")
CASES = ("a", "b", "c", "d")
TASKS = {"a": "text-classification", "b": "text-classification", "c": "causal-lm"}
TASKS["d"] = "token-classification"
METRICS = {"a": "accuracy", "b": "accuracy", "c": "loss", "d": "entity_f1"}
DEFAULT_SIZES = {"a": 4000, "b": 500, "c": 32, "d": 2000}
DEFAULT_EVAL_SIZES = {"a": None, "b": 500, "c": 16, "d": 500}
CASE_MAX_LENGTH = {"b": 256, "c": 128}
# One epoch of the 92 M decoder (not the task's 3) keeps case c to minutes on 2 cores.
CASE_EPOCHS = {"c": 1}
GPT2_SHAPE = {"n_layer": 12, "n_embd": 768, "n_head": 12, "n_positions": 1024}
GPT2_VOCAB = 8192
EOS = "<|endoftext|>"
WARMUP_RATIO = 0.1  # RunConfig's default, given to Trainer too
WEIGHT_DECAY = 0.01
# Trainer's bf16 side pads to 16: on the AMX Xeon it ran 19.8 examples/s padded to the
# longest row (load ~3.5) against 63.5 padded to 16 (quiet; 2026-12-01/02), so 16 is its best; Workbench pads
# to the longest row there (training/precision.py), its kernels don't mind new shapes.
BF16_PAD_MULTIPLE = 16
RESULT_MARK = "VS_TRAINER_RESULT "
IGNORE = -100


# ---- FLOPs and MFU (pure arithmetic, tested) --------------------------------------------------
class TokenCounter:
    """What the training batches held: tokens real and computed, and the attention sums."""

    def __init__(self) -> None:
        self.active = True
        self.batches = 0
        self.real_tokens = 0
        self.computed_tokens = 0
        self.attention_real = 0  # sum over sequences (documents) of length^2
        self.attention_computed = 0  # sum over rows of padded width^2

    def add(self, batch: dict[str, Any]) -> None:
        """Count one training batch (CPU tensors: input_ids (B, T), optional attention_mask
        (B, T) and document_ids (B, T) with -100 on padding)."""
        if not self.active:
            return
        import numpy as np

        ids = np.asarray(batch["input_ids"])
        rows, width = ids.shape
        mask = batch.get("attention_mask")
        mask = np.ones_like(ids) if mask is None else np.asarray(mask)
        self.batches += 1
        self.real_tokens += int(mask.sum())
        self.computed_tokens += rows * width
        self.attention_computed += rows * width * width
        docs = batch.get("document_ids")
        if docs is None:
            self.attention_real += int((mask.sum(axis=1).astype(np.int64) ** 2).sum())
            return
        for row in np.asarray(docs):
            row = row[row != IGNORE]
            if len(row) == 0:
                continue
            edges = np.flatnonzero(row[1:] != row[:-1]) + 1  # starts of new documents
            lengths = np.diff(np.concatenate([[0], edges, [len(row)]]))
            self.attention_real += int((lengths.astype(np.int64) ** 2).sum())

    def as_dict(self) -> dict[str, int]:
        return {
            "batches": self.batches,
            "real_tokens": self.real_tokens,
            "computed_tokens": self.computed_tokens,
            "attention_real": self.attention_real,
            "attention_computed": self.attention_computed,
        }


def training_flops(matmul_params: int, n_layer: int, d_model: int, tokens: int, attention: int):
    """6 N T + 12 n_layer d_model S (see the module docstring)."""
    return 6 * matmul_params * tokens + 12 * n_layer * d_model * attention


def mfu(flops: float, seconds: float, ceiling_gflops: float) -> float | None:
    """Achieved FLOP/s over the ceiling (a fraction, not a percentage)."""
    if not seconds or not ceiling_gflops:
        return None
    return flops / seconds / (ceiling_gflops * 1e9)


def model_shape(model_folder: str, case: str, num_labels: int) -> dict[str, int]:
    """N (matmul parameters), n_layer and d_model of the case's model, built on the meta
    device (no weights read)."""
    import torch
    import transformers

    config = transformers.AutoConfig.from_pretrained(model_folder)
    kind = {
        "a": transformers.AutoModelForSequenceClassification,
        "b": transformers.AutoModelForSequenceClassification,
        "c": transformers.AutoModelForCausalLM,
        "d": transformers.AutoModelForTokenClassification,
    }[case]
    if case != "c":
        config.num_labels = num_labels
    with torch.device("meta"):
        model = kind.from_config(config)
    return shape_of(model, config)


def model_positions(model_folder: str) -> int | None:
    config = json.loads((Path(model_folder) / "config.json").read_text(encoding="utf-8"))
    return config.get("max_position_embeddings") or config.get("n_positions")


def shape_of(model: Any, config: Any) -> dict[str, int]:
    from torch import nn

    total = sum(p.numel() for p in model.parameters())
    embeddings = sum(
        p.numel() for m in model.modules() if isinstance(m, nn.Embedding) for p in m.parameters()
    )
    matmul = total - embeddings
    out = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if out is not None and out.weight is model.get_input_embeddings().weight:
        matmul += out.weight.numel()  # tied: counted once as a table, but it is a matmul too
    n_layer = getattr(config, "num_hidden_layers", None) or config.n_layer
    d_model = getattr(config, "hidden_size", None) or config.n_embd
    return {
        "parameters": total,
        "matmul_parameters": matmul,
        "n_layer": n_layer,
        "d_model": d_model,
    }


def add_flops(side: dict[str, Any], shape: dict[str, int], ceilings: dict[str, float]) -> None:
    """FLOPs, MFU and tokens/s into a side's result, from its counted tokens and seconds."""
    counts, seconds = side.get("tokens"), side.get("train_seconds")
    if not counts or not seconds:
        return
    n, layers, width = shape["matmul_parameters"], shape["n_layer"], shape["d_model"]
    useful = training_flops(n, layers, width, counts["real_tokens"], counts["attention_real"])
    computed = training_flops(
        n, layers, width, counts["computed_tokens"], counts["attention_computed"]
    )
    ceiling = ceilings.get(side.get("precision", "fp32"))
    side["train_tokens_per_second"] = counts["real_tokens"] / seconds
    side["padding_share"] = 1 - counts["real_tokens"] / max(1, counts["computed_tokens"])
    side["train_tflops"] = useful / 1e12
    side["achieved_gflops"] = useful / seconds / 1e9
    side["ceiling_gflops"] = ceiling
    side["mfu"] = mfu(useful, seconds, ceiling or 0.0)
    side["mfu_computed"] = mfu(computed, seconds, ceiling or 0.0)


# ---- data per case (written once by the parent, read by every side) ------------------------
def prepare_case(case: str, folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Files for the case in `folder`: {"train", "dev", "model", "num_labels"}."""
    from workbench.engine.models.registry import default_model_path

    size = args.train_size if args.train_size is not None else DEFAULT_SIZES[case]
    eval_size = args.eval_size if args.eval_size is not None else DEFAULT_EVAL_SIZES[case]
    model = args.model or str(default_model_path())
    if case == "a":
        paths = rotten_tomatoes_splits(folder, train_size=size)
        dev = paths["dev"]
        if eval_size:
            dev = _head_csv(dev, folder / "dev_slice.csv", eval_size)
        return {"train": str(paths["train"]), "dev": str(dev), "model": model, "num_labels": 2}
    if case == "b":
        import numpy as np
        import pandas as pd

        frame = pd.read_csv(SHARED_DATA / "imdb" / "train.csv")
        frame["label"] = frame["label"].map({0: "negative", 1: "positive"})
        order = np.random.default_rng(1234).permutation(len(frame))
        dev = frame.iloc[order[:eval_size]]  # the first reviews of the shuffle: the dev slice
        train = frame.iloc[order[eval_size : eval_size + size]]
        train.to_csv(folder / "train.csv", index=False)
        dev.to_csv(folder / "dev.csv", index=False)
        return {
            "train": str(folder / "train.csv"),
            "dev": str(folder / "dev.csv"),
            "model": model,
            "num_labels": 2,
        }
    if case == "c":
        return prepare_causal(folder, size, eval_size, args)
    if case == "d":
        source = SHARED_DATA / "conll2003"
        train = _conll_slice(source / "train.txt", folder / "train.txt", size)
        dev = _conll_slice(source / "valid.txt", folder / "valid.txt", eval_size)
        from workbench.engine.data.conll import read_conll

        tags = sorted({t for row in read_conll(train)["tags"] for t in row})
        return {"train": str(train), "dev": str(dev), "model": model, "num_labels": len(tags)}
    raise ValueError(case)


def _head_csv(source: Path, target: Path, rows: int) -> Path:
    import pandas as pd

    pd.read_csv(source).head(rows).to_csv(target, index=False)
    return target


def _conll_slice(source: Path, target: Path, sentences: int | None) -> Path:
    blocks = [b for b in source.read_text(encoding="utf-8").split("\n\n") if b.strip()]
    kept = [b for b in blocks if not b.lstrip().startswith("-DOCSTART-")]
    kept = kept if sentences is None else kept[:sentences]
    target.write_text("\n\n".join(kept) + "\n", encoding="utf-8")
    return target


def prepare_causal(folder: Path, blocks: int, eval_blocks: int, args) -> dict[str, Any]:
    """Tiny Shakespeare speeches (blank-line separated) as one-document-per-line text files
    holding about `blocks` (`eval_blocks`) blocks of tokens; a BPE tokenizer trained on the
    training part; a random GPT-2 of GPT2_SHAPE saved with transformers (both sides start
    from these same weights)."""
    import torch
    import transformers
    from tokenizers import ByteLevelBPETokenizer

    block = args.max_length or CASE_MAX_LENGTH["c"]
    text = (SHARED_DATA / "tinyshakespeare" / "input.txt").read_text(encoding="utf-8")
    speeches = [" ".join(s.split("\n")) for s in text.split("\n\n") if s.strip()]
    cut = int(len(speeches) * 0.9)
    tokenizer = ByteLevelBPETokenizer(add_prefix_space=False)
    tokenizer.train_from_iterator(speeches[:cut], vocab_size=GPT2_VOCAB, special_tokens=[EOS])

    def take(docs: list[str], wanted_blocks: int) -> list[str]:
        kept, tokens = [], 0
        for doc in docs:
            if tokens >= wanted_blocks * block:
                break
            kept.append(doc)
            tokens += len(tokenizer.encode(doc).ids) + 1  # + end of text
        return kept

    model_dir = folder / "gpt2"
    model_dir.mkdir()
    tokenizer.save(str(model_dir / "tokenizer.json"))
    eos = tokenizer.token_to_id(EOS)
    settings = {"eos_token": EOS, "bos_token": EOS, "model_max_length": GPT2_SHAPE["n_positions"]}
    (model_dir / "tokenizer_config.json").write_text(json.dumps(settings), encoding="utf-8")
    config = transformers.GPT2Config(
        vocab_size=tokenizer.get_vocab_size(),
        bos_token_id=eos,
        eos_token_id=eos,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        **GPT2_SHAPE,
    )
    torch.manual_seed(args.seed)
    transformers.GPT2LMHeadModel(config).save_pretrained(model_dir)
    for name, docs in (
        ("train", take(speeches[:cut], blocks)),
        ("dev", take(speeches[cut:], eval_blocks)),
    ):
        (folder / f"{name}.txt").write_text("\n".join(docs) + "\n", encoding="utf-8")
    return {
        "train": str(folder / "train.txt"),
        "dev": str(folder / "dev.txt"),
        "model": str(model_dir),
        "num_labels": 0,
    }


# ---- the sides (run in the child) -----------------------------------------------------------
def run_workbench(spec: dict[str, Any], counter: TokenCounter) -> dict[str, Any]:
    from workbench.config import RunConfig
    from workbench.engine import train
    from workbench.engine.tasks import get_task

    task = get_task(spec["task"])
    cls = type(task)
    plain_collate = cls.collate

    def counted(self, features, indices, pad_id, multiple_of, training, *rest, **named):
        batch = plain_collate(
            self, features, indices, pad_id, multiple_of, training, *rest, **named
        )
        if training:
            counter.add(batch)
        return batch

    cls.collate = counted  # counts what fit() trains on; the batch is returned unchanged
    config = RunConfig(
        task=spec["task"],
        data=spec["train"],
        eval_data=spec["dev"],
        model=spec["model"],
        batch_size=spec["batch_size"],
        epochs=spec["epochs"],
        max_length=spec["max_length"] if spec["max_length_given"] else None,
        seed=spec["seed"],
        device=spec["device"],
        output=spec["out"],
    )
    if spec["task"] == "text-classification":
        config.text_column, config.label_column = "text", "label"
    if spec["side"] == SAME_DROPOUT:
        config.dropout = 0.1
    if spec["side"] == FP32:
        config.precision = "fp32"
    losses: list[float] = []
    notices: list[str] = []

    def on_event(event) -> None:
        if getattr(event, "kind", "") == "step":
            losses.append(event.loss)
        elif getattr(event, "kind", "") == "notice":
            notices.append(event.message)

    result = train(config, on_event=on_event)
    if result.status != "completed":
        raise RuntimeError(f"workbench run {result.status}: {result.error}")
    m = result.metrics
    metric = METRICS[spec["case"]]
    return {
        "metric": metric,
        "metric_value": m.get(metric),
        "final_train_loss": losses[-1] if losses else None,
        "train_seconds": m["train_seconds"],
        "train_examples": m["train_examples"],
        "train_examples_per_second": m["train_examples_per_second"],
        "precision": m["precision"],
        "precision_reason": next((n for n in notices if n.startswith("precision")), None),
        "learning_rate": spec["learning_rate"],
        "dropout": config.dropout,
        "sampler": "workbench length_grouped_batches",
        "notices": notices[-5:],
    }


def run_trainer(spec: dict[str, Any], counter: TokenCounter) -> dict[str, Any]:
    import dataclasses

    import torch
    import transformers
    from transformers import Trainer, TrainingArguments

    side, case = spec["side"], spec["case"]
    bf16 = side == "trainer_grouped_bf16"
    grouped = side in GROUPED
    pad_multiple = BF16_PAD_MULTIPLE if bf16 else None
    tokenizer = transformers.AutoTokenizer.from_pretrained(spec["model"])
    train_set, dev_set, model, collator, score = _trainer_case(case, spec, tokenizer, pad_multiple)

    def counting(features: list[dict]) -> dict:
        batch = collator(features)
        counter.add(batch)
        return batch

    names = {f.name for f in dataclasses.fields(TrainingArguments)}
    options: dict[str, Any] = {}
    if grouped:
        # transformers 5 renamed group_by_length=True to train_sampling_strategy="group_by_length".
        if "train_sampling_strategy" in names:
            options["train_sampling_strategy"] = "group_by_length"
        else:
            options["group_by_length"] = True
        options["optim"] = "adamw_torch_fused"
    total_steps = math.ceil(len(train_set) / spec["batch_size"]) * spec["epochs"]
    args = TrainingArguments(
        output_dir=spec["out"],
        per_device_train_batch_size=spec["batch_size"],
        per_device_eval_batch_size=64,
        num_train_epochs=spec["epochs"],
        learning_rate=spec["learning_rate"],
        weight_decay=WEIGHT_DECAY,
        warmup_steps=round(WARMUP_RATIO * total_steps),
        lr_scheduler_type="linear",
        max_grad_norm=1.0,
        eval_strategy="no",
        save_strategy="no",
        logging_steps=5,
        report_to=[],
        seed=spec["seed"],
        use_cpu=spec["device"] == "cpu",
        bf16=bf16,
        disable_tqdm=True,
        **options,
    )
    trainer = Trainer(model=model, args=args, train_dataset=train_set, data_collator=counting)
    train_metrics = trainer.train().metrics
    counter.active = False  # evaluation batches are not training
    trainer.data_collator = collator
    # The last logged loss (a mean over the last 5 steps, as Workbench logs it); a run shorter
    # than one logging window has only Trainer's mean over the run.
    losses = [e["loss"] for e in trainer.state.log_history if "loss" in e]
    losses = losses or [train_metrics["train_loss"]]
    with torch.autocast("cuda" if spec["device"] != "cpu" else "cpu", enabled=False):
        metric_value = score(trainer, dev_set)
    dropout = getattr(model.config, "hidden_dropout_prob", None)
    if dropout is None:
        dropout = getattr(model.config, "resid_pdrop", None)
    return {
        "metric": METRICS[case],
        "metric_value": metric_value,
        "final_train_loss": losses[-1] if losses else None,
        "train_seconds": train_metrics["train_runtime"],
        "train_examples": len(train_set) * spec["epochs"],
        "train_examples_per_second": len(train_set)
        * spec["epochs"]
        / train_metrics["train_runtime"],
        "precision": "bf16" if bf16 else "fp32",
        "learning_rate": args.learning_rate,
        "dropout": dropout,
        "optimizer": str(args.optim.value if hasattr(args.optim, "value") else args.optim),
        "sampler": type(trainer._get_train_sampler()).__name__,
        "pad_to_multiple_of": pad_multiple,
        "transformers": transformers.__version__,
    }


def _trainer_case(case: str, spec: dict[str, Any], tokenizer, pad_multiple: int | None):
    """(train dataset, dev data, model, collator, score(trainer, dev) -> metric) for a case."""
    import pandas as pd
    import torch
    import transformers

    config = transformers.AutoConfig.from_pretrained(spec["model"])
    positions = getattr(config, "max_position_embeddings", None) or config.n_positions
    max_length = min(spec["max_length"], positions)  # as Workbench caps it

    class Rows(torch.utils.data.Dataset):
        def __init__(self, rows: list[dict]) -> None:
            self.rows = rows

        def __len__(self) -> int:
            return len(self.rows)

        def __getitem__(self, i: int) -> dict:
            return self.rows[i]

    if case in ("a", "b"):
        labels = ["negative", "positive"]

        def texts(path: str) -> Rows:
            frame = pd.read_csv(path)
            enc = tokenizer(
                frame["text"].astype(str).tolist(), truncation=True, max_length=max_length
            )
            return Rows(
                [
                    {"input_ids": ids, "attention_mask": mask, "labels": labels.index(label)}
                    for ids, mask, label in zip(
                        enc["input_ids"], enc["attention_mask"], frame["label"], strict=True
                    )
                ]
            )

        model = transformers.AutoModelForSequenceClassification.from_pretrained(
            spec["model"], num_labels=2
        )
        collator = transformers.DataCollatorWithPadding(tokenizer, pad_to_multiple_of=pad_multiple)

        def accuracy(trainer, dev: Rows) -> float:
            out = trainer.predict(dev)  # compared with its own label ids: its order, not ours
            return float((out.predictions.argmax(-1) == out.label_ids).mean())

        return texts(spec["train"]), texts(spec["dev"]), model, collator, accuracy

    if case == "c":

        def blocks(path: str) -> Rows:
            eos = tokenizer.convert_tokens_to_ids(EOS)
            stream: list[int] = []
            for line in Path(path).read_text(encoding="utf-8").splitlines():
                if line.strip():
                    stream += tokenizer(line)["input_ids"] + [eos]
            cut = len(stream) // max_length * max_length  # run_clm.py drops the remainder
            return Rows(
                [
                    {
                        "input_ids": stream[i : i + max_length],
                        "attention_mask": [1] * max_length,
                        "labels": stream[i : i + max_length],
                    }
                    for i in range(0, cut, max_length)
                ]
            )

        model = transformers.AutoModelForCausalLM.from_pretrained(spec["model"])
        collator = transformers.default_data_collator

        def loss(trainer, dev: Rows) -> float:
            return float(trainer.evaluate(dev)["eval_loss"])

        return blocks(spec["train"]), blocks(spec["dev"]), model, collator, loss

    if case == "d":
        from workbench.engine.data.conll import read_conll

        train_frame, dev_frame = read_conll(spec["train"]), read_conll(spec["dev"])
        tags = sorted({t for row in train_frame["tags"] for t in row})
        index = {t: i for i, t in enumerate(tags)}

        def sentences(frame) -> Rows:
            enc = tokenizer(
                [list(w) for w in frame["tokens"]],
                is_split_into_words=True,
                truncation=True,
                max_length=max_length,
            )
            rows = []
            for i, word_tags in enumerate(frame["tags"]):
                words = enc.word_ids(i)
                labels, previous = [], None
                for w in words:  # the first sub-token of a word carries its tag
                    fresh = w is not None and w != previous
                    labels.append(index.get(word_tags[w], index.get("O", 0)) if fresh else IGNORE)
                    previous = w
                rows.append(
                    {
                        "input_ids": enc["input_ids"][i],
                        "attention_mask": enc["attention_mask"][i],
                        "labels": labels,
                    }
                )
            return Rows(rows)

        model = transformers.AutoModelForTokenClassification.from_pretrained(
            spec["model"],
            num_labels=len(tags),
            id2label=dict(enumerate(tags)),
            label2id=index,
        )
        collator = transformers.DataCollatorForTokenClassification(
            tokenizer, pad_to_multiple_of=pad_multiple
        )
        dev_rows = sentences(dev_frame)

        def entity_f1(trainer, dev: Rows) -> float:
            from seqeval.metrics import f1_score

            # Our own loop, in the dev order: a length-grouped Trainer reorders predict's rows.
            net = trainer.model.eval()
            gold_all, pred_all = [], []
            for start in range(0, len(dev), 64):
                batch = collator([dev[i] for i in range(start, min(start + 64, len(dev)))])
                labels = batch.pop("labels").numpy()  # (B, T)
                with torch.inference_mode():
                    inputs = {k: v.to(trainer.args.device) for k, v in batch.items()}
                    logits = net(**inputs).logits  # (B, T, tags)
                predicted = logits.argmax(-1).cpu().numpy()
                for row in range(len(labels)):
                    keep = labels[row] != IGNORE
                    pred_all.append([tags[p] for p in predicted[row][keep]])
            for i, word_tags in enumerate(dev_frame["tags"]):
                pred = pred_all[i]
                # Words cut off by max_length count as predicted O (Workbench windows them).
                pred += ["O"] * (len(word_tags) - len(pred))
                gold_all.append(list(word_tags))
            return float(f1_score(gold_all, pred_all))

        return sentences(train_frame), dev_rows, model, collator, entity_f1
    raise ValueError(case)


def child(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    import torch

    if spec["threads"]:
        torch.set_num_threads(spec["threads"])
    counter = TokenCounter()
    start = time.perf_counter()
    if spec["side"] in ("workbench", *OPTIONAL):
        result = run_workbench(spec, counter)
    else:
        result = run_trainer(spec, counter)
    result["wall_seconds"] = time.perf_counter() - start
    result["tokens"] = counter.as_dict()
    result["threads"] = torch.get_num_threads()
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    if torch.cuda.is_available() and spec["device"] != "cpu":
        result["peak_gpu_memory_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    print(RESULT_MARK + json.dumps(result), flush=True)


# ---- the parent -------------------------------------------------------------------------------
def resolve_settings(case: str, args: argparse.Namespace) -> dict[str, Any]:
    """The task defaults Workbench would use, with the command line's choices over them."""
    from workbench.engine.tasks import task_defaults

    defaults = task_defaults(TASKS[case])
    return {
        "batch_size": args.batch_size or defaults["batch_size"],
        "epochs": args.epochs or CASE_EPOCHS.get(case) or defaults["epochs"],
        "learning_rate": defaults["learning_rate"],
        "max_length": args.max_length or CASE_MAX_LENGTH.get(case) or defaults["max_length"],
        "seed": args.seed,
    }


def run_side(spec: dict[str, Any], folder: Path) -> dict[str, Any]:
    spec_path = folder / f"{spec['side']}.json"
    spec_path.write_text(json.dumps(spec), encoding="utf-8")
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(spec_path)]
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_MARK)]
    if done.returncode != 0 or not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-15:]
        return {"failed": True, "returncode": done.returncode, "error": "\n".join(tail)}
    result = json.loads(lines[-1][len(RESULT_MARK) :])
    result["process_seconds"] = time.perf_counter() - started
    result["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    return result


def run_case(case: str, args: argparse.Namespace, ceilings: dict[str, float]) -> dict[str, Any]:
    settings = resolve_settings(case, args)
    with tempfile.TemporaryDirectory(prefix=f"vs-trainer-{case}-") as tmp:
        folder = Path(tmp)
        files = prepare_case(case, folder, args)
        positions = model_positions(files["model"])
        if positions and settings["max_length"] > positions:  # as Workbench would ask for
            settings["max_length"] = positions
        shape = model_shape(files["model"], case, files["num_labels"])
        sides: dict[str, Any] = {}
        for side in args.sides:
            spec = {
                "case": case,
                "side": side,
                "task": TASKS[case],
                **files,
                **settings,
                # Workbench gets a max length only where the case or the command sets one.
                "max_length_given": case in CASE_MAX_LENGTH or args.max_length is not None,
                "threads": args.threads,
                "device": args.device,
                "out": str(folder / f"out-{side}"),
            }
            sides[side] = run_side(spec, folder)
            add_flops(sides[side], shape, ceilings)
            print(f"[{case}] {side}: {_brief(sides[side])}", file=sys.stderr, flush=True)
    report: dict[str, Any] = {
        "case": case,
        "task": TASKS[case],
        "model": "bundled all-MiniLM-L6-v2" if not args.model and case != "c" else files["model"],
        "model_shape": shape,
        "settings": settings,
        "train_size": args.train_size if args.train_size is not None else DEFAULT_SIZES[case],
        "sides": sides,
    }
    report.update(compare(sides, METRICS[case]))
    return report


def compare(sides: dict[str, Any], metric: str) -> dict[str, Any]:
    """trainer_best and the Workbench/other ratios (throughput, tokens/s, metric difference)."""
    finished = {k: v for k, v in sides.items() if not v.get("failed")}
    out: dict[str, Any] = {}
    grouped = [k for k in GROUPED if k in finished]
    if grouped:
        out["trainer_best"] = max(grouped, key=lambda k: finished[k]["train_examples_per_second"])
    wb = finished.get("workbench")
    if wb is None:
        return out
    ratios: dict[str, Any] = {}
    targets = [k for k in finished if k != "workbench"]
    if "trainer_best" in out:
        targets.append("trainer_best")
    for name in targets:
        other = finished[out["trainer_best"]] if name == "trainer_best" else finished[name]
        entry = {
            "examples_per_second": wb["train_examples_per_second"]
            / other["train_examples_per_second"],
            "wall_seconds": wb["wall_seconds"] / other["wall_seconds"],
        }
        if wb.get("train_tokens_per_second") and other.get("train_tokens_per_second"):
            entry["tokens_per_second"] = (
                wb["train_tokens_per_second"] / other["train_tokens_per_second"]
            )
        if wb.get("metric_value") is not None and other.get("metric_value") is not None:
            entry[f"{metric}_difference"] = wb["metric_value"] - other["metric_value"]
        if wb.get("peak_rss_mb") and other.get("peak_rss_mb"):
            entry["peak_rss"] = wb["peak_rss_mb"] / other["peak_rss_mb"]
        ratios[name] = entry
    out["workbench_over"] = ratios
    same = finished.get(SAME_DROPOUT)
    if same is not None and "trainer_best" in out:
        best = finished[out["trainer_best"]]
        out["same_dropout_over_trainer_best"] = (
            same["train_examples_per_second"] / best["train_examples_per_second"]
        )
    fp32 = finished.get(FP32)
    if fp32 is not None:
        out["auto_over_fp32"] = wb["train_examples_per_second"] / fp32["train_examples_per_second"]
    return out


def _brief(side: dict[str, Any]) -> str:
    if side.get("failed"):
        return "failed: " + side["error"].splitlines()[-1] if side["error"] else "failed"
    return (
        f"{side['train_examples_per_second']:.1f} ex/s, {side['precision']}, "
        f"{side['metric']} {side['metric_value']}, mfu {side.get('mfu')}"
    )


def machine(args: argparse.Namespace) -> dict[str, Any]:
    import torch
    from peak import cpu_flags, cpu_model

    info = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "cpu_flags": cpu_flags(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "load_average_start": [round(x, 2) for x in os.getloadavg()],
    }
    if args.device != "cpu" and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
    return info


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--case", choices=(*CASES, "all"), default="a")
    parser.add_argument("--train-size", type=int, default=None, help="default per case")
    parser.add_argument("--eval-size", type=int, default=None, help="default per case")
    parser.add_argument("--epochs", type=int, default=None, help="default: the task's")
    parser.add_argument("--batch-size", type=int, default=None, help="default: the task's")
    parser.add_argument("--max-length", type=int, default=None, help="default per case")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--threads", type=int, default=None, help="torch threads per side")
    parser.add_argument("--sides", nargs="+", choices=(*SIDES, *OPTIONAL), default=list(SIDES))
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument(
        "--model", default=None, help="a model folder for a, b, d (default: bundled)"
    )
    parser.add_argument(
        "--peak-sizes", type=int, nargs="+", default=None, help="matmul sizes for the ceilings"
    )
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    if args.child:
        child(args.child)
        return
    import peak
    import torch

    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    random.seed(args.seed)
    started = datetime.datetime.now(datetime.UTC)
    sizes = args.peak_sizes or ([4096, 8192] if args.device == "cuda" else [1024, 2048])
    ceiling = peak.measure(tuple(sizes), repeats=5, threads=args.threads, device=args.device)
    cases = CASES if args.case == "all" else (args.case,)
    report: dict[str, Any] = {
        "benchmark": "bench/vs_trainer.py",
        "command": " ".join(["python", "bench/vs_trainer.py", *(argv or sys.argv[1:])]),
        "date": started.isoformat(timespec="seconds"),
        "machine": machine(args),
        "device": args.device,
        "peak": {k: ceiling[k] for k in ("gflops", "ceiling_gflops", "threads", "load_average")},
        "cases": {},
    }
    for case in cases:
        report["cases"][case] = run_case(case, args, ceiling["ceiling_gflops"])
    report["seconds"] = (datetime.datetime.now(datetime.UTC) - started).total_seconds()
    report["machine"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
