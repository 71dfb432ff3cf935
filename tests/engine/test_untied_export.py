"""A run on a Flan-T5 style checkpoint re-saved by transformers 5 (`tie_word_embeddings:
true` with two different weights): the head is untied on loading, so the run's model folder
and its export say `tie_word_embeddings: false`, and transformers loads the export with its
own head and our logits. (The checkpoint: as in test_t5_resaved_head.py.)"""

from __future__ import annotations

import json

import pytest
import torch
from tiny_t5 import CORPUS, write_tiny_t5  # tests/ is on the path (conftest)

transformers = pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def resaved(tmp_path_factory):
    """v1.1 with its own head, loaded and saved again by transformers 5."""
    root = tmp_path_factory.mktemp("t5-resaved")
    original = write_tiny_t5(root / "flan", gated=True, tied=False)
    model = transformers.T5ForConditionalGeneration.from_pretrained(original)
    assert model.lm_head.weight is not model.shared.weight
    model.save_pretrained(root / "resaved")
    for file in original.iterdir():  # the tokenizer files
        if not (root / "resaved" / file.name).exists():
            (root / "resaved" / file.name).write_bytes(file.read_bytes())
    return root / "resaved"


def _logits_gap(ours, folder) -> float:
    reference = transformers.T5ForConditionalGeneration.from_pretrained(folder).eval()
    ids = torch.tensor([[5, 17, 40, 22, 9, 1], [7, 8, 9, 1, 0, 0]])
    mask = (ids != 0).long()
    mask[:, 0] = 1
    decoder = torch.tensor([[0, 12, 30, 4], [0, 6, 0, 0]])
    decoder_mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]])
    with torch.no_grad():
        expected = reference(
            input_ids=ids,
            attention_mask=mask,
            decoder_input_ids=decoder,
            decoder_attention_mask=decoder_mask,
        ).logits
        got = ours.eval()(ids, mask, decoder_input_ids=decoder, decoder_attention_mask=decoder_mask)
    real = decoder_mask.bool()
    return (got[real] - expected[real]).abs().max().item()


def test_a_run_on_it_exports_untied_and_loads_in_transformers_with_our_logits(resaved, tmp_path):
    """The whole path: a (one-step) seq2seq run on the re-saved checkpoint, its run folder
    and its `export --format hf` say `tie_word_embeddings: false`; transformers loads the
    export with its own head and our logits (within 1e-5)."""
    from workbench.config import RunConfig
    from workbench.engine import export_model, load_predictor, train

    data = tmp_path / "pairs.jsonl"
    rows = [{"source": text, "target": text.split()[0]} for text in CORPUS * 3]
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    result = train(
        RunConfig(task="seq2seq", data=str(data), model=str(resaved), max_steps=1,
                  batch_size=4, max_length=32, output=str(tmp_path / "run"), eval_sample=2)
    )  # fmt: skip
    assert result.status == "completed", result.error
    saved = json.loads((result.run_dir / "model" / "config.json").read_text())
    assert saved["tie_word_embeddings"] is False
    out = export_model(result.run_dir, tmp_path / "hf")
    assert json.loads((out / "config.json").read_text())["tie_word_embeddings"] is False
    reference = transformers.AutoModelForSeq2SeqLM.from_pretrained(out)
    assert reference.lm_head.weight.data_ptr() != reference.shared.weight.data_ptr()
    ours = load_predictor(result.run_dir).trained.model
    assert ours.lm_head.weight is not ours.shared.weight
    assert _logits_gap(ours, out) < 1e-5
