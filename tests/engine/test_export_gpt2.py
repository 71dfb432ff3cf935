"""GPT-2 runs export as Hugging Face folders that `transformers` loads with Workbench's outputs:
a sequence classifier (padded with the end-of-text token) and a causal LM."""

from __future__ import annotations

import json

import pytest
import torch
from reviews_data import write_reviews
from tiny_gpt2 import CORPUS, write_tiny_gpt2

from workbench.config import RunConfig
from workbench.engine import export_model, load_predictor, train
from workbench.engine.tokenizer import TextTokenizer

transformers = pytest.importorskip("transformers")
TEXTS = ["a wonderful film with a warm heart", "rude staff and awful coffee", "ok"]


def _padded(tokenizer: TextTokenizer, texts: list[str], pad_id: int):
    """Right-padded (ids, mask) as Workbench's collator pads them."""
    rows = tokenizer.encode(texts)
    T = max(map(len, rows))
    ids = torch.tensor([r + [pad_id] * (T - len(r)) for r in rows])
    mask = torch.tensor([[1] * len(r) + [0] * (T - len(r)) for r in rows])
    return ids, mask


@pytest.mark.slow
def test_a_gpt2_text_classifier_exports_for_transformers(tmp_path):
    folder = write_tiny_gpt2(tmp_path / "gpt2", head="GPT2Model")
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
    tokenizer = TextTokenizer.from_folder(exported, 32)
    assert saved["pad_token_id"] == tokenizer.pad_id == tokenizer.eos_id
    assert saved["architectures"] == ["GPT2ForSequenceClassification"]
    assert "AutoModelForSequenceClassification" in (exported / "README.md").read_text()
    model = transformers.AutoModelForSequenceClassification.from_pretrained(exported).eval()
    ids, mask = _padded(tokenizer, TEXTS, tokenizer.pad_id)
    with torch.no_grad():
        theirs = model(input_ids=ids, attention_mask=mask).logits.softmax(-1).numpy()
    assert abs(theirs - ours).max() <= 1e-5


@pytest.mark.slow
def test_a_gpt2_causal_lm_exports_for_transformers(tmp_path):
    from workbench.engine.tasks import TASK_NAMES

    if "causal-lm" not in TASK_NAMES:
        pytest.skip("the causal-lm task is not registered yet")
    from workbench.engine.models.loading import build_model

    folder = write_tiny_gpt2(tmp_path / "gpt2")
    data = tmp_path / "stories.txt"
    data.write_text("\n".join(CORPUS * 4) + "\n", encoding="utf-8")
    config = RunConfig(
        task="causal-lm", data=str(data), model=str(folder), output=str(tmp_path / "run"),
        epochs=1, batch_size=4, max_length=32, learning_rate=1e-3, precision="fp32",
    )  # fmt: skip
    result = train(config)
    assert result.status == "completed", result.error

    exported = export_model(result.run_dir, tmp_path / "export", "hf")
    assert "AutoModelForCausalLM" in (exported / "README.md").read_text()
    model = transformers.AutoModelForCausalLM.from_pretrained(exported).eval()
    ours = build_model(exported, "causal-lm", 0).model.eval()
    tokenizer = TextTokenizer.from_folder(exported, 32)
    ids, mask = _padded(tokenizer, TEXTS, tokenizer.pad_id)
    with torch.no_grad():
        theirs = model(input_ids=ids, attention_mask=mask).logits
        got = ours(ids, mask)
    assert (theirs - got).abs()[mask.bool()].max().item() <= 1e-5
    # and it still generates what transformers generates
    prompt = tokenizer.encode_prompt("The quick")
    with torch.no_grad():
        expected = model.generate(
            torch.tensor([prompt]), max_new_tokens=8, do_sample=False, pad_token_id=0
        )[0, len(prompt) :].tolist()
    from workbench.engine.generation.generate import GenerationSettings, generate

    got_ids = list(generate(ours, tokenizer, prompt, GenerationSettings(max_new_tokens=8)))
    assert got_ids == expected[: len(got_ids)] and (
        len(got_ids) == 8 or expected[len(got_ids)] == tokenizer.eos_id
    )
