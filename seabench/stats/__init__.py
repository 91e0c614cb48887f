"""Uncertainty of test scores: bootstrap intervals and paired deltas over stored predictions."""

from seabench.stats.bootstrap import (
    DEFAULT_CONFIDENCE,
    DEFAULT_RESAMPLES,
    Interval,
    interval,
    replicates,
)
from seabench.stats.paired import Delta, paired_delta

__all__ = [
    "DEFAULT_CONFIDENCE",
    "DEFAULT_RESAMPLES",
    "Delta",
    "Interval",
    "interval",
    "paired_delta",
    "replicates",
]
