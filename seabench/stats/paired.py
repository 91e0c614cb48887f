"""Paired comparisons: the difference of two scores on the same resampled test items.

Two methods scored on the same test items share their easy and hard images, so their difference
varies far less over resamples than either score does; resampling the items once per replicate
and differencing there keeps that pairing (the replicates of ``bootstrap.replicates`` for columns
passed together).  Seeds combine per replicate (the seed-averaged metric), and datasets average
per replicate (each resampled within itself, then averaged).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seabench.stats.bootstrap import DEFAULT_CONFIDENCE, interval


@dataclass(frozen=True)
class Delta:
    """``a - b`` with its percentile interval and a two-sided bootstrap p-value."""

    delta: float
    low: float
    high: float
    p: float

    @property
    def significant(self) -> bool:
        """The interval excludes 0."""
        return self.low > 0 or self.high < 0


def p_value(diffs: np.ndarray) -> float:
    """Two-sided: twice the smaller tail of the replicate differences beyond 0, (k+1)/(B+1)."""
    d = np.asarray(diffs, dtype=np.float64)
    d = d[~np.isnan(d)]
    b = len(d)
    if b == 0:
        return float("nan")
    tail = min(int((d <= 0).sum()), int((d >= 0).sum()))
    return float(min(1.0, 2.0 * (tail + 1) / (b + 1)))


def paired_delta(
    point_a: float,
    point_b: float,
    reps_a: np.ndarray,
    reps_b: np.ndarray,
    confidence: float = DEFAULT_CONFIDENCE,
) -> Delta:
    """The paired difference ``a - b``; the replicates must come from the same resamples."""
    if np.shape(reps_a) != np.shape(reps_b):
        raise ValueError("paired replicates must have the same shape (the same resamples)")
    diffs = np.asarray(reps_a, dtype=np.float64) - np.asarray(reps_b, dtype=np.float64)
    low, high = interval(diffs, confidence)
    return Delta(float(point_a - point_b), low, high, p_value(diffs))


def seed_average(points: np.ndarray, reps: np.ndarray) -> tuple[float, np.ndarray, float]:
    """Seeds (columns) -> (mean score, replicates of the seed-averaged score, seed std).

    Per replicate the seeds' metrics on the same resample are averaged: the interval is that of
    the seed-averaged score over test sets; the seed std is a different quantity, shown beside.
    """
    points = np.asarray(points, dtype=np.float64)
    std = float(points.std(ddof=1)) if len(points) > 1 else 0.0
    return float(points.mean()), np.asarray(reps, dtype=np.float64).mean(axis=1), std


def dataset_average(points: list[float], reps: list[np.ndarray]) -> tuple[float, np.ndarray]:
    """Datasets -> (mean, replicates of the mean): each dataset resampled within itself, averaged
    replicate by replicate (datasets are independent test sets)."""
    return float(np.mean(points)), np.mean(np.stack(reps), axis=0)
