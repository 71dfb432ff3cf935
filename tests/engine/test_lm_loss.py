"""The chunked next-token loss (training/lm_loss.py) equals the plain shifted cross-entropy:
value and gradient, fp32 and bf16 logits, IGNORE positions, several chunks."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from workbench.engine.training.lm_loss import IGNORE, causal_lm_loss, token_cross_entropy_sum


def plain_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The textbook way: shift the logits, keep positions with a target, fp32 softmax."""
    targets = labels[:, 1:]
    chosen = targets != IGNORE
    picked = logits[:, :-1][chosen].float()
    return F.cross_entropy(picked, targets[chosen], reduction="sum") / chosen.sum().clamp(min=1)


def _case(dtype: torch.dtype):
    torch.manual_seed(0)
    logits = (torch.randn(3, 11, 37) * 3).to(dtype).requires_grad_()
    labels = torch.randint(0, 37, (3, 11))
    labels[0, :4] = IGNORE  # a prompt
    labels[2, 7:] = IGNORE  # padding
    return logits, labels


@pytest.mark.parametrize("chunk", [37, 5 * 37, 1 << 22])  # one row, a ragged 5, all at once
def test_fp32_value_and_gradient_equal_the_plain_loss(chunk, monkeypatch):
    import workbench.engine.training.lm_loss as lm_loss

    monkeypatch.setattr(lm_loss, "CHUNK_ELEMENTS", chunk)
    logits, labels = _case(torch.float32)
    ours = lm_loss.causal_lm_loss(logits, labels)
    (ours_grad,) = torch.autograd.grad(ours, logits)
    theirs = plain_loss(logits, labels)
    (theirs_grad,) = torch.autograd.grad(theirs, logits)
    assert abs(ours.item() - theirs.item()) < 1e-6
    torch.testing.assert_close(ours_grad, theirs_grad, rtol=0, atol=1e-7)
    assert ours_grad[0, :3].abs().max() == 0  # positions whose next token is a prompt token
    assert ours_grad[:, -1].abs().max() == 0  # the last position predicts nothing


def test_bf16_logits_get_an_fp32_loss_and_the_plain_bf16_gradient():
    logits, labels = _case(torch.bfloat16)
    ours = token_cross_entropy_sum(logits, F.pad(labels[:, 1:], (0, 1), value=IGNORE), 5 * 37)
    assert ours.dtype == torch.float32
    count = (labels[:, 1:] != IGNORE).sum()
    (ours_grad,) = torch.autograd.grad(ours / count, logits)
    theirs = plain_loss(logits, labels)
    (theirs_grad,) = torch.autograd.grad(theirs, logits)
    assert abs((ours / count).item() - theirs.item()) < 1e-5
    assert ours_grad.dtype == torch.bfloat16
    torch.testing.assert_close(ours_grad, theirs_grad)  # bf16 tolerances: rounding only


def test_no_target_gives_zero_and_zero_gradient_not_nan():
    logits = torch.randn(2, 4, 9, requires_grad=True)
    loss = causal_lm_loss(logits, torch.full((2, 4), IGNORE))
    loss.backward()
    assert loss.item() == 0.0 and logits.grad.abs().max() == 0
