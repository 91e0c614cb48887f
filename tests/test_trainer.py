"""The batched trainer: the mixing form of SeA, closed-form gradients, edge batches, batching."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from seabench.probe.losses import loss_value, residual
from seabench.probe.sea import as_targets, sea_augment, sea_mixing
from seabench.probe.trainer import TrainSettings, init_weight, train_linear

F64 = torch.float64


def _data(n=70, d=24, c=5, multilabel=False, seed=0, dtype=F64):
    g = torch.Generator().manual_seed(seed)
    means = torch.randn(c, d, generator=g, dtype=dtype)
    y = torch.randint(0, c, (n,), generator=g)
    x = F.normalize(means[y] + 0.8 * torch.randn(n, d, generator=g, dtype=dtype), dim=-1)
    if multilabel:
        extra = (torch.rand(n, c, generator=g) < 0.25).to(dtype)
        y = torch.maximum(F.one_hot(y, c).to(dtype), extra)
    return x, y


def _grid(k=3):
    lr = torch.tensor([0.5, 1.6, 0.8][:k], dtype=F64)
    wd = torch.tensor([1e-4, 1e-6, 0.0][:k], dtype=F64)
    eta = torch.tensor([0.2, 0.8, 0.4][:k], dtype=F64)
    return lr, wd, eta


@pytest.mark.parametrize("k,b,d", [(3, 16, 24), (1, 16, 24), (2, 40, 24)])
@pytest.mark.parametrize("multilabel", [False, True])
def test_sea_mixing_equals_sea_augment(k, b, d, multilabel):
    """A x from logits, residuals and Gram matrices is the published augmented batch (every route:
    through G, through v = P x for one configuration, and B > d)."""
    x, y = _data(b, d, 5, multilabel)
    w = torch.randn(k, 5, d, dtype=F64) * 0.3
    eta = _grid(k)[2]
    targets = as_targets(y, 5, F64)
    z = x @ w.transpose(-1, -2)
    r = residual(z, targets, lamda=0.1, delta=0.1, multilabel=multilabel)
    mix = sea_mixing(x, z, r, w @ w.transpose(-1, -2), eta, alpha=0.05)
    ref = sea_augment(x, y, w, eta=eta, alpha=0.05, delta=0.1, multilabel=multilabel)
    assert mix.shape == (k, b, b)
    torch.testing.assert_close(mix @ x, ref, rtol=0, atol=1e-6)
    # the augmented batch is really moved (eta > 0) and unit-norm
    assert (mix @ x - x).abs().max() > 1e-2
    torch.testing.assert_close((mix @ x).norm(dim=-1), torch.ones(k, b, dtype=F64))


@pytest.mark.parametrize("multilabel", [False, True])
def test_mix_and_materialised_paths_train_the_same_weights(multilabel):
    x, y = _data(70, 24, 5, multilabel)  # batches of 32, 32, 6
    lr, wd, eta = _grid()
    kw = dict(
        num_classes=5,
        lr=lr,
        wd=wd,
        strength=eta,
        aug="sea",
        multilabel=multilabel,
        settings=TrainSettings(epochs=3, batch_size=32, delta=0.05),
        seed=3,
    )
    fast = train_linear(x, y, formulation="mix", **kw)
    ref = train_linear(x, y, formulation="materialise", **kw)
    init = init_weight(5, 24, torch.Generator().manual_seed(3), "cpu", F64)
    assert (ref - init).abs().max() > 0.1  # it trained
    torch.testing.assert_close(fast, ref, rtol=0, atol=1e-9)


def test_precomputed_gram_blocks_train_the_same_weights(monkeypatch):
    from seabench.probe import trainer

    x, y = _data(70, 48, 5)  # B 16 <= d 48 and N 70 < epochs x B: the N x N Gram is used
    lr, wd, eta = _grid()
    settings = TrainSettings(epochs=6, batch_size=16)
    kw = dict(num_classes=5, lr=lr, wd=wd, strength=eta, aug="sea", settings=settings, seed=1)
    assert trainer.full_gram(x, settings) is not None
    with_gram = train_linear(x, y, **kw)
    ref = train_linear(x, y, formulation="materialise", **kw)
    monkeypatch.setattr(trainer, "GRAM_BUDGET", 0)  # over budget: per-batch products instead
    assert trainer.full_gram(x, settings) is None
    without = train_linear(x, y, **kw)
    torch.testing.assert_close(with_gram, ref, rtol=0, atol=1e-9)
    torch.testing.assert_close(with_gram, without, rtol=0, atol=1e-9)


@pytest.mark.parametrize("aug", ["none", "sea"])
@pytest.mark.parametrize("multilabel", [False, True])
def test_one_step_matches_autograd(aug, multilabel):
    """A full-batch step without momentum is W - lr (dL/dW + wd W), L the (sigmoid) loss of x'."""
    x, y = _data(40, 24, 5, multilabel)
    lr, wd, eta = _grid()
    settings = TrainSettings(epochs=1, batch_size=64, momentum=0.0, delta=0.05)
    got = train_linear(
        x,
        y,
        num_classes=5,
        lr=lr,
        wd=wd,
        strength=eta,
        aug=aug,
        multilabel=multilabel,
        settings=settings,
        seed=1,
    )
    w0 = init_weight(5, 24, torch.Generator().manual_seed(1), "cpu", F64)
    targets = as_targets(y, 5, F64)
    for k in range(3):
        xa = (
            x
            if aug == "none"
            else sea_augment(
                x, y, w0, eta=eta[k].item(), alpha=0.01, delta=0.05, multilabel=multilabel
            )
        )
        w = w0.clone().requires_grad_(True)
        loss = loss_value(xa @ w.T, targets, lamda=0.1, delta=0.05, multilabel=multilabel)
        (grad,) = torch.autograd.grad(loss, w)
        want = w0 - lr[k] * (grad + wd[k] * w0)
        torch.testing.assert_close(got[k], want, rtol=0, atol=1e-10)


