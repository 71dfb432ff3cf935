"""Smoke test of the T5 family on DialogSum: a tiny random T5 (v1.1 gated-GELU, own LM head)
with a Unigram tokenizer trained on the training rows, trained a few steps with a plain
loop over our model (labels = target + </s>, decoder inputs shifted right), validation loss
before and after. Not the seq2seq task: it checks that the family learns at all.

    .venv/bin/python bench/t5_dialogsum_smoke.py [--rows 200] [--steps 60]

Needs `transformers` (test-only) to write the random checkpoint, as the tests do.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "summarization_dialogsum"
sys.path.insert(0, str(ROOT / "tests"))

from tiny_t5 import write_tiny_t5  # noqa: E402

from workbench.engine.models.loading import build_model  # noqa: E402
from workbench.engine.models.t5 import shift_right  # noqa: E402
from workbench.engine.tokenizer import TextTokenizer  # noqa: E402


def rows(split: str, n: int) -> list[dict]:
    with open(DATA / f"{split}.jsonl", encoding="utf-8") as handle:
        return [json.loads(line) for _, line in zip(range(n), handle, strict=False)]


def batch(tok: TextTokenizer, items: list[dict], source_len: int, target_len: int):
    """(ids, mask, labels, decoder inputs) for `items`, right-padded."""
    sources = [
        ids[:source_len] for ids in tok.encode(["summarize: " + r["dialogue"] for r in items])
    ]
    targets = [ids[:target_len] for ids in tok.encode([r["summary"] for r in items])]
    S, T = max(map(len, sources)), max(map(len, targets))
    ids = torch.tensor([s + [tok.pad_id] * (S - len(s)) for s in sources])
    mask = torch.tensor([[1] * len(s) + [0] * (S - len(s)) for s in sources])
    labels = torch.tensor([t + [-100] * (T - len(t)) for t in targets])  # ends in </s>
    return ids, mask, labels, shift_right(labels, tok.pad_id, 0)


def loss_of(model, tok, items, source_len, target_len) -> float:
    model.eval()
    with torch.no_grad():
        total, count = 0.0, 0
        for i in range(0, len(items), 16):
            ids, mask, labels, dec = batch(tok, items[i : i + 16], source_len, target_len)
            logits = model(ids, mask, decoder_input_ids=dec, decoder_attention_mask=labels.ne(-100))
            total += torch.nn.functional.cross_entropy(
                logits.flatten(0, 1), labels.flatten(), ignore_index=-100, reduction="sum"
            ).item()
            count += int(labels.ne(-100).sum())
    model.train()
    return total / count


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=3e-3)
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    train, validation = rows("train", args.rows), rows("validation", 48)
    corpus = ["summarize: " + r["dialogue"] for r in train] + [r["summary"] for r in train]
    with tempfile.TemporaryDirectory() as folder:
        write_tiny_t5(
            Path(folder), gated=True, tied=False, corpus=corpus, vocab_size=1000, d_model=64,
            d_kv=16, heads=4, d_ff=128, layers=2, jitter=0.0, dropout_rate=0.0,
        )  # fmt: skip
        tok = TextTokenizer.from_folder(folder)
        model = build_model(Path(folder), "seq2seq-lm", 0).model.train()
    params = sum(p.numel() for p in model.parameters())
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr)
    before = loss_of(model, tok, validation, 256, 64)
    print(f"T5 {params / 1e6:.2f}M params, vocab {tok.vocab_size}; validation loss {before:.3f}")
    start = time.perf_counter()
    for step in range(args.steps):
        first = (step * args.batch_size) % len(train)
        ids, mask, labels, dec = batch(tok, train[first : first + args.batch_size], 256, 64)
        logits = model(ids, mask, decoder_input_ids=dec, decoder_attention_mask=labels.ne(-100))
        loss = torch.nn.functional.cross_entropy(
            logits.flatten(0, 1), labels.flatten(), ignore_index=-100
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 10 == 0 or step == args.steps - 1:
            print(f"step {step:3d} train loss {loss.item():.3f}")
    after = loss_of(model, tok, validation, 256, 64)
    took = time.perf_counter() - start
    print(f"validation loss {before:.3f} -> {after:.3f} after {args.steps} steps ({took:.0f} s)")


if __name__ == "__main__":
    main()
