"""Scores with each dataset's own metric, in percent."""

from __future__ import annotations

from collections.abc import Callable

import torch

METRICS: dict[str, Callable[[torch.Tensor, torch.Tensor], float]] = {}
METRIC_LABELS = {"top1": "top-1", "mean_per_class": "mean per-class acc", "map11": "11-point mAP"}


def _register(name):
    def deco(fn):
        METRICS[name] = fn
        return fn

    return deco


@_register("top1")
def top1(scores: torch.Tensor, y: torch.Tensor) -> float:
    return 100.0 * (scores.argmax(-1) == y).double().mean().item()


@_register("mean_per_class")
def mean_per_class(scores: torch.Tensor, y: torch.Tensor) -> float:
    """Average over classes present in ``y`` of the per-class recall."""
    pred = scores.argmax(-1)
    classes = torch.unique(y)
    accs = [(pred[y == c] == c).double().mean() for c in classes]
    return 100.0 * torch.stack(accs).mean().item()


def average_precision_11(scores: torch.Tensor, positives: torch.Tensor) -> float:
    """VOC2007 11-point interpolated average precision of one class."""
    order = torch.argsort(scores, descending=True)
    hits = positives[order].double()
    npos = hits.sum()
    if npos == 0:
        return float("nan")
    tp = torch.cumsum(hits, 0)
    precision = tp / torch.arange(1, len(hits) + 1, dtype=torch.float64, device=hits.device)
    recall = tp / npos
    ap = 0.0
    for t in torch.linspace(0, 1, 11, dtype=torch.float64):
        mask = recall >= t
        ap += (precision[mask].max().item() if mask.any() else 0.0) / 11
    return ap


@_register("map11")
def map11(scores: torch.Tensor, y: torch.Tensor) -> float:
    """Mean over classes of 11-point AP; ``y`` is (N, C) multi-hot, classes with no positive skipped."""
    aps = [average_precision_11(scores[:, c], y[:, c] > 0) for c in range(y.shape[1])]
    aps = [a for a in aps if a == a]
    return 100.0 * sum(aps) / len(aps)


def score(metric: str, scores: torch.Tensor, y: torch.Tensor) -> float:
    from seabench.errors import SeabenchError

    if metric not in METRICS:
        raise SeabenchError(f"unknown metric {metric!r}; choose one of: {', '.join(METRICS)}")
    return METRICS[metric](scores.float().cpu(), y.cpu())
