"""Datasets in the ImageFolder layout: ``imagefolder:PATH`` for any custom dataset, and MIT-67.

``PATH/{train,test}/<class>/*`` (and optionally ``val/<class>/*``) is read with torchvision's
``find_classes`` and listed in ``make_dataset``'s order (:mod:`seabench.data.folder_walk`, which
refuses symbolic-link loops); the classes are the folders of ``train/``.  Without
``val/``, a seeded, stratified 20% of train is held out as val.  MIT-67 is read from that layout
under ``mit67/``, or from its original distribution (``Images/`` with ``TrainImages.txt`` and
``TestImages.txt``).
"""

from __future__ import annotations

from pathlib import Path

from seabench.data.base import register_dataset, register_prefix
from seabench.data.files import FileDataset, holdout, make_manifest, read_lines, split
from seabench.data.folder_walk import class_images
from seabench.data.splits import SplitManifest
from seabench.errors import DataNotFoundError, SeabenchError

FOLDER_LAYOUT = "train/<class>/*.jpg, test/<class>/*.jpg and optionally val/<class>/*.jpg"


def read_image_folders(adapter: FileDataset) -> tuple[dict[str, dict], list[str], str]:
    """(splits, classes, val source) of ``adapter.base/{train,val,test}/<class>/*``."""
    from torchvision.datasets.folder import IMG_EXTENSIONS, find_classes

    base = adapter.base
    adapter.require("train", "test")
    try:
        classes, class_to_idx = find_classes(base / "train")
    except FileNotFoundError as exc:
        raise DataNotFoundError(
            f"{adapter.name}: no class folders in {base / 'train'}; the layout is {FOLDER_LAYOUT}"
        ) from exc
    has_val = (base / "val").is_dir()
    read = {}
    for s in ("train", "val", "test") if has_val else ("train", "test"):
        extra = sorted(
            p.name for p in (base / s).iterdir() if p.is_dir() and p.name not in class_to_idx
        )
        if extra:
            raise SeabenchError(
                f"{adapter.name}: {base / s / extra[0]} is a class that train/ "
                "does not have; every class needs training images"
            )
        try:
            samples = class_images(base / s, class_to_idx, IMG_EXTENSIONS, adapter.name)
        except FileNotFoundError as exc:
            raise adapter.incomplete(
                f"{s}/ has no image of some classes ({str(exc).strip().rstrip('.')})",
                base / s,
            ) from exc
        read[s] = ([adapter.rel(p) for p, _ in samples], [c for _, c in samples])
    if has_val:
        splits = {s: split(*read[s]) for s in ("train", "val", "test")}
    else:
        train, val = holdout(*read["train"])
        splits = {"train": train, "val": val, "test": split(*read["test"])}
    return splits, classes, "official" if has_val else "holdout20"


class ImageFolderDataset(FileDataset):
    """A user's dataset in the ImageFolder layout, named ``imagefolder:PATH``."""

    name = "imagefolder"
    num_classes = 0  # known once the folders are read
    class_folders = True
    layout = FOLDER_LAYOUT
    description = "any dataset with train/ (val/) test/ class folders: imagefolder:PATH"
    sizes = "yours (val: val/ or 20% of train)"

    def __init__(self, path: str, root: str | Path | None = None, download: bool = False):
        super().__init__(root, download)
        self.name = f"imagefolder:{path}"
        given = Path(path).expanduser()
        if not given.is_absolute() and not given.exists() and (self.root / given).exists():
            given = self.root / given  # a relative PATH may also be under --data-root
        self._base = given

    @property
    def base(self) -> Path:
        return self._base

    def is_available(self) -> bool:
        return (self._base / "train").is_dir() and (self._base / "test").is_dir()

    def missing(self) -> None:
        first = next(
            (p for p in (self._base, self._base / "train", self._base / "test") if not p.is_dir()),
            None,
        )
        raise DataNotFoundError(
            f"{self.name}: {self._base} must hold {FOLDER_LAYOUT}"
            + (f" ({first} does not exist)" if first is not None else "")
        )

    def build_manifest(self) -> SplitManifest:
        splits, classes, val_source = read_image_folders(self)
        self.num_classes, self.val_source = len(classes), val_source
        return make_manifest(self, splits, classes=classes)

    def identity(self) -> dict:
        return {"name": self.name, "path": str(self._base.resolve())}


@register_prefix("imagefolder")
def _imagefolder(path: str, root: Path | None, download: bool) -> ImageFolderDataset:
    if not path:
        raise SeabenchError("imagefolder: needs a folder, e.g. --dataset imagefolder:~/data/birds")
    return ImageFolderDataset(path, root, download)


@register_dataset
class MIT67(FileDataset):
    """MIT Indoor-67 (the AugSelf variant's 11th dataset), 67 scene classes."""

    name = "mit67"
    num_classes = 67
    folder = "mit67"
    class_folders = True
    layout = (
        "mit67/{train,test}/<class>/*.jpg (ImageFolder; val/ optional), or mit67/{Images/"
        "<class>/*.jpg, TrainImages.txt, TestImages.txt} as distributed"
    )
    description = "MIT Indoor-67: 67 indoor scene classes"
    sizes = "~4,288 / ~1,072 / 1,340"

    def is_available(self) -> bool:
        b = self.base
        return ((b / "train").is_dir() and (b / "test").is_dir()) or (
            (b / "Images").is_dir()
            and (b / "TrainImages.txt").is_file()
            and (b / "TestImages.txt").is_file()
        )

    def build_manifest(self) -> SplitManifest:
        if (self.base / "train").is_dir():
            splits, classes, self.val_source = read_image_folders(self)
            if len(classes) != self.num_classes:
                raise SeabenchError(
                    f"mit67: {self.base / 'train'} holds {len(classes)} class "
                    f"folders, expected {self.num_classes}"
                )
            return make_manifest(self, splits)
        classes = sorted(p.name for p in (self.base / "Images").iterdir() if p.is_dir())
        if len(classes) != self.num_classes:
            raise SeabenchError(
                f"mit67: {self.base / 'Images'} holds {len(classes)} class "
                f"folders, expected {self.num_classes}"
            )
        index = {c: i for i, c in enumerate(classes)}
        parts = {}
        for role, listing in (("train", "TrainImages.txt"), ("test", "TestImages.txt")):
            lines = read_lines(self.base / listing)
            unknown = [line for line in lines if line.split("/")[0] not in index]
            if unknown:
                raise SeabenchError(
                    f"mit67: {listing} lists {unknown[0]}, whose class has no folder under Images/"
                )
            parts[role] = (
                [f"Images/{line}" for line in lines],
                [index[line.split("/")[0]] for line in lines],
            )
        train, val = holdout(*parts["train"])
        return make_manifest(self, {"train": train, "val": val, "test": split(*parts["test"])})
