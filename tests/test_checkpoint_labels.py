"""What `seabench extract` says about a checkpoint's preprocessing, as a user reads it.

A file loaded with a layout whose preprocessing is not the transfer protocol (torchvision's
bilinear crop 0.875 here) is labelled ``ARCH@STEM[torchvision-preprocessing]``; the label is
printed as it is stored, without rich's markup escapes, so it can be copied into
``seabench probe --backbone``.
"""

from __future__ import annotations

import torch
import torchvision
from click.testing import CliRunner

from seabench.cli import cli


def test_extract_prints_the_preprocessing_label_as_stored(tmp_path):
    path = tmp_path / "resnet18-f37072fd.pth"  # torchvision's own file: plain names + fc
    torch.save(torchvision.models.resnet18().state_dict(), path)
    args = ["extract", "--dataset", "mnist5k", "--subset", "2", "--workers", "0"]
    args += ["--image-size", "32", "--backbone", "resnet18", "--weights", str(path)]
    args += ["--weights-format", "torchvision", "--home", str(tmp_path / "home")]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    label = "resnet18@resnet18-f37072fd[torchvision-preprocessing]"
    assert f"backbone {label}: layout torchvision" in result.stderr
    assert "\\[" not in result.stderr
    assert "(bilinear), center crop 32 px (crop 0.875)" in result.stderr


def test_a_recipe_keeps_the_preprocessing_in_its_backbones_label(tmp_path):
    from seabench import recipe_run
    from seabench.home import Home
    from seabench.recipe import Recipe
    from seabench.results import ResultsStore

    path = tmp_path / "resnet18-f37072fd.pth"
    torch.save(torchvision.models.resnet18().state_dict(), path)
    recipe = tmp_path / "tv.toml"
    recipe.write_text(
        'datasets = ["mnist5k"]\naugs = ["none"]\n'
        f'backbones = [{{name = "tv18", arch = "resnet18", weights = "{path}", '
        'format = "torchvision"}]\n'
        "[extract]\nsubset = 20\nimage_size = 32\nworkers = 0\n"
        "[probe]\nepochs = 1\nlr_grid = [0.8]\nwd_grid = [1e-6]\n"
    )
    logs: list[str] = []
    home = Home.resolve(tmp_path / "home")
    assert recipe_run.run_recipe(Recipe.load(recipe), home, logs.append) == []
    (row,) = ResultsStore(home.results).rows()
    assert row["backbone"] == "tv18[torchvision-preprocessing]"
