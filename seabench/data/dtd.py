"""DTD (Describable Textures): partition 1 of the official train / val / test lists.

The archive unpacks to ``dtd/{images,labels,imdb}``; torchvision's download puts that under
``dtd/dtd/``.  Both are read.  The lists are read here (torchvision numbers the classes of each
split separately, the sorted classes present in that split's list); the label is the image's
class folder's index among all 47 folders under ``images/``, so every split uses the same
numbering.
"""

from __future__ import annotations

from seabench.data.base import register_dataset
from seabench.data.files import FileDataset, make_manifest, read_lines, split
from seabench.data.splits import SplitManifest
from seabench.errors import SeabenchError

PARTITION = 1


@register_dataset
class DTD(FileDataset):
    name = "dtd"
    num_classes = 47
    val_source = "official"
    downloadable = True
    folder = "dtd/dtd"
    other_folders = ("dtd",)
    class_folders = True
    required = (
        "images",
        f"labels/train{PARTITION}.txt",
        f"labels/val{PARTITION}.txt",
        f"labels/test{PARTITION}.txt",
    )
    layout = (
        "dtd/{images/<class>/*.jpg, labels/{train,val,test}1.txt} as the archive unpacks "
        "(or dtd/dtd/... as torchvision downloads it)"
    )
    description = "Describable Textures: 47 texture classes (partition 1)"
    sizes = "1,880 / 1,880 / 1,880"

    def fetch(self) -> None:
        from torchvision.datasets import DTD as TorchvisionDTD

        TorchvisionDTD(str(self.root), download=True)

    def class_location(self) -> str:
        return f"{self.base / 'images'}/<class>/ (47 folders)"

    def build_manifest(self) -> SplitManifest:
        images = self.base / "images"
        classes = sorted(p.name for p in images.iterdir() if p.is_dir())
        if len(classes) != self.num_classes:
            raise self.incomplete(
                f"{images} holds {len(classes)} class folders, expected {self.num_classes}",
                images,
            )
        index = {c: i for i, c in enumerate(classes)}
        splits = {}
        for s in ("train", "val", "test"):
            rows = read_lines(self.base / "labels" / f"{s}{PARTITION}.txt")
            unknown = sorted({r.split("/")[0] for r in rows} - set(index))
            if unknown:
                raise SeabenchError(
                    f"dtd: labels/{s}{PARTITION}.txt names class {unknown[0]!r}, "
                    f"which has no folder under {images}; the copy looks incomplete"
                )
            splits[s] = split([f"images/{r}" for r in rows], [index[r.split("/")[0]] for r in rows])
        return make_manifest(self, splits, partition=PARTITION)
