"""The bootstrap is calibrated and agrees with the metrics.

Calibration: test sets are drawn from a synthetic population whose metric is known; the 95%
percentile interval must cover the truth in 92%-98% of the draws (at least 200 draws) for top-1,
mean per-class accuracy, 11-point mAP and a paired delta.  To stay fast the checks use 1,000
resamples (400 for mAP, with 200 draws) and small test sets; one draw's replicates are vectorised.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seabench.probe.metrics import map11, mean_per_class, top1
from seabench.stats.bootstrap import interval, replicates, score_interval
from seabench.stats.paired import p_value, paired_delta, seed_average

DRAWS = 300


def coverage(draw, truth, metric, resamples=1000, columns=1, draws=DRAWS):
    hits = 0
    for i in range(draws):
        labels, cols = draw(np.random.default_rng(1000 + i))
        points, reps = replicates(metric, labels, cols, resamples, seed=i)
        if columns == 2:
            d = paired_delta(points[0], points[1], reps[:, 0], reps[:, 1])
            lo, hi = d.low, d.high
        else:
            lo, hi = interval(reps[:, 0])
        hits += lo <= truth <= hi
    return hits / draws


def test_top1_interval_covers_the_true_accuracy():
    def draw(rng):
        y = rng.integers(0, 5, 400)
        return y, [rng.random(400) < 0.8]

    assert 0.92 <= coverage(draw, 80.0, "top1") <= 0.98


def test_mean_per_class_interval_covers_the_true_value():
    acc = np.array([0.55, 0.7, 0.8, 0.9, 0.95])

    def draw(rng):
        y = np.repeat(np.arange(5), 60)  # fixed class sizes: the stratified bootstrap's model
        return y, [rng.random(len(y)) < acc[y]]

    assert 0.92 <= coverage(draw, 100 * acc.mean(), "mean_per_class") <= 0.98


def _population(n, rng):
    # bounded scores (positives U(0.3, 1), negatives U(0, 0.7)): 11-point AP's recall-1 point is
    # set by the lowest positive, which for unbounded scores drifts with the test set's size
    y = (rng.random((n, 2)) < np.array([0.3, 0.4])).astype(np.uint8)
    u = rng.random((n, 2))
    return y, np.where(y > 0, 0.3 + 0.7 * u, 0.7 * u)


def test_map11_interval_covers_the_population_map():
    rng = np.random.default_rng(7)
    pool_y, pool_s = _population(400_000, rng)
    truth = map11(torch.from_numpy(pool_s), torch.from_numpy(pool_y))

    def draw(rng):
        idx = rng.integers(0, len(pool_y), 600)
        return pool_y[idx], [pool_s[idx]]

    assert 0.92 <= coverage(draw, truth, "map11", resamples=400, draws=200) <= 0.98


def test_paired_delta_interval_covers_the_true_delta():
    # both right 0.70, only A 0.10, only B 0.05, both wrong 0.15: A - B = 5 points
    p = np.array([0.70, 0.10, 0.05, 0.15])

    def draw(rng):
        k = rng.choice(4, size=1000, p=p)
        return np.zeros(1000, dtype=int), [np.isin(k, (0, 1)), np.isin(k, (0, 2))]

    assert 0.92 <= coverage(draw, 5.0, "top1", columns=2) <= 0.98


def test_points_equal_the_metrics_and_replicates_are_reproducible():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 7, 500)
    scores = rng.normal(size=(500, 7)) + 2 * np.eye(7)[y]
    pred_right = scores.argmax(1) == y
    t = torch.from_numpy(scores)
    p, _ = replicates("top1", y, [pred_right], 200)
    assert p[0] == pytest.approx(top1(t, torch.from_numpy(y)))
    p, _ = replicates("mean_per_class", y, [pred_right], 200)
    assert p[0] == pytest.approx(mean_per_class(t, torch.from_numpy(y)))
    p, _ = replicates("map11", y, [scores], 200)
    assert p[0] == pytest.approx(map11(t, torch.from_numpy(y)), abs=1e-4)
    a = score_interval("top1", y, pred_right, 500, seed=3)
    assert a == score_interval("top1", y, pred_right, 500, seed=3)
    assert a != score_interval("top1", y, pred_right, 500, seed=4)
    assert a.low < a.point < a.high


def test_stratified_resamples_keep_class_sizes():
    # one class all right, one all wrong: per-class accuracies never move, so neither does the mean
    y = np.repeat([0, 1], [30, 70])
    _, reps = replicates("mean_per_class", y, [y == 0], 500)
    assert np.all(reps == 50.0)
    _, reps = replicates("top1", y, [y == 0], 500)  # over images the share of class 0 varies
    assert reps.std() > 1.0


def test_map11_replicate_without_positives_leaves_the_class_out():
    # class 1 has one positive: replicates that miss it average over class 0 alone
    y = np.zeros((20, 2), dtype=np.uint8)
    y[:10, 0] = 1
    y[0, 1] = 1
    s = y + np.linspace(0, 0.5, 20)[:, None]
    _, reps = replicates("map11", y, [s], 400)
    assert not np.isnan(reps).any()
    assert (reps[:, 0] == 100.0).mean() > 0.2  # class 1 dropped (class 0 ranked perfectly)


def test_paired_delta_is_narrower_than_separate_intervals_and_p_values():
    rng = np.random.default_rng(1)
    shared = rng.random(2000) < 0.8
    a = shared | (rng.random(2000) < 0.05)
    points, reps = replicates("top1", np.zeros(2000, int), [a, shared], 2000)
    d = paired_delta(points[0], points[1], reps[:, 0], reps[:, 1])
    lo_a, hi_a = interval(reps[:, 0])
    assert d.significant and d.low > 0 and (d.high - d.low) < (hi_a - lo_a)
    assert d.p < 0.01
    assert p_value(np.zeros(100)) == 1.0
    mean, seed_reps, std = seed_average(points, reps)
    assert mean == pytest.approx(points.mean()) and seed_reps.shape == (2000,) and std > 0
