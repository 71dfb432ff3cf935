"""Precision `auto` never picks a bf16 that this CPU runs slowly."""

from __future__ import annotations

import torch

from workbench.engine.training import precision as precision_module
from workbench.engine.training.precision import pick_precision


def test_auto_on_cpu_takes_fp32_without_amx(monkeypatch):
    monkeypatch.setattr(precision_module, "cpu_has_amx_bf16", lambda: False)
    monkeypatch.setattr(precision_module, "cpu_bf16_speedup", lambda: 55.7)  # not consulted
    chosen = pick_precision("auto", torch.device("cpu"))
    assert chosen.name == "fp32" and "no AMX" in chosen.reason


def test_auto_on_cpu_takes_bf16_with_amx(monkeypatch):
    monkeypatch.setattr(precision_module, "cpu_has_amx_bf16", lambda: True)
    monkeypatch.setattr(precision_module, "cpu_bf16_speedup", lambda: 0.5)  # not consulted
    chosen = pick_precision("auto", torch.device("cpu"))
    assert chosen.name == "bf16" and "AMX" in chosen.reason
    assert chosen.pad_multiple == precision_module.AMX_PAD_MULTIPLE == 1  # no padding waste


def test_auto_on_cpu_decides_the_same_way_whatever_a_timing_says(monkeypatch):
    # Under load a matmul probe measured 0.94x, 1.10x and >1.5x on one CPU; the choice must not flip.
    first = pick_precision("auto", torch.device("cpu"))
    for measured in (0.02, 0.94, 1.10, 55.7):
        monkeypatch.setattr(precision_module, "cpu_bf16_speedup", lambda m=measured: m)
        assert pick_precision("auto", torch.device("cpu")) == first


def test_amx_is_read_from_the_cpu_flags():
    try:
        flags = open("/proc/cpuinfo", encoding="utf-8").read().split()
    except OSError:
        flags = []
    expected = {"amx_bf16", "amx_tile"} <= set(flags)
    if expected and hasattr(torch._C._cpu, "_init_amx"):
        expected = bool(torch._C._cpu._init_amx())  # the kernel lets the process use them
    assert precision_module.cpu_has_amx_bf16() is expected


def test_bf16_asked_for_without_amx_pads_to_few_shapes(monkeypatch):
    monkeypatch.setattr(precision_module, "cpu_has_amx_bf16", lambda: False)
    assert pick_precision("bf16", torch.device("cpu")).pad_multiple == 16
    assert pick_precision("fp32", torch.device("cpu")).pad_multiple == 1


def test_padding_does_not_change_the_training_loss_or_its_gradients():
    """The lever (pad to 1 on AMX instead of 16) changes only the shapes the kernels see."""
    from workbench.engine.models.loading import build_model
    from workbench.engine.models.registry import default_model_path
    from workbench.engine.training.batching import collate

    torch.manual_seed(0)
    loaded = build_model(
        default_model_path(), "sequence-classification", 2, keep_head=False, dropout=0.0
    )
    model = loaded.model
    model.train()
    rows = [[101, 7592, 2088, 102], [101, 2023, 2003, 1037, 2936, 6251, 2182, 102], [101, 102]]
    labels = torch.tensor([0, 1, 1])
    results = []
    for multiple in (1, 16):
        ids, mask = collate(rows, [0, 1, 2], 0, multiple)
        assert ids.shape == (3, 8 if multiple == 1 else 16)
        model.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(ids, mask), labels)
        loss.backward()
        results.append((loss.detach(), [p.grad.clone() for p in model.parameters()]))
    (loss_1, grads_1), (loss_16, grads_16) = results
    torch.testing.assert_close(loss_1, loss_16, rtol=1e-5, atol=1e-6)
    for a, b in zip(grads_1, grads_16, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_the_probe_measures_this_cpu():
    speedup = precision_module.cpu_bf16_speedup()
    assert speedup > 0
    if torch.backends.cpu.get_cpu_capability() == "AVX2":
        assert speedup < 1  # no native bf16: emulated bf16 is slower


def test_explicit_choices_are_respected_and_fp16_on_cpu_is_refused():
    import pytest

    from workbench.errors import UserError

    assert pick_precision("fp32", torch.device("cpu")).name == "fp32"
    assert pick_precision("bf16", torch.device("cpu")).name == "bf16"
    with pytest.raises(UserError, match="fp16 is not supported on the CPU"):
        pick_precision("fp16", torch.device("cpu"))


def test_the_choice_and_its_reason_reach_the_log_and_the_results(trained_run):
    """A user (or a benchmark) must see which precision `auto` chose and why."""
    import json

    results = json.loads((trained_run / "eval_results.json").read_text(encoding="utf-8"))
    chosen = pick_precision("auto", torch.device("cpu"))
    assert results["precision"] == chosen.name
    assert results["precision_reason"] == chosen.reason and chosen.reason
    log = (trained_run / "log.txt").read_text(encoding="utf-8")
    assert f"precision {chosen.name} on cpu: {chosen.reason}" in log
