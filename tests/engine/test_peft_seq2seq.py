"""LoRA, freezing and gradient checkpointing on the encoder-decoders (T5 v1.0 and v1.1, BART):
the presets reach both stacks (cross-attention included, as peft's defaults do),
--freeze-layers N freezes the encoder's bottom N and the decoder's bottom N, the adapter
merges into a plain model, and its PEFT export loads in the `peft` library on transformers'
T5ForConditionalGeneration / BartForConditionalGeneration with our outputs (within 1e-5).
A LoRA seq2seq run on a tiny T5 goes through training to both exports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from tiny_bart import write_tiny_bart  # tests/ is on the path (conftest)
from tiny_t5 import write_tiny_t5

from workbench.config import RunConfig
from workbench.engine.models.family import SEQ2SEQ_LM, SEQUENCE_CLASSIFICATION
from workbench.engine.models.loading import build_model
from workbench.engine.peft.adapter import write_adapter
from workbench.engine.peft.apply import apply_parameter_efficiency, check_for_model, layer_count
from workbench.engine.peft.lora import LoRALinear, lora_modules, merge_lora
from workbench.errors import UserError

transformers = pytest.importorskip("transformers")

CASES = {
    # name: (writer, settings, transformers class)
    "t5-v1.0": (write_tiny_t5, {}, "T5ForConditionalGeneration"),
    "t5-v1.1": (write_tiny_t5, {"gated": True, "tied": False}, "T5ForConditionalGeneration"),
    "bart": (write_tiny_bart, {}, "BartForConditionalGeneration"),
}


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("seq2seq-peft")
    return {name: writer(root / name, **settings) for name, (writer, settings, _) in CASES.items()}


def peft_model(folder: Path, kind: str = SEQ2SEQ_LM, outputs: int = 0, **settings):
    """The model with `settings` applied; LoRA's B weights given a size so the update shows."""
    loaded = build_model(folder, kind, outputs, dropout=0.0)
    model = loaded.model.eval()
    torch.manual_seed(3)  # LoRA's A starts random: the same for the same settings
    counts = apply_parameter_efficiency(
        model, loaded.family, loaded.family.head(kind), RunConfig(**settings), loaded.fresh
    )
    with torch.no_grad():
        for module in lora_modules(model).values():
            module.lora_B.weight.normal_(std=0.05)
    return model, counts, loaded


def probe(bart: bool):
    """Encoder ids ending in </s> (one row padded) and decoder ids starting with the start
    token (one row padded): ids, mask, decoder ids, decoder mask."""
    eos, pad, start = (2, 1, 2) if bart else (1, 0, 0)
    ids = torch.tensor([[5, 17, 40, 22, 9, eos], [7, 8, 9, eos, pad, pad]])
    mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]])
    decoder = torch.tensor([[start, 12, 30, 4], [start, 6, pad, pad]])
    decoder_mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]])
    return ids, mask, decoder, decoder_mask


def run(model, bart: bool) -> torch.Tensor:
    ids, mask, decoder, decoder_mask = probe(bart)
    logits = model(ids, mask, decoder_input_ids=decoder, decoder_attention_mask=decoder_mask)
    return logits[decoder_mask.bool()]  # (real decoder tokens, V)


