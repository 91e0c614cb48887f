"""Reduced-scale JPEG decoding (PIL draft): close to full-size decoding after the resize, keyed
apart from it, and leaving the keys and numbers of in-memory datasets as they were."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from seabench.backbones.base import Backbone
from seabench.data import get_dataset
from seabench.data.files import open_rgb
from seabench.data.transforms import (
    BatchNormalize,
    build_eval_transform,
    eval_transform_config,
    resize_side,
)
from seabench.errors import SeabenchError
from seabench.features import FeatureCache, extract_features
from seabench.features.cache import cache_key
from seabench.features.extract import plan_key

DATA_CONFIG = {
    "input_size": (3, 224, 224),
    "interpolation": "bicubic",
    "mean": (0.485, 0.456, 0.406),
    "std": (0.229, 0.224, 0.225),
    "crop_pct": 0.875,
}
#: |draft - full| of the normalised 224 px crops (normalised units; one grey level is about
#: 0.017 after dividing by std ~0.23): on 100 images of the benchmark set the mean was 0.003 and
#: the largest 0.33, at a few edge pixels (0.1% of values differ by more than 0.1)
MEAN_TOLERANCE, MAX_TOLERANCE = 0.01, 0.5


def photo(size: tuple[int, int], seed: int) -> Image.Image:
    """A crop of a real photograph (scikit-image's astronaut), rescaled to ``size``."""
    import skimage.data

    rng = np.random.default_rng(seed)
    img = Image.fromarray(skimage.data.astronaut())
    x, y = (int(v) for v in rng.integers(0, 120, 2))
    return img.crop((x, y, x + 384, y + 288)).resize(size, Image.Resampling.BICUBIC)


@pytest.fixture(scope="module")
def jpeg_folder(tmp_path_factory):
    """An ImageFolder of real JPEG files (quality 90) at typical dataset sizes."""
    root = tmp_path_factory.mktemp("jpegs")
    sizes = [(1024, 768), (500, 375), (375, 500), (800, 600)]
    for s, (split, n) in enumerate((("train", 6), ("test", 2))):
        for k, c in enumerate(("a", "b")):
            (root / split / c).mkdir(parents=True)
            for i in range(n):
                im = photo(sizes[i % len(sizes)], seed=100 * s + 10 * k + i)
                im.save(root / split / c / f"{i}.jpg", quality=90)
    photo((400, 300), seed=99).save(root / "train" / "b" / "png.png")  # datasets mix formats
    return root


def tiny_backbone() -> Backbone:
    """A real (if small) network, so features are a function of every pixel."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 7, stride=4), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1)
    )
    model.append(torch.nn.Flatten())
    return Backbone("tiny", model, dict(DATA_CONFIG), 8, {"name": "tiny"})


def test_draft_decodes_at_a_reduced_scale_that_still_covers_the_resize(jpeg_folder):
    cfg = eval_transform_config(DATA_CONFIG, 224)
    side = resize_side(cfg)
    assert side == 256  # floor(224 / 0.875): what timm resizes the shorter side to
    big = next((jpeg_folder / "train" / "a").glob("0.jpg"))
    full, draft = open_rgb(big, "t"), open_rgb(big, "t", min_side=side)
    assert full.size == (1024, 768) and draft.size == (512, 384)  # 1/2 is the smallest >= 256
    small = next((jpeg_folder / "train" / "a").glob("1.jpg"))
    assert open_rgb(small, "t", min_side=side).size == (500, 375)  # 1/2 would be under 256


def test_draft_then_resize_is_close_to_full_decode_then_resize(jpeg_folder):
    cfg = eval_transform_config(DATA_CONFIG, 224)
    t = build_eval_transform(cfg)
    diffs = []
    for path in sorted(jpeg_folder.rglob("*.jpg")):
        a = t(open_rgb(path, "t"))
        b = t(open_rgb(path, "t", min_side=resize_side(cfg)))
        diffs.append((a - b).abs())
    d = torch.stack(diffs)
    assert d.max() > 0  # not identical: the draft path really ran
    assert d.mean() < MEAN_TOLERANCE and d.max() < MAX_TOLERANCE


def test_uint8_batches_normalised_later_are_bitwise_the_per_image_transform(jpeg_folder):
    cfg = eval_transform_config(DATA_CONFIG, 96)
    images = [open_rgb(p, "t") for p in sorted(jpeg_folder.rglob("*.jpg"))[:4]]
    before = torch.stack([build_eval_transform(cfg)(im) for im in images])
    u8 = torch.stack([build_eval_transform(cfg, normalize=False)(im) for im in images])
    assert u8.dtype == torch.uint8
    assert torch.equal(BatchNormalize(cfg)(u8), before)


def test_decode_path_is_keyed_for_files_and_old_keys_stay(jpeg_folder, tmp_path):
    bb = tiny_backbone()
    folder = get_dataset(f"imagefolder:{jpeg_folder}")
    draft = plan_key(folder, bb, image_size=64)
    full = plan_key(folder, bb, image_size=64, decode="full")
    assert draft.inputs["decode"] == "draft" and "decode" not in full.inputs
    assert draft.key != full.key
    # the full-decode key is the formula of entries made before the draft path existed
    old = {k: full.inputs[k] for k in ("backbone", "transform", "dataset", "manifest", "dtype")}
    assert full.key == cache_key(old)
    # in-memory datasets: no decode input, the same key whatever --decode says
    mnist = get_dataset("mnist5k")
    m_draft = plan_key(mnist, bb, image_size=64)
    assert "decode" not in m_draft.inputs
    assert m_draft.key == plan_key(mnist, bb, image_size=64, decode="full").key
    assert m_draft.key == cache_key({k: m_draft.inputs[k] for k in old})
    assert not get_dataset("cifar10", tmp_path).scaled_decode  # arrays, not files
    with pytest.raises(SeabenchError, match="unknown --decode"):
        plan_key(folder, bb, image_size=64, decode="fast")


def test_extraction_keeps_draft_and_full_entries_apart_and_close(jpeg_folder, tmp_path):
    bb = tiny_backbone()
    folder = get_dataset(f"imagefolder:{jpeg_folder}")
    cache = FeatureCache(tmp_path / "features")
    opts = {"image_size": 224, "dtype": "fp32", "batch_size": 4, "workers": 0, "device": "cpu"}
    draft = extract_features(folder, bb, cache, **opts)
    full = extract_features(folder, bb, cache, decode="full", **opts)
    assert draft.entry.key != full.entry.key and not full.cached
    assert draft.entry.meta["decode"] == "draft" and full.entry.meta["decode"] == "full"
    a, b = draft.entry.load(), full.entry.load()
    for split in ("train", "val", "test"):
        assert torch.equal(a[f"{split}_y"], b[f"{split}_y"])
        diff = (a[f"{split}_x"] - b[f"{split}_x"]).abs().max().item()
        assert diff < 0.05 * b[f"{split}_x"].abs().max().item()
    # the full-decode entry holds what the per-image transform of the full image gives
    t = build_eval_transform(full.entry.meta["inputs"]["transform"])
    items = full.entry.manifest().items("test")
    x = torch.stack([t(folder.open(i)) for i in items])
    with torch.inference_mode():
        expected = bb.model(x)
    torch.testing.assert_close(b["test_x"], expected, rtol=1e-5, atol=1e-6)
    again = extract_features(folder, bb, cache, **opts)
    assert again.cached and again.entry.key == draft.entry.key


def test_device_decode_is_keyed_by_device_and_close_to_the_pil_path(jpeg_folder, tmp_path):
    """The GPU path (bytes from the workers, decode + resize + normalise on the device), run on
    the CPU: torchvision's decode_jpeg and resize instead of PIL's, PNGs decoded one by one."""
    bb = tiny_backbone()
    folder = get_dataset(f"imagefolder:{jpeg_folder}")
    cache = FeatureCache(tmp_path / "features")
    opts = {"image_size": 96, "dtype": "fp32", "batch_size": 5, "workers": 0, "device": "cpu"}
    dev = extract_features(folder, bb, cache, decode="device", **opts)
    full = extract_features(folder, bb, cache, decode="full", **opts)
    assert dev.entry.meta["inputs"]["decode"] == "torchvision:cpu"
    assert dev.entry.key != full.entry.key
    a, b = dev.entry.load(), full.entry.load()
    for split in ("train", "val", "test"):
        diff = (a[f"{split}_x"] - b[f"{split}_x"]).abs().max().item()
        assert diff < 0.05 * b[f"{split}_x"].abs().max().item()
    with pytest.raises(SeabenchError, match="decodes image files"):
        plan_key(get_dataset("mnist5k"), bb, decode="device")
    with pytest.raises(SeabenchError, match="--views none only"):
        plan_key(folder, bb, decode="device", views="rot4")
