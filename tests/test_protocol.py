"""The probe protocol: both solvers, multi-label, seeds, holdout, selection on val only."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from seabench.errors import SeabenchError
from seabench.probe import FeatureSet, ProbeOptions, TrainSettings, run_probe
from seabench.probe.lbfgs import L2_GRID
from seabench.probe.protocol import validate

FAST = TrainSettings(epochs=3, batch_size=32)


def blobs(n=(120, 40, 60), d=16, c=4, seed=0, multilabel=False, with_val=True):
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(c, d, generator=g) * 2
    parts = []
    for size in n:
        y = torch.arange(size) % c
        x = centers[y] + torch.randn(size, d, generator=g)
        if multilabel:
            multi = torch.nn.functional.one_hot(y, c).to(torch.uint8)
            multi[::3, (y[::3] + 1) % c] = 1
            x = x + 0.5 * multi.float() @ centers
            y = multi
        parts.append((x, y))
    (trx, try_), (vax, vay), (tex, tey) = parts
    return FeatureSet(
        trx,
        try_,
        vax if with_val else None,
        vay if with_val else None,
        tex,
        tey,
        num_classes=c,
        metric="map11" if multilabel else "top1",
        multilabel=multilabel,
        dataset="blobs",
        backbone="rand",
    )


def test_sgd_rows_have_the_promised_fields():
    rows = run_probe(
        blobs(),
        ProbeOptions(
            aug="sea",
            lr_grid=(0.5,),
            wd_grid=(1e-4,),
            strength_grid=(0.1, 0.4),
            settings=FAST,
            select="holdout",
        ),
    )
    (r,) = rows
    for key in (
        "dataset",
        "backbone",
        "aug",
        "metric",
        "val",
        "test",
        "hparams",
        "seed",
        "seconds",
        "selected_on",
        "versions",
        "configs_searched",
        "search_seconds",
    ):
        assert key in r
    assert r["solver"] == "sgd" and r["configs_searched"] == 2 and r["selected_on"] == "val"
    assert r["hparams"]["eta"] in (0.1, 0.4)
    assert r["test"] > 60  # separable blobs, a real probe


def test_lbfgs_rows():
    (r,) = run_probe(blobs(), ProbeOptions(aug="none", solver="lbfgs", select="holdout"))
    assert r["solver"] == "lbfgs" and r["aug"] == "none"
    assert r["configs_searched"] == 45 and r["selected_on"] == "val"
    assert r["hparams"]["l2"] in L2_GRID
    assert r["hparams"]["C"] == pytest.approx(1 / r["hparams"]["l2"])
    assert r["test"] > 80


def test_lbfgs_needs_plain_probe_and_explicit_l2_without_search():
    with pytest.raises(SeabenchError, match="aug none"):
        ProbeOptions(aug="sea", solver="lbfgs")
    with pytest.raises(SeabenchError, match="--l2"):
        ProbeOptions(aug="none", solver="lbfgs", search=False)
    (r,) = run_probe(blobs(), ProbeOptions(aug="none", solver="lbfgs", search=False, l2=0.5))
    assert r["hparams"]["l2"] == 0.5 and r["configs_searched"] == 0
    assert r["selected_on"].startswith("none")


@pytest.mark.parametrize("solver", ["sgd", "lbfgs"])
def test_multilabel_end_to_end_with_map11(solver):
    fs = blobs(multilabel=True)
    opts = ProbeOptions(
        aug="none",
        solver=solver,
        lr_grid=(0.5, 1.0),
        wd_grid=(1e-5,),
        settings=FAST,
        l2_grid=(0.1, 10.0) if solver == "lbfgs" else None,
    )
    (r,) = run_probe(fs, opts)
    assert r["metric"] == "map11" and r["multilabel"] is True
    assert 50 < r["test"] <= 100 and 0 < r["val"] <= 100


def test_seeds_give_one_row_each():
    opts = ProbeOptions(
        aug="noise",
        lr_grid=(0.5,),
        wd_grid=(1e-4,),
        strength_grid=(0.2,),
        settings=FAST,
        seeds=3,
        first_seed=4,
    )
    rows = run_probe(blobs(), opts)
    assert [r["seed"] for r in rows] == [4, 5, 6]
    # a seed is reproducible on its own
    again = run_probe(blobs(), replace(opts, seeds=1, first_seed=5))
    assert (again[0]["val"], again[0]["test"]) == (rows[1]["val"], rows[1]["test"])


def test_holdout_when_there_is_no_val_split():
    fs = blobs(with_val=False)
    (r,) = run_probe(fs, ProbeOptions(aug="none", lr_grid=(0.5,), wd_grid=(1e-4,), settings=FAST))
    assert r["val_source"] == "holdout20"
    assert r["n_val"] == 24 and r["n_train"] == 96  # 20% of each of 4 classes of 30


def test_test_labels_never_influence_selection():
    fs = blobs(seed=2)
    opts = ProbeOptions(
        aug="sea",
        lr_grid=(0.1, 1.0),
        wd_grid=(1e-5, 1e-2),
        strength_grid=(0.05, 0.8),
        settings=FAST,
    )
    a = run_probe(fs, opts)[0]
    shuffled = replace(fs, test_y=fs.test_y[torch.randperm(len(fs.test_y))])
    b = run_probe(shuffled, opts)[0]
    assert a["hparams"] == b["hparams"] and a["val"] == b["val"]


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda fs: replace(fs, train_y=fs.train_y[:-1]), "120 feature rows but 119 labels"),
        (lambda fs: replace(fs, test_x=fs.test_x[:, :8]), "dimensions differ"),
        (
            lambda fs: replace(
                fs, val_x=fs.val_x.index_put_((torch.tensor([3]),), torch.tensor(float("nan")))
            ),
            "NaN or inf in rows 3",
        ),
        (lambda fs: replace(fs, test_y=fs.test_y.clone().fill_(7)), "outside 0..3"),
        (lambda fs: replace(fs, train_y=fs.train_y.clamp(max=2)), "classes 3 have no training"),
        (lambda fs: replace(fs, val_y=None), "go together"),
    ],
)
def test_validation_errors(change, message):
    with pytest.raises(SeabenchError, match=message):
        validate(change(blobs()))


def test_multilabel_validation():
    fs = blobs(multilabel=True)
    bad = fs.train_y.clone()
    bad[0, 0] = 2
    with pytest.raises(SeabenchError, match="must be 0 or 1"):
        validate(replace(fs, train_y=bad))
    with pytest.raises(SeabenchError, match="multi-hot rows"):
        validate(replace(fs, test_y=fs.test_y[:, :2]))
    with pytest.raises(SeabenchError, match="single-label"):
        validate(replace(fs, metric="mean_per_class"))


def test_pruned_search_keeps_the_better_half_and_chooses_among_it(monkeypatch):
    from seabench.probe.methods import sgd

    seen = {}
    real = sgd.train_linear

    def spy(*args, prune=None, **kw):
        out = real(*args, prune=prune, **kw)
        if len(kw["lr"]) > 1:
            seen["prune"], seen["weights"] = prune, out
        return out

    monkeypatch.setattr(sgd, "train_linear", spy)
    opts = ProbeOptions(
        aug="sea", settings=TrainSettings(epochs=4, batch_size=32), select="holdout"
    )
    (row,) = run_probe(blobs(), opts)
    grid = opts.grid()
    assert len(grid) >= sgd.PRUNE_MIN_CONFIGS
    kept = seen["prune"].kept.tolist()
    assert seen["prune"].epoch == 2 and len(kept) == (len(grid) + 1) // 2
    assert row["configs_searched"] == len(grid) and row["configs_pruned"] == len(grid) - len(kept)
    h = row["hparams"]
    assert grid.index((h["lr"], h["wd"], h["eta"])) in kept
    (full,) = run_probe(blobs(), replace(opts, prune=False))
    assert full["configs_pruned"] == 0 and seen["prune"] is None
