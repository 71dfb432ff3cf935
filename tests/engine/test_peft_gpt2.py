"""LoRA on GPT-2, whose projections are `Conv1D`s (weights stored (in, out)): the adapter
trains, merges into a plain GPT-2, and its PEFT export loads in the `peft` library with our
outputs (peft's `fan_in_fan_out` layout)."""

from __future__ import annotations

import json

import pytest
import torch

from tests.tiny_gpt2 import write_tiny_gpt2
from workbench.config import RunConfig
from workbench.engine.models.family import CAUSAL_LM
from workbench.engine.models.gpt2 import Conv1D
from workbench.engine.models.loading import build_model
from workbench.engine.peft.adapter import write_adapter
from workbench.engine.peft.apply import apply_parameter_efficiency
from workbench.engine.peft.lora import LoRALinear, lora_modules, merge_lora


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return write_tiny_gpt2(tmp_path_factory.mktemp("gpt2") / "model")


def lora_model(folder, targets: str = "default"):
    loaded = build_model(folder, CAUSAL_LM, 0)
    model = loaded.model.eval()
    config = RunConfig(lora_rank=4, lora_targets=targets)
    counts = apply_parameter_efficiency(model, loaded.family, loaded.family.head(CAUSAL_LM), config)
    torch.manual_seed(3)
    with torch.no_grad():  # B starts at zero: give the update a size so it shows
        for module in lora_modules(model).values():
            module.lora_B.weight.normal_(std=0.05)
    return model, counts


def probe():
    ids = torch.tensor([[5, 17, 40, 2, 9, 11], [7, 8, 9, 10, 0, 0]])
    return ids, torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]])


@pytest.mark.parametrize(
    "targets, wrapped",
    [
        ("default", {"attn.c_attn"}),
        ("attention", {"attn.c_attn", "attn.c_proj"}),
        ("all", {"attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"}),
    ],
)
def test_lora_presets_wrap_gpt2_conv1d_projections(folder, targets, wrapped):
    model, counts = lora_model(folder, targets)
    names = lora_modules(model)
    assert {name.split(".", 3)[3] for name in names} == wrapped
    assert all(m.fan_in_fan_out for m in names.values())
    assert 0 < counts.trainable < counts.total
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(".lora_A." in n or ".lora_B." in n for n in trainable)


def test_step_zero_is_the_base_model_and_merging_keeps_outputs(folder):
    base = build_model(folder, CAUSAL_LM, 0).model.eval()
    model, _ = lora_model(folder)
    ids, mask = probe()
    with torch.no_grad():
        for module in lora_modules(model).values():
            saved = module.lora_B.weight.clone()
            module.lora_B.weight.zero_()
        assert torch.allclose(model(ids, mask), base(ids, mask), atol=1e-5)
        for module in lora_modules(model).values():
            module.lora_B.weight.copy_(saved)
        with_adapter = model(ids, mask)
        assert (with_adapter - base(ids, mask)).abs().max() > 1e-3
        merged = merge_lora(model)
        assert not any(isinstance(m, LoRALinear) for m in merged.modules())
        assert isinstance(merged.transformer.h[0].attn.c_attn, Conv1D)
        assert (merged(ids, mask) - with_adapter).abs().max() < 1e-5


def test_gradients_reach_only_the_adapters(folder):
    model, _ = lora_model(folder)
    ids, mask = probe()
    model.train()
    logits = model(ids, mask)
    logits.float().logsumexp(-1).mean().backward()
    grads = {n for n, p in model.named_parameters() if p.grad is not None}
    assert grads == {n for n, p in model.named_parameters() if p.requires_grad}
    assert any(".lora_A." in n for n in grads)


def test_peft_export_of_gpt2_loads_in_peft_with_our_outputs(folder, tmp_path):
    peft = pytest.importorskip("peft")
    from transformers import GPT2LMHeadModel

    model, _ = lora_model(folder)
    out = tmp_path / "adapter"
    write_adapter(out, model, [], folder, CAUSAL_LM)
    config = json.loads((out / "adapter_config.json").read_text())
    assert config["fan_in_fan_out"] is True
    assert config["target_modules"] == ["c_attn"]
    reference = peft.PeftModel.from_pretrained(GPT2LMHeadModel.from_pretrained(folder), out)
    ids, mask = probe()
    with torch.no_grad():
        expected = reference.eval()(input_ids=ids, attention_mask=mask).logits
        got = model(ids, mask)
    real = mask.bool()
    assert (got[real] - expected[real]).abs().max().item() < 1e-4
