"""The fine-grained datasets: Aircraft, Stanford Cars, Flowers-102, Food-101, Oxford-IIIT Pets.

torchvision reads the official split lists of Aircraft, Cars, Food and Pets and downloads all but
Cars; Flowers is read here with scipy because torchvision's reader refuses ``.mat`` files whose
md5 differs from the original's.  Official val splits: Aircraft, Flowers; the others hold out a
seeded, stratified 20% of train as val.
"""

from __future__ import annotations

from pathlib import Path

from seabench.data.base import register_dataset
from seabench.data.files import FileDataset, holdout, make_manifest, split, torchvision_files
from seabench.data.splits import SplitManifest
from seabench.errors import SeabenchError


class _TorchvisionLists(FileDataset):
    """An adapter whose splits come from a torchvision class reading the official lists."""

    def _read(self, **kwargs) -> tuple[list[str], list[int]]:
        cls = self._torchvision_class()
        paths, labels = torchvision_files(lambda: cls(str(self.root), **kwargs), self.name)
        return [self.rel(p) for p in paths], labels

    def _torchvision_class(self):
        raise NotImplementedError

    def fetch(self) -> None:
        self._torchvision_class()(str(self.root), download=True)


@register_dataset
class Aircraft(_TorchvisionLists):
    """FGVC-Aircraft 2013b at the variant level (100 classes), official train / val / test."""

    name = "aircraft"
    num_classes = 100
    metric = "mean_per_class"
    val_source = "official"
    downloadable = True
    folder = "fgvc-aircraft-2013b"
    required = (
        "data/images",
        "data/variants.txt",
        *(f"data/images_variant_{s}.txt" for s in ("train", "val", "test")),
    )
    layout = (
        "fgvc-aircraft-2013b/data/{images/*.jpg, variants.txt, images_variant_{train,val,test}.txt}"
    )
    description = "FGVC-Aircraft: 100 aircraft variants"
    sizes = "3,334 / 3,333 / 3,333"

    def _torchvision_class(self):
        from torchvision.datasets import FGVCAircraft

        return FGVCAircraft

    def build_manifest(self) -> SplitManifest:
        splits = {
            s: split(*self._read(split=s, annotation_level="variant"))
            for s in ("train", "val", "test")
        }
        return make_manifest(self, splits, annotation_level="variant")


TEST_ANNOS = "cars_test_annos_withlabels.mat"
#: where the devkit is: car_devkit.tgz unpacks to devkit/, the Kaggle mirror has car_devkit/devkit/
DEVKITS = ("devkit", "car_devkit/devkit")
TRAIN_ANNOS = tuple(f"{d}/cars_train_annos.mat" for d in DEVKITS)
TEST_ANNOS_AT = (TEST_ANNOS, *(f"{d}/{TEST_ANNOS}" for d in DEVKITS))


@register_dataset
class Cars(FileDataset):
    """Stanford Cars (196 classes); the original host is gone, so it cannot be downloaded.

    Read here (as torchvision's StanfordCars reads it: ``annotations`` of the .mat files, 1-based
    ``class``, ``fname`` under ``cars_{split}/``), so that the copies users actually have work:
    the Kaggle mirror's nested ``cars_train/cars_train/`` and ``car_devkit/devkit/``, and the
    labelled test annotations
    (a separate download, not part of the devkit) beside ``devkit/`` or inside it.
    """

    name = "cars"
    num_classes = 196
    folder = "stanford_cars"
    required = (
        tuple(f"{d}/cars_meta.mat" for d in DEVKITS),
        TRAIN_ANNOS,
        ("cars_train/cars_train", "cars_train"),
        ("cars_test/cars_test", "cars_test"),
        TEST_ANNOS_AT,
    )
    layout = (
        "stanford_cars/{devkit/cars_meta.mat, devkit/cars_train_annos.mat, cars_train/, "
        f"cars_test/, {TEST_ANNOS}}} (images from a mirror, also nested as "
        "cars_train/cars_train/, the devkit also as the Kaggle mirror's car_devkit/devkit/; "
        f"{TEST_ANNOS} is a separate download, not part of the devkit, and may also sit in "
        "devkit/)"
    )
    description = "Stanford Cars: 196 car models"
    sizes = "~6,515 / ~1,629 / 8,041"

    def missing_note(self) -> str:
        first = self.first_missing()
        if first is not None and first.name == TEST_ANNOS:
            return (
                f" (the labelled test annotations are a separate download, not part of the "
                f"devkit; put {TEST_ANNOS} in {self.base} or {self.base / 'devkit'})"
            )
        return ""

    def images(self, split_name: str) -> Path:
        return self.located((f"cars_{split_name}/cars_{split_name}", f"cars_{split_name}"))

    def class_location(self) -> str:
        return f"{self.images('train')} and {self.images('test')} (the annotations' fname)"

    def _read(self, split_name: str) -> tuple[list[str], list[int]]:
        from scipy.io import loadmat

        mat = self.located(TRAIN_ANNOS if split_name == "train" else TEST_ANNOS_AT)
        try:
            annotations = loadmat(mat, squeeze_me=True)["annotations"]
        except (OSError, ValueError, KeyError) as exc:
            raise SeabenchError(f"cars: cannot read {mat}: {exc}") from exc
        if "class" not in (annotations.dtype.names or ()):
            raise SeabenchError(
                f"cars: {mat} has no class labels (the unlabelled cars_test_annos.mat?); "
                f"the test split needs {TEST_ANNOS}"
            )
        folder = self.images(split_name)
        items = [self.rel(folder / str(a["fname"])) for a in annotations]
        return items, [int(a["class"]) - 1 for a in annotations]

    def build_manifest(self) -> SplitManifest:
        train, val = holdout(*self._read("train"))
        test = split(*self._read("test"))
        return make_manifest(self, {"train": train, "val": val, "test": test})


