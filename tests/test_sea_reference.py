"""sea_augment against an independent, literal implementation of the published steps 2-6.

The reference uses torch autograd for the gradient and an explicit softmax, zeroed diagonal and
row renormalisation for P (REFERENCE.md section 1), in float64.
"""

from __future__ import annotations

import pytest
import torch

from seabench import sea_augment


def _unit(v: torch.Tensor) -> torch.Tensor:
    return v / v.norm(dim=-1, keepdim=True)


def reference_sea(x, y, w, *, eta, alpha, lamda, delta):
    """Steps 2-6 for one classifier w (C, d), written out one step at a time."""
    x = x.detach().clone().requires_grad_(True)
    onehot = torch.nn.functional.one_hot(y, w.shape[0]).to(x.dtype)
    z = x @ w.T - delta * onehot  # step 2: margin off the true class
    loss = lamda * torch.nn.functional.cross_entropy(z / lamda, y, reduction="sum")
    (grad,) = torch.autograd.grad(loss, x)
    g = _unit(grad)  # step 3
    x = x.detach()
    logits = g @ x.T / alpha  # step 4
    e = torch.exp(logits - logits.max(dim=1, keepdim=True).values)
    p = e / e.sum(dim=1, keepdim=True)
    p = p * (1 - torch.eye(len(x), dtype=x.dtype))
    p = p / p.sum(dim=1, keepdim=True)
    s = _unit(p @ x)  # step 5
    return _unit(x + eta * s)  # step 6


def _batch(b=12, d=9, c=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = _unit(torch.randn(b, d, generator=g, dtype=torch.float64))
    y = torch.randint(0, c, (b,), generator=g)
    w = torch.randn(c, d, generator=g, dtype=torch.float64) * 0.5
    return x, y, w


@pytest.mark.parametrize("alpha", [0.01, 0.1, 1.0])
@pytest.mark.parametrize("eta", [0.1, 0.8])
@pytest.mark.parametrize("delta", [0.0, 0.3])
def test_single_weight_matches_reference(alpha, eta, delta):
    x, y, w = _batch(seed=int(alpha * 100) + int(eta * 10))
    got = sea_augment(x, y, w, eta=eta, alpha=alpha, lamda=0.1, delta=delta)
    want = reference_sea(x, y, w, eta=eta, alpha=alpha, lamda=0.1, delta=delta)
    assert got.dtype == torch.float64
    assert torch.allclose(got, want, atol=1e-6, rtol=0)
    assert torch.allclose(got.norm(dim=-1), torch.ones(len(x), dtype=torch.float64))


def test_stacked_weights_match_reference_per_classifier():
    x, y, _ = _batch(b=10, d=7, c=3, seed=5)
    g = torch.Generator().manual_seed(9)
    ws = torch.randn(4, 3, 7, generator=g, dtype=torch.float64)
    etas = torch.tensor([0.05, 0.2, 0.4, 0.8], dtype=torch.float64)
    got = sea_augment(x, y, ws, eta=etas, alpha=0.05, lamda=0.5, delta=0.2)
    assert got.shape == (4, 10, 7)
    for k in range(4):
        want = reference_sea(x, y, ws[k], eta=float(etas[k]), alpha=0.05, lamda=0.5, delta=0.2)
        assert torch.allclose(got[k], want, atol=1e-6, rtol=0)


def test_augmentation_actually_moves_the_features():
    x, y, w = _batch()
    got = sea_augment(x, y, w, eta=0.8, alpha=0.1)
    assert (got - x).norm(dim=-1).min() > 1e-3


def test_batch_of_one_returns_the_normalised_input_without_nan():
    x = torch.tensor([[3.0, 4.0, 0.0]], dtype=torch.float64)
    w = torch.randn(2, 3, dtype=torch.float64)
    got = sea_augment(x, torch.tensor([1]), w, eta=0.8, alpha=0.01, delta=0.5)
    assert not torch.isnan(got).any()
    assert torch.allclose(got, _unit(x))
