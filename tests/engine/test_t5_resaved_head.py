"""A Flan-T5 style checkpoint (v1.1, its own LM head) re-saved by transformers 5 says
`tie_word_embeddings: true` yet keeps both weights: the LM head must come from the
checkpoint, untied, as transformers 5 loads it — not silently replaced by the embeddings.
A checkpoint whose two weights are equal stays tied; what we save loads back the same."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors import safe_open
from tiny_t5 import write_tiny_t5  # tests/ is on the path (conftest)

from workbench.engine.checkpoint import save_folder
from workbench.engine.models.loading import build_model
from workbench.engine.tokenizer import TextTokenizer

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


def _keys(folder):
    with safe_open(str(folder / "model.safetensors"), framework="pt") as handle:
        return set(handle.keys())


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


def test_the_resaved_checkpoint_says_tied_but_holds_two_different_weights(resaved):
    config = json.loads((resaved / "config.json").read_text())
    assert config["tie_word_embeddings"] is True and config["scale_decoder_outputs"] is False
    assert {"lm_head.weight", "shared.weight"} <= _keys(resaved)


def test_its_own_lm_head_loads_untied_with_transformers_outputs(resaved):
    from safetensors.torch import load_file

    model = build_model(resaved, "seq2seq-lm", 0).model
    assert model.lm_head.weight is not model.shared.weight
    state = load_file(str(resaved / "model.safetensors"))
    assert torch.equal(model.lm_head.weight, state["lm_head.weight"])
    assert torch.equal(model.shared.weight, state["shared.weight"])
    assert _logits_gap(model, resaved) < 1e-4


def test_equal_weights_stay_tied(tmp_path):
    """A tied checkpoint stored with both keys (as a .bin holds a tied tensor) stays one
    Parameter."""
    from safetensors.torch import load_file, save_file

    folder = write_tiny_t5(tmp_path / "tied")
    state = load_file(str(folder / "model.safetensors"))
    assert "lm_head.weight" not in state
    state["lm_head.weight"] = state["shared.weight"].clone()
    save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})
    model = build_model(folder, "seq2seq-lm", 0).model
    assert model.lm_head.weight is model.shared.weight
    assert _logits_gap(model, folder) < 1e-4


def test_what_we_save_from_it_keeps_the_own_head(resaved, tmp_path):
    loaded = build_model(resaved, "seq2seq-lm", 0)
    out = tmp_path / "saved"
    out.mkdir()
    tokenizer = TextTokenizer.from_folder(resaved)
    head = loaded.family.head("seq2seq-lm")
    save_folder(out, loaded.model, loaded.raw_config, resaved, tokenizer, tuple(head.tied))
    assert "lm_head.weight" in _keys(out)
    config = json.loads((out / "config.json").read_text())
    # Untied on loading, so written untied: transformers (and we) would otherwise tie again.
    assert config["tie_word_embeddings"] is False and config["scale_decoder_outputs"] is False
    again = build_model(out, "seq2seq-lm", 0).model
    assert again.lm_head.weight is not again.shared.weight
    assert torch.equal(again.lm_head.weight, loaded.model.lm_head.weight)
    assert _logits_gap(again, out) < 1e-4
