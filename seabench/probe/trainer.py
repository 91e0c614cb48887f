"""Batched SGD for K bias-free linear classifiers at once.

The K configurations of a search share mini-batches and train as one tensor program: weights are
one (K, C, d) tensor, the gradient is the closed form ``r^T x / B`` of the linear model (see
``losses``), and per-configuration learning rate, weight decay and augmentation strength are (K,)
tensors.  There is no Python loop over configurations and no autograd.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from seabench.probe.augment import AugContext, get_augmentation
from seabench.probe.losses import residual
from seabench.probe.sea import as_targets


@dataclass(frozen=True)
class TrainSettings:
    """Settings shared by every configuration of one batched run (the official script's defaults)."""

    epochs: int = 100
    batch_size: int = 256
    momentum: float = 0.9
    alpha: float = 0.01
    lamda: float = 0.1
    delta: float = 0.0


def init_weight(num_classes: int, dim: int, generator: torch.Generator, device, dtype):
    """nn.Linear's default initialisation, U(-1/sqrt(d), 1/sqrt(d)), drawn once and shared by all K."""
    bound = 1.0 / math.sqrt(dim)
    w = torch.rand((num_classes, dim), generator=generator, dtype=torch.float64) * 2 - 1
    return (w * bound).to(device=device, dtype=dtype)


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
) -> torch.Tensor:
    """Train K = len(lr) classifiers on features ``x`` (N, d); return their weights (K, C, d).

    ``y`` holds class indices (N,) or multi-hot rows (N, C).  ``progress`` is called with the
    number of finished steps, once per epoch.
    """
    device, dtype = x.device, x.dtype
    k = lr.shape[0]
    lr = lr.to(device=device, dtype=dtype)[:, None, None]
    wd = wd.to(device=device, dtype=dtype)[:, None, None]
    strength = strength.to(device=device, dtype=dtype)
    targets = as_targets(y, num_classes, dtype).to(device)
    n, d = x.shape
    gen = torch.Generator(device="cpu").manual_seed(seed)
    aug_gen = torch.Generator(device=device).manual_seed(seed + 1)
    ctx = AugContext(settings.alpha, settings.lamda, settings.delta, multilabel, aug_gen)
    augment = get_augmentation(aug).fn
    weight = init_weight(num_classes, d, gen, device, dtype).expand(k, -1, -1).contiguous()
    buf = None
    for _ in range(settings.epochs):
        order = torch.randperm(n, generator=gen).to(device)
        for start in range(0, n, settings.batch_size):
            idx = order[start:start + settings.batch_size]
            xb, tb = x[idx], targets[idx]
            xa, ta = augment(xb, tb, weight, strength, ctx)
            z = xa @ weight.transpose(-1, -2)
            r = residual(z, ta, lamda=settings.lamda, delta=settings.delta,
                         multilabel=multilabel, hard=tb)
            if xa.ndim == 2:
                grad = torch.einsum("kbc,bd->kcd", r, xa)
            else:
                grad = torch.einsum("kbc,kbd->kcd", r, xa)
            grad = grad / idx.shape[0] + wd * weight
            buf = grad if buf is None else buf.mul_(settings.momentum).add_(grad)
            weight = weight - lr * buf
        if progress is not None:
            progress(1)
    return weight


@torch.no_grad()
def predict(x: torch.Tensor, weight: torch.Tensor, chunk: int = 8192) -> torch.Tensor:
    """Logits (K, N, C) of K classifiers, computed in chunks of rows."""
    parts = [x[i:i + chunk] @ weight.transpose(-1, -2) for i in range(0, x.shape[0], chunk)]
    return torch.cat(parts, dim=-2)
