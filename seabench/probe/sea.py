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


def semantic_direction(
    x: torch.Tensor, g: torch.Tensor, alpha: float, allowed: torch.Tensor | None = None
) -> torch.Tensor:
    """Steps 4-5: attend from each gradient direction ``g`` (..., B, d) to the *other* rows
    (of those ``allowed`` (K, B) for each classifier, when given)."""
    b = x.shape[-2]
    sim = g @ x.transpose(-1, -2) / alpha
    off = torch.eye(b, dtype=torch.bool, device=x.device)
    if allowed is not None:
        off = off | ~allowed[..., None, :]
    attn = torch.softmax(sim.masked_fill(off, float("-inf")), dim=-1)
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
    may be a (K,) tensor and the result is (K, B, d).  The dtype of ``x`` is kept.  numpy arrays
    are accepted for ``x``, ``y`` and ``weight`` (the result is then still a tensor).
    """
    x, y, weight = (
        t if isinstance(t, torch.Tensor) else torch.as_tensor(t) for t in (x, y, weight)
    )
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


def sea_mixing(
    x: torch.Tensor,
    z: torch.Tensor,
    r: torch.Tensor,
    wwt: torch.Tensor,
    eta: torch.Tensor,
    alpha: float,
    gram: torch.Tensor | None = None,
    allowed: torch.Tensor | None = None,
) -> torch.Tensor:
    """SeA for K linear classifiers as a (K, B, B) mixing matrix ``A`` with ``x' = A x``.

    Why: every quantity of steps 3-6 is an inner product, so for a linear classifier SeA never
    needs a (K, B, d) tensor.  With ``z = x W^T`` (K, B, C) the logits and ``r = dL/dz`` the
    residual already at hand, ``u_i = r_i W`` is the input gradient, so

    - ``g_i . x_j = r_i . z_j / ||u_i||`` with ``||u_i||^2 = r_i (W W^T) r_i^T`` (``wwt``, C x C);
    - ``v_i = sum_j P_ij x_j`` has ``||v_i||^2 = (P G P^T)_ii`` and ``x_i . v_i = (P * G)_i1``
      with ``G = x x^T`` (B x B), one Gram matrix shared by every configuration of a search;
    - ``x'_i = a_i (x_i + c_i v_i)`` with ``c_i = eta / ||v_i||`` and
      ``1 / a_i = ||x_i + c_i v_i|| = sqrt(G_ii + 2 c_i x_i.v_i + c_i^2 ||v_i||^2)``.

    The caller then gets the logits of ``x'`` as ``A z`` and the weight gradient as
    ``(A^T r')^T x``.  The two norms are taken the cheaper way for the shape: through ``G``
    (``B^2 d + K B^3``) or through ``v = P x`` itself (``K B^2 d``; one configuration, or
    ``B > d``).  Either way a step avoids the ``2 K B^2 d`` of building the augmented batch.
    Same edge behaviour as ``sea_augment`` (a batch of one is returned unchanged).  ``allowed``
    (K, B) limits each classifier's neighbours to its own examples (k-fold training); a row with
    no allowed neighbour is left unchanged.
    """
    k, b, d = z.shape[0], z.shape[-2], x.shape[-1]
    unorm = (r @ wwt).mul_(r).sum(-1).clamp_min_(0).sqrt_().clamp_min_(EPS)  # ||r_i W||
    sim = (r @ z.transpose(-1, -2)).div_(unorm.mul_(alpha)[..., None])  # g_i . x_j / alpha
    sim.diagonal(dim1=-2, dim2=-1).fill_(float("-inf"))  # step 4: not the example itself
    if allowed is not None:
        sim.masked_fill_(~allowed[:, None, :], float("-inf"))
        p = torch.nan_to_num_(torch.softmax(sim, dim=-1), nan=0.0)  # no neighbour: no direction
    else:
        p = torch.softmax(sim, dim=-1) if b > 1 else torch.zeros_like(sim)  # b == 1: none
    if gram is None and k * d >= d + k * min(b, d):
        gram = x @ x.T
    if gram is None:  # through v itself
        v = p @ x
        vnorm2 = v.square().sum(-1)
        xv = (v * x).sum(-1)
        xx = x.square().sum(-1)
    elif b <= d:
        pg = p @ gram
        xv = pg.diagonal(dim1=-2, dim2=-1).clone()  # (P G)_ii = sum_j P_ij G_ji, G symmetric
        vnorm2 = pg.mul_(p).sum(-1)
        xx = gram.diagonal()
    else:
        vnorm2 = (p @ x).square_().sum(-1)
        xv = (p * gram).sum(-1)
        xx = gram.diagonal()
    vnorm2 = vnorm2.clamp_min_(0)
    eta = eta.to(dtype=z.dtype, device=z.device).reshape(-1, 1).expand(k, b)
    c = eta / vnorm2.sqrt().clamp_min(EPS)
    norm2 = xx + 2 * c * xv + c * c * vnorm2
    a = norm2.clamp_min_(0).sqrt_().clamp_min_(EPS).reciprocal_()
    mix = p.mul_((a * c)[..., None])
    mix.diagonal(dim1=-2, dim2=-1).add_(a)
    return mix
