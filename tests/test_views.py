"""Multi-view extraction: the fixed views, (N, M, d) cache entries, their keys and resume."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image
from torchvision.transforms import functional as TF

from seabench import runner
from seabench.backbones import create_backbone
from seabench.cli import cli
from seabench.data import get_dataset
from seabench.data.transforms import build_eval_transform, eval_transform_config
from seabench.data.views import VIEWS, ViewTransform
from seabench.errors import SeabenchError
from seabench.features import FeatureCache, extract_features
from seabench.features.cache import MULTI, cache_key
from seabench.features.extract import plan_key
from seabench.home import Home

SMALL = {"subset": 20, "image_size": 32, "batch_size": 10}


@pytest.fixture(scope="module")
def lite0():
    return create_backbone("efficientnet_lite0")


@pytest.fixture(scope="module")
def mnist():
    return get_dataset("mnist5k")


def cfg(crop_pct: float = 1.0) -> dict:
    data = {"input_size": (3, 32, 32), "mean": [0.5] * 3, "std": [0.25] * 3}
    return eval_transform_config({**data, "interpolation": "bicubic"}, 32, crop_pct)


def image(h: int, w: int) -> Image.Image:
    """Random pixels: no symmetry, so every rotation and flip is a different image."""
    rng = np.random.default_rng(h * 1000 + w)
    return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))


@pytest.mark.parametrize("views", list(VIEWS))
def test_view_transform_gives_m_evaluated_views(views):
    x = ViewTransform(cfg(0.875), views)(image(40, 50))
    assert x.shape == (len(VIEWS[views]), 3, 32, 32) and x.dtype == torch.float32
    # view 0 of the rotations and flips is the plain evaluation transform
    if views != "crops5":
        assert torch.equal(x[0], build_eval_transform(cfg(0.875))(image(40, 50)))


def test_rot4_turns_the_image_counter_clockwise_like_pil():
    img = image(32, 32)  # square at the crop size: the transform is resize-free, PIL is exact
    base = build_eval_transform(cfg())
    x = ViewTransform(cfg(), "rot4")(img)
    for k in range(4):
        assert torch.equal(x[k], base(TF.rotate(img, 90 * k, expand=True))), k
        assert torch.equal(x[k], base(img.rotate(90 * k, expand=True))), k
    assert not torch.equal(x[0], x[1])
    # non-square, with a crop: view k is exactly view 0 turned k times (no rounding shift)
    y = ViewTransform(cfg(0.875), "rot4")(image(40, 50))
    for k in range(4):
        assert torch.equal(y[k], torch.rot90(y[0], k, dims=(1, 2)))


def test_flip2_mirrors_left_right():
    img = image(32, 32)
    x = ViewTransform(cfg(), "flip2")(img)
    assert torch.equal(x[1], build_eval_transform(cfg())(TF.hflip(img)))
    assert torch.equal(x[1], x[0].flip(-1)) and not torch.equal(x[0], x[1])


def test_crops5_gives_five_distinct_crops_the_last_one_central():
    img = image(40, 50)
    x = ViewTransform(cfg(0.875), "crops5")(img)
    for i in range(5):
        for j in range(i + 1, 5):
            assert not torch.allclose(x[i], x[j]), (i, j)
    # the centre crop is the plain evaluation transform's
    assert torch.allclose(x[4], build_eval_transform(cfg(0.875))(img), atol=1e-6)


def test_unknown_views_is_bad_input(mnist, lite0):
    with pytest.raises(SeabenchError, match="unknown --views 'rot3'; choose one of: none, rot4"):
        plan_key(mnist, lite0, image_size=32, subset=20, views="rot3")
    res = CliRunner().invoke(
        cli, ["extract", "--dataset", "mnist5k", "--backbone", "x", "--views", "rot3"]
    )
    assert res.exit_code == 2 and "rot3" in res.output


def test_views_enter_the_key_and_none_keeps_the_plain_key(mnist, lite0):
    plain = plan_key(mnist, lite0, image_size=32, subset=20)
    assert plan_key(mnist, lite0, image_size=32, subset=20, views="none").key == plain.key
    # the inputs (and so the keys) of entries made before views existed
    assert set(plain.inputs) == {"backbone", "transform", "dataset", "manifest", "dtype"}
    assert cache_key(plain.inputs) == plain.key
    keys = {v: plan_key(mnist, lite0, image_size=32, subset=20, views=v).key for v in VIEWS}
    assert len(set(keys.values())) == len(VIEWS)
    assert plan_key(mnist, lite0, image_size=32, subset=20, views="rot4").inputs["views"] == "rot4"


def test_rot4_extraction_stores_n_by_4_by_d_and_view_0_is_the_plain_features(tmp_path):
    home = Home.resolve(tmp_path / "home")
    args = ["--dataset", "mnist5k", "--backbone", "efficientnet_lite0", "--home", str(home.root)]
    args += ["--subset", "20", "--image-size", "32", "--batch-size", "10"]
    res = CliRunner().invoke(cli, ["extract", *args, "--views", "rot4"])
    assert res.exit_code == 0, res.output
    assert "views rot4 (rot0, rot90, rot180, rot270)" in res.output
    plain = runner.extract(home, "mnist5k", "efficientnet_lite0", **SMALL).entry
    cache = FeatureCache(home.features)
    multi = cache.find("mnist5k", "efficientnet_lite0", views="rot4")
    assert multi.key != plain.key and multi.views == "rot4" and plain.views == "none"
    assert multi.meta["views"] == "rot4"
    assert multi.meta["view_names"] == ["rot0", "rot90", "rot180", "rot270"]
    assert plain.meta["views"] == "none" and plain.meta["view_names"] == ["identity"]
    # the plain probe's lookup never picks the newer multi-view entry; None takes any
    assert cache.find("mnist5k", "efficientnet_lite0").key == plain.key
    assert cache.find("mnist5k", "efficientnet_lite0", views=MULTI).key == multi.key
    with pytest.raises(SeabenchError, match="--views flip2"):
        cache.find("mnist5k", "efficientnet_lite0", views="flip2")
    # `seabench probe` looks up the entry its --aug needs
    for aug, key in (("sla", multi.key), ("none", plain.key)):
        opts = runner.probe_options(aug, {"search": False, "epochs": 1})
        (row,) = runner.probe_cached(home, "mnist5k", "efficientnet_lite0", opts)
        assert row["features_key"] == key and row["views"] == ("rot4" if aug == "sla" else "none")

    fs, ref = runner.feature_set(multi), runner.feature_set(plain)
    assert fs.info["views"] == "rot4" and ref.info["views"] == "none"
    for split in ("train", "val", "test"):
        x, x0 = getattr(fs, f"{split}_x"), getattr(ref, f"{split}_x")
        assert x.shape == (20, 4, 1280) and x.dtype == torch.float16
        assert x0.shape == (20, 1280)
        # batches of 40 view images vs 10 images: equal up to fp16 rounding
        torch.testing.assert_close(x[:, 0].float(), x0.float(), atol=2e-2, rtol=1e-2)
        assert (x[:, 1].float() - x0.float()).abs().max() > 0.1  # a rotation is another view
        assert torch.equal(getattr(fs, f"{split}_y"), getattr(ref, f"{split}_y"))


def test_interrupted_multi_view_extraction_resumes_from_its_chunks(tmp_path, mnist, lite0):
    opts = {**SMALL, "batch_size": 5, "chunk_size": 5, "views": "flip2"}

    class Stop(Exception):
        pass

    def stop_in_third_train_batch(split, done, total):
        if split == "train" and done == 15:  # two chunks are on disk, the third is not
            raise Stop

    cache = FeatureCache(tmp_path / "a")
    with pytest.raises(Stop):
        extract_features(mnist, lite0, cache, progress=stop_in_third_train_batch, **opts)
    (partial,) = cache.partials()
    from safetensors.torch import load_file

    chunks = sorted(partial.glob("*.safetensors"))
    assert len(chunks) == 2 and load_file(str(chunks[0]))["x"].shape == (5, 2, 1280)
    resumed = extract_features(mnist, lite0, cache, **opts)
    assert not resumed.cached and resumed.resumed == 10 and resumed.images == 50
    assert resumed.entry.meta["images_resumed"] == 10 and not cache.partials()

    straight = extract_features(mnist, lite0, FeatureCache(tmp_path / "b"), **opts)
    assert straight.entry.key == resumed.entry.key
    a, b = resumed.entry.load(), straight.entry.load()
    assert set(a) == set(b) and a["train_x"].shape == (20, 2, 1280)
    for k in a:
        assert torch.equal(a[k], b[k]), k
    again = extract_features(mnist, lite0, cache, **opts)
    assert again.cached and again.entry.key == resumed.entry.key


def test_plain_probe_on_a_multi_view_only_home_uses_the_reference_view(tmp_path):
    home = Home.resolve(tmp_path / "home")
    multi = runner.extract(home, "mnist5k", "efficientnet_lite0", **SMALL, views="rot4").entry
    opts = runner.probe_options("none", {"search": False, "epochs": 1})
    (row,) = runner.probe_cached(home, "mnist5k", "efficientnet_lite0", opts)
    assert row["features_key"] == multi.key and row["views"] == "none"
    assert row["view_of"] == "rot4[0]"  # rotation 0 of the rot4 entry
    # a multi-view mode still refuses single-view features with the command that makes them
    other = Home.resolve(tmp_path / "single")
    runner.extract(other, "mnist5k", "efficientnet_lite0", **SMALL)
    sla = runner.probe_options("sla", {"search": False, "epochs": 1})
    with pytest.raises(SeabenchError, match="--views rot4"):
        runner.probe_cached(other, "mnist5k", "efficientnet_lite0", sla)
