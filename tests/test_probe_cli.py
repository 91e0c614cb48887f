"""`seabench probe` through the CLI: feature files, --json, solvers, seeds, and bad input."""

from __future__ import annotations

import json
import pickle
import shutil

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import save_file

from seabench.cli import cli
from seabench.results import ResultsStore

FAST = ["--epochs", "3", "--batch-size", "32"]


def _blobs(n, d=12, c=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(c, d, generator=torch.Generator().manual_seed(99)) * 2
    y = torch.arange(n) % c
    return centers[y] + torch.randn(n, d, generator=g), y


@pytest.fixture
def files(tmp_path):
    """train/val/test features and labels as torch.save'd tensors (the official script's way)."""
    out = {}
    for split, n, seed in (("train", 90, 0), ("val", 30, 1), ("test", 45, 2)):
        x, y = _blobs(n, seed=seed)
        torch.save(x, tmp_path / f"{split}_x.pt")
        torch.save(y, tmp_path / f"{split}_y.pt")
        out[split] = (x, y)
    return tmp_path, out


def args_for(d, splits=("train", "test")):
    a = []
    for s in splits:
        a += [f"--{s}-features", str(d / f"{s}_x.pt"), f"--{s}-labels", str(d / f"{s}_y.pt")]
    return a


def run(args, home):
    return CliRunner().invoke(cli, ["probe", *args, "--home", str(home)])


def json_rows(result):
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines, "no rows on stdout"
    return [json.loads(line) for line in lines]  # every stdout line is JSON


def test_external_pt_files_with_json(files, tmp_path):
    d, _ = files
    res = run([*args_for(d), "--aug", "sea", "--json", *FAST], tmp_path / "h")
    (row,) = json_rows(res)
    assert row["dataset"] == "external" and row["backbone"] == "external"
    assert row["val_source"] == "holdout20" and row["n_val"] == 18
    # --select auto: 40 train+val examples per class is few, so 5-fold cross-validation
    assert row["selected_on"] == "kfold5" and row["select"] == "auto" and row["metric"] == "top1"
    assert row["test"] > 60
    for key in ("hparams", "seed", "seconds", "versions", "configs_searched", "search_seconds"):
        assert key in row
    stored = ResultsStore(tmp_path / "h" / "results").rows()
    assert [r["test"] for r in stored] == [row["test"]]


def test_npy_and_named_safetensors_with_val_files(files, tmp_path):
    _, data = files
    a = []
    for split, (x, y) in data.items():
        if split == "test":
            save_file({"labels": y, "feats": x}, str(tmp_path / "test.safetensors"))
            a += [
                "--test-features",
                f"{tmp_path / 'test.safetensors'}:feats",
                "--test-labels",
                f"{tmp_path / 'test.safetensors'}:labels",
            ]
        else:
            np.save(tmp_path / f"{split}_x.npy", x.numpy())
            np.save(tmp_path / f"{split}_y.npy", y.numpy().astype(np.float64))  # 0., 1., 2.
            a += [
                f"--{split}-features",
                str(tmp_path / f"{split}_x.npy"),
                f"--{split}-labels",
                str(tmp_path / f"{split}_y.npy"),
            ]
    res = run(
        [
            *a,
            "--aug",
            "none",
            "--json",
            "--dataset",
            "blobs",
            "--backbone",
            "mine",
            "--metric",
            "mean_per_class",
            *FAST,
        ],
        tmp_path / "h",
    )
    (row,) = json_rows(res)
    assert (row["dataset"], row["backbone"]) == ("blobs", "mine")
    assert row["val_source"] == "given" and row["n_val"] == 30
    assert row["metric"] == "mean_per_class"


def test_seeds_and_no_search(files, tmp_path):
    d, _ = files
    res = run(
        [
            *args_for(d),
            "--aug",
            "sea",
            "--no-search",
            "--lr",
            "0.4",
            "--wd",
            "1e-4",
            "--eta",
            "0.3",
            "--alpha",
            "0.05",
            "--lamda",
            "0.2",
            "--delta",
            "0.1",
            "--seeds",
            "2",
            "--json",
            *FAST,
        ],
        tmp_path / "h",
    )
    rows = json_rows(res)
    assert [r["seed"] for r in rows] == [0, 1]
    hp = rows[0]["hparams"]
    assert (hp["lr"], hp["wd"], hp["eta"], hp["alpha"], hp["lamda"], hp["delta"]) == (
        0.4,
        1e-4,
        0.3,
        0.05,
        0.2,
        0.1,
    )
    assert (hp["epochs"], hp["batch_size"]) == (3, 32)
    assert rows[0]["configs_searched"] == 0 and rows[0]["selected_on"].startswith("none")


def test_lbfgs_solver(files, tmp_path):
    d, _ = files
    (row,) = json_rows(
        run([*args_for(d, ("train", "val", "test")), "--solver", "lbfgs", "--json"], tmp_path / "h")
    )
    assert row["solver"] == "lbfgs" and row["aug"] == "none" and row["configs_searched"] == 45
    assert "l2" in row["hparams"] and row["test"] > 60
    res = run([*args_for(d), "--solver", "lbfgs", "--aug", "sea"], tmp_path / "h")
    assert res.exit_code == 2 and "aug none" in res.stderr


def test_multilabel_files_with_map11(tmp_path):
    for split, n, seed in (("train", 90, 0), ("test", 45, 2)):
        x, y = _blobs(n, seed=seed)
        multi = torch.nn.functional.one_hot(y, 3)
        multi[::4, 0] = 1
        torch.save(x, tmp_path / f"{split}_x.pt")
        torch.save(multi, tmp_path / f"{split}_y.pt")
    (row,) = json_rows(run([*args_for(tmp_path), "--aug", "none", "--json", *FAST], tmp_path / "h"))
    assert row["metric"] == "map11" and row["multilabel"] is True and row["test"] > 50


def test_cached_features_lbfgs_and_ensemble_lookup(tiny_home, tmp_path):
    shutil.copytree(tiny_home.features, tmp_path / "h" / "features")
    res = run(
        [
            "--dataset",
            "mnist5k",
            "--backbone",
            "efficientnet_lite0",
            "--solver",
            "lbfgs",
            "--no-search",
            "--l2",
            "10",
            "--json",
        ],
        tmp_path / "h",
    )
    (row,) = json_rows(res)
    assert row["backbone"] == "efficientnet_lite0" and row["solver"] == "lbfgs"
    assert row["manifest_hash"] and row["hparams"]["l2"] == 10 and row["test"] > 30
    res = run(
        ["--dataset", "mnist5k", "--backbone", "efficientnet_lite0,other", "--ensemble", "concat"],
        tmp_path / "h",
    )
    assert res.exit_code == 2 and "no cached features" in res.stderr


def _bad(tmp_path, name, tensor):
    torch.save(tensor, tmp_path / name)


CASES = {
    "count": (
        lambda d: _bad(d, "train_y.pt", torch.arange(89) % 3),
        [],
        "train has 90 feature rows but 89 labels",
    ),
    "dims": (lambda d: _bad(d, "test_x.pt", torch.randn(45, 7)), [], "feature dimensions differ"),
    "nan": (
        lambda d: _bad(
            d, "test_x.pt", torch.randn(45, 12).index_fill_(0, torch.tensor([4, 9]), float("nan"))
        ),
        [],
        "NaN or inf in rows 4, 9",
    ),
    "range": (
        lambda d: _bad(d, "test_y.pt", torch.arange(45) % 5),
        ["--num-classes", "3"],
        "test labels outside 0..2",
    ),
    "missing class": (
        lambda d: _bad(d, "train_y.pt", torch.arange(90) % 2),
        [],
        "classes 2 have no training example",
    ),
    "float labels": (
        lambda d: _bad(d, "train_y.pt", torch.arange(90) % 3 + 0.5),
        [],
        "integer class indices",
    ),
    "pickle": (
        lambda d: (d / "train_x.pt").write_bytes(pickle.dumps({"x": object()}, protocol=2)),
        [],
        "cannot read train feature file",
    ),
    "no file": (lambda d: (d / "test_y.pt").unlink(), [], "does not exist"),
    "half val": (lambda d: None, ["--val-features", "VAL"], "together"),
    "metric": (lambda d: None, ["--metric", "top5"], "--metric 'top5' is not one of"),
    "no input": (None, [], "--dataset and --backbone"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_exits_2_with_one_line(files, tmp_path, case):
    d, _ = files
    setup, extra, message = CASES[case]
    if setup is not None:
        setup(d)
    if "VAL" in extra:
        extra = ["--val-features", str(d / "val_x.pt")]
    base = args_for(d) if setup is not None else []
    res = run([*base, *extra, "--aug", "none", *FAST], tmp_path / "h")
    assert res.exit_code == 2, (res.stdout, res.stderr)
    assert message in res.stderr
    assert "Traceback" not in res.stderr + res.stdout
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr  # click's usage errors too
    assert not (tmp_path / "h" / "results").exists()
