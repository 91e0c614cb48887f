"""Multi-view probes: views as data augmentation, and self-supervised label augmentation (SLA).

Features come as (N, M, d): M fixed views (e.g. four rotations) of each image.

- ``views``: the plain probe trained on all N*M view features with the image's label (invariance
  to the views, as input-space augmentation would teach); prediction averages the logits over views.
- ``sla`` (Lee, Hwang, Shin, ICML 2020): one classifier over the C*M joint labels (y, m), so the
  view is predicted rather than ignored; prediction aggregates the joint scores, the logit of (c, m)
  on view m summed over m (the paper's aggregated inference).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import torch

from seabench.errors import SeabenchError
from seabench.probe import names
from seabench.probe.registry import get_method

if TYPE_CHECKING:
    from seabench.probe.options import ProbeOptions
    from seabench.probe.splits import FeatureSet

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
MULTIVIEW_AUGS = names.MULTIVIEW_AUGS


def parse(aug: str) -> tuple[str | None, str]:
    """``--aug`` value -> (multi-view mode or None, the feature-space augmentation to use)."""
    return MULTIVIEW_AUGS.get(aug, (None, aug))


check_aug = names.check_aug


def views_for(fs: FeatureSet, opts: ProbeOptions) -> FeatureSet:
    """Plain probes on multi-view features use the reference view; view modes need views."""
    mode, _ = parse(opts.aug)
    multiview = fs.train_x.ndim == 3
    if mode is None and multiview:
        v = fs.reference_view
        pick = {k: getattr(fs, k)[:, v] for k in ("train_x", "test_x")}
        if fs.val_x is not None:
            pick["val_x"] = fs.val_x[:, v]
        # the probe saw one view: the row says so, and which entry's view it was
        info = {**fs.info, "views": "none", "view_of": f"{fs.info.get('views', 'multi')}[{v}]"}
        return replace(fs, **pick, info=info)
    if mode is not None:
        if not multiview:
            raise SeabenchError(
                f"--aug {opts.aug} needs multi-view features; extract them with "
                "`seabench extract ... --views rot4` (or flip2, crops5)"
            )
        if not get_method(opts.solver).multiview:
            raise SeabenchError(f"--aug {opts.aug} trains with --solver sgd only")
        if mode == "sla" and fs.multilabel:
            raise SeabenchError("--aug sla needs a single-label dataset (joint labels (y, view))")
        n_views = {t.shape[1] for t in (fs.train_x, fs.test_x, fs.val_x) if t is not None}
        if len(n_views) > 1:
            raise SeabenchError(f"splits have different numbers of views: {sorted(n_views)}")
    return fs
