"""Checks of a FeatureSet before any training: every inconsistency becomes one exit-2 line."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from seabench.errors import SeabenchError
from seabench.probe.checks import check_not_empty, warn_scale
from seabench.probe.metrics import check_metric

if TYPE_CHECKING:
    from seabench.probe.splits import FeatureSet


def _rows(indices: torch.Tensor) -> str:
    shown = ", ".join(str(i) for i in indices[:5].tolist())
    return shown + (" ..." if len(indices) > 5 else "")


def _check_split(name: str, x: torch.Tensor, y: torch.Tensor, fs: FeatureSet) -> None:
    if x.ndim not in (2, 3):
        raise SeabenchError(
            f"{name} features must be 2-d (samples x dim), or 3-d (samples x views x dim) for "
            f"multi-view features, got shape {tuple(x.shape)}"
        )
    check_not_empty(name, x)
    x = x.reshape(len(x), -1)  # a sample's views are checked together
    if len(x) != len(y):
        raise SeabenchError(
            f"{name} has {len(x)} feature rows but {len(y)} labels; pass matching files"
        )
    if not (x.dtype.is_floating_point or x.dtype == torch.bool):
        x = x.float()
    bad = torch.nonzero(~torch.isfinite(x).all(dim=1)).flatten()
    if len(bad):
        raise SeabenchError(
            f"{name} features contain NaN or inf in rows {_rows(bad)}; "
            "re-extract them or drop those rows"
        )
    warn_scale(name, x)
    if y.dtype.is_floating_point and not fs.multilabel:
        raise SeabenchError(f"{name} labels must be integer class indices, got {y.dtype}")
    if fs.multilabel:
        if y.ndim != 2 or y.shape[1] != fs.num_classes:
            raise SeabenchError(
                f"{name} labels must be (N, {fs.num_classes}) multi-hot rows, "
                f"got shape {tuple(y.shape)}"
            )
        bad = torch.nonzero(~((y == 0) | (y == 1)).all(dim=1)).flatten()
        if len(bad):
            raise SeabenchError(
                f"{name} multi-hot labels must be 0 or 1; rows {_rows(bad)} hold other values"
            )
    else:
        if y.ndim != 1:
            raise SeabenchError(f"{name} labels must be 1-d class indices, got {tuple(y.shape)}")
        out = torch.nonzero((y < 0) | (y >= fs.num_classes)).flatten()
        if len(out):
            raise SeabenchError(
                f"{name} labels outside 0..{fs.num_classes - 1} at rows {_rows(out)}; "
                "fix the labels or --num-classes"
            )


def validate(fs: FeatureSet) -> None:
    """Exit-2 errors for every inconsistency a probe would otherwise silently train through."""
    check_metric(fs.metric, fs.multilabel)
    splits = [("train", fs.train_x, fs.train_y), ("test", fs.test_x, fs.test_y)]
    if fs.val_x is not None or fs.val_y is not None:
        if fs.val_x is None or fs.val_y is None:
            raise SeabenchError(
                "validation features and labels go together: pass both "
                "--val-features and --val-labels, or neither"
            )
        splits.insert(1, ("val", fs.val_x, fs.val_y))
    for name, x, y in splits:
        _check_split(name, x, y, fs)
    dims = {name: x.shape[-1] for name, x, _ in splits}
    if len(set(dims.values())) > 1:
        raise SeabenchError(
            f"feature dimensions differ across splits: {dims}; the splits must "
            "come from the same backbone"
        )
    if fs.multilabel:
        present = set(torch.nonzero(fs.train_y.sum(0) > 0).flatten().tolist())
    else:
        present = set(torch.unique(fs.train_y).tolist())
    missing = sorted(set(range(fs.num_classes)) - present)
    if missing:
        shown = ", ".join(map(str, missing[:10])) + (" ..." if len(missing) > 10 else "")
        raise SeabenchError(
            f"classes {shown} have no training example; every class needs one to be learned"
        )
