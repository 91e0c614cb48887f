"""The embedded default end to end: weights, data, the three commands, exit codes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from seabench.backbones import create_backbone
from seabench.backbones.efficientnet_lite import lukemelas_to_timm, timm_to_lukemelas, weights_file
from seabench.cli import cli
from seabench.data import get_dataset
from seabench.data.transforms import build_eval_transform, eval_transform_config
from seabench.home import Home


@pytest.fixture(scope="module")
def lite0():
    return create_backbone("efficientnet_lite0")


def test_renaming_round_trips_exactly(lite0):
    original = torch.load(weights_file("efficientnet_lite0"), weights_only=True)
    stages = [len(s) for s in lite0.classifier.blocks]
    renamed = lukemelas_to_timm(original, stages)
    assert set(renamed) == set(lite0.classifier.state_dict())
    back = timm_to_lukemelas(renamed, stages)
    assert list(back) == list(original)
    assert all(torch.equal(back[k], original[k]) for k in original)


def test_offline_backbone_uses_its_own_data_config(lite0):
    cfg = lite0.data_config
    assert cfg["mean"] == [0.5, 0.5, 0.5] and cfg["std"] == [0.5, 0.5, 0.5]
    assert cfg["interpolation"] == "bicubic"
    assert lite0.dim == 1280 and len(lite0.identity["weights_sha256"]) == 64


@pytest.mark.parametrize(
    ("image", "classes"),
    [
        ("chelsea", range(281, 286)),  # tabby, tiger cat, Persian, Siamese, Egyptian cat
        ("coffee", {504, 967, 968}),
    ],  # coffee mug, espresso, cup
)
def test_pretrained_weights_recognise_real_photos(lite0, image, classes):
    from PIL import Image
    from skimage import data as samples

    photo = Image.fromarray(getattr(samples, image)())
    transform = build_eval_transform(eval_transform_config(lite0.data_config))
    with torch.no_grad():
        logits = lite0.classifier(transform(photo)[None])
    top5 = set(logits.topk(5).indices[0].tolist())
    assert top5 & set(classes), f"{image}: top-5 {sorted(top5)}"
    with torch.no_grad():
        feats = lite0.model(transform(photo)[None])
    assert feats.shape == (1, 1280)


def test_mnist5k_split_is_fixed_stratified_and_disjoint():
    adapter = get_dataset("mnist5k")
    m = adapter.manifest()
    assert m.counts() == {"train": 2500, "val": 1000, "test": 1500}
    for split, per_class in (("train", 250), ("val", 100), ("test", 150)):
        assert np.bincount(m.labels(split), minlength=10).tolist() == [per_class] * 10
    assert m.hash == get_dataset("mnist5k").manifest().hash
    img = adapter.open(m.items("train")[0])
    assert img.mode == "RGB" and img.size == (28, 28)


def test_home_resolution_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SEABENCH_HOME", raising=False)
    assert Home.resolve().root == tmp_path / "seabench-home"
    monkeypatch.setenv("SEABENCH_HOME", str(tmp_path / "env"))
    assert Home.resolve().root == tmp_path / "env"
    assert Home.resolve(tmp_path / "flag").root == tmp_path / "flag"


def test_extract_probe_report_end_to_end(tmp_path):
    runner = CliRunner()
    home = str(tmp_path / "home")
    args = ["--home", home, "--dataset", "mnist5k", "--backbone", "efficientnet_lite0"]
    res = runner.invoke(cli, ["extract", *args, "--subset", "100", "--image-size", "32"])
    assert res.exit_code == 0, res.output
    again = runner.invoke(cli, ["extract", *args, "--subset", "100", "--image-size", "32"])
    assert again.exit_code == 0 and "cached" in again.output
    rows = []
    for aug in ("none", "sea"):
        res = runner.invoke(cli, ["probe", *args, "--aug", aug, "--epochs", "5", "--json"])
        assert res.exit_code == 0, res.output
        rows += [json.loads(line) for line in res.stdout.splitlines() if line.startswith("{")]
    assert [r["aug"] for r in rows] == ["none", "sea"]
    for r in rows:
        # --select auto: 20 train+val images per class, so 5-fold cross-validation
        assert r["selected_on"] == "kfold5" and r["configs_searched"] >= 6
        assert 10.0 < r["test"] <= 100.0 and r["n_train"] == 100
        assert {"lr", "wd"} <= set(r["hparams"]) and r["versions"]["seabench"]
    assert "eta" in rows[1]["hparams"]
    res = runner.invoke(
        cli,
        [
            "report",
            "--home",
            home,
            "--format",
            "markdown",
            "--format",
            "csv",
            "--out",
            str(tmp_path / "out"),
        ],
    )
    assert res.exit_code == 0, res.output
    md = (tmp_path / "out" / "report.md").read_text()
    assert "linear+SeA" in md and "mnist5k" in md
    assert "efficientnet_lite0" in res.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["extract", "--dataset", "nope", "--backbone", "efficientnet_lite0"],
        ["extract", "--dataset", "mnist5k", "--backbone", "no_such_net"],
        ["extract", "--dataset", "mnist5k", "--backbone", "resnet18", "--weights", "/no/file.pth"],
        ["probe", "--dataset", "mnist5k", "--backbone", "efficientnet_lite0"],
        ["probe", "--dataset", "mnist5k", "--backbone", "efficientnet_lite0", "--aug", "bogus"],
        ["extract", "--dataset", "mnist5k", "--backbone", "efficientnet_lite0", "--dtype", "fp8"],
        ["report"],
        ["run", "/no/recipe.toml"],
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, args):
    res = CliRunner().invoke(cli, [*args, "--home", str(tmp_path / "empty")])
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert lines and ("error" in lines[-1].lower())


def test_bad_recipe_key_is_reported(tmp_path):
    recipe = tmp_path / "r.toml"
    recipe.write_text(
        'backbones = ["efficientnet_lite0"]\ndatasets = ["mnist5k"]\naugs = ["none"]\nepochs = 3\n'
    )
    res = CliRunner().invoke(cli, ["run", str(recipe), "--home", str(tmp_path / "h")])
    assert res.exit_code == 2 and "unknown keys epochs" in res.output