@pytest.mark.parametrize(
    "name, targets, inside",
    [
        ("t5-v1.0", "default", {"SelfAttention.q", "SelfAttention.v", "EncDecAttention.q",
                                "EncDecAttention.v"}),
        ("t5-v1.0", "all", {"SelfAttention.q", "SelfAttention.k", "SelfAttention.v",
                            "SelfAttention.o", "EncDecAttention.q", "EncDecAttention.k",
                            "EncDecAttention.v", "EncDecAttention.o", "DenseReluDense.wi",
                            "DenseReluDense.wo"}),
        ("t5-v1.1", "all", {"SelfAttention.q", "SelfAttention.k", "SelfAttention.v",
                            "SelfAttention.o", "EncDecAttention.q", "EncDecAttention.k",
                            "EncDecAttention.v", "EncDecAttention.o", "DenseReluDense.wi_0",
                            "DenseReluDense.wi_1", "DenseReluDense.wo"}),
        ("bart", "default", {"self_attn.q_proj", "self_attn.v_proj", "encoder_attn.q_proj",
                             "encoder_attn.v_proj"}),
        ("bart", "attention", {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                               "self_attn.out_proj", "encoder_attn.q_proj", "encoder_attn.k_proj",
                               "encoder_attn.v_proj", "encoder_attn.out_proj"}),
    ],
)  # fmt: skip
def test_lora_presets_reach_both_stacks(folders, name, targets, inside):
    model, counts, _ = peft_model(folders[name], lora_rank=4, lora_targets=targets)
    wrapped = list(lora_modules(model))
    bart = name == "bart"
    stacks = (
        ("model.encoder.layers.", "model.decoder.layers.") if bart else ("encoder.", "decoder.")
    )
    for stack in stacks:  # every layer of both stacks
        assert {n.split(".")[3 if bart else 2] for n in wrapped if n.startswith(stack)} == {
            "0",
            "1",
        }
    assert {n.rsplit(".", 2)[-2] + "." + n.rsplit(".", 1)[-1] for n in wrapped} == inside
    assert 0 < counts.trainable < counts.total
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(".lora_A." in n or ".lora_B." in n for n in trainable)


@pytest.mark.parametrize("name", list(CASES))
def test_step_zero_is_the_base_model_and_merging_keeps_outputs(folders, name):
    bart = name == "bart"
    base = build_model(folders[name], SEQ2SEQ_LM, 0).model.eval()
    model, _, _ = peft_model(folders[name], lora_rank=4, lora_targets="all")
    with torch.no_grad():
        saved = {}
        for key, module in lora_modules(model).items():
            saved[key] = module.lora_B.weight.clone()
            module.lora_B.weight.zero_()
        assert (run(model, bart) - run(base, bart)).abs().max() < 1e-5
        for key, module in lora_modules(model).items():
            module.lora_B.weight.copy_(saved[key])
        with_adapter = run(model, bart)
        assert (with_adapter - run(base, bart)).abs().max() > 1e-3
        merged = merge_lora(model)
        assert not any(isinstance(m, LoRALinear) for m in merged.modules())
        # v1.1's own head gives logits of ~10: float32 rounding of W + BA is relative
        assert torch.allclose(run(merged, bart), with_adapter, rtol=1e-5, atol=1e-5)
    if not bart:  # the tie (v1.0) or its absence (v1.1) survives merging
        assert (merged.lm_head.weight is merged.shared.weight) == (name == "t5-v1.0")


@pytest.mark.parametrize("name", list(CASES))
def test_the_peft_export_loads_in_peft_with_our_outputs(folders, name, tmp_path):
    peft = pytest.importorskip("peft")
    folder, bart = folders[name], name == "bart"
    model, _, _ = peft_model(folder, lora_rank=4, lora_targets="all")
    out = tmp_path / "adapter"
    write_adapter(out, model, [], folder, SEQ2SEQ_LM)
    config = json.loads((out / "adapter_config.json").read_text())
    assert config["task_type"] == "SEQ_2_SEQ_LM" and config["fan_in_fan_out"] is False
    assert config["modules_to_save"] is None
    base = getattr(transformers, CASES[name][2]).from_pretrained(folder)
    reference = peft.PeftModel.from_pretrained(base, out).eval()
    ids, mask, decoder, decoder_mask = probe(bart)
    with torch.no_grad():
        expected = reference(
            input_ids=ids,
            attention_mask=mask,
            decoder_input_ids=decoder,
            decoder_attention_mask=decoder_mask,
        ).logits[decoder_mask.bool()]
        got = run(model, bart)
        bare = getattr(transformers, CASES[name][2]).from_pretrained(folder).eval()
        plain = bare(
            input_ids=ids,
            attention_mask=mask,
            decoder_input_ids=decoder,
            decoder_attention_mask=decoder_mask,
        ).logits[decoder_mask.bool()]
    assert (got - expected).abs().max().item() < 1e-5
    assert (plain - expected).abs().max().item() > 1e-3  # the adapter is what peft applied


