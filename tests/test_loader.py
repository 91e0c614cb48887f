"""The extraction's loader: batches decoded by a pool of threads are the batches of a
``DataLoader`` with no workers (same images, same order, bitwise), and a bad file still stops
the run with one line."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from seabench.data import get_dataset
from seabench.data.transforms import build_eval_transform, eval_transform_config, resize_side
from seabench.errors import SeabenchError
from seabench.features.loader import ManifestImages, ThreadedBatches, batch_positions, make_loader

CFG = {
    "input_size": (3, 32, 32),
    "interpolation": "bicubic",
    "mean": (0.485, 0.456, 0.406),
    "std": (0.229, 0.224, 0.225),
    "crop_pct": 0.875,
}


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """ManifestImages over an ImageFolder of 14 JPEGs of random sizes (decoded via draft)."""
    root = tmp_path_factory.mktemp("jpegs")
    rng = np.random.default_rng(0)
    for split, n in (("train", 5), ("test", 2)):
        for c in ("a", "b"):
            (root / split / c).mkdir(parents=True)
            for i in range(n):
                w, h = (int(v) for v in rng.integers(120, 400, 2))
                pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(root / split / c / f"{i}.jpg", quality=90)
    adapter = get_dataset(f"imagefolder:{root}")
    manifest = adapter.manifest()
    items = [i for s in manifest.splits for i in manifest.items(s)]
    tcfg = eval_transform_config(CFG, None, None)
    transform = build_eval_transform(tcfg, normalize=False)
    return ManifestImages(adapter, items, transform, resize_side(tcfg))


def test_threaded_batches_are_the_dataloader_batches(images):
    batches = batch_positions([6, 5, 3], 4)  # batches never cross a chunk: 4+2, 4+1, 3
    assert [len(b) for b in batches] == [4, 2, 4, 1, 3]
    expected = list(DataLoader(images, batch_sampler=batches, num_workers=0))
    got = list(ThreadedBatches(images, batches, None, threads=3))
    assert len(got) == len(expected) == 5
    for a, b in zip(got, expected, strict=True):
        assert a.dtype == torch.uint8 and torch.equal(a, b)


def test_no_workers_decode_in_threads_unless_batches_are_pinned(images):
    batches = batch_positions([len(images)], 8)
    assert isinstance(make_loader(images, batches, None, 0, False, threads=2), ThreadedBatches)
    assert isinstance(make_loader(images, batches, None, 0, False, threads=1), DataLoader)
    assert isinstance(make_loader(images, batches, None, 2, False, threads=2), DataLoader)
    assert isinstance(make_loader(images, batches, None, 0, True, threads=2), DataLoader)


def test_a_damaged_file_stops_threaded_decoding_with_one_line(images, tmp_path):
    bad = images.adapter.path(images.items[5])
    saved = bad.read_bytes()
    try:
        bad.write_bytes(saved[:40])  # a truncated JPEG
        with pytest.raises(SeabenchError, match="cannot read image"):
            list(ThreadedBatches(images, batch_positions([len(images)], 4), None, threads=2))
    finally:
        bad.write_bytes(saved)
