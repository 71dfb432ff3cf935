"""The KV cache: what a decoder layer gets back is every position seen so far, in order."""

from __future__ import annotations

import pytest
import torch

from workbench.engine.generation.cache import KVCache


def test_updates_concatenate_along_the_time_axis_per_layer():
    cache = KVCache()
    assert cache.length == 0
    first = torch.randn(2, 4, 3, 8)
    k, v = cache.update(0, first, first + 1)
    assert k.shape == (2, 4, 3, 8) and torch.equal(v, first + 1)
    cache.update(1, first * 2, first * 3)
    assert cache.length == 3
    step = torch.randn(2, 4, 1, 8)
    k, v = cache.update(0, step, step)
    assert k.shape == (2, 4, 4, 8)
    assert torch.equal(k[:, :, :3], first) and torch.equal(k[:, :, 3:], step)
    assert cache.length == 4  # read from layer 0, which has seen this step


def test_a_layer_cannot_skip_ahead():
    cache = KVCache()
    with pytest.raises(IndexError):
        cache.update(1, torch.zeros(1, 1, 1, 1), torch.zeros(1, 1, 1, 1))


def test_reorder_keeps_the_chosen_rows():
    cache = KVCache()
    keys = torch.arange(3.0).view(3, 1, 1, 1)
    cache.update(0, keys, keys)
    cache.reorder(torch.tensor([2, 0]))
    k, _ = cache.update(0, torch.zeros(2, 1, 1, 1), torch.zeros(2, 1, 1, 1))
    assert k[:, 0, 0, 0].tolist() == [2.0, 0.0]
