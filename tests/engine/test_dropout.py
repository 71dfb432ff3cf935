"""The CPU-friendly dropout behaves like nn.Dropout: rate, scaling, seeding, eval mode."""

from __future__ import annotations

import torch

from workbench.engine.models.dropout import Dropout, keep_mask


def test_drops_the_asked_fraction_and_keeps_the_expectation():
    torch.manual_seed(0)
    mask = keep_mask(torch.Size([400, 1000]), 0.1, torch.float32)
    dropped = (mask == 0).float().mean().item()
    assert abs(dropped - 0.1) < 0.003
    assert abs(mask.mean().item() - 1.0) < 0.005  # kept values are scaled by 1/(1-p)
    assert torch.equal(mask.unique(), torch.tensor([0.0, 1 / 0.9]))


def test_is_reproducible_under_the_same_seed_and_varies_otherwise():
    torch.manual_seed(1)
    a = keep_mask(torch.Size([64, 33]), 0.25, torch.float32)
    torch.manual_seed(1)
    b = keep_mask(torch.Size([64, 33]), 0.25, torch.float32)
    c = keep_mask(torch.Size([64, 33]), 0.25, torch.float32)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_does_nothing_in_eval_mode_and_masks_gradients_in_training():
    layer = Dropout(0.5)
    x = torch.randn(8, 16, requires_grad=True)
    assert torch.equal(layer.eval()(x), x)
    y = layer.train()(x)
    y.sum().backward()
    dropped = y == 0
    assert dropped.any() and (x.grad[dropped] == 0).all() and (x.grad[~dropped] == 2.0).all()
