"""Recipes: backbone tables, ${VAR} expansion, the paper grid's dry run, and a tiny real run."""

from __future__ import annotations

import shutil

import pytest
from click.testing import CliRunner

from seabench import recipe_run
from seabench.cli import cli
from seabench.errors import SeabenchError
from seabench.home import Home
from seabench.recipe import Recipe
from seabench.results import ResultsStore

PAPER_DATASETS = [
    "aircraft",
    "caltech101",
    "cars",
    "cifar10",
    "cifar100",
    "dtd",
    "flowers",
    "food",
    "pets",
    "sun397",
    "voc2007",
]


def test_paper_recipe_expands_paths_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("CKPT_DIR", str(tmp_path / "ckpt"))
    monkeypatch.delenv("DATA_ROOT", raising=False)
    r = Recipe.load("recipes/paper.toml")
    assert r.datasets == PAPER_DATASETS and r.seeds == 3
    assert r.augs == ["none", "sea", "lbfgs", "finetune"]
    assert [b.name for b in r.backbones] == ["mocov2", "swav", "barlowtwins", "dino_resnet50"]
    assert {b.arch for b in r.backbones} == {"resnet50"}
    assert [b.format for b in r.backbones] == ["mocov2", "swav", "barlowtwins", "dino"]
    assert all(b.weights.startswith(str(tmp_path / "ckpt")) for b in r.backbones)
    assert r.data_root == "data"  # the [vars] default when the environment has none
    ft = r.finetune_options(seed=2)
    assert ft.max_steps == 5000 and len(ft.configs()) == 20 and ft.image_size == 224


def test_variables_and_bad_recipes(tmp_path, monkeypatch):
    monkeypatch.delenv("SB_TEST_X", raising=False)
    p = tmp_path / "r.toml"
    p.write_text(
        'datasets = ["mnist5k"]\naugs = ["none"]\n'
        'backbones = ["efficientnet_lite0", {name = "mine", arch = "resnet18", '
        'weights = "${SB_TEST_X:-/w}/a.pth"}]\n'
    )
    r = Recipe.load(p)
    assert r.backbones[0].arch == "efficientnet_lite0" and r.backbones[1].weights == "/w/a.pth"
    monkeypatch.setenv("SB_TEST_X", "/env")
    assert Recipe.load(p).backbones[1].weights == "/env/a.pth"

    p.write_text('datasets = ["mnist5k"]\naugs = ["none"]\nbackbones = ["${SB_NOT_SET_Q}"]\n')
    with pytest.raises(SeabenchError, match=r"\$\{SB_NOT_SET_Q\} is not set"):
        Recipe.load(p)
    p.write_text('datasets = ["mnist5k"]\naugs = ["none"]\nbackbones = [{arch = "x", wat = 1}]\n')
    with pytest.raises(SeabenchError, match="unknown backbone keys wat"):
        Recipe.load(p)
    p.write_text('datasets = ["mnist5k"]\naugs = ["none"]\nbackbones = ["a", "a"]\n')
    with pytest.raises(SeabenchError, match="appears twice"):
        Recipe.load(p)
    p.write_text(
        'datasets = ["mnist5k"]\naugs = ["none"]\nbackbones = ["a"]\n[finetune]\nsteps = 3\n'
    )
    with pytest.raises(SeabenchError, match=r"unknown \[finetune\] settings steps"):
        Recipe.load(p).finetune_options(0)


def test_lbfgs_in_augs_is_the_lbfgs_solver(tmp_path):
    p = tmp_path / "r.toml"
    p.write_text(
        'datasets = ["mnist5k"]\naugs = ["lbfgs"]\nbackbones = ["a"]\n[probe]\nepochs = 3\n'
    )
    opts = recipe_run._method_options("lbfgs", Recipe.load(p))
    assert opts.solver == "lbfgs" and opts.aug == "none"


def test_paper_dry_run_lists_every_cell_and_what_is_missing(tmp_path):
    env = {"DATA_ROOT": str(tmp_path / "data"), "CKPT_DIR": str(tmp_path / "ckpt")}
    (tmp_path / "ckpt").mkdir()
    result = CliRunner(env=env).invoke(
        cli, ["run", "recipes/paper.toml", "--dry-run", "--home", str(tmp_path / "home")]
    )
    assert result.exit_code == 0, result.output
    out = result.output
    for method in ("none", "sea", "lbfgs", "finetune"):
        assert f"method {method}: 44 cells (4 backbones x 11 datasets) x 3 seed(s)" in out
    # one grid line per backbone per method, one column per dataset
    grid = [
        ln
        for ln in out.splitlines()
        if ln.strip().startswith(("mocov2 ", "swav ")) and ln.count("no ckpt") == 11
    ]
    assert len(grid) == 8
    assert out.count("MISSING  ") == 11 + 4
    assert f"checkpoint {tmp_path / 'ckpt'}/moco_v2_800ep_pretrain.pth.tar does not exist" in out
    assert "20 config(s) x 5,000 steps" in out
    assert "0 of 44 cells ready" in out
    assert not (tmp_path / "home" / "results").exists()  # a dry run runs nothing


def test_tiny_recipe_runs_skips_and_reports_a_failed_cell(tiny_home, tmp_path):
    home = Home.resolve(tmp_path / "home")
    shutil.copytree(tiny_home.root, home.root)
    p = tmp_path / "tiny.toml"
    p.write_text(
        'datasets = ["mnist5k", "nosuchset"]\naugs = ["none", "finetune"]\n'
        'backbones = ["efficientnet_lite0"]\n'
        "[extract]\nsubset = 200\nimage_size = 32\nbatch_size = 100\n"
        "[probe]\nepochs = 2\nlr_grid = [0.8]\nwd_grid = [1e-6]\n"
        '[finetune]\ngrid = "small"\nmax_steps = 2\nbatch_size = 4\nsubset = 10\n'
        '[report]\nformats = ["markdown", "json"]\n'
    )
    r = Recipe.load(p)
    logs: list[str] = []
    failures = recipe_run.run_recipe(r, home, logs.append)
    assert len(failures) == 1 and "nosuchset" in failures[0] and "unknown dataset" in failures[0]
    rows = ResultsStore(home.results).rows()
    assert sorted(x["aug"] for x in rows) == ["finetune", "none"]
    assert any("features efficientnet_lite0 / mnist5k: cached" in m for m in logs)
    scored = [m for m in logs if "seed 0: " in m and "recorded" not in m]
    assert len(scored) == 2 and all("95% interval" in m for m in scored)  # probe and finetune

    logs.clear()
    assert len(recipe_run.run_recipe(r, home, logs.append)) == 1
    assert len(ResultsStore(home.results).rows()) == 2  # nothing run twice
    assert any(m.endswith("/ none: recorded") for m in logs)
    assert any("seed 0: recorded" in m for m in logs)
