"""CIFAR-10 and CIFAR-100: the pickled batches of the python version, 80/20 holdout val.

torchvision downloads them; reading is done here from the documented pickle format, because
torchvision's reader refuses any copy whose batch files do not carry the original md5 sums
(a re-pickled or hand-made copy), while the manifest already checks what is read.  Items are
``train/<index>`` and ``test/<index>`` (the position in the concatenated batches).
"""

from __future__ import annotations

import pickle
from functools import cached_property
from typing import ClassVar

import numpy as np
from PIL import Image

from seabench.data.base import register_dataset
from seabench.data.files import FileDataset, holdout, make_manifest, split
from seabench.data.splits import SplitManifest
from seabench.errors import SeabenchError


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
                with open(self.base / name, "rb") as f:
                    try:
                        entry = pickle.load(f, encoding="latin1")
                        data.append(
                            np.asarray(entry["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
                        )
                        labels.extend(int(v) for v in entry[self.label_key])
                    except (pickle.UnpicklingError, KeyError, ValueError, EOFError) as exc:
                        raise SeabenchError(
                            f"{self.name}: {self.base / name} is not a CIFAR batch ({exc}); "
                            "download the python version again"
                        ) from exc
            out[part] = (np.concatenate(data).transpose(0, 2, 3, 1), np.asarray(labels))
        return out

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
