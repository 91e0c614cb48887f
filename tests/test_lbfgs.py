"""The L-BFGS logistic-regression probe against scikit-learn, and its search on val."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from seabench.probe.lbfgs import L2_GRID, fit_logreg, lbfgs_search


def _blobs(n=400, d=24, c=4, seed=0, spread=1.0):
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(c, d, generator=g)
    y = torch.arange(n) % c
    x = centers[y] * 0.7 + spread * torch.randn(n, d, generator=g) + 2.0
    return x, y


def test_grid_is_the_literature_one():
    assert len(L2_GRID) == 45
    assert L2_GRID[0] == pytest.approx(1e-6) and L2_GRID[-1] == pytest.approx(1e5)


@pytest.mark.parametrize("l2", [0.1, 3.0, 100.0])
def test_matches_sklearn_at_the_same_C(l2):
    x, y = _blobs()
    xtr, ytr, xte, yte = x[:300], y[:300], x[300:], y[300:]
    scaler = StandardScaler().fit(xtr.numpy())
    sk = LogisticRegression(C=1 / l2, max_iter=5000, tol=1e-8)
    sk.fit(scaler.transform(xtr.numpy()), ytr.numpy())
    sk_probs = sk.predict_proba(scaler.transform(xte.numpy()))
    model = fit_logreg(xtr, ytr, l2=l2)
    probs = model.probs(xte).numpy()
    acc = 100 * (probs.argmax(1) == yte.numpy()).mean()
    sk_acc = 100 * (sk_probs.argmax(1) == yte.numpy()).mean()
    assert abs(acc - sk_acc) <= 1.0
    # solved tightly (float64) it is the same optimum, not just the same accuracy
    tight = fit_logreg(xtr, ytr, l2=l2, tol=1e-8, dtype=torch.float64).probs(xte).numpy()
    assert np.abs(tight - sk_probs).max() < 1e-3
    assert pytest.approx(1 / l2) == model.C


def test_multilabel_matches_sklearn_one_vs_rest():
    x, y = _blobs(c=3)
    multi = torch.nn.functional.one_hot(y, 3)
    multi[::4, 0] = 1  # some rows carry two labels
    scaler = StandardScaler().fit(x.numpy())
    model = fit_logreg(x, multi, l2=1.0, tol=1e-8)
    probs = model.probs(x).numpy()
    for c in range(3):
        sk = LogisticRegression(C=1.0, max_iter=5000, tol=1e-8)
        sk.fit(scaler.transform(x.numpy()), multi[:, c].numpy())
        ref = sk.predict_proba(scaler.transform(x.numpy()))[:, 1]
        assert np.abs(probs[:, c] - ref).max() < 5e-3


def test_search_picks_the_best_val_score_and_warm_starts():
    x, y = _blobs(n=240, d=40, spread=2.5, seed=3)
    grid = (1e-3, 1e-1, 10.0, 1e3, 1e5)
    found = lbfgs_search(x[:160], y[:160], x[160:], y[160:], grid=grid)
    assert found.l2 in grid and len(found.val_scores) == len(grid)
    assert found.val_score == max(found.val_scores)
    assert found.val_scores[grid.index(found.l2)] == found.val_score
    # the chosen model is the one fit on train at that L2 weight
    ref = fit_logreg(x[:160], y[:160], l2=found.l2)
    assert torch.allclose(found.model.probs(x[160:]), ref.probs(x[160:]), atol=1e-3)
    # very strong regularisation is near chance on these blobs, the chosen one is not
    assert found.val_scores[-1] < found.val_score


def test_standardisation_statistics_come_from_the_fitting_split_only():
    x, y = _blobs()
    model = fit_logreg(x[:200], y[:200], l2=1.0)
    assert torch.allclose(model.mean.float(), x[:200].mean(0), atol=1e-5)
    shifted = fit_logreg(torch.cat([x[:200], x[200:] + 100]), torch.cat([y[:200], y[200:]]), l2=1.0)
    assert not torch.allclose(shifted.mean.float(), model.mean.float())


def test_non_positive_l2_is_refused():
    from seabench.errors import SeabenchError

    x, y = _blobs()
    with pytest.raises(SeabenchError, match="the L2 weight must be positive, got 0"):
        fit_logreg(x, y, l2=0.0)


def test_numpy_inputs_as_the_readme_calls_it():
    """``lbfgs_search(train_x, train_y, val_x, val_y)`` on numpy arrays (what scikit-learn users
    hold) chooses and predicts as on tensors; it raised AttributeError ('.to')."""
    rng = np.random.default_rng(0)
    means = rng.normal(size=(3, 8)) * 2
    y = np.repeat(np.arange(3), 40)
    x = (means[y] + rng.normal(size=(120, 8)) * 2).astype(np.float32)
    grid = (1e-2, 1.0, 100.0)
    a = lbfgs_search(x[::2], y[::2], x[1::2], y[1::2], grid=grid)
    t = [torch.from_numpy(v) for v in (x[::2], y[::2], x[1::2], y[1::2])]
    b = lbfgs_search(*t, grid=grid)
    assert a.l2 == b.l2 and a.val_scores == b.val_scores
    assert torch.equal(a.model.probs(x), b.model.probs(torch.from_numpy(x)))
    assert fit_logreg(x, y.tolist(), l2=1.0).probs(x).shape == (120, 3)