@pytest.mark.parametrize("aug", ["none", "sea", "adv", "random", "noise", "dropout", "mixup", "nn"])
@pytest.mark.parametrize("formulation", ["auto", "materialise"])
def test_final_batch_of_one_gives_finite_weights(aug, formulation):
    x, y = _data(33, 24, 5, dtype=torch.float32)  # 32 + 1
    kw = dict(
        num_classes=5,
        lr=torch.tensor([1.6, 0.8]),
        wd=torch.tensor([1e-6, 1e-4]),
        strength=torch.tensor([0.2, 0.8]),
        aug=aug,
        formulation=formulation,
        settings=TrainSettings(epochs=4, batch_size=32),
    )
    w = train_linear(x, y, **kw)
    assert torch.isfinite(w).all()


def test_batched_configurations_train_independently():
    """Training K configurations at once gives each the weights it gets when trained alone."""
    x, y = _data(70, 24, 5)
    lr, wd, eta = _grid()
    kw = dict(num_classes=5, aug="sea", settings=TrainSettings(epochs=2, batch_size=32), seed=5)
    together = train_linear(x, y, lr=lr, wd=wd, strength=eta, **kw)
    for k in range(3):
        alone = train_linear(
            x, y, lr=lr[k : k + 1], wd=wd[k : k + 1], strength=eta[k : k + 1], **kw
        )
        torch.testing.assert_close(together[k], alone[0], rtol=0, atol=1e-10)


def test_trainer_learns_and_is_reproducible():
    x, y = _data(400, 32, 4, dtype=torch.float32, seed=2)
    xt, yt = _data(200, 32, 4, dtype=torch.float32, seed=2)
    kw = dict(
        num_classes=4,
        lr=torch.tensor([0.8]),
        wd=torch.tensor([1e-6]),
        strength=torch.tensor([0.2]),
        aug="sea",
        settings=TrainSettings(epochs=5),
        seed=7,
    )
    w = train_linear(x, y, **kw)
    acc = ((xt @ w[0].T).argmax(-1) == yt).float().mean()
    assert acc > 0.9
    assert torch.equal(w, train_linear(x, y, **kw))


def test_unknown_formulation_is_an_error():
    x, y = _data(8, 4, 2)
    kw = dict(num_classes=2, lr=torch.ones(1), wd=torch.zeros(1), strength=torch.zeros(1))
    with pytest.raises(ValueError, match="formulation"):
        train_linear(x, y, formulation="fast", **kw)
    with pytest.raises(ValueError, match="no mixing"):
        train_linear(x, y, aug="noise", formulation="mix", **kw)


def test_pruning_returns_the_kept_configurations_exactly_as_a_full_run():
    from seabench.probe.trainer import Pruning

    x, y = _data(70, 24, 5)
    lr, wd, eta = _grid()
    kw = dict(num_classes=5, lr=lr, wd=wd, strength=eta, aug="sea", seed=2)
    settings = TrainSettings(epochs=4, batch_size=16)
    full = train_linear(x, y, settings=settings, **kw)
    seen = []

    def keep_first_and_last(w):
        seen.append(w.shape[0])
        return torch.tensor([0, 2])

    prune = Pruning(epoch=2, select=keep_first_and_last)
    kept = train_linear(x, y, settings=settings, prune=prune, **kw)
    assert seen == [3] and prune.kept.tolist() == [0, 2] and kept.shape == (2, 5, 24)
    torch.testing.assert_close(kept, full[[0, 2]], rtol=0, atol=1e-12)
