"""Feature-space augmentations: registry, shapes, normalisation, identities and what each does."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from seabench.errors import SeabenchError
from seabench.probe.augment import AUGMENTATIONS, AugContext, get_augmentation
from seabench.probe.losses import loss_value
from seabench.probe.sea import as_targets, sea_augment

NAMES = ["none", "sea", "adv", "random", "noise", "dropout", "mixup", "nn"]
K, B, D, C = 3, 12, 16, 4


def _batch(multilabel=False):
    g = torch.Generator().manual_seed(0)
    x = F.normalize(torch.randn(B, D, generator=g, dtype=torch.float64), dim=-1)
    y = torch.arange(B) % C
    t = as_targets(y, C, torch.float64)
    if multilabel:
        t = torch.maximum(t, (torch.rand(B, C, generator=g) < 0.3).double())
    w = torch.randn(K, C, D, generator=g, dtype=torch.float64) * 0.3
    return x, y, t, w


def _ctx(multilabel=False, seed=0):
    return AugContext(
        alpha=0.05,
        lamda=0.1,
        delta=0.0,
        multilabel=multilabel,
        generator=torch.Generator().manual_seed(seed),
    )


def _as_k(a: torch.Tensor) -> torch.Tensor:
    return a.expand(K, *a.shape[-2:])


def test_registry_has_every_augmentation_and_rejects_unknown_names():
    assert set(NAMES) <= set(AUGMENTATIONS)
    for name in NAMES:
        aug = get_augmentation(name)
        assert (aug.strength_name is None) == (name == "none")
        assert all(v > 0 for v in aug.grid) or name == "none"
    with pytest.raises(SeabenchError, match="unknown augmentation 'foo'; choose one of"):
        get_augmentation("foo")


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("multilabel", [False, True])
def test_shapes_normalisation_and_targets(name, multilabel):
    x, _, t, w = _batch(multilabel)
    xa, ta = get_augmentation(name).fn(
        x, t, w, torch.tensor([0.1, 0.3, 0.6], dtype=x.dtype), _ctx(multilabel)
    )
    assert xa.shape in {(B, D), (K, B, D)} and ta.shape in {(B, C), (K, B, C)}
    assert xa.dtype == x.dtype and torch.isfinite(xa).all()
    torch.testing.assert_close(xa.norm(dim=-1), torch.ones(xa.shape[:-1], dtype=x.dtype))
    if name != "mixup":
        assert torch.equal(ta, t)
    if name not in ("none",):
        assert (_as_k(xa) - x).abs().max() > 1e-3  # it does something at strength > 0


@pytest.mark.parametrize("name", [n for n in NAMES if n != "none"])
def test_strength_zero_is_the_identity(name):
    x, _, t, w = _batch()
    xa, ta = get_augmentation(name).fn(x, t, w, torch.zeros(K, dtype=x.dtype), _ctx())
    torch.testing.assert_close(_as_k(xa), _as_k(x), rtol=0, atol=1e-12)
    torch.testing.assert_close(_as_k(ta), _as_k(t), rtol=0, atol=0)


def test_strength_is_per_classifier():
    """Classifier k uses strength[k]: a zero strength leaves its batch alone."""
    x, _, t, w = _batch()
    for name in ("sea", "adv", "random", "noise", "dropout", "nn"):
        xa, _ = get_augmentation(name).fn(
            x, t, w, torch.tensor([0.0, 0.4, 0.0], dtype=x.dtype), _ctx()
        )
        xa = _as_k(xa)
        torch.testing.assert_close(xa[0], x, rtol=0, atol=1e-12)
        assert (xa[1] - x).abs().max() > 1e-3


def test_sea_is_the_published_augmentation():
    x, y, t, w = _batch()
    eta = torch.tensor([0.1, 0.3, 0.6], dtype=x.dtype)
    xa, _ = get_augmentation("sea").fn(x, t, w, eta, _ctx())
    torch.testing.assert_close(xa, sea_augment(x, y, w, eta=eta, alpha=0.05), rtol=0, atol=1e-12)


@pytest.mark.parametrize("multilabel", [False, True])
def test_adv_moves_along_the_normalised_loss_gradient(multilabel):
    x, _, t, w = _batch(multilabel)
    eta = 0.3
    xa, _ = get_augmentation("adv").fn(
        x, t, w, torch.full((K,), eta, dtype=x.dtype), _ctx(multilabel)
    )
    for k in range(K):
        xg = x.clone().requires_grad_(True)
        loss = loss_value(xg @ w[k].T, t, lamda=0.1, delta=0.0, multilabel=multilabel)
        (g,) = torch.autograd.grad(loss, xg)
        want = F.normalize(x + eta * F.normalize(g, dim=-1), dim=-1)
        torch.testing.assert_close(xa[k], want, rtol=0, atol=1e-10)
        # and it increases the loss (first-order ascent)
        after = loss_value(xa[k] @ w[k].T, t, lamda=0.1, delta=0.0, multilabel=multilabel)
        assert after > loss


def test_mixup_mixes_labels_with_the_same_weights_as_features():
    x, y, t, w = _batch()
    xa, ta = get_augmentation("mixup").fn(
        x, t, w, torch.tensor([0.2, 0.4, 1.0], dtype=x.dtype), _ctx()
    )
    assert ta.shape == (K, B, C)
    torch.testing.assert_close(ta.sum(-1), torch.ones(K, B, dtype=x.dtype))
    checked = 0
    for k in range(K):
        for i in range(B):
            lam = ta[k, i, y[i]].item()
            if lam > 1 - 1e-12:
                continue  # partner of the same class (or lambda = 1): lambda not readable
            # partner j: the feature is normalize(lam x_i + (1 - lam) x_j), label mixed the same
            fits = [
                j
                for j in range(B)
                if torch.allclose(
                    F.normalize(lam * x[i] + (1 - lam) * x[j], dim=0), xa[k, i], atol=1e-9
                )
                and torch.allclose(lam * t[i] + (1 - lam) * t[j], ta[k, i], atol=1e-12)
            ]
            assert fits, (k, i)
            checked += lam < 1 - 1e-6
    assert checked > B  # most rows are really mixed


def test_mixup_is_reproducible_from_the_generator():
    x, _, t, w = _batch()
    s = torch.tensor([0.2, 0.4, 1.0], dtype=x.dtype)
    a, _ = get_augmentation("mixup").fn(x, t, w, s, _ctx(seed=4))
    b, _ = get_augmentation("mixup").fn(x, t, w, s, _ctx(seed=4))
    c, _ = get_augmentation("mixup").fn(x, t, w, s, _ctx(seed=5))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_nn_moves_toward_the_nearest_same_class_neighbour():
    x, y, t, w = _batch()
    tt = 0.3
    xa, _ = get_augmentation("nn").fn(x, t, w, torch.full((K,), tt, dtype=x.dtype), _ctx())
    sim = x @ x.T
    for i in range(B):
        same = [j for j in range(B) if j != i and y[j] == y[i]]
        j = max(same, key=lambda j: sim[i, j].item())
        want = F.normalize(x[i] + tt * (x[j] - x[i]), dim=0)
        torch.testing.assert_close(_as_k(xa)[0, i], want, rtol=0, atol=1e-12)
        assert xa[..., i, :].reshape(-1, D)[0] @ x[j] > sim[i, j]  # closer to the neighbour


def test_nn_leaves_a_row_without_a_same_class_neighbour_alone():
    x, _, _, w = _batch()
    t = torch.eye(C, dtype=x.dtype)[torch.tensor([0, 1, 2, 3, 0, 1])]
    xa, _ = get_augmentation("nn").fn(x[:6], t, w, torch.full((K,), 0.5, dtype=x.dtype), _ctx())
    xa = _as_k(xa)
    torch.testing.assert_close(xa[:, 2], x[2].expand(K, D), rtol=0, atol=1e-12)
    assert (xa[:, 0] - x[0]).abs().max() > 1e-3


def test_noise_and_random_steps_have_the_requested_size():
    x = F.normalize(
        torch.randn(256, 512, generator=torch.Generator().manual_seed(1), dtype=torch.float64),
        dim=-1,
    )
    t = as_targets(torch.zeros(256, dtype=torch.long), 2, x.dtype)
    w = torch.zeros(K, 2, 512, dtype=x.dtype)
    s = torch.tensor([0.1, 0.2, 0.4], dtype=x.dtype)
    for name in ("noise", "random"):
        xa, _ = get_augmentation(name).fn(x, t, w, s, _ctx())
        # angle between x and x': tan(theta) ~ strength for a (near) orthogonal step
        cos = (xa * x).sum(-1).mean(-1)
        torch.testing.assert_close(torch.tan(torch.arccos(cos)), s, rtol=0.1, atol=0)


def test_dropout_zeroes_about_p_of_the_features():
    x = F.normalize(
        torch.rand(64, 400, generator=torch.Generator().manual_seed(2), dtype=torch.float64) + 0.1,
        dim=-1,
    )
    t = as_targets(torch.zeros(64, dtype=torch.long), 2, x.dtype)
    p = torch.tensor([0.1, 0.3, 0.5], dtype=x.dtype)
    xa, _ = get_augmentation("dropout").fn(x, t, torch.zeros(K, 2, 400, dtype=x.dtype), p, _ctx())
    dropped = (xa == 0).double().mean((-1, -2))
    torch.testing.assert_close(dropped, p, rtol=0, atol=0.02)
