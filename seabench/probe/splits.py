"""The data a probe runs on: the three splits' features and labels, and their preparation.

``prepare`` validates them, draws a seeded stratified holdout when there is no validation split,
and moves them to the probe's device.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from seabench.errors import SeabenchError


@dataclass
class FeatureSet:
    """Features and labels of the three splits; ``val_x`` may be None (a holdout is then drawn).

    Labels are class indices (N,) or, with ``multilabel``, multi-hot rows (N, num_classes).
    """

    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor | None
    val_y: torch.Tensor | None
    test_x: torch.Tensor
    test_y: torch.Tensor
    num_classes: int
    metric: str = "top1"
    multilabel: bool = False
    dataset: str = "external"
    backbone: str = "external"
    val_source: str = "given"
    info: dict = field(default_factory=dict)
    #: for multi-view features (N, M, d): the view that plain probes use (the unaltered image)
    reference_view: int = 0

    def __post_init__(self) -> None:
        # numpy arrays (and lists) are accepted wherever tensors are
        for name in ("train_x", "train_y", "val_x", "val_y", "test_x", "test_y"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, torch.Tensor):
                setattr(self, name, torch.as_tensor(np.asarray(value)))


@dataclass
class Splits:
    """The three splits as used for one protocol run (the holdout already drawn)."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    val_source: str
    device: str


def stratified_holdout(labels: torch.Tensor, fraction: float = 0.2, seed: int = 0):
    """Indices (keep, held) with ``fraction`` of each class held out, at least one per class.

    Multi-hot labels are stratified by their first positive class.
    """
    gen = torch.Generator().manual_seed(seed)
    key = labels if labels.ndim == 1 else labels.float().argmax(-1)
    keep, held = [], []
    for c in torch.unique(key):
        idx = torch.nonzero(key == c).flatten()
        idx = idx[torch.randperm(len(idx), generator=gen)]
        n_held = max(1, round(fraction * len(idx))) if len(idx) > 1 else 0
        held.append(idx[:n_held])
        keep.append(idx[n_held:])
    return torch.sort(torch.cat(keep)).values, torch.sort(torch.cat(held)).values


def resolve_device(device: str | None) -> str:
    return device or ("cuda" if torch.cuda.is_available() else "cpu")


def prepare(fs: FeatureSet, device: str) -> Splits:
    """Validate, draw the seeded stratified 20% holdout when there is no val split, move to device.

    The holdout depends on the labels only, so every seed and every ensemble member sees the same
    split.
    """
    from seabench.probe.validation import validate

    validate(fs)
    train_x, train_y = fs.train_x, fs.train_y
    val_x, val_y, val_source = fs.val_x, fs.val_y, fs.val_source
    if val_x is None:
        keep, held = stratified_holdout(train_y, 0.2, seed=0)
        if len(held) == 0 or len(keep) == 0:
            raise SeabenchError(
                "too few training examples to hold out a validation split; "
                "pass --val-features/--val-labels"
            )
        val_x, val_y = train_x[held], train_y[held]
        train_x, train_y = train_x[keep], train_y[keep]
        val_source = "holdout20"

    def feats(t):
        return t.to(device=device, dtype=torch.float32)

    return Splits(
        feats(train_x),
        train_y.to(device),
        feats(val_x),
        val_y.to(device),
        feats(fs.test_x),
        fs.test_y.to(device),
        val_source,
        device,
    )
