"""Absurd values are refused or caught: non-finite or out-of-bound hyperparameters, features of
absurd scale, empty splits, and a probe that diverged (no chance-level row is recorded)."""

from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner

from seabench.cli import cli
from seabench.errors import SeabenchError
from seabench.probe import FeatureSet, ProbeOptions, TrainSettings, run_probe
from seabench.probe.checks import check_fit
from seabench.probe.protocol import Fit

FAST = ["--epochs", "3", "--batch-size", "32"]


def _blobs(n, seed, d=12, c=3):
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(c, d, generator=torch.Generator().manual_seed(99)) * 2
    y = torch.arange(n) % c
    return centers[y] + torch.randn(n, d, generator=g), y


@pytest.fixture
def files(tmp_path):
    for split, n, seed in (("train", 90, 0), ("test", 45, 2)):
        x, y = _blobs(n, seed)
        torch.save(x, tmp_path / f"{split}_x.pt")
        torch.save(y, tmp_path / f"{split}_y.pt")
    return tmp_path


def args_for(d):
    return [
        *("--train-features", str(d / "train_x.pt"), "--train-labels", str(d / "train_y.pt")),
        *("--test-features", str(d / "test_x.pt"), "--test-labels", str(d / "test_y.pt")),
    ]


def runner() -> CliRunner:
    return CliRunner(env={"SEABENCH_NO_PROGRESS": "1"})  # stderr: the messages only


def probe(d, *extra):
    return runner().invoke(cli, ["probe", *args_for(d), *extra, "--home", str(d / "h")])


def nothing_recorded(d) -> bool:
    results = d / "h" / "results"
    return not results.exists() or not any(p.stat().st_size for p in results.rglob("*.jsonl"))


def one_error(res) -> str:
    assert res.exit_code == 2, (res.stdout, res.stderr)
    assert "Traceback" not in res.output
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    return lines[0]


@pytest.mark.parametrize(
    "args, flag",
    [
        (["--no-search", "--lr", "nan"], "--lr 'nan' is not a finite number"),
        (["--no-search", "--lr", "inf"], "--lr 'inf' is not a finite number"),
        (["--delta", "nan"], "--delta 'nan' is not a finite number"),
        (["--no-search", "--eta", "1e300"], "--eta 1e+300 is not in the range 0<=x<=100"),
        (["--alpha", "inf"], "--alpha 'inf' is not a finite number"),
        (["--solver", "lbfgs", "--no-search", "--l2", "nan"], "--l2 'nan'"),
    ],
)
def test_non_finite_and_absurd_hyperparameters_are_refused(files, args, flag):
    line = one_error(probe(files, *args, *FAST))
    assert flag in line, line
    assert nothing_recorded(files)


def test_the_python_api_refuses_them_too():
    with pytest.raises(SeabenchError, match="lr = nan is out of bounds"):
        ProbeOptions(aug="sea", lr=float("nan"))
    with pytest.raises(SeabenchError, match="strength_grid"):
        ProbeOptions(aug="sea", strength_grid=(0.2, 1e300))
    with pytest.raises(SeabenchError, match="delta = inf"):
        ProbeOptions(aug="none", settings=TrainSettings(delta=float("inf")))


def test_features_of_absurd_scale_draw_one_warning(files):
    x = torch.load(files / "train_x.pt")
    x[5, 3] = 1e30
    torch.save(x, files / "train_x.pt")
    res = probe(files, "--aug", "none", *FAST)
    assert res.exit_code == 0, res.stderr
    warns = [ln for ln in res.stderr.splitlines() if ln.startswith("warning: ")]
    assert len(warns) == 1 and "train features" in warns[0] and "1e30" in warns[0], res.stderr
    assert "rows 5" in warns[0]


def test_non_finite_features_are_an_error(files):
    x = torch.load(files / "test_x.pt")
    x[7, 0] = float("inf")
    torch.save(x, files / "test_x.pt")
    assert "test features contain NaN or inf in rows 7" in one_error(probe(files, *FAST))


@pytest.mark.parametrize("split", ["train", "test", "val"])
def test_zero_row_features_name_the_split(files, split):
    torch.save(torch.zeros(0, 12), files / "empty_x.pt")
    torch.save(torch.zeros(0, dtype=torch.long), files / "empty_y.pt")
    args = args_for(files)
    if split == "val":
        args += ["--val-features", str(files / "empty_x.pt")]
        args += ["--val-labels", str(files / "empty_y.pt")]
    else:
        i = args.index(f"--{split}-features")
        args[i + 1] = str(files / "empty_x.pt")
        args[i + 3] = str(files / "empty_y.pt")
    res = runner().invoke(cli, ["probe", *args, *FAST, "--home", str(files / "h")])
    line = one_error(res)
    assert f"{split} split has no rows (features of shape (0, 12))" in line, line
    assert nothing_recorded(files)


def test_a_diverged_probe_is_an_error_not_a_chance_level_row(files):
    # lr x wd = 5000: each step multiplies the weights by about -5000, so they overflow
    res = probe(
        files, "--aug", "none", "--no-search", "--lr", "50", "--wd", "100", "--epochs", "20"
    )
    line = one_error(res)
    assert "the probe diverged: --aug none with lr 50, wd 100" in line, line
    assert "lower the learning rate or weight decay" in line
    assert nothing_recorded(files)


def test_a_diverged_configuration_is_never_chosen():
    (xtr, ytr), (xte, yte) = _blobs(90, 0), _blobs(45, 2)
    fs = FeatureSet(xtr, ytr, None, None, xte, yte, num_classes=3)
    opts = ProbeOptions(
        aug="none",
        lr_grid=(0.2,),
        wd_grid=(100.0, 1e-6),  # the first diverges (lr x wd = 20 per step)
        settings=TrainSettings(epochs=20, batch_size=32),
    )
    (row,) = run_probe(fs, opts)
    assert row["hparams"]["wd"] == 1e-6 and row["test"] > 60


def test_a_refit_that_diverged_is_named():
    ok = torch.full((4, 3), 1 / 3)
    fit = Fit(ok, ok.clone().fill_(float("nan")), 50.0, {"l2": 1e-3}, 45, 1.0, 1.0)
    with pytest.raises(SeabenchError, match="in the refit on train\\+val") as exc:
        check_fit(fit, "--solver lbfgs", 0)
    assert "--solver lbfgs with l2 0.001 (seed 0)" in str(exc.value)
