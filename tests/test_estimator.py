"""The Python estimator: scikit-learn's API over the CLI's own methods, trainer and search."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from seabench import SeAProbe, sea_augment
from seabench.errors import SeabenchError
from seabench.estimator_inputs import NotFittedError
from seabench.probe import FeatureSet, ProbeOptions, run_probe
from seabench.probe.trainer import TrainSettings


def blobs(n_per_class=60, classes=4, dim=16, seed=0):
    rng = np.random.default_rng(seed)
    means = rng.normal(size=(classes, dim)) * 1.5
    y = np.repeat(np.arange(classes), n_per_class)
    x = means[y] + rng.normal(size=(len(y), dim))
    order = rng.permutation(len(y))
    return x[order].astype(np.float32), y[order]


def test_numpy_and_torch_inputs_give_the_same_probe():
    x, y = blobs()
    labels = np.array(["cat", "dog", "eel", "fox"])[y]  # any label values, as scikit-learn allows
    a = SeAProbe(aug="sea", epochs=10).fit(x[:200], labels[:200])
    b = SeAProbe(aug="sea", epochs=10).fit(torch.from_numpy(x[:200]), labels[:200])
    np.testing.assert_allclose(a.predict_proba(x[200:]), b.predict_proba(torch.from_numpy(x[200:])))
    assert set(a.predict(x[200:])) <= set(labels)
    assert a.predict_proba(x[200:]).shape == (40, 4)
    assert a.score(x[200:], labels[200:]) > 0.8
    assert "eta" in a.best_params_ and a.best_score_ > 0


def test_same_search_and_classifier_as_the_cli_protocol():
    x, y = blobs()
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    tr, va, te = slice(0, 120), slice(120, 180), slice(180, 240)
    est = SeAProbe(aug="sea", epochs=8, seed=3).fit(x[tr], y[tr], x[va], y[va])
    fs = FeatureSet(xt[tr], yt[tr], xt[va], yt[va], xt[te], yt[te], num_classes=4)
    opts = ProbeOptions(aug="sea", settings=TrainSettings(epochs=8), first_seed=3)
    (row,) = run_probe(fs, opts)
    assert row["hparams"] == est.best_params_
    assert row["test"] == pytest.approx(100 * est.score(x[te], y[te]), abs=1e-6)


def test_plain_probe_and_lbfgs_through_the_same_class():
    x, y = blobs()
    for est in (SeAProbe(aug="none", epochs=10), SeAProbe(aug="none", solver="lbfgs")):
        assert est.fit(x[:200], y[:200]).score(x[200:], y[200:]) > 0.8


def test_clone_pipeline_and_cross_val_score():
    x, y = blobs()
    probe = SeAProbe(aug="sea", epochs=5, search=False, strength=0.2)
    twin = clone(probe)
    assert twin.get_params() == probe.get_params() and twin is not probe
    twin.set_params(aug="none")
    assert twin.aug == "none" and probe.aug == "sea"
    pipe = make_pipeline(FunctionTransformer(lambda a: a * 2.0), probe)
    scores = cross_val_score(pipe, x, y, cv=3)
    assert scores.shape == (3,) and scores.mean() > 0.8


def test_bad_input_is_one_clear_error():
    x, y = blobs()
    with pytest.raises(SeabenchError, match="not fitted"):
        SeAProbe().predict(x)
    with pytest.raises(SeabenchError, match="2-d"):
        SeAProbe().fit(x[:, 0], y)
    with pytest.raises(SeabenchError, match="only one class"):
        SeAProbe().fit(x, np.zeros(len(x)))
    fitted = SeAProbe(epochs=2, search=False).fit(x, y)
    with pytest.raises(SeabenchError, match="16"):
        fitted.predict(x[:, :8])


def test_sea_augment_takes_numpy():
    x, y = blobs(n_per_class=4)
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    w = np.random.default_rng(1).normal(size=(4, 16)).astype(np.float32)
    out = sea_augment(x, y, w, eta=0.2, alpha=0.01)
    ref = sea_augment(
        torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(w), eta=0.2, alpha=0.01
    )
    assert isinstance(out, torch.Tensor) and torch.equal(out, ref)


def test_bad_input_raises_what_scikit_learn_users_catch():
    """ValueError (NotFittedError before fit), with scikit-learn's wording, and still one line
    through the CLI's SeabenchError."""
    from scipy import sparse
    from sklearn.exceptions import NotFittedError as SklearnNotFitted

    x, y = blobs()
    with pytest.raises(SklearnNotFitted):
        SeAProbe().predict(x)
    cases = [
        ((x[:, 0], y), "Reshape your data"),
        ((x, y[:-3]), "inconsistent numbers of samples"),
        ((np.where(x > 2, np.nan, x), y), "contains NaN"),
        ((x, y + 0.5), "Unknown label type"),
        ((x, np.zeros(len(x))), "only one class"),
        ((x[:0], y[:0]), "0 sample"),
        ((sparse.csr_matrix(x), y), "sparse"),
        ((x + 1j, y), "Complex data not supported"),
        ((x, None), "requires y to be passed"),
    ]
    for args, message in cases:
        with pytest.raises(ValueError, match=message) as caught:
            SeAProbe(epochs=2, search=False).fit(*args)
        assert isinstance(caught.value, SeabenchError)
    with pytest.raises(ValueError, match="unknown augmentation"):  # the CLI's own option check
        SeAProbe(aug="bogus", epochs=2).fit(x, y)
    fitted = SeAProbe(epochs=2, search=False).fit(x, y)
    with pytest.raises(ValueError, match="X has 8 features, but SeAProbe is expecting 16"):
        fitted.predict(x[:, :8])
    assert isinstance(NotFittedError("x"), SeabenchError)


@pytest.mark.parametrize(
    "params", [{"aug": "sea"}, {"aug": "none", "solver": "lbfgs"}, {"aug": "none", "solver": "knn"}]
)
def test_a_fitted_probe_pickles(params):
    """joblib (cross_val_score(n_jobs=2), saving a model) pickles fitted estimators."""
    import pickle

    x, y = blobs()
    probe = SeAProbe(epochs=3, **params).fit(x[:200], y[:200])
    twin = pickle.loads(pickle.dumps(probe))
    np.testing.assert_array_equal(twin.predict_proba(x[200:]), probe.predict_proba(x[200:]))


def test_scikit_learn_estimator_checks_pass():
    import inspect

    from sklearn.utils.estimator_checks import check_estimator

    probe = SeAProbe(epochs=2, search=False)
    if "on_fail" not in inspect.signature(check_estimator).parameters:  # scikit-learn < 1.6
        check_estimator(probe)  # raises at the first failing check
        return
    results = check_estimator(probe, on_fail=None)
    failed = [r["check_name"] for r in results if r["status"] == "failed"]
    assert not failed
