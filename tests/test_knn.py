"""k-NN probe: agrees with a brute-force reference and scikit-learn, chunking changes nothing,
k is chosen on val (never test), rows carry method/k/selected_on, bad input exits 2."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner
from sklearn.neighbors import KNeighborsClassifier

from seabench.cli import cli
from seabench.errors import SeabenchError
from seabench.probe import ProbeOptions, run_probe
from seabench.probe.knn import TEMPERATURE, knn_scores, neighbours
from tests.test_protocol import blobs


def brute_force(bank, bank_y, queries, k, num_classes, t=TEMPERATURE):
    """The DINO vote written out one query at a time, in float64."""
    b = F.normalize(bank.double(), dim=-1)
    out = torch.zeros(len(queries), num_classes, dtype=torch.float64)
    for i, q in enumerate(F.normalize(queries.double(), dim=-1)):
        sim = b @ q
        top = sim.argsort(descending=True)[:k]
        for j in top:
            w = torch.exp(sim[j] / t)
            if bank_y.ndim == 1:
                out[i, bank_y[j]] += w
            else:
                out[i] += w * bank_y[j].double()
        out[i] /= torch.exp(sim[top] / t).sum()
    return out


def data(n=300, nq=80, d=24, c=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(c, d, generator=g)
    y = torch.randint(0, c, (n,), generator=g)
    x = centers[y] + 0.8 * torch.randn(n, d, generator=g)
    yq = torch.randint(0, c, (nq,), generator=g)
    q = centers[yq] + 0.8 * torch.randn(nq, d, generator=g)
    return x, y, q, yq, c


def test_scores_match_brute_force_single_and_multilabel():
    x, y, q, _, c = data()
    got = knn_scores(x, y, q, (1, 7, 20), c)
    for k in (1, 7, 20):
        ref = brute_force(x, y, q, k, c)
        assert torch.allclose(got[k].double(), ref, atol=1e-5)
        assert torch.allclose(got[k].sum(1), torch.ones(len(q)), atol=1e-5)  # probabilities
    multi = F.one_hot(y, c)
    multi[::2, (y[::2] + 1) % c] = 1
    got = knn_scores(x, multi, q, (10,), c)[10]
    assert torch.allclose(got.double(), brute_force(x, multi, q, 10, c), atol=1e-5)
    assert got.min() >= 0 and got.max() <= 1 + 1e-6


def test_chunking_gives_the_unchunked_result():
    x, y, q, _, c = data(n=500, nq=60)
    whole_s, whole_i = neighbours(x, q, 30)
    for budget in (1, 37, 500, 4000):  # bank chunks of 30 (k), 37, 500; query chunks of 1..8
        s, i = neighbours(x, q, 30, max_elements=budget)
        assert torch.allclose(s, whole_s, atol=1e-6)
        assert torch.equal(i, whole_i)
    a = knn_scores(x, y, q, (30,), c)[30]
    b = knn_scores(x, y, q, (30,), c, max_elements=37)[30]
    assert torch.allclose(a, b, atol=1e-6)
    multi = F.one_hot(y, c)
    multi[::3, (y[::3] + 2) % c] = 1  # the multi-hot vote is chunked over queries too
    a = knn_scores(x, multi, q, (30,), c)[30]
    b = knn_scores(x, multi, q, (30,), c, max_elements=400)[30]
    assert torch.allclose(a, b, atol=1e-6)


def test_predictions_agree_with_scikit_learn():
    x, y, q, _, c = data(n=400, nq=150)
    k = 20
    ours = knn_scores(x, y, q, (k,), c)[k].argmax(1)

    def weights(dist):  # scikit-learn's cosine distance is 1 - sim
        return torch.exp(torch.as_tensor(1 - dist) / TEMPERATURE).numpy()

    clf = KNeighborsClassifier(n_neighbors=k, metric="cosine", algorithm="brute", weights=weights)
    theirs = torch.as_tensor(clf.fit(x.numpy(), y.numpy()).predict(q.numpy()))
    assert (ours == theirs).float().mean() >= 0.99  # ties aside


def test_k_is_chosen_on_val_never_test():
    fs = blobs(n=(200, 60, 80))
    (r,) = run_probe(fs, ProbeOptions(aug="none", solver="knn"))
    assert r["method"] == "knn" and r["solver"] == "knn" and r["selected_on"] == "val"
    assert r["hparams"]["k"] in (10, 20, 50, 100, 200) and r["hparams"]["T"] == 0.07
    assert r["configs_searched"] == 5 and r["test"] > 80
    # scrambling the test labels leaves the chosen k and the val score as they were
    perm = torch.randperm(len(fs.test_y), generator=torch.Generator().manual_seed(1))
    (s,) = run_probe(replace(fs, test_y=fs.test_y[perm]), ProbeOptions(aug="none", solver="knn"))
    assert s["hparams"]["k"] == r["hparams"]["k"] and s["val"] == r["val"]
    # ... while a different val changes what is selected only through val
    k_small = run_probe(fs, ProbeOptions(aug="none", solver="knn", k_grid=(1, 3)))[0]
    assert k_small["hparams"]["k"] in (1, 3)


def test_k_is_capped_by_the_training_size_and_fixed_k():
    fs = blobs(n=(18, 12, 20))
    (r,) = run_probe(fs, ProbeOptions(aug="none", solver="knn"))
    assert r["hparams"]["k_grid"] == [10, 18] and r["configs_searched"] == 2
    (f,) = run_probe(fs, ProbeOptions(aug="none", solver="knn", search=False, k=3))
    assert f["hparams"]["k"] == 3 and f["configs_searched"] == 0


def test_multilabel_knn_scores_map():
    (r,) = run_probe(blobs(multilabel=True), ProbeOptions(aug="none", solver="knn"))
    assert r["metric"] == "map11" and r["test"] > 50


def test_bad_knn_input():
    with pytest.raises(SeabenchError, match="aug none"):
        ProbeOptions(aug="sea", solver="knn")
    with pytest.raises(SeabenchError, match="needs --k"):
        ProbeOptions(aug="none", solver="knn", search=False)
    with pytest.raises(SeabenchError, match="positive integer"):
        ProbeOptions(aug="none", solver="knn", k_grid=(0, 5))


def test_cli_knn_rows_and_nan_features(tmp_path):
    fs = blobs()
    paths = {}
    for split in ("train", "val", "test"):
        for part, t in (("x", getattr(fs, f"{split}_x")), ("y", getattr(fs, f"{split}_y"))):
            paths[split, part] = tmp_path / f"{split}_{part}.pt"
            torch.save(t, paths[split, part])
    args = [
        "probe",
        *("--train-features", str(paths["train", "x"]), "--train-labels", str(paths["train", "y"])),
        *("--val-features", str(paths["val", "x"]), "--val-labels", str(paths["val", "y"])),
        *("--test-features", str(paths["test", "x"]), "--test-labels", str(paths["test", "y"])),
        *("--home", str(tmp_path / "h")),
    ]
    res = CliRunner().invoke(cli, [*args, "--method", "knn", "--json"])
    assert res.exit_code == 0, res.stderr
    row = json.loads(res.stdout.splitlines()[0])
    assert row["method"] == "knn" and row["aug"] == "none" and "k" in row["hparams"]
    bad = fs.test_x.clone()
    bad[3, 0] = float("nan")
    torch.save(bad, paths["test", "x"])
    res = CliRunner().invoke(cli, [*args, "--method", "knn"])
    assert res.exit_code == 2 and "NaN" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    res = CliRunner().invoke(cli, [*args, "--method", "nope"])
    assert res.exit_code == 2 and "knn" in res.stderr


def test_knn_keeps_its_bank_for_the_python_estimator():
    from seabench import SeAProbe

    x, y, q, yq, _ = data(n=300, nq=100)
    est = SeAProbe(aug="none", solver="knn").fit(x.numpy(), y.numpy())
    assert est.best_params_["k"] in (10, 20, 50, 100, 200)
    probs = est.predict_proba(q.numpy())
    assert probs.shape == (100, 5) and abs(probs.sum(1) - 1).max() < 1e-5
    assert est.score(q.numpy(), yq.numpy()) > 0.8


def test_knn_scores_take_numpy_arrays():
    fs = blobs()
    x, y, q = fs.train_x, fs.train_y, fs.test_x[:10]
    a = knn_scores(x.numpy(), y.numpy(), q.numpy(), (5,), fs.num_classes)[5]
    assert torch.equal(a, knn_scores(x, y, q, (5,), fs.num_classes)[5])