def test_a_t5_classifier_takes_lora_under_its_transformer_prefix(folders, tmp_path):
    peft = pytest.importorskip("peft")
    folder = folders["t5-v1.1"]
    model, counts, loaded = peft_model(folder, SEQUENCE_CLASSIFICATION, 3, lora_rank=2)
    wrapped = list(lora_modules(model))
    assert wrapped and all(n.startswith("transformer.") for n in wrapped)
    assert any(n.startswith("transformer.decoder.") for n in wrapped)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert {n for n in trainable if "lora_" not in n} == set(loaded.fresh)
    assert all(n.startswith("classification_head.") for n in loaded.fresh)
    out = tmp_path / "adapter"
    write_adapter(out, model, ["classification_head"], folder, SEQUENCE_CLASSIFICATION)
    base = transformers.T5ForSequenceClassification.from_pretrained(folder, num_labels=3)
    reference = peft.PeftModel.from_pretrained(base, out).eval()
    ids, mask, _, _ = probe(bart=False)
    with torch.no_grad():
        expected = reference(input_ids=ids, attention_mask=mask).logits
        got = model(ids, mask)
    assert (got - expected).abs().max().item() < 1e-5


def test_a_bart_classifier_keeps_its_head_out_of_the_lora_layers(folders):
    model, _, loaded = peft_model(
        folders["bart"], SEQUENCE_CLASSIFICATION, 2, lora_rank=2, lora_targets="attention"
    )
    wrapped = list(lora_modules(model))
    assert wrapped and all(n.startswith(("model.encoder.", "model.decoder.")) for n in wrapped)
    assert model.classification_head.out_proj.weight.requires_grad  # new: trains whole


@pytest.mark.parametrize("name", list(CASES))
def test_freeze_layers_freezes_the_bottom_of_each_stack(folders, name):
    model, counts, _ = peft_model(folders[name], freeze_layers=1, freeze_embeddings=True)
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    bottom = (
        ("model.encoder.layers.0.", "model.decoder.layers.0.", "model.shared.",
         "model.encoder.embed_positions.", "model.decoder.embed_positions.",
         "model.encoder.layernorm_embedding.", "model.decoder.layernorm_embedding.")
        if name == "bart"
        else ("encoder.block.0.", "decoder.block.0.", "shared.")
    )  # fmt: skip
    assert frozen == {n for n, _ in model.named_parameters() if n.startswith(bottom)}
    assert any(
        ".1." in n and "decoder" in n for n, p in model.named_parameters() if p.requires_grad
    )
    assert 0 < counts.trainable < counts.total


def test_freeze_layers_counts_the_deepest_stack(tmp_path):
    """Encoder 2 blocks, decoder 3: N may be 3 (the encoder then freezes whole), not 4."""
    folder = write_tiny_t5(tmp_path / "deeper", num_decoder_layers=3)
    loaded = build_model(folder, SEQ2SEQ_LM, 0)
    assert layer_count(loaded.model, loaded.family) == 3
    model, _, _ = peft_model(folder, freeze_layers=3)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert not any(n.startswith(("encoder.block.", "decoder.block.")) for n in trainable)
    assert "encoder.final_layer_norm.weight" in trainable and "shared.weight" in trainable
    with pytest.raises(UserError, match="--freeze-layers 4 is more than this model's 3 layers"):
        check_for_model(RunConfig(freeze_layers=4), loaded.family, loaded.raw_config, SEQ2SEQ_LM, 0)


@pytest.mark.parametrize("name", ["t5-v1.1", "bart"])
def test_gradient_checkpointing_gives_the_same_gradients(folders, name):
    bart = name == "bart"
    grads = []
    for checkpointing in (False, True):
        model, _, _ = peft_model(folders[name], lora_rank=2, gradient_checkpointing=checkpointing)
        model.train()
        run(model, bart).float().logsumexp(-1).mean().backward()
        got = {n: p.grad for n, p in model.named_parameters() if p.requires_grad}
        assert got and all(g is not None for g in got.values())
        grads.append(got)
    assert grads[0].keys() == grads[1].keys()
    for key, value in grads[0].items():
        assert torch.allclose(value, grads[1][key], atol=1e-6), key


