"""The bootstrap over test examples, vectorised: replicates are drawn at once, never looped over.

Test-set sampling uncertainty: the test split is one sample of the images a dataset could have
had; resampling it with replacement B times and recomputing the metric gives the spread a score
would have over other test sets of the same size (Efron and Tibshirani).  It is not the spread
over training seeds, which the report shows beside it as a standard deviation.

How each metric is resampled (``replicates``):

- ``top1``: images are resampled with replacement.  The metric depends on each image only through
  whether it was right, so images with the same pattern of right/wrong over the columns being
  compared are interchangeable; the resample is drawn as multinomial counts of those patterns
  (conditional binomials), which is exact and costs B x patterns, not B x N.
- ``mean_per_class``: stratified: each class is resampled within itself (its size kept), the
  per-class accuracies recomputed and averaged over the classes present in the test labels.
- ``map11``: images are resampled with replacement (counts per image, drawn at once), each class's
  ranking is scored with those counts as weights (a weighted 11-point AP equals the AP of the
  resampled list, copies of an image being tied neighbours).  A replicate in which a class has no
  positive image has no AP for that class: that class is left out of that replicate's mean (the
  VOC2007 convention for a class without positives, applied per replicate).

Several columns (methods, seeds, backbones) passed together share the very same resamples, so a
difference of two columns per replicate is a paired bootstrap of their difference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEFAULT_RESAMPLES = 10_000
DEFAULT_CONFIDENCE = 0.95
DEFAULT_SEED = 0
METRICS = ("top1", "mean_per_class", "map11")
#: replicates drawn per block (bounds memory; the stream of draws does not depend on it)
_BLOCK = 2_000


@dataclass(frozen=True)
class Interval:
    """A point estimate and its percentile interval, in the metric's units (percent)."""

    point: float
    low: float
    high: float


def check_settings(resamples: int, confidence: float) -> None:
    from seabench.errors import SeabenchError

    if int(resamples) < 100:
        raise SeabenchError(
            f"--bootstrap {resamples} is too few resamples for a percentile interval; use 1000 "
            "or more (10000 is the default)"
        )
    if not 0.5 <= float(confidence) < 1.0:
        raise SeabenchError(
            f"--confidence {confidence} must lie in [0.5, 1), e.g. 0.95 for a 95% interval"
        )


def interval(reps: np.ndarray, confidence: float = DEFAULT_CONFIDENCE) -> tuple[float, float]:
    """The percentile interval of replicate values (NaN replicates ignored)."""
    tail = (1.0 - confidence) / 2.0
    lo, hi = np.nanquantile(np.asarray(reps, dtype=np.float64), [tail, 1.0 - tail])
    return float(lo), float(hi)


def _multinomial_within(
    strata: np.ndarray, sizes: np.ndarray, resamples: int, rng: np.random.Generator
) -> np.ndarray:
    """(resamples, G) counts: within each stratum, its total drawn again over its groups in
    proportion to their sizes (the groups of a stratum are contiguous in ``strata``).

    Drawn as conditional binomials, group by group, for all strata and replicates at once; when
    strata have very unequal numbers of groups, one multinomial per stratum instead."""
    g = len(sizes)
    starts = np.flatnonzero(np.r_[True, strata[1:] != strata[:-1]])
    per = np.diff(np.r_[starts, g])
    out = np.zeros((resamples, g), dtype=np.int64)
    if per.max() * len(starts) > 2 * g:
        for lo, n in zip(starts, per, strict=True):
            part = sizes[lo : lo + n].astype(np.float64)
            out[:, lo : lo + n] = rng.multinomial(int(part.sum()), part / part.sum(), resamples)
        return out
    totals = np.add.reduceat(sizes, starts)
    left_n = np.broadcast_to(totals, (resamples, len(starts))).copy()
    left_size = totals.astype(np.float64)
    for j in range(int(per.max())):
        active = per > j
        idx = starts[active] + j
        p = np.clip(sizes[idx] / np.maximum(left_size[active], 1.0), 0.0, 1.0)
        draw = rng.binomial(left_n[:, active], p)
        out[:, idx] = draw
        left_n[:, active] -= draw
        left_size[active] -= sizes[idx]
    return out


