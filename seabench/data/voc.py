"""PASCAL VOC 2007 as 20-way multi-label classification, official train / val / test.

torchvision only downloads it (VOCDetection gives boxes, not image labels).  The labels are
built from ``ImageSets/Main/<class>_<split>.txt``, where each image is marked 1 (present),
-1 (absent) or 0 ("difficult": present but only in hard instances).  Difficult counts as
negative, as in ssl-transfer and the 11-point mAP of the transfer literature, so an image whose
only objects are difficult has an all-zero label vector; it stays in the split.
"""

from __future__ import annotations

from seabench.data.base import register_dataset
from seabench.data.files import FileDataset, make_manifest, read_lines, split
from seabench.data.splits import SplitManifest
from seabench.errors import SeabenchError

CLASSES = (
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
)


@register_dataset
class VOC2007(FileDataset):
    name = "voc2007"
    num_classes = 20
    metric = "map11"
    multilabel = True
    val_source = "official"
    downloadable = True
    folder = "VOCdevkit/VOC2007"
    required = (
        "JPEGImages",
        "ImageSets/Main/train.txt",
        "ImageSets/Main/val.txt",
        "ImageSets/Main/test.txt",
    )
    layout = (
        "VOCdevkit/VOC2007/{JPEGImages/*.jpg, ImageSets/Main/{train,val,test}.txt, "
        "ImageSets/Main/<class>_{train,val,test}.txt} (the trainval and test archives "
        "extracted into the same folder)"
    )
    description = "PASCAL VOC 2007: 20 object classes, multi-label (difficult = negative)"
    sizes = "2,501 / 2,510 / 4,952"

    def fetch(self) -> None:
        from torchvision.datasets import VOCDetection

        for image_set in ("trainval", "test"):
            VOCDetection(str(self.root), year="2007", image_set=image_set, download=True)

    def build_manifest(self) -> SplitManifest:
        main = self.base / "ImageSets" / "Main"
        splits = {}
        for s in ("train", "val", "test"):
            ids = read_lines(main / f"{s}.txt")
            position = {image_id: i for i, image_id in enumerate(ids)}
            labels = [[0] * self.num_classes for _ in ids]
            for c, cls in enumerate(CLASSES):
                path = main / f"{cls}_{s}.txt"
                self.require(path.relative_to(self.base).as_posix())
                marked = set()
                for line in read_lines(path):
                    image_id, flag = line.split()
                    if image_id not in position:
                        raise SeabenchError(
                            f"voc2007: {path.name} lists image {image_id}, which is not in {s}.txt"
                        )
                    marked.add(image_id)
                    if int(flag) == 1:  # -1 absent, 0 difficult: both negative
                        labels[position[image_id]][c] = 1
                if len(marked) != len(position):
                    raise SeabenchError(
                        f"voc2007: {path.name} marks {len(marked)} of the "
                        f"{len(position)} images of {s}.txt; the copy is incomplete"
                    )
            splits[s] = split([f"JPEGImages/{i}.jpg" for i in ids], labels)
        return make_manifest(self, splits, difficult="negative", classes=list(CLASSES))
