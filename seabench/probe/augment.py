"""Feature-space augmentations, registered by name.

Every augmentation is one function ``fn(x, targets, weight, strength, ctx) -> (x_aug, targets_aug)``
with ``x`` (B, d) L2-normalised features, ``targets`` (B, C), ``weight`` (K, C, d) the K classifiers
being trained together and ``strength`` (K,) one strength per classifier.  It returns features of
shape (B, d) or (K, B, d) and targets of shape (B, C) or (K, B, C).  Adding an augmentation is one
decorated function.

An augmentation whose output rows are combinations of the batch's own rows may also register a
``mix(x, z, targets, weight, strength, ctx) -> (A, targets_aug)`` giving the (K, B, B) matrix
with ``x_aug = A x``; the trainer then never materialises the (K, B, d) batch (``z`` is the logits
``x W^T`` (K, B, C), already computed once per step).  SeA does this.

Under k-fold selection each classifier k trains on its own examples (``ctx.allowed`` (K, B)): an
augmentation that draws on other rows of the batch must only draw on k's (SeA does), or register
with ``masks=False`` (mixup, nn), and then k-fold trains fold by fold instead of batched.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from seabench.probe import names
from seabench.probe.losses import residual
from seabench.probe.names import declare
from seabench.probe.sea import EPS, sea_mixing, semantic_direction


@dataclass
class AugContext:
    alpha: float
    lamda: float
    delta: float
    multilabel: bool
    generator: torch.Generator
    #: the batch Gram matrix x x^T when the trainer has it at hand (mixing forms may use it)
    gram: torch.Tensor | None = None
    #: (K, B) rows each classifier trains on (k-fold selection); None: all rows, for every k
    allowed: torch.Tensor | None = None


AugFn = Callable[
    [torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, AugContext],
    tuple[torch.Tensor, torch.Tensor],
]
MixFn = Callable[..., tuple[torch.Tensor, torch.Tensor]]


@dataclass(frozen=True)
class Augmentation:
    name: str
    fn: AugFn
    strength_name: str | None
    grid: tuple[float, ...]
    default: float
    help: str
    mix: MixFn | None = None
    #: honours ``ctx.allowed`` (or uses no other row), so masked k-fold training can batch it
    masks: bool = True


AUGMENTATIONS: dict[str, Augmentation] = {}


def register(
    name: str,
    *,
    strength: str | None,
    grid: tuple[float, ...],
    default: float,
    help: str,
    mix: MixFn | None = None,
    masks: bool = True,
) -> Callable[[AugFn], AugFn]:
    """Register ``fn`` under ``name`` with its strength's name, search grid and default."""

    def deco(fn: AugFn) -> AugFn:
        declare(names.AUGMENTATIONS, name)
        AUGMENTATIONS[name] = Augmentation(name, fn, strength, grid, default, help, mix, masks)
        return fn

    return deco


def get_augmentation(name: str) -> Augmentation:
    if name not in AUGMENTATIONS:
        raise names.unknown("augmentation", name, tuple(AUGMENTATIONS))
    return AUGMENTATIONS[name]


def _col(strength: torch.Tensor) -> torch.Tensor:
    return strength[:, None, None]


def _gradient_direction(x, targets, weight, ctx: AugContext) -> torch.Tensor:
    """Normalised dL/dx for each classifier: (K, B, d)."""
    z = x @ weight.transpose(-1, -2)
    r = residual(z, targets, lamda=ctx.lamda, delta=ctx.delta, multilabel=ctx.multilabel)
    return F.normalize(r @ weight, dim=-1, eps=EPS)


@register("none", strength=None, grid=(0.0,), default=0.0, help="plain linear probe")
def aug_none(x, targets, weight, strength, ctx):
    return x, targets


def mix_sea(x, z, targets, weight, strength, ctx: AugContext):
    """SeA as a mixing matrix from the logits at hand (see ``sea.sea_mixing``)."""
    r = residual(z, targets, lamda=ctx.lamda, delta=ctx.delta, multilabel=ctx.multilabel)
    wwt = weight @ weight.transpose(-1, -2)
    mix = sea_mixing(x, z, r, wwt, strength, ctx.alpha, gram=ctx.gram, allowed=ctx.allowed)
    return mix, targets