@register_dataset
class Food(_TorchvisionLists):
    name = "food"
    num_classes = 101
    downloadable = True
    folder = "food-101"
    class_folders = True
    required = ("images", "meta/train.json", "meta/test.json")
    layout = "food-101/{images/<class>/*.jpg, meta/train.json, meta/test.json}"
    description = "Food-101: 101 dishes"
    sizes = "60,600 / 15,150 / 25,250"

    def _torchvision_class(self):
        from torchvision.datasets import Food101

        return Food101

    def build_manifest(self) -> SplitManifest:
        train, val = holdout(*self._read(split="train"))
        test = split(*self._read(split="test"))
        return make_manifest(self, {"train": train, "val": val, "test": test})


@register_dataset
class Pets(_TorchvisionLists):
    name = "pets"
    num_classes = 37
    metric = "mean_per_class"
    downloadable = True
    folder = "oxford-iiit-pet"
    required = ("images", "annotations/trainval.txt", "annotations/test.txt")
    layout = "oxford-iiit-pet/{images/*.jpg, annotations/trainval.txt, annotations/test.txt}"
    description = "Oxford-IIIT Pets: 37 cat and dog breeds"
    sizes = "~2,944 / ~736 / 3,669"

    def _torchvision_class(self):
        from torchvision.datasets import OxfordIIITPet

        return OxfordIIITPet

    def build_manifest(self) -> SplitManifest:
        train, val = holdout(*self._read(split="trainval"))
        test = split(*self._read(split="test"))
        return make_manifest(self, {"train": train, "val": val, "test": test})


@register_dataset
class Flowers(FileDataset):
    """Oxford Flowers-102: official train / val / test from setid.mat, labels imagelabels.mat."""

    name = "flowers"
    num_classes = 102
    metric = "mean_per_class"
    val_source = "official"
    downloadable = True
    folder = "flowers-102"
    required = ("jpg", "imagelabels.mat", "setid.mat")
    layout = "flowers-102/{jpg/image_%05d.jpg, imagelabels.mat, setid.mat}"
    description = "Oxford Flowers-102: 102 flower species"
    sizes = "1,020 / 1,020 / 6,149"

    def fetch(self) -> None:
        from torchvision.datasets import Flowers102

        Flowers102(str(self.root), download=True)

    def build_manifest(self) -> SplitManifest:
        from scipy.io import loadmat

        labels = loadmat(self.base / "imagelabels.mat", squeeze_me=True)["labels"]
        label_of = {i: int(v) - 1 for i, v in enumerate(labels.ravel().tolist(), 1)}
        setid = loadmat(self.base / "setid.mat", squeeze_me=True)
        splits = {}
        for name, key in (("train", "trnid"), ("val", "valid"), ("test", "tstid")):
            ids = [int(i) for i in setid[key].ravel().tolist()]
            unknown = [i for i in ids if i not in label_of]
            if unknown:
                raise SeabenchError(
                    f"flowers: setid.mat lists image {unknown[0]} that imagelabels.mat has no "
                    "label for; the two files come from different copies"
                )
            splits[name] = split(
                [f"jpg/image_{i:05d}.jpg" for i in ids], [label_of[i] for i in ids]
            )
        return make_manifest(self, splits)
