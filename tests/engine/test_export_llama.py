"""Llama-family runs export as Hugging Face folders that `transformers` loads with Workbench's
outputs: a sequence classifier and a causal LM (tied and untied head)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from reviews_data import write_reviews
from tiny_gpt2 import CORPUS, EOS, train_tokenizer

from workbench.config import RunConfig
from workbench.engine import export_model, load_predictor, train
from workbench.engine.models.loading import build_model
from workbench.engine.tokenizer import TextTokenizer

transformers = pytest.importorskip("transformers")
TEXTS = ["a wonderful film with a warm heart", "rude staff and awful coffee", "ok"]


def write_tiny_llama(folder: Path, head: str = "LlamaForCausalLM", tied: bool = False) -> Path:
    """A random Llama (GQA) with a byte-level BPE tokenizer whose end-of-text token is eos."""
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = train_tokenizer()
    eos = tokenizer.token_to_id(EOS)
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=tokenizer.get_vocab_size(), hidden_size=32, intermediate_size=64,
        num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
        max_position_embeddings=64, bos_token_id=eos, eos_token_id=eos,
        tie_word_embeddings=tied,
    )  # fmt: skip
    model = getattr(transformers, head)(config)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(torch.randn(param.shape) * 0.05)
    model.save_pretrained(folder)
    tokenizer.save(str(folder / "tokenizer.json"))
    settings = {"model_max_length": 64, "eos_token": EOS, "bos_token": EOS}
    (folder / "tokenizer_config.json").write_text(json.dumps(settings), encoding="utf-8")
    return folder


def _padded(tokenizer: TextTokenizer, texts: list[str], pad_id: int):
    rows = tokenizer.encode(texts)
    T = max(map(len, rows))
    ids = torch.tensor([r + [pad_id] * (T - len(r)) for r in rows])
    mask = torch.tensor([[1] * len(r) + [0] * (T - len(r)) for r in rows])
    return ids, mask


@pytest.mark.slow
def test_a_llama_text_classifier_exports_for_transformers(tmp_path):
    folder = write_tiny_llama(tmp_path / "llama", head="LlamaModel")
    data = write_reviews(tmp_path / "reviews.csv", repeats=2)
    config = RunConfig(
        data=str(data), model=str(folder), output=str(tmp_path / "run"), epochs=1,
        batch_size=8, max_length=32, learning_rate=1e-3, precision="fp32",
    )  # fmt: skip
    result = train(config)
    assert result.status == "completed", result.error
    ours = load_predictor(result.run_dir).probabilities(TEXTS)

    exported = export_model(result.run_dir, tmp_path / "export", "hf")
    saved = json.loads((exported / "config.json").read_text())
    assert saved["architectures"] == ["LlamaForSequenceClassification"]
    tokenizer = TextTokenizer.from_folder(exported, 32)
    model = transformers.AutoModelForSequenceClassification.from_pretrained(exported).eval()
    ids, mask = _padded(tokenizer, TEXTS, tokenizer.pad_id)
    with torch.no_grad():
        theirs = model(input_ids=ids, attention_mask=mask).logits.softmax(-1).numpy()
    assert abs(theirs - ours).max() <= 1e-5


@pytest.mark.slow
@pytest.mark.parametrize("tied", [True, False], ids=["tied", "untied"])
def test_a_llama_causal_lm_exports_for_transformers(tmp_path, tied):
    from workbench.engine.tasks import TASK_NAMES

    if "causal-lm" not in TASK_NAMES:
        pytest.skip("the causal-lm task is not registered yet")
    folder = write_tiny_llama(tmp_path / "llama", tied=tied)
    data = tmp_path / "stories.txt"
    data.write_text("\n".join(CORPUS * 4) + "\n", encoding="utf-8")
    config = RunConfig(
        task="causal-lm", data=str(data), model=str(folder), output=str(tmp_path / "run"),
        epochs=1, batch_size=4, max_length=32, learning_rate=1e-3, precision="fp32",
    )  # fmt: skip
    result = train(config)
    assert result.status == "completed", result.error

    exported = export_model(result.run_dir, tmp_path / "export", "hf")
    from safetensors import safe_open

    with safe_open(str(exported / "model.safetensors"), "pt") as handle:
        assert ("lm_head.weight" in handle.keys()) is not tied  # a tied head is saved once
    model, info = transformers.AutoModelForCausalLM.from_pretrained(
        exported, output_loading_info=True
    )
    assert not info["missing_keys"] and not info["unexpected_keys"], info
    ours = build_model(exported, "causal-lm", 0).model.eval()
    assert (ours.lm_head.weight is ours.model.embed_tokens.weight) is tied
    tokenizer = TextTokenizer.from_folder(exported, 32)
    ids, mask = _padded(tokenizer, TEXTS, tokenizer.pad_id)
    with torch.no_grad():
        theirs = model.eval()(input_ids=ids, attention_mask=mask).logits
        got = ours(ids, mask)
    assert (theirs - got).abs()[mask.bool()].max().item() <= 1e-5
