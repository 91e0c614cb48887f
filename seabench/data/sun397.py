"""SUN397 partition 01: 50 train and 50 test images per class from Training_01.txt / Testing_01.txt.

torchvision's SUN397 has no partition (it loads all 108,754 images) and its download URL is
dead, so the official partition files are read here.  Val is a seeded 20% of the partition's
train images.
"""

from __future__ import annotations

import posixpath

from seabench.data.base import register_dataset
from seabench.data.files import FileDataset, holdout, make_manifest, read_lines, split
from seabench.data.splits import SplitManifest
from seabench.errors import DataNotFoundError, SeabenchError

PARTITION = "01"
PARTITION_FILES = (f"Training_{PARTITION}.txt", f"Testing_{PARTITION}.txt")


@register_dataset
class SUN397(FileDataset):
    name = "sun397"
    num_classes = 397
    folder = "SUN397"
    class_folders = True
    required = ("ClassName.txt", *((n, f"Partitions/{n}") for n in PARTITION_FILES))
    layout = (
        "SUN397/{ClassName.txt, <letter>/<class>/sun_*.jpg, Training_01.txt, "
        "Testing_01.txt} (the partition files from Partitions.zip, in SUN397/ or "
        "SUN397/Partitions/)"
    )
    description = "SUN397: 397 scene categories (partition 01)"
    sizes = "~15,880 / ~3,970 / 19,850"

    def _partition_file(self, name: str):
        for candidate in (self.base / name, self.base / "Partitions" / name):
            if candidate.is_file():
                return candidate
        raise DataNotFoundError(
            f"sun397: partition file {name} not found in {self.base} or "
            f"{self.base / 'Partitions'}; unzip the official Partitions.zip there"
        )

    def missing_note(self) -> str:
        first = self.first_missing()
        if first is not None and first.name in PARTITION_FILES:
            return f" (or in {self.base / 'Partitions'}: unzip the official Partitions.zip there)"
        return ""

    def build_manifest(self) -> SplitManifest:
        self.require(*self.required)
        classes = read_lines(self.base / "ClassName.txt")
        index = {c: i for i, c in enumerate(classes)}
        parts = {}
        for role, name in zip(("train", "test"), PARTITION_FILES, strict=True):
            items, labels = [], []
            for line in read_lines(self._partition_file(name)):
                cls = posixpath.dirname(line)
                if cls not in index:
                    raise SeabenchError(
                        f"sun397: {name} lists {line}, whose class {cls} is not in ClassName.txt"
                    )
                items.append(line.lstrip("/"))
                labels.append(index[cls])
            parts[role] = (items, labels)
        train, val = holdout(*parts["train"])
        test = split(*parts["test"])
        return make_manifest(self, {"train": train, "val": val, "test": test}, partition=PARTITION)
