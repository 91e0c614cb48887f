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


def test_jpeg_features_equal_the_weights_own_and_the_decode_is_said(tmp_path):
    """Barlow Twins' resnet50.pth layout (torchvision names, no fc) on JPEG class folders: with
    --decode full the cached features are the torchvision model's own on the transfer
    protocol's pixels; the default reduced-scale decode changes the pixels and says so."""
    import numpy as np
    from PIL import Image
    from torchvision import transforms as T

    from seabench.features import FeatureCache

    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for cls in ("a", "b"):
            (tmp_path / "jpgs" / split / cls).mkdir(parents=True)
            for i in range(2):
                pixels = (rng.random((30, 40, 3)) * 255).astype(np.uint8)
                image = Image.fromarray(pixels).resize((400, 300), Image.BILINEAR)
                image.save(tmp_path / "jpgs" / split / cls / f"{i}.jpg", quality=90)
    ref = torchvision.models.resnet18()
    ref.fc = torch.nn.Identity()
    ref.eval()
    path = tmp_path / "resnet18.pth"
    torch.save(ref.state_dict(), path)
    home = tmp_path / "home"
    args = ["extract", "--dataset", f"imagefolder:{tmp_path / 'jpgs'}", "--workers", "0"]
    args += ["--image-size", "32", "--backbone", "resnet18", "--weights", str(path)]
    args += ["--weights-format", "barlowtwins", "--dtype", "fp32", "--home", str(home)]
    draft = CliRunner().invoke(cli, args)
    assert draft.exit_code == 0, draft.output
    assert "--decode draft" in draft.stderr
    full = CliRunner().invoke(cli, [*args, "--decode", "full"])
    assert full.exit_code == 0, full.output
    assert "--decode" not in full.stderr.split("preprocessing:")[1].splitlines()[0]
    (entry,) = [
        e
        for e in FeatureCache(home / "features").entries()
        if e.meta["inputs"].get("decode", "full") == "full"
    ]
    transform = T.Compose(
        [
            T.Resize(32, interpolation=T.InterpolationMode.BICUBIC),
            T.CenterCrop(32),
            T.ToTensor(),
            T.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
        ]
    )
    cached = entry.load()
    for split in ("train", "val", "test"):
        files = [tmp_path / "jpgs" / item for item in entry.manifest().items(split)]
        x = torch.stack([transform(Image.open(f).convert("RGB")) for f in files])
        with torch.no_grad():
            assert (cached[f"{split}_x"] - ref(x)).abs().max() < 1e-4
