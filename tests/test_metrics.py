"""Metrics against hand-computed values and scikit-learn."""

from __future__ import annotations

import math

import pytest
import torch
from sklearn.metrics import accuracy_score, balanced_accuracy_score

from seabench.errors import SeabenchError
from seabench.probe.metrics import average_precision_11, map11, mean_per_class, score, top1


def test_top1_and_mean_per_class_by_hand():
    # predictions 0, 0, 1, 1, 2 for labels 0, 0, 0, 1, 2
    scores = torch.tensor([[3.0, 1, 0], [2, 1, 0], [0, 2, 1], [0, 2, 1], [0, 1, 2]])
    y = torch.tensor([0, 0, 0, 1, 2])
    assert top1(scores, y) == pytest.approx(80.0)
    # class 0: 2/3, class 1: 1/1, class 2: 1/1 -> mean 8/9
    assert mean_per_class(scores, y) == pytest.approx(100 * 8 / 9)


def test_against_sklearn_on_random_predictions():
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 7, (500,), generator=g)
    y[:7] = torch.arange(7)
    scores = torch.randn(500, 7, generator=g) + 1.5 * torch.nn.functional.one_hot(y, 7)
    pred = scores.argmax(1).numpy()
    assert score("top1", scores, y) == pytest.approx(100 * accuracy_score(y.numpy(), pred))
    assert score("mean_per_class", scores, y) == pytest.approx(
        100 * balanced_accuracy_score(y.numpy(), pred)
    )


def test_mean_per_class_ignores_classes_absent_from_labels():
    scores = torch.tensor([[0.0, 1, 0], [1, 0, 0]])  # a prediction of class 1, never a label
    y = torch.tensor([0, 0])
    assert mean_per_class(scores, y) == pytest.approx(50.0)


def test_ap11_by_hand():
    # ranking: +, -, +, -  (2 positives)
    # precision at ranks: 1, 1/2, 2/3, 2/4; recall: .5, .5, 1, 1
    # levels 0..0.5 -> best precision at recall >= t = 1 (6 levels), 0.6..1.0 -> 2/3 (5 levels)
    s = torch.tensor([0.9, 0.8, 0.7, 0.6])
    pos = torch.tensor([True, False, True, False])
    assert average_precision_11(s, pos) == pytest.approx((6 * 1 + 5 * 2 / 3) / 11)
    # perfect ranking -> 1; no positive -> nan
    assert average_precision_11(s, torch.tensor([True, True, False, False])) == pytest.approx(1.0)
    assert math.isnan(average_precision_11(s, torch.zeros(4, dtype=torch.bool)))


def _ap11_reference(scores, positives):
    """The VOC2007 devkit's loop, written independently with plain Python lists."""
    pairs = sorted(zip(scores.tolist(), positives.tolist(), strict=True), key=lambda p: -p[0])
    npos = sum(positives.tolist())
    tp, prec, rec = 0, [], []
    for i, (_, hit) in enumerate(pairs, 1):
        tp += hit
        prec.append(tp / i)
        rec.append(tp / npos)
    total = 0.0
    for k in range(11):
        t = k / 10
        cands = [p for p, r in zip(prec, rec, strict=True) if r >= t - 1e-12]
        total += max(cands) if cands else 0.0
    return total / 11


def test_map11_matches_reference_loop_and_skips_empty_classes():
    g = torch.Generator().manual_seed(1)
    y = (torch.rand(60, 5, generator=g) < 0.3).to(torch.uint8)
    y[:, 4] = 0  # a class without positives is skipped
    scores = torch.randn(60, 5, generator=g) + 1.0 * y
    expected = sum(_ap11_reference(scores[:, c], y[:, c].bool()) for c in range(4)) / 4
    assert map11(scores, y) == pytest.approx(100 * expected)
    assert score("map11", scores, y) == pytest.approx(100 * expected)


def test_map11_accepts_class_indices_and_multilabel_top1():
    scores = torch.tensor([[2.0, 1], [1, 2], [2, 1]])
    assert map11(scores, torch.tensor([0, 1, 0])) == pytest.approx(100.0)
    multi = torch.tensor([[1, 1], [1, 0], [0, 1]])
    assert top1(scores, multi) == pytest.approx(100 / 3)  # only row 0's top class is positive


def test_bad_metric_inputs_are_clear_errors():
    with pytest.raises(SeabenchError, match="unknown metric"):
        score("top5", torch.zeros(2, 2), torch.tensor([0, 1]))
    with pytest.raises(SeabenchError, match="single-label"):
        score("mean_per_class", torch.zeros(2, 2), torch.tensor([[1, 0], [0, 1]]))
    with pytest.raises(SeabenchError, match="do not match"):
        score("top1", torch.zeros(3, 2), torch.tensor([0, 1]))
