"""Exports load in transformers and give Workbench's probabilities."""

from __future__ import annotations

import json

import pytest
import torch

from workbench.engine import export_hf, load_predictor
from workbench.errors import UserError

transformers = pytest.importorskip("transformers")

TEXTS = ["a wonderful film", "服务太差了，再也不来", "the worst meal we had all year, truly", "ok"]


def test_export_loads_in_transformers_with_the_same_probabilities(trained_run, tmp_path):
    folder = export_hf(trained_run, tmp_path / "export")
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    assert config["id2label"] == {"0": "negative", "1": "positive"}
    assert config["architectures"] == ["BertForSequenceClassification"]

    model = transformers.AutoModelForSequenceClassification.from_pretrained(folder).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    batch = tokenizer(TEXTS, padding=True, truncation=True, return_tensors="pt")
    with torch.no_grad():
        theirs = model(**batch).logits.softmax(-1).numpy()
    ours = load_predictor(trained_run).probabilities(TEXTS)
    assert abs(theirs - ours).max() <= 1e-5
    assert model.config.id2label[int(theirs[0].argmax())] in ("negative", "positive")
    # The export also loads back into Workbench.
    assert abs(load_predictor(folder).probabilities(TEXTS) - ours).max() <= 1e-6


def test_export_refuses_to_overwrite_a_folder_with_files(trained_run, tmp_path):
    target = tmp_path / "taken"
    target.mkdir()
    (target / "mine.txt").write_text("keep me")
    with pytest.raises(UserError, match="not empty"):
        export_hf(trained_run, target)
    assert (target / "mine.txt").read_text() == "keep me"


def test_a_base_model_is_not_an_exportable_classifier(tmp_path):
    from workbench.engine.models.registry import default_model_path

    with pytest.raises(UserError, match="not a trained model"):
        export_hf(default_model_path(), tmp_path / "out")