def _accuracy_replicates(
    correct: np.ndarray, strata: np.ndarray | None, resamples: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Points (K,) and replicates (B, K) of accuracy (``strata`` None) or mean per-class accuracy
    (``strata`` the class of each example) of the K columns of ``correct`` (N, K)."""
    n, k = correct.shape
    key = np.zeros(n, dtype=np.int64) if strata is None else np.asarray(strata, dtype=np.int64)
    if k <= 40 and key.max(initial=0) < 2**20:  # one integer per (stratum, pattern): fast unique
        code = (key << k) | (correct.astype(np.int64) << np.arange(k - 1, -1, -1)).sum(1)
        codes, first_of, sizes = np.unique(code, return_index=True, return_counts=True)
        stratum, pattern = codes >> k, correct[first_of].astype(np.float64)
    else:
        table = np.column_stack([key, correct.astype(np.int64)])
        groups, sizes = np.unique(table, axis=0, return_counts=True)
        stratum, pattern = groups[:, 0], groups[:, 1:].astype(np.float64)
    _, first, inverse = np.unique(stratum, return_index=True, return_inverse=True)
    stratum_size = np.add.reduceat(sizes, first)[inverse].astype(np.float64)
    # the metric is linear in the counts: sum_g count_g * pattern_g / (n_stratum * strata)
    weight = pattern / (stratum_size[:, None] * len(first))
    points = 100.0 * (sizes.astype(np.float64) @ weight)
    reps = np.empty((resamples, k))
    for start in range(0, resamples, _BLOCK):
        b = min(_BLOCK, resamples - start)
        counts = _multinomial_within(stratum, sizes, b, rng)
        reps[start : start + b] = 100.0 * (counts @ weight)
    return points, reps


def _example_weights(n: int, b: int, rng: np.random.Generator) -> np.ndarray:
    """(n, b) float32 resample counts: n draws with replacement per replicate (column), counted
    per example."""
    draws = rng.integers(0, n, size=(b, n), dtype=np.int32 if n < 2**31 else np.int64)
    key = draws.astype(np.int64) * b + np.arange(b)[:, None]
    return np.bincount(key.ravel(), minlength=n * b).reshape(n, b).astype(np.float32)


class _Ranking:
    """One column's rankings of every class, reduced to what 11-point AP needs: the positives in
    rank order, and for each positive the examples ranked at or above it since the previous one
    (its "segment"); examples below a class's last positive never change its AP."""

    def __init__(self, scores: np.ndarray, y: np.ndarray):
        from scipy import sparse

        n, c = y.shape
        order = np.argsort(-scores.astype(np.float64), axis=0, kind="stable")
        positive = np.take_along_axis(y, order, axis=0).astype(bool)
        seg = np.cumsum(positive, axis=0) - positive  # positives ranked before each example
        npos = positive.sum(0)
        offsets = np.r_[0, np.cumsum(npos)]
        keep = seg < npos[None, :]
        rows = (offsets[:-1][None, :] + seg)[keep]
        cols = order[keep]
        self.segments = sparse.csr_matrix(
            (np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(int(offsets[-1]), n)
        )
        self.positives = order.T[positive.T]  # example of each positive, class by class
        self.offsets = offsets

    def ap(self, wt: np.ndarray) -> np.ndarray:
        """(C, b) APs for example weights ``wt`` (N, b); NaN where a class has no weighted
        positive.  Work arrays are (replicates, positives), so every running sum and maximum
        runs along contiguous memory."""
        seen_all = np.ascontiguousarray((self.segments @ wt).T)  # (b, P): each segment's weight
        hits_all = np.ascontiguousarray(wt[self.positives].T)  # (b, P): each positive's weight
        b = wt.shape[1]
        out = np.empty((len(self.offsets) - 1, b))
        rows = 12 * np.arange(b)[:, None]
        for c in range(len(self.offsets) - 1):
            lo, hi = self.offsets[c], self.offsets[c + 1]
            tp = np.cumsum(hits_all[:, lo:hi], axis=1)
            precision = tp / np.maximum(np.cumsum(seen_all[:, lo:hi], axis=1), 1.0)
            best_after = np.maximum.accumulate(precision[:, ::-1], axis=1)[:, ::-1]
            npos = tp[:, -1]
            # the highest recall level k/10 each positive reaches: tp >= k/10 * npos for
            # k <= floor(10 tp / npos) (whole counts: the slack only absorbs rounding)
            scale = (10.0 / np.maximum(npos, 1.0)).astype(np.float32)
            reached_levels = np.minimum(np.floor(tp * scale[:, None] + 1e-5), 11).astype(np.int64)
            counts = np.bincount((reached_levels + rows).ravel(), minlength=12 * b)
            # first position at level t: the number of positions below it (level < t)
            below = np.cumsum(counts.reshape(b, 12), axis=1)[:, :10]
            first = np.concatenate([np.zeros((b, 1), dtype=below.dtype), below], axis=1)
            reached = first < (hi - lo)
            vals = np.take_along_axis(best_after, np.minimum(first, hi - lo - 1), axis=1) * reached
            out[c] = np.where(npos > 0, vals.mean(1), np.nan)
        return out


def _map11_replicates(
    labels: np.ndarray, columns: list[np.ndarray], resamples: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels)
    if y.ndim == 1:
        y = np.eye(columns[0].shape[1], dtype=np.uint8)[y]
    present = np.flatnonzero(y.sum(0) > 0)
    y = y[:, present] > 0
    n = len(y)
    ranked = [_Ranking(np.asarray(s)[:, present], y) for s in columns]

    def mean_ap(wt: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            return np.stack([100.0 * np.nanmean(r.ap(wt), axis=0) for r in ranked], axis=1)

    points = mean_ap(np.ones((n, 1), dtype=np.float32))[0]
    reps = np.empty((resamples, len(columns)))
    block = max(1, min(_BLOCK, 2_000_000 // max(1, n)))
    for start in range(0, resamples, block):
        b = min(block, resamples - start)
        wt = _example_weights(n, b, rng)
        reps[start : start + b] = mean_ap(wt)
    return points, reps


def replicates(
    metric: str,
    labels: np.ndarray,
    columns: list[np.ndarray],
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> tuple[np.ndarray, np.ndarray]:
    """The metric (percent) of each column on the test set, and on ``resamples`` resamples of it.

    ``columns`` are per-example inputs scored against the same ``labels`` in the same order:
    for ``top1`` and ``mean_per_class`` a bool (N,) "was this example right", for ``map11`` the
    (N, C) class scores.  Returns ``points`` (K,) and ``reps`` (resamples, K); every column sees
    the same resamples (paired), and the same ``seed`` gives the same replicates.
    """
    if metric not in METRICS:
        raise ValueError(f"no bootstrap for metric {metric!r}")
    rng = np.random.default_rng(seed)
    if metric == "map11":
        return _map11_replicates(labels, columns, resamples, rng)
    correct = np.column_stack([np.asarray(c, dtype=bool) for c in columns])
    strata = np.asarray(labels) if metric == "mean_per_class" else None
    return _accuracy_replicates(correct, strata, resamples, rng)


def score_interval(
    metric: str,
    labels: np.ndarray,
    column: np.ndarray,
    resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = DEFAULT_SEED,
) -> Interval:
    """One score's point estimate and percentile interval."""
    points, reps = replicates(metric, labels, [column], resamples, seed)
    low, high = interval(reps[:, 0], confidence)
    return Interval(float(points[0]), low, high)
