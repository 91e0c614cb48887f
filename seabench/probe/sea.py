"""SeA: semantic adversarial augmentation in feature space (Qian, Xu, Hu, ECCV 2024).

Steps 2-6 of the published algorithm, for a bias-free linear classifier:

2. logits ``z = x W^T`` with margin ``delta`` off the true class, loss ``lamda * CE(z / lamda, y)``;
3. ``g_i = normalize(dL/dx_i)``, the adversarial direction of each example (W fixed);
4. ``P = softmax(g X^T / alpha)`` over the batch with the diagonal removed and rows renormalised;
5. ``s_i = normalize(sum_j P_ij x_j)``, the direction projected onto the other examples' span;
6. ``x'_i = normalize(x_i + eta * s_i)``.

Behaviour at the edges (the official script produces NaN here): an example with no other example
in its batch (a batch of one) gets ``s_i = 0`` and so ``x'_i = normalize(x_i)``; an example whose
gradient is exactly zero attends uniformly to the others.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from seabench.probe.losses import residual

EPS = 1e-12


def as_targets(y: torch.Tensor, num_classes: int, dtype: torch.dtype) -> torch.Tensor:
    """Class indices (B,) become one-hot rows; multi-hot or soft rows (B, C) pass through."""
    if y.ndim == 1:
        return F.one_hot(y.long(), num_classes).to(dtype)
    return y.to(dtype)


def semantic_direction(x: torch.Tensor, g: torch.Tensor, alpha: float) -> torch.Tensor:
    """Steps 4-5: attend from each gradient direction ``g`` (..., B, d) to the *other* rows of ``x``."""
    b = x.shape[-2]
    sim = g @ x.transpose(-1, -2) / alpha
    eye = torch.eye(b, dtype=torch.bool, device=x.device)
    attn = torch.softmax(sim.masked_fill(eye, float("-inf")), dim=-1)
    attn = torch.nan_to_num(attn, nan=0.0)  # a batch of one: no other example, no direction
    return F.normalize(attn @ x, dim=-1, eps=EPS)


def sea_augment(
    x: torch.Tensor,
    y: torch.Tensor,
    weight: torch.Tensor,
    *,
    eta: float | torch.Tensor,
    alpha: float,
    lamda: float = 0.1,
    delta: float = 0.0,
    multilabel: bool | None = None,
) -> torch.Tensor:
    """Return the SeA-augmented, re-normalised batch.

    ``x`` (B, d) are L2-normalised features, ``y`` (B,) class indices or (B, C) multi-hot labels
    (2-d labels mean multi-label with a per-class sigmoid loss unless ``multilabel=False``),
    ``weight`` the classifier (C, d), or (K, C, d) for K classifiers at once, in which case ``eta``
    may be a (K,) tensor and the result is (K, B, d).  The dtype of ``x`` is kept.
    """
    if x.ndim != 2:
        raise ValueError(f"x must be (batch, dim), got shape {tuple(x.shape)}")
    num_classes = weight.shape[-2]
    if multilabel is None:
        multilabel = y.ndim == 2
    targets = as_targets(y, num_classes, x.dtype)
    weight = weight.to(x.dtype)
    z = x @ weight.transpose(-1, -2)
    r = residual(z, targets, lamda=lamda, delta=delta, multilabel=multilabel)
    g = F.normalize(r @ weight, dim=-1, eps=EPS)
    s = semantic_direction(x, g, alpha)
    eta_t = torch.as_tensor(eta, dtype=x.dtype, device=x.device)
    if eta_t.ndim == 1:
        eta_t = eta_t[:, None, None]
    return F.normalize(x + eta_t * s, dim=-1, eps=EPS)
