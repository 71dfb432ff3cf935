"""The ELMo baseline trains under bf16 autocast (`--precision bf16`, and `auto` on CPUs with
AMX): its character CNN's bf16 output fills the fp32 word buffer instead of failing."""

from __future__ import annotations

import json

import torch

from workbench.engine.models.loading import build_model
from workbench.engine.tokenizer import TextTokenizer

SMALL = {
    "model_type": "workbench-elmo",
    "char_embedding_dim": 8,
    "filters": [[1, 8], [2, 8], [3, 16]],
    "hidden_size": 16,
    "max_characters_per_word": 6,
    "num_hidden_layers": 2,
}


def test_a_bf16_autocast_step_runs_and_stays_close_to_fp32(tmp_path):
    folder = tmp_path / "elmo"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(SMALL), encoding="utf-8")
    tokenizer = TextTokenizer.from_folder(folder, 512)
    rows = tokenizer.encode(["a fine film", "dull and far too long, sadly"])
    T = max(map(len, rows))
    ids = torch.tensor([r + [tokenizer.pad_id] * (T - len(r)) for r in rows])
    mask = (ids != tokenizer.pad_id).long()
    torch.manual_seed(0)
    model = build_model(folder, "sequence-classification", 2).model.eval()
    with torch.no_grad():
        full = model(ids, mask)  # (B, 2)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = model(ids, mask)
    assert low.shape == full.shape == (2, 2)
    assert torch.allclose(low.float(), full, atol=0.05)  # bf16 rounding only
    low.float().sum().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