def test_head_only_on_a_tied_lm_head_is_refused(folders):
    with pytest.raises(UserError, match="leave nothing to train"):
        peft_model(folders["bart"], head_only=True)
    model, counts, _ = peft_model(folders["t5-v1.1"], head_only=True)  # its own lm_head
    assert {n for n, p in model.named_parameters() if p.requires_grad} == {"lm_head.weight"}


PAIRS = [
    ("the house is big", "das haus ist gross"),
    ("the cat is small", "die katze ist klein"),
    ("the day is long", "der tag ist lang"),
    ("the train is late", "der zug ist spaet"),
]


@pytest.mark.slow
def test_a_lora_seq2seq_run_on_t5_exports_merged_and_as_an_adapter(tmp_path):
    peft = pytest.importorskip("peft")
    from workbench.engine import export_model, train
    from workbench.engine.events import RunStarted
    from workbench.engine.trained import load_trained

    folder = write_tiny_t5(tmp_path / "t5", gated=True, tied=False)
    data = tmp_path / "pairs.csv"
    rows = ["source,target"] + [f"{s},{t}" for s, t in PAIRS * 6]
    data.write_text("\n".join(rows) + "\n", encoding="utf-8")
    events = []
    result = train(
        RunConfig(
            task="seq2seq",
            data=str(data),
            model=str(folder),
            output=str(tmp_path / "run"),
            epochs=1,
            batch_size=8,
            max_length=16,
            learning_rate=3e-3,
            lora_rank=4,
            lora_targets="all",
            gradient_checkpointing=True,
        ),  # fmt: skip
        on_event=events.append,
    )
    assert result.status == "completed", result.error
    started = next(e for e in events if isinstance(e, RunStarted))
    assert 0 < started.trainable_parameters < started.total_parameters
    adapter = result.run_dir / "model" / "adapter"
    assert json.loads((adapter / "adapter_config.json").read_text())["r"] == 4

    ours = load_trained(result.run_dir).model.eval()
    ids, mask, decoder, decoder_mask = probe(bart=False)
    inputs = dict(
        input_ids=ids,
        attention_mask=mask,
        decoder_input_ids=decoder,
        decoder_attention_mask=decoder_mask,
    )
    real = decoder_mask.bool()
    with torch.no_grad():
        got = run(ours, bart=False)
    merged = export_model(result.run_dir, tmp_path / "hf", "hf")
    assert not (merged / "adapter").exists()
    reference = transformers.AutoModelForSeq2SeqLM.from_pretrained(merged).eval()
    with torch.no_grad():
        assert torch.allclose(reference(**inputs).logits[real], got, rtol=1e-5, atol=1e-5)
    out = export_model(result.run_dir, tmp_path / "adapter", "peft")
    base = transformers.T5ForConditionalGeneration.from_pretrained(folder)
    with_adapter = peft.PeftModel.from_pretrained(base, out).eval()
    with torch.no_grad():
        # merged (ours) against W and BA apart (peft): rounding relative to logits of ~10
        assert torch.allclose(with_adapter(**inputs).logits[real], got, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize(
    "settings",
    [
        {"lora_rank": 4},
        {"lora_rank": 4, "lora_targets": "all"},
        {"freeze_layers": 1, "freeze_embeddings": True},
    ],
)
def test_the_model_pages_estimate_is_what_a_run_trains(folders, name, settings):
    """Built on the meta device from config.json and the weight headers: v1.1's own LM head
    is the checkpoint's (frozen under LoRA), not a new head."""
    from workbench import engine
    from workbench.engine.models.registry import describe_model

    _, counts, _ = peft_model(folders[name], **settings)
    estimate = engine.parameter_counts(folders[name], "seq2seq", settings)
    assert estimate == {"trainable": counts.trainable, "total": counts.total}
    assert describe_model(str(folders[name]))["layers"] == 2  # the freeze control's maximum
