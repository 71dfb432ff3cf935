"""Each training speed lever's fast path computes what the plain path computes."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from workbench.engine.models import layers


def _heads(seed: int, dtype: torch.dtype, B: int = 3, nh: int = 4, T: int = 11, hs: int = 8):
    g = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(B, nh, T, hs, generator=g).to(dtype).requires_grad_() for _ in range(3))
    lengths = torch.tensor([T, 7, 2])
    mask = (torch.arange(T)[None] < lengths[:, None])[:, None, None, :]  # (B, 1, 1, T)
    return q, k, v, mask


def test_bf16_training_attention_is_the_fp32_kernel_on_bf16_inputs(monkeypatch):
    monkeypatch.setattr(layers, "CPU_TRAIN_ATTENTION_IN_FP32", True)
    q, k, v, mask = _heads(0, torch.bfloat16)
    with torch.autocast("cpu", dtype=torch.bfloat16):  # as in training (autocast recasts SDPA)
        fast = layers.attention(q, k, v, mask, 0.0, training=True)
    assert fast.dtype == torch.bfloat16 and fast.shape == (3, 11, 32)
    plain = F.scaled_dot_product_attention(q.float(), k.float(), v.float(), attn_mask=mask)
    assert torch.equal(fast, plain.to(torch.bfloat16).transpose(1, 2).reshape(3, 11, 32))
    # Gradients reach the bf16 inputs, and agree with the native bf16 kernel's to bf16 precision.
    fast.float().square().sum().backward()
    fast_grads = [t.grad.clone() for t in (q, k, v)]
    for t in (q, k, v):
        t.grad = None
    monkeypatch.setattr(layers, "CPU_TRAIN_ATTENTION_IN_FP32", False)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        native = layers.attention(q, k, v, mask, 0.0, training=True)
    torch.testing.assert_close(native, fast, atol=2e-2, rtol=2e-2)
    native.float().square().sum().backward()
    for ours, theirs in zip(fast_grads, (q.grad, k.grad, v.grad), strict=True):
        assert ours.dtype == torch.bfloat16
        torch.testing.assert_close(ours.float(), theirs.float(), atol=5e-2, rtol=5e-2)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_other_paths_are_the_plain_kernel(dtype):
    """fp32 training, and bf16 without gradients (evaluation), are untouched."""
    q, k, v, mask = _heads(1, dtype)
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    expected = expected.transpose(1, 2).reshape(3, 11, 32)
    with torch.no_grad():
        assert torch.equal(layers.attention(q, k, v, mask, 0.0, training=False), expected)
    if dtype == torch.float32:
        assert torch.equal(layers.attention(q, k, v, mask, 0.0, training=True), expected)
