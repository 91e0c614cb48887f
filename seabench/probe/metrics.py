"""Scores with each dataset's own metric, in percent.

``scores`` are (N, C) class scores (logits or probabilities: every metric here depends only on
their order); ``y`` is (N,) class indices or (N, C) multi-hot rows.

- ``top1``: fraction of examples whose highest-scoring class is a true one.
- ``mean_per_class``: per-class recall averaged over the classes present in ``y`` (the Aircraft,
  Caltech, Flowers and Pets convention; equal to scikit-learn's ``balanced_accuracy_score``).
- ``map11``: VOC2007's 11-point interpolated average precision, averaged over classes that have
  a positive (the VOC2007 convention of the transfer literature).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from seabench.errors import SeabenchError

METRICS: dict[str, Callable[[torch.Tensor, torch.Tensor], float]] = {}
METRIC_LABELS = {"top1": "top-1", "mean_per_class": "mean per-class acc", "map11": "11-point mAP"}


def _register(name):
    def deco(fn):
        METRICS[name] = fn
        return fn

    return deco


@_register("top1")
def top1(scores: torch.Tensor, y: torch.Tensor) -> float:
    """Top-1 accuracy; with multi-hot ``y`` a hit is a top class that is one of the positives."""
    pred = scores.argmax(-1)
    if y.ndim == 2:
        return 100.0 * (y.gather(1, pred[:, None]).squeeze(1) > 0).double().mean().item()
    return 100.0 * (pred == y).double().mean().item()


@_register("mean_per_class")
def mean_per_class(scores: torch.Tensor, y: torch.Tensor) -> float:
    """Average over classes present in ``y`` of the per-class recall."""
    if y.ndim != 1:
        raise SeabenchError(
            "mean_per_class needs one class index per example; use map11 or top1 "
            "for multi-label data"
        )
    pred = scores.argmax(-1)
    classes, counts = torch.unique(y, return_counts=True)
    hits = torch.zeros(int(y.max()) + 1, dtype=torch.float64)
    hits.index_add_(0, y[pred == y].long(), torch.ones(int((pred == y).sum()), dtype=torch.float64))
    return 100.0 * (hits[classes] / counts.double()).mean().item()


def average_precision_11(scores: torch.Tensor, positives: torch.Tensor) -> float:
    """VOC2007 11-point interpolated average precision of one class (nan without a positive).

    For each recall level t in 0, 0.1, ..., 1 it takes the best precision at any recall >= t
    (0 if that recall is never reached) and averages the 11 values.
    """
    order = torch.argsort(scores.double(), descending=True, stable=True)
    hits = positives[order].double()
    npos = hits.sum()
    if npos == 0:
        return float("nan")
    tp = torch.cumsum(hits, 0)
    precision = tp / torch.arange(1, len(hits) + 1, dtype=torch.float64)
    recall = tp / npos
    # best precision at recall >= recall[i]: a running max from the end
    best_after = torch.flip(torch.cummax(torch.flip(precision, [0]), 0).values, [0])
    levels = torch.linspace(0, 1, 11, dtype=torch.float64)
    first = torch.searchsorted(recall, levels - 1e-12)  # first rank whose recall reaches t
    reached = first < len(recall)
    per_level = torch.where(reached, best_after[first.clamp(max=len(recall) - 1)], 0.0)
    return per_level.mean().item()


@_register("map11")
def map11(scores: torch.Tensor, y: torch.Tensor) -> float:
    """Mean over classes of 11-point AP; classes with no positive in ``y`` are skipped."""
    if y.ndim == 1:
        y = F.one_hot(y.long(), scores.shape[1])
    aps = [average_precision_11(scores[:, c], y[:, c] > 0) for c in range(y.shape[1])]
    aps = [a for a in aps if a == a]
    if not aps:
        raise SeabenchError("map11 needs at least one positive label in the scored split")
    return 100.0 * sum(aps) / len(aps)


def check_metric(metric: str, multilabel: bool) -> None:
    """Raise a one-line error for an unknown metric or one that cannot score these labels."""
    if metric not in METRICS:
        raise SeabenchError(f"unknown metric {metric!r}; choose one of: {', '.join(METRICS)}")
    if multilabel and metric == "mean_per_class":
        raise SeabenchError(
            "metric mean_per_class needs single-label data; use --metric map11 "
            "for multi-label (N x C multi-hot) labels"
        )


def score(metric: str, scores: torch.Tensor, y: torch.Tensor) -> float:
    """``metric`` of class scores (N, C) against labels, in percent."""
    check_metric(metric, y.ndim == 2)
    if scores.ndim != 2 or scores.shape[0] != y.shape[0]:
        raise SeabenchError(
            f"scores of shape {tuple(scores.shape)} do not match {y.shape[0]} labels"
        )
    return METRICS[metric](scores.float().cpu(), y.cpu())
