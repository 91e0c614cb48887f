"""Selection: stratified folds, masked k-fold training, the optimism measure, and the rows."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner

from seabench.cli import cli
from seabench.errors import SeabenchError
from seabench.probe import ProbeOptions, TrainSettings, run_probe
from seabench.probe.metrics import score
from seabench.probe.selection import (
    AUTO_KFOLD_BELOW,
    bbc_estimate,
    resolve,
    stratified_folds,
)
from seabench.probe.trainer import predict, train_linear

FAST = TrainSettings(epochs=3, batch_size=32)
F64 = torch.float64


def blobs(n=(120, 40, 60), d=16, c=4, seed=0, multilabel=False, noise=2.0):
    """Overlapping Gaussian classes (so that configurations differ), as a FeatureSet."""
    from seabench.probe import FeatureSet

    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(c, d, generator=g)
    parts = []
    for size in n:
        y = torch.arange(size) % c
        x = centers[y] + noise * torch.randn(size, d, generator=g) / d**0.5
        if multilabel:
            multi = F.one_hot(y, c).to(torch.uint8)
            multi[::3, (y[::3] + 1) % c] = 1
            x = x + 0.5 * multi.float() @ centers
            y = multi
        parts.append((x, y))
    (trx, try_), (vax, vay), (tex, tey) = parts
    return FeatureSet(
        trx,
        try_,
        vax,
        vay,
        tex,
        tey,
        num_classes=c,
        metric="map11" if multilabel else "top1",
        multilabel=multilabel,
        dataset="blobs",
        backbone="rand",
    )


def test_stratified_folds_partition_with_class_balance():
    y = torch.cat([torch.full((n,), c) for c, n in enumerate((23, 10, 7, 41))])
    y = y[torch.randperm(len(y), generator=torch.Generator().manual_seed(1))]
    fold = stratified_folds(y, 5)
    assert fold.shape == y.shape and set(fold.tolist()) == set(range(5))  # every example once
    sizes = torch.bincount(fold, minlength=5)
    assert sizes.max() - sizes.min() <= 1
    for c, n in enumerate((23, 10, 7, 41)):
        per = torch.bincount(fold[y == c], minlength=5)
        assert per.sum() == n and per.max() - per.min() <= 1  # floor or ceil of n / 5
    assert torch.equal(fold, stratified_folds(y, 5))  # seeded: the same folds every time


def _masked_data(n=90, d=24, c=3):
    g = torch.Generator().manual_seed(0)
    y = torch.arange(n) % c
    x = F.normalize(
        torch.randn(c, d, generator=g, dtype=F64)[y] + torch.randn(n, d, generator=g, dtype=F64),
        dim=-1,
    )
    return x, y


@pytest.mark.parametrize(
    "aug,formulation", [("sea", "mix"), ("sea", "materialise"), ("none", "auto")]
)
def test_batched_folds_equal_the_per_fold_loop(aug, formulation):
    """K configurations x F folds as one masked program give each copy the weights that the
    fold trained alone (one configuration, its own mask) gives."""
    x, y = _masked_data()
    fold = stratified_folds(y, 3)
    masks = fold[None] != torch.arange(3)[:, None]  # (F, N)
    lr, wd, eta = (
        torch.tensor([0.5, 1.6], dtype=F64),
        torch.tensor([1e-4, 0.0], dtype=F64),
        torch.tensor([0.2, 0.8], dtype=F64),
    )
    kw = dict(
        num_classes=3,
        aug=aug,
        settings=TrainSettings(epochs=3, batch_size=32),
        seed=4,
        formulation=formulation,
    )
    expand = torch.arange(2).repeat_interleave(3)
    batched = train_linear(
        x, y, lr=lr[expand], wd=wd[expand], strength=eta[expand], mask=masks.repeat(2, 1), **kw
    )
    for j in range(6):
        k, f = divmod(j, 3)
        alone = train_linear(
            x,
            y,
            lr=lr[k : k + 1],
            wd=wd[k : k + 1],
            strength=eta[k : k + 1],
            mask=masks[f : f + 1],
            **kw,
        )
        torch.testing.assert_close(batched[j], alone[0], rtol=0, atol=1e-10)


@pytest.mark.parametrize("formulation", ["mix", "materialise"])
def test_held_out_examples_do_not_touch_the_fold_copy(formulation):
    """Changing the held-out fold's features and labels leaves the copy that does not train on
    it unchanged (not even as a SeA neighbour), and an all-true mask is the unmasked run."""
    x, y = _masked_data()
    fold = stratified_folds(y, 3)
    mask = (fold != 0)[None]
    kw = dict(
        num_classes=3,
        aug="sea",
        lr=torch.tensor([1.0], dtype=F64),
        wd=torch.tensor([1e-4], dtype=F64),
        strength=torch.tensor([0.4], dtype=F64),
        settings=TrainSettings(epochs=3, batch_size=32),
        formulation=formulation,
    )
    a = train_linear(x, y, mask=mask, **kw)
    x2, y2 = x.clone(), y.clone()
    held = fold == 0
    x2[held] = F.normalize(torch.randn(int(held.sum()), x.shape[1], dtype=F64), dim=-1)
    y2[held] = (y2[held] + 1) % 3
    b = train_linear(x2, y2, mask=mask, **kw)
    torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
    c = train_linear(x2, y2, **kw)
    assert (a - c).abs().max() > 1e-3  # the held-out rows do matter without the mask
    torch.testing.assert_close(
        train_linear(x, y, mask=torch.ones_like(mask), **kw),
        train_linear(x, y, **kw),
        rtol=0,
        atol=1e-10,
    )


def test_kfold_with_one_config_is_the_mean_of_the_fold_trainings():
    fs = blobs()
    opts = ProbeOptions(
        aug="sea",
        search=True,
        lr_grid=(0.5,),
        wd_grid=(1e-4,),
        strength_grid=(0.2,),
        settings=FAST,
        select="kfold",
        folds=4,
    )
    (row,) = run_probe(fs, opts)
    pool_x = F.normalize(torch.cat([fs.train_x, fs.val_x]), dim=-1)
    pool_y = torch.cat([fs.train_y, fs.val_y])
    fold = stratified_folds(pool_y, 4)
    scores = []
    for f in range(4):
        w = train_linear(
            pool_x,
            pool_y,
            num_classes=4,
            aug="sea",
            lr=torch.tensor([0.5]),
            wd=torch.tensor([1e-4]),
            strength=torch.tensor([0.2]),
            settings=FAST,
            seed=0,
            mask=(fold != f)[None],
        )
        held = fold == f
        scores.append(score("top1", predict(pool_x[held], w)[0], pool_y[held]))
    assert row["selected_on"] == "kfold4"
    assert row["val"] == pytest.approx(sum(scores) / 4, abs=1e-3)
    assert row["optimism"] == 0.0  # one configuration: nothing was chosen


@pytest.mark.parametrize(
    "solver,aug", [("sgd", "sea"), ("sgd", "none"), ("lbfgs", "none"), ("sgd", "mixup")]
)
def test_rows_record_selection_and_optimism(solver, aug):
    fs = blobs(seed=3)
    kw = dict(aug=aug, solver=solver, settings=FAST)
    if solver == "lbfgs":
        kw["l2_grid"] = (1e-2, 1.0, 100.0)
    (k,) = run_probe(fs, ProbeOptions(**kw, select="kfold", folds=3))
    (h,) = run_probe(fs, ProbeOptions(**kw, select="holdout"))
    assert k["selected_on"] == "kfold3" and k["select"] == "kfold"
    assert h["selected_on"] == "val" and h["select"] == "holdout"
    for r in (k, h):
        assert isinstance(r["optimism"], float) and -100 < r["optimism"] < 100
        assert r["configs_searched"] > 1
    if aug == "sea":  # pruned on the mean fold score: half of the 30 configurations kept
        assert k["configs_pruned"] == 15
    if aug == "mixup":  # trained fold by fold (mixup cannot honour masks): not pruned
        assert k["configs_pruned"] == 0


def test_optimism_measures_the_winners_curse():
    """Ten configurations that are coins (50% on every example, independently): the best
    selection score is lucky and the bias-corrected estimate sits near 50; one configuration
    that is really better is chosen on every resample and has next to no optimism."""
    g = torch.Generator().manual_seed(0)
    n = 400
    y = torch.zeros(n, dtype=torch.long)
    coins = torch.rand(10, n, generator=g) < 0.5
    logits = torch.stack([(~coins).float(), coins.float() * 0], -1)  # class 0 wins where not coin
    logits[..., 1] = coins.float()
    accs = [score("top1", lg, y) for lg in logits]
    est = bbc_estimate("top1", logits, y, resamples=400)
    assert max(accs) > 52 and abs(est - 50) < 2.5
    good = logits.clone()
    good[0, :, 1] = (torch.rand(n, generator=g) < 0.2).float()  # 80% right
    good[0, :, 0] = 1 - good[0, :, 1]
    est_good = bbc_estimate("top1", good, y, resamples=400)
    assert abs(score("top1", good[0], y) - est_good) < 1.0


def test_mean_per_class_estimate_matches_a_direct_loop():
    g = torch.Generator().manual_seed(2)
    y = torch.randint(0, 3, (60,), generator=g)
    logits = torch.randn(4, 60, 3, generator=g)
    est = bbc_estimate("mean_per_class", logits, y, resamples=50, seed=7)
    gen = torch.Generator().manual_seed(7)
    draws = torch.randint(60, (50, 60), generator=gen)
    outs = []
    for d in draws:
        left = torch.ones(60, dtype=torch.bool)
        left[d] = False
        inbag = [score("mean_per_class", lg[d], y[d]) for lg in logits]
        won = max(range(4), key=lambda i: (inbag[i], -i))
        outs.append(score("mean_per_class", logits[won, left], y[left]))
    assert est == pytest.approx(sum(outs) / len(outs), abs=1e-6)


def test_test_labels_never_influence_kfold_selection():
    fs = blobs(seed=5)
    opts = ProbeOptions(
        aug="sea",
        lr_grid=(0.1, 1.0),
        wd_grid=(1e-5, 1e-2),
        strength_grid=(0.05, 0.8),
        settings=FAST,
        select="kfold",
    )
    a = run_probe(fs, opts)[0]
    shuffled = replace(
        fs, test_y=fs.test_y[torch.randperm(len(fs.test_y))], test_x=fs.test_x.flip(0)
    )
    b = run_probe(shuffled, opts)[0]
    assert a["hparams"] == b["hparams"] and a["val"] == b["val"] and a["optimism"] == b["optimism"]


def test_multilabel_and_multiview_under_kfold():
    (r,) = run_probe(
        blobs(multilabel=True),
        ProbeOptions(
            aug="sea",
            settings=FAST,
            select="kfold",
            lr_grid=(0.5, 1.0),
            wd_grid=(1e-4,),
            strength_grid=(0.2,),
        ),
    )
    assert r["selected_on"] == "kfold5" and r["metric"] == "map11" and r["optimism"] is not None
    fs = blobs()
    views = replace(
        fs,
        train_x=torch.stack([fs.train_x, -fs.train_x], 1),
        val_x=torch.stack([fs.val_x, -fs.val_x], 1),
        test_x=torch.stack([fs.test_x, -fs.test_x], 1),
    )
    for aug in ("views", "sla"):
        (r,) = run_probe(
            views,
            ProbeOptions(
                aug=aug, settings=FAST, select="kfold", lr_grid=(0.5, 1.0), wd_grid=(1e-4,)
            ),
        )
        assert (
            r["selected_on"] == "kfold5" and r["hparams"]["num_views"] == 2 and r["n_train"] == 120
        )


def test_auto_takes_kfold_for_small_classes_only():
    small = torch.arange(40) % 4  # 10 per class
    large = torch.arange(4 * AUTO_KFOLD_BELOW) % 4
    assert resolve("auto", 5, small) == "kfold"
    assert resolve("auto", 5, large) == "holdout"
    assert resolve("auto", 5, torch.arange(12) % 4) == "holdout"  # 3 per class: too few to fold
    with pytest.raises(SeabenchError, match="more than the 3 train"):
        resolve("kfold", 5, torch.arange(12) % 4)


def test_logits_ensemble_under_kfold():
    from seabench.probe.ensemble import run_ensemble

    a, b = blobs(seed=0), blobs(seed=0)
    b = replace(
        b, train_x=b.train_x + 0.1, val_x=b.val_x + 0.1, test_x=b.test_x + 0.1, backbone="rand2"
    )
    (r,) = run_ensemble(
        [a, b],
        "logits",
        ProbeOptions(
            aug="none", settings=FAST, select="kfold", lr_grid=(0.5,), wd_grid=(1e-4, 1e-2)
        ),
    )
    assert r["selected_on"] == "kfold5" and 0 <= r["val"] <= 100


def _files(tmp_path, per_class=(30, 10, 20)):
    out = []
    for split, n in zip(("train", "val", "test"), per_class, strict=True):
        y = torch.arange(3 * n) % 3
        x = torch.randn(3, 8, generator=torch.Generator().manual_seed(9))[y] + torch.randn(3 * n, 8)
        torch.save(x, tmp_path / f"{split}_x.pt")
        torch.save(y, tmp_path / f"{split}_y.pt")
        out += [
            f"--{split}-features",
            str(tmp_path / f"{split}_x.pt"),
            f"--{split}-labels",
            str(tmp_path / f"{split}_y.pt"),
        ]
    return out


@pytest.mark.parametrize(
    "extra,message",
    [
        (
            ["--select", "kfold", "--folds", "1"],
            "--folds 1 is not in the range 2<=x<=100",
        ),
        (
            ["--select", "kfold", "--folds", "41"],
            "--folds 41 is more than the 40 train+val examples of class",
        ),
    ],
)
def test_cli_refuses_bad_folds_with_one_line(tmp_path, extra, message):
    res = CliRunner().invoke(
        cli,
        [
            "probe",
            *_files(tmp_path),
            "--aug",
            "none",
            "--epochs",
            "2",
            *extra,
            "--home",
            str(tmp_path / "h"),
        ],
    )
    assert res.exit_code == 2, res.output
    assert message in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert "Traceback" not in res.output


def test_cli_kfold_row(tmp_path):
    import json

    res = CliRunner().invoke(
        cli,
        [
            "probe",
            *_files(tmp_path),
            "--aug",
            "none",
            "--epochs",
            "2",
            "--select",
            "kfold",
            "--folds",
            "3",
            "--json",
            "--home",
            str(tmp_path / "h"),
        ],
    )
    assert res.exit_code == 0, res.stderr
    row = json.loads(res.stdout.splitlines()[0])
    assert row["selected_on"] == "kfold3" and "optimism" in row
