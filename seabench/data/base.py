"""The dataset adapter interface and registry.

An adapter knows one dataset's on-disk layout: it builds the split manifest (which items are in
train / val / test, with labels) and opens one item as an RGB PIL image.  Everything downstream
(extraction, caching, probing) works from the manifest, never from the adapter's own ordering.
"""

from __future__ import annotations

import difflib
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from PIL import Image

from seabench.data.splits import SplitManifest
from seabench.errors import DataNotFoundError, SeabenchError


class DatasetAdapter(ABC):
    name: ClassVar[str]
    num_classes: ClassVar[int]
    metric: ClassVar[str] = "top1"
    multilabel: ClassVar[bool] = False
    val_source: ClassVar[str] = "holdout20"
    #: what the user must place under --data-root; shown when the data is missing
    layout: ClassVar[str] = ""
    #: whether --download can fetch it with torchvision
    downloadable: ClassVar[bool] = False
    #: one line for `seabench datasets`
    description: ClassVar[str] = ""
    #: split sizes of the literature protocol (train / val / test), for `seabench datasets`
    sizes: ClassVar[str] = ""
    #: whether ``open_scaled`` decodes image files at a reduced scale (JPEG DCT scaling); the
    #: features then differ slightly from a full-size decode, so the cache key says so
    scaled_decode: ClassVar[bool] = False

    def __init__(self, root: str | Path | None = None, download: bool = False):
        self.root = Path(root).expanduser() if root is not None else Path("data")
        self.download = download
        self._manifest: SplitManifest | None = None

    @abstractmethod
    def build_manifest(self) -> SplitManifest:
        """Read the on-disk layout and return the split manifest (not yet checked)."""

    @abstractmethod
    def open(self, item: str | int) -> Image.Image:
        """One item of the manifest as an RGB image."""

    def open_scaled(self, item: str | int, min_side: int) -> Image.Image:
        """The item as RGB, decoded at the smallest scale whose both sides are still at least
        ``min_side`` where the format allows it (only when ``scaled_decode``); else ``open``."""
        return self.open(item)

    def is_available(self) -> bool:
        """Whether the data is present under the root (cheap: no full scan)."""
        return True

    def manifest(self) -> SplitManifest:
        if self._manifest is None:
            if not self.is_available() and not self.download:
                self.missing()
            m = self.build_manifest()
            self.check_complete(m)
            m.check()
            self._manifest = m
        return self._manifest

    def class_location(self) -> str:
        """Where the images of every class should be, in words (for partial copies)."""
        return f"{self.root} as {self.layout}"

    def check_complete(self, m: SplitManifest) -> None:
        """A split without any image of some class means a partial copy: say so, and where."""
        for split in m.splits:
            absent = sorted(set(range(m.num_classes)) - m._present_classes(split))
            if absent:
                names = m.notes.get("classes")
                shown = [names[i] if names else str(i) for i in absent[:3]]
                raise SeabenchError(
                    f"{self.name}: the copy looks incomplete: its {split} split has no image of "
                    f"{len(absent)} of the {m.num_classes} classes ({', '.join(shown)}"
                    f"{' ...' if len(absent) > 3 else ''}); the images of every class should be "
                    f"in {self.class_location()}"
                )

    def missing(self) -> None:
        hint = " or pass --download" if self.downloadable else ""
        raise DataNotFoundError(
            f"{self.name} not found under {self.root}: place {self.layout}{hint}"
        )

    def identity(self) -> dict:
        """What of the dataset goes into the feature-cache key (besides the manifest hash)."""
        return {"name": self.name}


DATASETS: dict[str, type[DatasetAdapter]] = {}
_PREFIXED: dict[str, Callable[[str, Path | None, bool], DatasetAdapter]] = {}


def register_dataset(cls: type[DatasetAdapter]) -> type[DatasetAdapter]:
    DATASETS[cls.name] = cls
    return cls


def register_prefix(prefix: str):
    """Register a factory for names like ``prefix:ARG`` (e.g. ``imagefolder:/data/birds``)."""

    def deco(fn):
        _PREFIXED[prefix] = fn
        return fn

    return deco


#: names the literature and the original archives use, for the registry's names
ALIASES = {
    "food101": "food",
    "food-101": "food",
    "caltech-101": "caltech101",
    "caltech": "caltech101",
    "stanford_cars": "cars",
    "stanfordcars": "cars",
    "cars196": "cars",
    "fgvc_aircraft": "aircraft",
    "fgvc-aircraft": "aircraft",
    "fgvcaircraft": "aircraft",
    "flowers102": "flowers",
    "flowers-102": "flowers",
    "oxford_flowers102": "flowers",
    "pets37": "pets",
    "oxford_pets": "pets",
    "oxford-iiit-pet": "pets",
    "oxfordiiitpet": "pets",
    "cifar-10": "cifar10",
    "cifar-100": "cifar100",
    "sun": "sun397",
    "voc07": "voc2007",
    "voc": "voc2007",
    "pascal_voc2007": "voc2007",
    "mit_indoor67": "mit67",
    "mitindoor67": "mit67",
    "indoor67": "mit67",
    "describabletextures": "dtd",
    "oxfordflowers": "flowers",
    "pascalvoc2007": "voc2007",
    "fgvcaircraft2013b": "aircraft",
}


def _squash(name: str) -> str:
    """``Oxford-IIIT_Pet`` -> ``oxfordiiitpet``: spellings differ in case and separators only."""
    return "".join(c for c in name.lower() if c not in "-_ .")


def canonical_name(name: str) -> str:
    """The registry name of ``name`` (case-insensitive; literature names are aliases)."""
    if ":" in name:
        return name
    low = name.lower()
    if low in DATASETS:
        return low
    known = {_squash(k): v for k, v in ALIASES.items()} | {_squash(k): k for k in DATASETS}
    return known.get(_squash(name), name)


def get_dataset(
    name: str, root: str | Path | None = None, download: bool = False
) -> DatasetAdapter:
    name = canonical_name(name)
    if ":" in name:
        prefix, arg = name.split(":", 1)
        if prefix in _PREFIXED:
            return _PREFIXED[prefix](arg, root, download)
    if name not in DATASETS:
        known = ", ".join(sorted(DATASETS)) + (
            ", " + ", ".join(f"{p}:PATH" for p in _PREFIXED) if _PREFIXED else ""
        )
        close = difflib.get_close_matches(name.lower(), [*DATASETS, *ALIASES], n=2, cutoff=0.6)
        near = f" (did you mean {' or '.join(close)}?)" if close else ""
        raise SeabenchError(
            f"unknown dataset {name!r}{near}; known datasets: {known} (see `seabench datasets`)"
        )
    return DATASETS[name](root, download)
