"""CIFAR-10 and CIFAR-100: the pickled batches of the python version, 80/20 holdout val.

torchvision downloads them; reading is done here from the documented pickle format, because
torchvision's reader refuses any copy whose batch files do not carry the original md5 sums
(a re-pickled or hand-made copy), while the manifest already checks what is read.  The batches
are unpickled by :mod:`seabench.data.safe_pickle`, which rebuilds numpy arrays and containers and
refuses any other global, so a planted batch cannot run code.  Items are ``train/<index>`` and
``test/<index>`` (the position in the concatenated batches).
"""

from __future__ import annotations

import pickle
from functools import cached_property
from typing import ClassVar

import numpy as np
from PIL import Image

from seabench.data import safe_pickle
from seabench.data.base import register_dataset
from seabench.data.files import FileDataset, holdout, make_manifest, split
from seabench.data.splits import SplitManifest
from seabench.errors import SeabenchError, UnsafeFileError


class _CIFAR(FileDataset):
    metric = "top1"
    val_source = "holdout20"
    downloadable = True
    batches: ClassVar[dict[str, tuple[str, ...]]] = {}
    label_key: ClassVar[str] = "labels"

    def fetch(self) -> None:
        self._torchvision_class()(str(self.root), train=True, download=True)

    def _torchvision_class(self):
        from torchvision.datasets import CIFAR10, CIFAR100

        return CIFAR10 if self.num_classes == 10 else CIFAR100

    @cached_property
    def _arrays(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        out = {}
        for part, files in self.batches.items():
            self.require(*files)
            data, labels = [], []
            for name in files:
                x, y = self._read_batch(self.base / name)
                data.append(x)
                labels.extend(y)
            out[part] = (np.concatenate(data).transpose(0, 2, 3, 1), np.asarray(labels))
        return out

    def _read_batch(self, path) -> tuple[np.ndarray, list[int]]:
        """One batch's (N, 3, 32, 32) pixels and labels; the keys may be str (the Python 2
        originals read as latin1) or bytes (copies written by Python 3)."""
        again = "download the python version again"
        try:
            with open(path, "rb") as f:
                entry = safe_pickle.load(f, encoding="latin1")
            if not isinstance(entry, dict):
                raise ValueError(f"a {type(entry).__name__}, not a dict")
            entry = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in entry.items()}
            x = np.asarray(entry["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
            return x, [int(v) for v in entry[self.label_key]]
        except safe_pickle.RefusedGlobal as exc:
            raise UnsafeFileError(
                f"{self.name}: {path} is not a genuine CIFAR batch: it calls "
                f"{exc.global_name} when read (refused; nothing was run); delete it and "
                f"{again}"
            ) from exc
        except (pickle.UnpicklingError, KeyError, ValueError, TypeError, EOFError) as exc:
            raise SeabenchError(
                f"{self.name}: {path} is not a CIFAR batch ({type(exc).__name__}: {exc}); {again}"
            ) from exc

    def build_manifest(self) -> SplitManifest:
        _, train_y = self._arrays["train"]
        _, test_y = self._arrays["test"]
        train, val = holdout([f"train/{i:05d}" for i in range(len(train_y))], train_y.tolist())
        test = split([f"test/{i:05d}" for i in range(len(test_y))], test_y.tolist())
        return make_manifest(self, {"train": train, "val": val, "test": test})

    scaled_decode = False  # arrays in memory, not image files

    def open(self, item) -> Image.Image:
        part, index = str(item).split("/")
        return Image.fromarray(self._arrays[part][0][int(index)])


@register_dataset
class CIFAR10(_CIFAR):
    name = "cifar10"
    num_classes = 10
    folder = "cifar-10-batches-py"
    batches = {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)}
    required = ("data_batch_1", "test_batch")
    layout = "cifar-10-batches-py/{data_batch_1..5, test_batch} (the python version)"
    description = "CIFAR-10: 32x32 objects, 10 classes"
    sizes = "40,000 / 10,000 / 10,000"


@register_dataset
class CIFAR100(_CIFAR):
    name = "cifar100"
    num_classes = 100
    folder = "cifar-100-python"
    batches = {"train": ("train",), "test": ("test",)}
    label_key = "fine_labels"
    required = ("train", "test")
    layout = "cifar-100-python/{train, test} (the python version)"
    description = "CIFAR-100: 32x32 objects, 100 fine classes"
    sizes = "40,000 / 10,000 / 10,000"
