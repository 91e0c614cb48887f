"""Multi-view probes: views as data augmentation, and self-supervised label augmentation (SLA).

Features come as (N, M, d): M fixed views (e.g. four rotations) of each image.

- ``views``: the plain probe trained on all N*M view features with the image's label (invariance
  to the views, as input-space augmentation would teach); prediction averages the logits over views.
- ``sla`` (Lee, Hwang, Shin, ICML 2020): one classifier over the C*M joint labels (y, m), so the
  view is predicted rather than ignored; prediction aggregates the joint scores, the logit of (c, m)
  on view m summed over m (the paper's aggregated inference).
"""

from __future__ import annotations

import torch

MODES = ("views", "sla")


def flatten(x: torch.Tensor, y: torch.Tensor, mode: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, M, d) features and (N,) labels -> (N*M, d) features with plain or joint labels."""
    n, m, d = x.shape
    flat = x.reshape(n * m, d)
    y_rep = y.repeat_interleave(m)
    if mode == "views":
        return flat, y_rep
    view = torch.arange(m, device=y.device).repeat(n)
    return flat, y_rep * m + view


def output_classes(num_classes: int, num_views: int, mode: str) -> int:
    return num_classes * num_views if mode == "sla" else num_classes


def aggregate(logits: torch.Tensor, num_views: int, mode: str) -> torch.Tensor:
    """(..., N*M, C') view logits -> (..., N, C) class scores."""
    *lead, nm, c_out = logits.shape
    n = nm // num_views
    per = logits.reshape(*lead, n, num_views, c_out)
    if mode == "views":
        return per.mean(dim=-2)
    c = c_out // num_views
    joint = per.reshape(*lead, n, num_views, c, num_views)
    return torch.diagonal(joint, dim1=-3, dim2=-1).sum(dim=-1)


#: multi-view probe names -> (mode, feature-space augmentation used inside it)
MULTIVIEW_AUGS = {"views": ("views", "none"), "sla": ("sla", "none"), "sla+sea": ("sla", "sea")}


def parse(aug: str) -> tuple[str | None, str]:
    """``--aug`` value -> (multi-view mode or None, the feature-space augmentation to use)."""
    return MULTIVIEW_AUGS.get(aug, (None, aug))


def check_aug(aug: str) -> None:
    """Raise SeabenchError for an --aug value that is neither an augmentation nor a view mode."""
    from seabench.errors import SeabenchError
    from seabench.probe.augment import AUGMENTATIONS

    if aug not in AUGMENTATIONS and aug not in MULTIVIEW_AUGS:
        names = [*AUGMENTATIONS, *MULTIVIEW_AUGS]
        raise SeabenchError(f"unknown augmentation {aug!r}; choose one of: {', '.join(names)}")
