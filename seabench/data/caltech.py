"""Caltech-101 in the protocol of the transfer literature: 102 classes, 30 training images each.

torchvision's Caltech101 only downloads it here: its reader drops BACKGROUND_Google (the
literature counts it as the 102nd class), has no split, and returns grey images as they are.
The 30 training images of each class are drawn without replacement from the class's sorted file
list, with a fixed seed and one random stream per class (so the draw depends neither on
directory order nor on the other classes); every other image of the class is test.  Val is a
seeded 20% of those 30 (6 per class).  Sizes: 2,448 / 612 / 6,084.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from seabench.data.base import register_dataset
from seabench.data.files import FileDataset, holdout, make_manifest, split
from seabench.data.splits import SplitManifest
from seabench.errors import SeabenchError

TRAIN_PER_CLASS = 30
DRAW_SEED = 0
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}


@register_dataset
class Caltech101(FileDataset):
    name = "caltech101"
    num_classes = 102
    metric = "mean_per_class"
    downloadable = True
    folder = "caltech101"
    other_folders = ("caltech-101",)  # the current archive's folder name
    class_folders = True
    required = ("101_ObjectCategories",)
    layout = (
        "caltech101/101_ObjectCategories/<class>/image_%04d.jpg (102 folders, "
        "BACKGROUND_Google included; caltech-101/ as the current archive names it, or "
        "101_ObjectCategories/ unpacked straight into the data root, also works)"
    )
    description = "Caltech-101: 101 objects + background, 30 train images per class"
    sizes = "2,448 / 612 / 6,084"

    def fetch(self) -> None:
        from torchvision.datasets import Caltech101 as TorchvisionCaltech101

        TorchvisionCaltech101(str(self.root), download=True)

    @property
    def base(self) -> Path:
        """caltech101/ or caltech-101/; else --data-root itself where 101_ObjectCategories.tar.gz
        (the original archive, alone) was unpacked straight into it."""
        found = super().base
        if self._absent(found) and (self.root / "101_ObjectCategories").is_dir():
            return self.root
        return found

    def missing_note(self) -> str:
        packed = self.base / "101_ObjectCategories.tar.gz"
        return f" ({packed} is still packed: unpack it there)" if packed.is_file() else ""

    def class_location(self) -> str:
        return f"{self.base / '101_ObjectCategories'}/<class>/ (102 folders)"

    def build_manifest(self) -> SplitManifest:
        top = self.base / "101_ObjectCategories"
        classes = sorted(p.name for p in top.iterdir() if p.is_dir())
        if len(classes) != self.num_classes:
            raise self.incomplete(
                f"{top} holds {len(classes)} class folders, expected "
                f"{self.num_classes} (101 objects and BACKGROUND_Google)",
                top,
            )
        train_items, train_labels, test_items, test_labels = [], [], [], []
        for label, cls in enumerate(classes):
            files = sorted(
                p.name
                for p in (top / cls).iterdir()
                if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
            )
            if not files:
                raise self.incomplete(f"class folder {top / cls} holds no image", top)
            if len(files) <= TRAIN_PER_CLASS:
                raise SeabenchError(
                    f"caltech101: class {cls!r} has {len(files)} images; the protocol needs more "
                    f"than {TRAIN_PER_CLASS} (30 train, the rest test); the copy may be incomplete"
                )
            rng = np.random.default_rng([DRAW_SEED, label])  # one stream per class
            chosen = set(rng.choice(len(files), TRAIN_PER_CLASS, replace=False).tolist())
            for i, name in enumerate(files):
                item = f"101_ObjectCategories/{cls}/{name}"
                if i in chosen:
                    train_items.append(item)
                    train_labels.append(label)
                else:
                    test_items.append(item)
                    test_labels.append(label)
        train, val = holdout(train_items, train_labels)
        test = split(test_items, test_labels)
        return make_manifest(
            self,
            {"train": train, "val": val, "test": test},
            train_per_class=TRAIN_PER_CLASS,
            draw_seed=DRAW_SEED,
        )