# eta grid: 0.2-0.4 is where SeA helps on frozen features (REFERENCE.md sec. 1); the official
# 0.8 can cost 20 points on test, which validation sees, so it is searched but rarely chosen.
@register(
    "sea",
    strength="eta",
    grid=(0.05, 0.1, 0.2, 0.4, 0.8),
    default=0.8,
    help="SeA: gradient projected onto the span of the other in-batch features",
    mix=mix_sea,
)
def aug_sea(x, targets, weight, strength, ctx):
    g = _gradient_direction(x, targets, weight, ctx)
    s = semantic_direction(x, g, ctx.alpha, allowed=ctx.allowed)
    return F.normalize(x + _col(strength) * s, dim=-1, eps=EPS), targets


@register(
    "adv",
    strength="eta",
    grid=(0.05, 0.1, 0.2, 0.4, 0.8),
    default=0.8,
    help="ablation: the normalised loss gradient itself, no projection",
)
def aug_adv(x, targets, weight, strength, ctx):
    g = _gradient_direction(x, targets, weight, ctx)
    return F.normalize(x + _col(strength) * g, dim=-1, eps=EPS), targets


@register(
    "random",
    strength="eta",
    grid=(0.05, 0.1, 0.2, 0.4, 0.8),
    default=0.8,
    help="ablation: a random unit direction",
)
def aug_random(x, targets, weight, strength, ctx):
    k = strength.shape[0]
    noise = torch.randn((k, *x.shape), generator=ctx.generator, device=x.device, dtype=x.dtype)
    return F.normalize(x + _col(strength) * F.normalize(noise, dim=-1), dim=-1, eps=EPS), targets


@register(
    "noise",
    strength="sigma",
    grid=(0.05, 0.1, 0.2, 0.4, 0.8),
    default=0.2,
    help="Gaussian noise with expected norm sigma",
)
def aug_noise(x, targets, weight, strength, ctx):
    k, d = strength.shape[0], x.shape[-1]
    noise = torch.randn((k, *x.shape), generator=ctx.generator, device=x.device, dtype=x.dtype)
    return F.normalize(x + _col(strength) * noise / d**0.5, dim=-1, eps=EPS), targets


@register(
    "dropout",
    strength="p",
    grid=(0.1, 0.2, 0.3, 0.5),
    default=0.2,
    help="random feature masking with drop probability p",
)
def aug_dropout(x, targets, weight, strength, ctx):
    k = strength.shape[0]
    u = torch.rand((k, *x.shape), generator=ctx.generator, device=x.device, dtype=x.dtype)
    keep = (u >= _col(strength)).to(x.dtype)
    return F.normalize(x * keep, dim=-1, eps=EPS), targets


@register(
    "mixup",
    strength="beta",
    grid=(0.1, 0.2, 0.4, 1.0),
    default=0.2,
    help="feature mixup with label mixing, lambda ~ Beta(beta, beta)",
    masks=False,
)
def aug_mixup(x, targets, weight, strength, ctx):
    """Each classifier k mixes row i with row perm(i) by lambda ~ Beta(beta_k, beta_k).

    Lambda is drawn from the run's own generator (reproducible by seed); beta <= 0 means no mixing.
    """
    b = x.shape[0]
    conc = strength.double().cpu().numpy()
    rng = np.random.default_rng(int(torch.randint(2**62, (1,), generator=ctx.generator)))
    lam = rng.beta(
        np.maximum(conc, 1e-6)[:, None], np.maximum(conc, 1e-6)[:, None], size=(len(conc), b)
    )
    lam[conc <= 0] = 1.0
    lam = torch.from_numpy(lam).to(device=x.device, dtype=x.dtype)[..., None]  # (K, B, 1)
    perm = torch.randperm(b, generator=ctx.generator, device=ctx.generator.device).to(x.device)
    xa = lam * x + (1 - lam) * x[perm]
    ta = lam * targets + (1 - lam) * targets[perm]
    return F.normalize(xa, dim=-1, eps=EPS), ta


@register(
    "nn",
    strength="t",
    grid=(0.1, 0.2, 0.4, 0.6),
    default=0.2,
    help="move toward the nearest same-class neighbour in the batch by a fraction t",
    masks=False,
)
def aug_nn(x, targets, weight, strength, ctx):
    """Nearest = most cosine-similar row sharing a label; a row with none stays put."""
    same = (targets @ targets.T) > 0
    same.fill_diagonal_(False)
    sim = (x @ x.T).masked_fill(~same, float("-inf"))
    best = sim.argmax(dim=-1)
    has = same.any(dim=-1, keepdim=True)
    step = torch.where(has, x[best] - x, torch.zeros_like(x))
    return F.normalize(x + _col(strength) * step, dim=-1, eps=EPS), targets
