"""LoRA and freezing through a real run on the bundled MiniLM: what is saved, what the events
say, the hf export (merged) and the peft export, checked with the `peft` library."""

from __future__ import annotations

import json

import pytest
import torch

from workbench.config import RunConfig
from workbench.engine import export_model, load_predictor, train
from workbench.engine.events import RunStarted
from workbench.engine.models.registry import default_model_path
from workbench.engine.trained import load_trained
from workbench.errors import UserError


def small_config(data, **overrides) -> RunConfig:
    values = dict(
        data=str(data), epochs=1, batch_size=8, max_length=32, log_every_steps=1, learning_rate=1e-3
    )
    values.update(overrides)
    return RunConfig(**values)


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory):
    from reviews_data import write_reviews

    folder = tmp_path_factory.mktemp("lora")
    data = write_reviews(folder / "reviews.csv", repeats=4)
    events = []
    # LoRA wants a larger rate than full fine-tuning (its updates start at zero)
    config = small_config(
        data, output=str(folder / "run"), lora_rank=4, epochs=3, learning_rate=3e-3
    )
    result = train(config, on_event=events.append)
    assert result.status == "completed", result.error
    return result.run_dir, events


def probe_ids() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(1000, 30000, (2, 12), generator=g)
    ids[:, 0], ids[:, -1] = 101, 102  # [CLS] … [SEP]
    mask = torch.ones_like(ids)
    mask[1, 8:] = 0
    return ids, mask


def test_a_lora_run_reports_counts_and_saves_merged_model_and_adapter(lora_run):
    run_dir, events = lora_run
    started = next(e for e in events if isinstance(e, RunStarted))
    # MiniLM: 6 layers x (query, value) x rank 4 x (384 in + 384 out) + the 2-label classifier
    assert started.trainable_parameters == 6 * 2 * 4 * 768 + 384 * 2 + 2
    assert started.total_parameters > 22_000_000
    model = run_dir / "model"
    with open(model / "model.safetensors", "rb") as handle:
        header = json.loads(handle.read(int.from_bytes(handle.read(8), "little")))
    assert not [k for k in header if "lora" in k], "the run's model must be plain (merged)"
    config = json.loads((model / "adapter" / "adapter_config.json").read_text())
    assert config["r"] == 4 and config["lora_alpha"] == 8.0
    assert config["target_modules"] == ["query", "value"]
    assert config["modules_to_save"] == ["classifier"]
    assert config["base_model_name_or_path"] == str(default_model_path().resolve())
    predictions = load_predictor(run_dir).predict(["a wonderful film"])
    assert predictions[0]["label"] in ("positive", "negative")


def test_the_run_learned_and_the_base_weights_moved_only_through_the_adapter(lora_run):
    from workbench.engine.checkpoint import read_state_dict

    run_dir, _ = lora_run
    results = json.loads((run_dir / "eval_results.json").read_text())
    assert results["accuracy"] >= 0.75  # 8 held-out reviews; chance is 0.5
    base = read_state_dict(default_model_path())
    trained = read_state_dict(run_dir / "model")
    changed = {k for k, v in base.items() if f"bert.{k}" in trained}
    changed = {k for k in changed if not torch.equal(base[k], trained[f"bert.{k}"])}
    assert changed and all(k.endswith(("query.weight", "value.weight")) for k in changed)


def test_hf_export_of_a_lora_run_is_the_merged_model(lora_run, tmp_path):
    from transformers import AutoModelForSequenceClassification

    run_dir, _ = lora_run
    out = export_model(run_dir, tmp_path / "hf", "hf")
    assert not (out / "adapter").exists()
    reference = AutoModelForSequenceClassification.from_pretrained(out).eval()
    ours = load_trained(run_dir).model
    ids, mask = probe_ids()
    with torch.no_grad():
        expected = reference(input_ids=ids, attention_mask=mask).logits
        got = ours(ids, mask)
    assert (got - expected).abs().max().item() < 1e-5


def test_peft_export_loads_in_the_peft_library_with_our_outputs(lora_run, tmp_path):
    peft = pytest.importorskip("peft")
    from transformers import AutoModelForSequenceClassification

    run_dir, _ = lora_run
    out = export_model(run_dir, tmp_path / "adapter", "peft")
    assert {p.name for p in out.iterdir()} == {
        "adapter_config.json",
        "adapter_model.safetensors",
        "README.md",
    }
    config = json.loads((out / "adapter_config.json").read_text())
    base = AutoModelForSequenceClassification.from_pretrained(
        config["base_model_name_or_path"], num_labels=2
    )
    model = peft.PeftModel.from_pretrained(base, out).eval()
    ours = load_trained(run_dir).model
    ids, mask = probe_ids()
    with torch.no_grad():
        expected = model(input_ids=ids, attention_mask=mask).logits
        got = ours(ids, mask)
    assert (got - expected).abs().max().item() < 1e-5
    # and the adapter really is needed: the base model alone gives other outputs
    with torch.no_grad():
        bare = AutoModelForSequenceClassification.from_pretrained(
            config["base_model_name_or_path"], num_labels=2
        ).eval()(input_ids=ids, attention_mask=mask)
    assert (bare.logits - expected).abs().max().item() > 1e-3


def test_peft_export_of_a_run_without_lora_is_refused(trained_run, tmp_path):
    with pytest.raises(UserError, match="no LoRA adapter.*--format hf"):
        export_model(trained_run, tmp_path / "adapter", "peft")
    assert not (tmp_path / "adapter").exists()


def test_bad_freezing_is_refused_before_a_run_folder_exists(reviews_csv, tmp_path):
    out = tmp_path / "run"
    with pytest.raises(UserError, match="--freeze-layers 7 is more than this model's 6 layers"):
        train(small_config(reviews_csv, output=str(out), freeze_layers=7))
    with pytest.raises(UserError, match="--lora-targets 'nothing' matches no linear layer"):
        train(small_config(reviews_csv, output=str(out), lora_rank=2, lora_targets="nothing"))
    assert not out.exists()


def test_a_frozen_run_keeps_the_frozen_weights(reviews_csv, tmp_path):
    from workbench.engine.checkpoint import read_state_dict

    events = []
    result = train(
        small_config(
            reviews_csv,
            output=str(tmp_path / "run"),
            freeze_layers=4,
            freeze_embeddings=True,
            gradient_checkpointing=True,
        ),
        on_event=events.append,
    )
    assert result.status == "completed", result.error
    base = read_state_dict(default_model_path())
    trained = read_state_dict(result.run_dir / "model")
    frozen = ("embeddings.",) + tuple(f"encoder.layer.{i}." for i in range(4))
    for key, value in base.items():
        if key.endswith("position_ids"):
            continue
        same = torch.equal(value, trained[f"bert.{key}"])
        assert same == key.startswith(frozen), key
    started = next(e for e in events if isinstance(e, RunStarted))
    assert 0 < started.trainable_parameters < started.total_parameters
