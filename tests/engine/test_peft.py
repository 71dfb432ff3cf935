"""Freezing, LoRA and gradient checkpointing, on every encoder family (small random models)
and on the bundled MiniLM."""

from __future__ import annotations

import copy

import pytest
import torch

from workbench.config import RunConfig
from workbench.engine.models.family import SEQUENCE_CLASSIFICATION, TOKEN_CLASSIFICATION
from workbench.engine.models.registry import default_model_path, load_family
from workbench.engine.peft.apply import (
    apply_parameter_efficiency,
    count_parameters,
    estimate_counts,
    layer_count,
)
from workbench.engine.peft.lora import LoRALinear, lora_modules, merge_lora
from workbench.errors import UserError

SMALL = {
    "bert": dict(
        vocab_size=99,
        hidden_size=32,
        num_hidden_layers=3,
        num_attention_heads=4,
        intermediate_size=37,
    ),
    "roberta": dict(
        vocab_size=99,
        hidden_size=32,
        num_hidden_layers=3,
        num_attention_heads=4,
        intermediate_size=37,
    ),
    "distilbert": dict(vocab_size=99, dim=32, n_layers=3, n_heads=4, hidden_dim=37),
}
FAMILIES = tuple(SMALL)


def small_model(family_name: str, kind: str = SEQUENCE_CLASSIFICATION, outputs: int = 3):
    family = load_family(family_name)
    torch.manual_seed(0)
    config = family.config_from_dict({**SMALL[family_name], "model_type": family_name})
    model = family.head(kind).build(config, outputs)
    model.eval()
    return family, family.head(kind), model


def head_names(model, head) -> list[str]:
    return [n for n, _ in model.named_parameters() if n.startswith(head.new_prefixes)]


