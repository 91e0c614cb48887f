"""Batched SGD for K bias-free linear classifiers at once.

The K configurations of a search share mini-batches and train as one tensor program: weights are
one (K, C, d) tensor, the gradient is the closed form ``r^T x / B`` of the linear model (see
``losses``), and per-configuration learning rate, weight decay and augmentation strength are (K,)
tensors.  There is no Python loop over configurations and no autograd.

SeA is applied in its mixing form (``sea.sea_mixing``): the augmented batch is ``A x`` for a
(K, B, B) matrix ``A`` computed from the logits and the batch Gram matrix, so a step costs
``O(K B C d + K B^2 (C + min(B, d)))`` instead of ``O(K B^2 d)`` and the (K, B, d) augmented
batch is never built.  Weights, momentum and gradient buffers are updated in place.

Where the whole training set is small (the N x N Gram matrix within ``GRAM_BUDGET`` bytes) and
the run sees every pair of examples more often than once (N < epochs x B), the Gram matrix of the
features is computed once and each batch's B x B block is gathered from it, which removes the
``B^2 d`` product from every step (one SeA configuration on 3,500 x 1,280 features, 50 epochs:
1.15 s -> 0.73 s on 2 CPU cores).

A (K, N) ``mask`` gives each configuration its own training examples (k-fold selection trains
every configuration x fold as one program): an example masked out of configuration k adds
nothing to its gradient, is never another example's SeA neighbour for it, and the batch average
is over the k's examples in the batch.  So configuration k trains exactly as it would alone on
its examples with the same shared mini-batch order (``test_selection`` checks this).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from seabench.probe.augment import AugContext, get_augmentation
from seabench.probe.losses import residual
from seabench.probe.sea import as_targets
from seabench.probe.settings import TrainSettings  # noqa: F401  (re-exported)


def init_weight(num_classes: int, dim: int, generator: torch.Generator, device, dtype):
    """nn.Linear's default initialisation, U(-1/sqrt(d), 1/sqrt(d)), drawn once, shared by all K."""
    bound = 1.0 / math.sqrt(dim)
    w = torch.rand((num_classes, dim), generator=generator, dtype=torch.float64) * 2 - 1
    return (w * bound).to(device=device, dtype=dtype)


@dataclass
class Pruning:
    """Drop configurations once, after ``epoch`` epochs: ``select(weight)`` gets the (K, C, d)
    weights and returns the indices to keep.  Configurations train independently (shared
    mini-batches, own weights), so the kept ones end exactly as they would without pruning.
    The trainer fills ``kept`` with the indices (into the original K) that it returns."""

    epoch: int
    select: Callable[[torch.Tensor], torch.Tensor]
    kept: torch.Tensor | None = None


