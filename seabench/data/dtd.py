"""DTD (Describable Textures): partition 1 of the official train / val / test lists.

torchvision reads and downloads it, but numbers the classes of each split separately (the
sorted classes present in that split's list); here the label is the image's class folder's index
among all 47 folders under ``images/``, so every split uses the same numbering.
"""

from __future__ import annotations

from seabench.data.base import register_dataset
from seabench.data.files import FileDataset, make_manifest, split, torchvision_files
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
    required = ("images", f"labels/train{PARTITION}.txt", f"labels/test{PARTITION}.txt")
    layout = "dtd/dtd/{images/<class>/*.jpg, labels/{train,val,test}1.txt}"
    description = "Describable Textures: 47 texture classes (partition 1)"
    sizes = "1,880 / 1,880 / 1,880"

    def fetch(self) -> None:
        from torchvision.datasets import DTD as TorchvisionDTD

        TorchvisionDTD(str(self.root), download=True)

    def build_manifest(self) -> SplitManifest:
        from torchvision.datasets import DTD as TorchvisionDTD

        classes = sorted(p.name for p in (self.base / "images").iterdir() if p.is_dir())
        if len(classes) != self.num_classes:
            raise SeabenchError(
                f"dtd: {self.base / 'images'} holds {len(classes)} class folders, expected "
                f"{self.num_classes}; the copy is incomplete"
            )
        index = {c: i for i, c in enumerate(classes)}
        splits = {}
        for s in ("train", "val", "test"):
            paths, _ = torchvision_files(
                lambda s=s: TorchvisionDTD(str(self.root), split=s, partition=PARTITION), self.name
            )
            unknown = sorted({p.parent.name for p in paths} - set(index))
            if unknown:
                raise SeabenchError(
                    f"dtd: labels/{s}{PARTITION}.txt names class {unknown[0]!r}, "
                    "which has no folder under images/"
                )
            splits[s] = split([self.rel(p) for p in paths], [index[p.parent.name] for p in paths])
        return make_manifest(self, splits, partition=PARTITION)
