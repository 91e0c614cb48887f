"""A probe row's test score made checkable: its predictions kept, its test items named, and a
bootstrap interval on its score (see ``seabench.stats`` and ``seabench.predictions``)."""

from __future__ import annotations

import torch

from seabench.predictions import (
    ResultRow,
    TestPredictions,
    new_row_id,
    tensors_hash,
    with_predictions,
)
from seabench.stats.bootstrap import DEFAULT_SEED, score_interval


def test_items_of(info: dict, test_x: torch.Tensor, test_y: torch.Tensor) -> str:
    """The hash of the test items: the one the features came with, else their content."""
    return info.get("test_items") or tensors_hash(test_x, test_y)


def finish_row(
    row: dict,
    preds: TestPredictions,
    test_items: str,
    resamples: int,
    confidence: float,
) -> ResultRow:
    """``row`` with ``row_id``, ``test_items``, ``ci_low``/``ci_high`` of its test score and its
    predictions ``preds`` attached (the results store writes them before the row)."""
    metric = row["metric"]
    ci = score_interval(
        metric, preds.labels, preds.column(metric), resamples, confidence, DEFAULT_SEED
    )
    out = {
        **row,
        "row_id": new_row_id(),
        "test_items": test_items,
        "ci_low": round(ci.low, 4),
        "ci_high": round(ci.high, 4),
        "bootstrap": {"resamples": int(resamples), "confidence": confidence, "seed": DEFAULT_SEED},
    }
    return with_predictions(out, preds)