def best_half(scores: list[float]) -> torch.Tensor:
    """Indices of the better half of ``scores`` (ties: the earlier), in order; a ``select``."""
    ranked = sorted(range(len(scores)), key=lambda k: (-scores[k], k))
    return torch.tensor(sorted(ranked[: (len(scores) + 1) // 2]))


FORMULATIONS = ("auto", "mix", "materialise")
GRAM_BUDGET = 256 * 2**20  # bytes for a precomputed N x N Gram matrix (N = 8,192 in float32)


def full_gram(x: torch.Tensor, settings: TrainSettings) -> torch.Tensor | None:
    """``x x^T`` of all N rows when it fits the budget and saves work (see the module note)."""
    n, d = x.shape
    small = n * n * x.element_size() <= GRAM_BUDGET
    if small and n < settings.epochs * settings.batch_size and settings.batch_size <= d:
        return x @ x.T
    return None


@torch.no_grad()
def train_linear(
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    num_classes: int,
    lr: torch.Tensor,
    wd: torch.Tensor,
    strength: torch.Tensor,
    aug: str = "none",
    settings: TrainSettings = TrainSettings(),
    multilabel: bool = False,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
    formulation: str = "auto",
    prune: Pruning | None = None,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Train K = len(lr) classifiers on features ``x`` (N, d); return their weights (K, C, d).

    ``y`` holds class indices (N,) or multi-hot rows (N, C).  ``progress`` is called with the
    number of finished epochs, once per epoch.  ``formulation`` picks how an augmentation that
    mixes batch rows (SeA) is applied: ``mix`` works on (K, B, B) mixing matrices and logits and
    never builds the (K, B, d) augmented batch, ``materialise`` builds it (the reference path),
    ``auto`` takes ``mix`` where the augmentation has one.  Both give the same weights up to
    rounding.  A final batch of one example is a valid step (no NaN).  ``prune`` drops
    configurations partway (see ``Pruning``); the returned weights are then the kept ones.
    ``mask`` (K, N), true where configuration k trains on example n (see the module note); it
    needs an augmentation that respects it (``Augmentation.masks``).
    """
    if formulation not in FORMULATIONS:
        raise ValueError(f"formulation must be one of {FORMULATIONS}, got {formulation!r}")
    spec = get_augmentation(aug)
    if formulation == "mix" and spec.mix is None:
        raise ValueError(f"augmentation {aug!r} has no mixing formulation")
    use_mix = spec.mix is not None and formulation != "materialise"
    if mask is not None and not spec.masks:
        raise ValueError(f"augmentation {aug!r} mixes batch rows without honouring a mask")
    device, dtype = x.device, x.dtype
    k, (n, d), c = lr.shape[0], x.shape, num_classes
    lr = lr.to(device=device, dtype=dtype)[:, None, None]
    wd = wd.to(device=device, dtype=dtype)[:, None, None]
    strength = strength.to(device=device, dtype=dtype)
    targets = as_targets(y, c, dtype).to(device)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    aug_gen = torch.Generator(device=device).manual_seed(seed + 1)
    ctx = AugContext(settings.alpha, settings.lamda, settings.delta, multilabel, aug_gen)
    loss = dict(lamda=settings.lamda, delta=settings.delta, multilabel=multilabel)
    weight = init_weight(c, d, gen, device, dtype).expand(k, -1, -1).contiguous()
    flat = weight.view(k * c, d)  # shares storage: updated in place below
    buf = torch.zeros_like(weight)  # momentum; zero start = torch SGD's first step
    grad = torch.empty_like(weight)
    gram = full_gram(x, settings) if use_mix else None
    if mask is not None:
        mask = mask.to(device=device, dtype=dtype)
    for epoch in range(settings.epochs):
        if prune is not None and epoch == prune.epoch and prune.kept is None:
            keep = prune.select(weight).to(device=device, dtype=torch.long)
            prune.kept = keep
            weight, buf = weight[keep].contiguous(), buf[keep].contiguous()
            lr, wd, strength = lr[keep], wd[keep], strength[keep]
            mask = mask[keep] if mask is not None else None
            k = len(keep)
            flat, grad = weight.view(k * c, d), torch.empty_like(weight)
        order = torch.randperm(n, generator=gen).to(device)
        for start in range(0, n, settings.batch_size):
            idx = order[start : start + settings.batch_size]
            xb, tb = x.index_select(0, idx), targets.index_select(0, idx)
            b = xb.shape[0]
            mb = count = None
            if mask is not None:
                mb = mask.index_select(1, idx)  # (K, B): whose examples these are
                ctx.allowed = mb > 0
                count = mb.sum(1)
            if use_mix:
                if gram is not None:
                    ctx.gram = gram.index_select(0, idx).index_select(1, idx)
                # logits of the clean batch for all K with one GEMM: (B, K*C) -> (K, B, C)
                z = (xb @ flat.T).view(b, k, c).transpose(0, 1).contiguous()
                mix, ta = spec.mix(xb, z, tb, weight, strength, ctx)
                r = residual(mix @ z, ta, hard=tb, **loss)  # logits of x' = A x are A z
                if mb is not None:
                    r.mul_(mb[..., None])
                rx = mix.transpose(-1, -2) @ r  # dL/dW = r'^T A x = (A^T r')^T x
                torch.mm(rx.transpose(-1, -2).reshape(k * c, b), xb, out=grad.view(k * c, d))
            else:
                xa, ta = spec.fn(xb, tb, weight, strength, ctx)
                if xa.ndim == 2:
                    z = (xa @ flat.T).view(b, k, c).transpose(0, 1)
                    r = residual(z, ta, hard=tb, **loss)
                    if mb is not None:
                        r = r * mb[..., None]
                    torch.mm(r.transpose(-1, -2).reshape(k * c, b), xa, out=grad.view(k * c, d))
                else:
                    r = residual(xa @ weight.transpose(-1, -2), ta, hard=tb, **loss)
                    if mb is not None:
                        r = r * mb[..., None]
                    torch.bmm(r.transpose(-1, -2), xa, out=grad)
            if count is None:
                grad.div_(b).addcmul_(wd, weight)
                buf.mul_(settings.momentum).add_(grad)
                weight.addcmul_(lr, buf, value=-1.0)
            else:  # a configuration with none of its examples in the batch takes no step
                grad.div_(count.clamp_min(1)[:, None, None]).addcmul_(wd, weight)
                on = (count > 0)[:, None, None]
                buf.copy_(torch.where(on, buf * settings.momentum + grad, buf))
                weight.sub_(torch.where(on, lr * buf, torch.zeros_like(buf)))
        if progress is not None:
            progress(1)
    return weight


@torch.no_grad()
def predict(x: torch.Tensor, weight: torch.Tensor, chunk: int = 8192) -> torch.Tensor:
    """Logits (K, N, C) of K classifiers, computed in chunks of rows."""
    parts = [x[i : i + chunk] @ weight.transpose(-1, -2) for i in range(0, x.shape[0], chunk)]
    return torch.cat(parts, dim=-2)