def batch(seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, 99, (3, 9), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0
    mask[2, 3:] = 0
    return ids.masked_fill(mask == 0, 0), mask


def lora(rank: int = 4, **values) -> RunConfig:
    return RunConfig(lora_rank=rank, **values)


@pytest.mark.parametrize("family_name", FAMILIES)
def test_lora_at_step_zero_computes_exactly_the_base_model(family_name):
    family, head, model = small_model(family_name)
    ids, mask = batch()
    # As a training step computes it (with gradients): without them BERT's pooled heads take
    # a shortcut through the last layer whose rounding differs in the 8th digit.
    expected = model(ids, mask).detach()
    apply_parameter_efficiency(model, family, head, lora(4), head_names(model, head))
    assert lora_modules(model), "no layer was wrapped"
    got = model(ids, mask).detach()
    assert torch.equal(got, expected)


@pytest.mark.parametrize("family_name", FAMILIES)
def test_lora_trains_only_the_adapters_and_the_new_head(family_name):
    family, head, model = small_model(family_name)
    new = head_names(model, head)
    apply_parameter_efficiency(model, family, head, lora(4), new)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    adapters = {n for n in trainable if ".lora_A." in n or ".lora_B." in n}
    assert trainable == adapters | set(new)
    wrapped = set(lora_modules(model))
    suffixes = family.lora_targets["default"]
    # the default targets are the attention query and value of every layer, nothing else
    assert len(wrapped) == 2 * layer_count(model, family)
    assert all(name.rpartition(".")[2] in suffixes for name in wrapped)
    assert all(name.startswith(family.layers_prefix) for name in wrapped)


@pytest.mark.parametrize("family_name", FAMILIES)
def test_a_few_lora_steps_change_only_the_adapters_and_the_head(family_name):
    family, head, model = small_model(family_name)
    new = head_names(model, head)
    apply_parameter_efficiency(model, family, head, lora(4, lora_targets="all"), new)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    model.train()
    ids, mask = batch()
    labels = torch.tensor([0, 1, 2])
    for _ in range(3):
        loss = torch.nn.functional.cross_entropy(model(ids, mask), labels)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    changed = {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    expected = {k for k in before if ".lora_B." in k or ".lora_A." in k or k in new}
    assert changed == expected


@pytest.mark.parametrize("family_name", FAMILIES)
def test_merging_gives_the_same_outputs_and_a_plain_model(family_name):
    family, head, model = small_model(family_name)
    base_keys = set(model.state_dict())
    apply_parameter_efficiency(model, family, head, lora(4, lora_targets="all"), [])
    with torch.no_grad():
        for module in lora_modules(model).values():
            module.lora_B.weight.normal_(0.0, 0.05)  # as after training: B is no longer 0
    ids, mask = batch()
    with torch.no_grad():
        unmerged = model(ids, mask)
        merged_model = merge_lora(copy.deepcopy(model))
        merged = merged_model(ids, mask)
    assert not torch.allclose(unmerged, small_model(family_name)[2](ids, mask), atol=1e-4)
    assert (merged - unmerged).abs().max().item() < 1e-5
    assert set(merged_model.state_dict()) == base_keys
    assert not any(isinstance(m, LoRALinear) for m in merged_model.modules())


@pytest.mark.parametrize("family_name", FAMILIES)
def test_freeze_layers_freezes_exactly_the_bottom_n(family_name):
    family, head, model = small_model(family_name)
    apply_parameter_efficiency(model, family, head, RunConfig(freeze_layers=2), [])
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    bottom = tuple(f"{family.layers_prefix}{i}." for i in (0, 1))
    assert frozen == {n for n, _ in model.named_parameters() if n.startswith(bottom)}
    assert frozen


@pytest.mark.parametrize("family_name", FAMILIES)
def test_freeze_embeddings_and_head_only(family_name):
    family, head, model = small_model(family_name)
    apply_parameter_efficiency(model, family, head, RunConfig(freeze_embeddings=True), [])
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert frozen == {
        n for n, _ in model.named_parameters() if n.startswith(family.embedding_prefixes)
    }

    family, head, model = small_model(family_name)
    new = head_names(model, head)
    counts = apply_parameter_efficiency(model, family, head, RunConfig(head_only=True), new)
    assert {n for n, p in model.named_parameters() if p.requires_grad} == set(new)
    assert counts.trainable == sum(p.numel() for n, p in model.named_parameters() if n in new)


def test_head_only_on_a_checkpoint_that_has_its_head_trains_that_head():
    family, head, model = small_model("bert", TOKEN_CLASSIFICATION)
    apply_parameter_efficiency(model, family, head, RunConfig(head_only=True), fresh=[])
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"classifier.weight", "classifier.bias"}


def test_gradient_checkpointing_gives_the_same_gradients():
    family, head, model = small_model("bert")
    twin = copy.deepcopy(model)
    apply_parameter_efficiency(twin, family, head, RunConfig(gradient_checkpointing=True), [])
    ids, mask = batch()
    grads = []
    for m in (model, twin):
        m.train()
        torch.manual_seed(3)  # the same dropout masks in both (rates are 0.1)
        m.zero_grad()
        m(ids, mask).square().sum().backward()
        grads.append({n: p.grad.clone() for n, p in m.named_parameters()})
    assert set(model.state_dict()) == set(twin.state_dict())  # names unchanged
    for name, grad in grads[0].items():
        assert torch.allclose(grad, grads[1][name], atol=1e-6), name
    # a deep copy's checkpointed forward belongs to the copy, not to the original
    layer = copy.deepcopy(twin).bert.encoder.layer[0]
    assert layer.forward.__self__ is layer


def test_lora_targets_presets_names_and_errors():
    family, head, model = small_model("bert")
    apply_parameter_efficiency(model, family, head, lora(2, lora_targets="attention"), [])
    suffixes = {n.split("layer.0.", 1)[1] for n in lora_modules(model) if "layer.0." in n}
    assert suffixes == {
        "attention.self.query",
        "attention.self.key",
        "attention.self.value",
        "attention.output.dense",
    }
    family, head, model = small_model("distilbert")
    apply_parameter_efficiency(model, family, head, lora(2, lora_targets="q_lin, lin2"), [])
    assert {n.rpartition(".")[2] for n in lora_modules(model)} == {"q_lin", "lin2"}
    family, head, model = small_model("roberta")
    with pytest.raises(UserError, match="--lora-targets 'c_attn' matches no linear layer"):
        apply_parameter_efficiency(model, family, head, lora(2, lora_targets="c_attn"), [])


def test_lora_alpha_default_and_scaling():
    family, head, model = small_model("bert")
    apply_parameter_efficiency(model, family, head, lora(8), [])
    module = next(iter(lora_modules(model).values()))
    assert (module.rank, module.alpha, module.scaling) == (8, 16.0, 2.0)
    assert torch.equal(module.lora_B.weight, torch.zeros_like(module.lora_B.weight))
    assert module.lora_A.weight.abs().sum() > 0
    family, head, model = small_model("bert")
    apply_parameter_efficiency(model, family, head, lora(4, lora_alpha=1.0), [])
    assert next(iter(lora_modules(model).values())).scaling == 0.25


def test_too_many_frozen_layers_is_refused_naming_the_flag():
    family, head, model = small_model("bert")
    with pytest.raises(UserError, match="--freeze-layers 4 is more than this model's 3 layers"):
        apply_parameter_efficiency(model, family, head, RunConfig(freeze_layers=4), [])


@pytest.mark.parametrize(
    "values, message",
    [
        ({"lora_rank": -1}, "--lora-rank must be at least 1"),
        ({"lora_rank": 4, "lora_alpha": 0.0}, "lora_alpha must be greater than 0"),
        ({"lora_rank": 4, "lora_dropout": 1.0}, "--lora-dropout must be at least 0 and below 1"),
        ({"lora_rank": 4, "lora_dropout": -0.1}, "--lora-dropout must be at least 0"),
        ({"lora_alpha": 16.0}, "need --lora-rank"),
        ({"lora_rank": 4, "head_only": True}, "exclude each other"),
        ({"lora_rank": 4, "freeze_layers": 2}, "are for full fine-tuning"),
        ({"freeze_layers": -1}, "freeze_layers must be between 0"),
        ({"lora_rank": 4, "lora_targets": " "}, "--lora-targets must be"),
    ],
)
def test_bad_settings_are_refused(values, message):
    with pytest.raises(UserError, match=message):
        RunConfig(**values)


def test_counts_on_the_meta_device_equal_the_real_model():
    from workbench.engine.models.loading import build_model

    folder = default_model_path()
    for settings in ({}, {"lora_rank": 8}, {"head_only": True}, {"freeze_layers": 3}):
        estimate = estimate_counts("default", SEQUENCE_CLASSIFICATION, settings, num_outputs=2)
        loaded = build_model(folder, SEQUENCE_CLASSIFICATION, 2)
        family = loaded.family
        counts = apply_parameter_efficiency(
            loaded.model,
            family,
            family.head(SEQUENCE_CLASSIFICATION),
            RunConfig(**settings),
            loaded.fresh,
        )
        assert estimate == {"trainable": counts.trainable, "total": counts.total}, settings
        assert counts == count_parameters(loaded.model)
    lora8 = estimate_counts("default", SEQUENCE_CLASSIFICATION, {"lora_rank": 8})
    # MiniLM: 6 layers x (query, value) x 8 x (384 + 384), plus the 384x2+2 classifier
    assert lora8["trainable"] == 6 * 2 * 8 * (384 + 384) + 384 * 2 + 2
