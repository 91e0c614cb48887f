"""Shared machinery of the on-disk datasets: presence checks, downloads, holdout val, RGB opening.

Every on-disk dataset lives in one folder under ``--data-root`` (the folder torchvision uses, so
a root already filled by torchvision works as is).  Manifest items are POSIX paths relative to
that folder, so a manifest (and its hash) does not depend on where the data root is mounted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath
from typing import ClassVar

from PIL import Image

from seabench.data.base import DatasetAdapter
from seabench.data.splits import SplitManifest, stratified_split
from seabench.errors import DataNotFoundError, SeabenchError

#: seed of every 20% holdout validation split; changing it changes every such manifest's hash
HOLDOUT_SEED = 0
HOLDOUT_FRACTION = 0.2


class FileDataset(DatasetAdapter):
    """An adapter whose items are image files under ``root / folder``."""

    #: the dataset's folder under --data-root (torchvision's name for it)
    folder: ClassVar[str] = ""
    #: paths under the folder whose presence means the data is there
    required: ClassVar[tuple[str, ...]] = ()

    @property
    def base(self) -> Path:
        return self.root / self.folder

    def is_available(self) -> bool:
        return self.base.is_dir() and all((self.base / p).exists() for p in self.required)

    def fetch(self) -> None:
        """Download with torchvision (only called for downloadable datasets)."""
        raise NotImplementedError

    def ensure(self) -> None:
        """Download when asked and possible; raise DataNotFoundError naming the layout if absent."""
        if self.is_available():
            return
        if self.download and self.downloadable:
            self.root.mkdir(parents=True, exist_ok=True)
            try:
                self.fetch()
            except Exception as exc:  # network, checksum or host errors all mean the same here
                raise DataNotFoundError(
                    f"downloading {self.name} failed ({type(exc).__name__}: {exc}); place "
                    f"{self.layout} under {self.root} by hand"
                ) from exc
        if not self.is_available():
            self.missing()

    def missing(self) -> None:
        if self.download and not self.downloadable:
            raise DataNotFoundError(
                f"{self.name} cannot be downloaded automatically; place {self.layout} "
                f"under {self.root}"
            )
        super().missing()

    def manifest(self) -> SplitManifest:
        if self._manifest is None:
            self.ensure()
        return super().manifest()

    def path(self, item: str | int) -> Path:
        return self.base / PurePosixPath(str(item))

    def open(self, item: str | int) -> Image.Image:
        return open_rgb(self.path(item), self.name)

    def rel(self, path: str | Path) -> str:
        """A path under the dataset folder as a manifest item (POSIX, relative)."""
        try:
            return Path(path).relative_to(self.base).as_posix()
        except ValueError:
            return Path(path).resolve().relative_to(self.base.resolve()).as_posix()

    def require(self, *paths: str) -> None:
        """Raise DataNotFoundError naming the first of these files that is missing."""
        for p in paths:
            if not (self.base / p).exists():
                raise DataNotFoundError(
                    f"{self.name}: {self.base / p} is missing; the layout is {self.layout}"
                )

    def identity(self) -> dict:
        return {"name": self.name}


def open_rgb(path: Path, dataset: str) -> Image.Image:
    """Open an image file and convert it to RGB (grey, CMYK and palette images all occur)."""
    try:
        with Image.open(path) as im:
            return im.convert("RGB")
    except FileNotFoundError as exc:
        raise DataNotFoundError(
            f"{dataset}: image {path} is missing; the dataset folder is incomplete"
        ) from exc
    except OSError as exc:
        raise SeabenchError(f"{dataset}: cannot read image {path}: {exc}") from exc


def read_lines(path: Path) -> list[str]:
    """Non-empty stripped lines of a text file."""
    with open(path, encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip()]


def split(items: Sequence, labels: Sequence) -> dict[str, list]:
    return {"items": list(items), "labels": list(labels)}


def holdout(items: Sequence[str], labels: Sequence[int]) -> tuple[dict, dict]:
    """(train, val): a seeded, stratified 20% of each class held out as val.

    Items are sorted first, so the split depends only on the set of files, not on the order a
    file system or metadata file lists them in.
    """
    order = sorted(range(len(items)), key=lambda i: str(items[i]))
    items = [items[i] for i in order]
    labels = [labels[i] for i in order]
    keep, held = stratified_split(labels, HOLDOUT_FRACTION, HOLDOUT_SEED)
    return (
        split([items[i] for i in keep], [labels[i] for i in keep]),
        split([items[i] for i in held], [labels[i] for i in held]),
    )


def make_manifest(adapter: DatasetAdapter, splits: dict[str, dict], **notes) -> SplitManifest:
    if adapter.val_source == "holdout20":
        notes = {"holdout_seed": HOLDOUT_SEED, "holdout_fraction": HOLDOUT_FRACTION, **notes}
    return SplitManifest(
        adapter.name, adapter.num_classes, splits, adapter.multilabel, adapter.val_source, notes
    )


def torchvision_files(make: Callable[[], object], dataset: str) -> tuple[list[Path], list[int]]:
    """(image paths, labels) that a torchvision dataset object read from the official lists.

    torchvision keeps them in private attributes (``_image_files``/``_labels``, ``_images``, or
    ``_samples``); a torchvision release that renames them gives a clear error, not wrong data.
    """
    try:
        ds = make()
    except (RuntimeError, FileNotFoundError, KeyError, ValueError) as exc:
        raise DataNotFoundError(
            f"{dataset}: torchvision could not read the dataset: {exc}"
        ) from exc
    if hasattr(ds, "_samples"):
        paths, labels = zip(*ds._samples, strict=True) if ds._samples else ((), ())
    else:
        files = getattr(ds, "_image_files", None)
        if files is None:
            files = getattr(ds, "_images", None)
        labels = getattr(ds, "_labels", None)
        if files is None or labels is None:
            raise SeabenchError(
                f"{dataset}: this torchvision release stores {type(ds).__name__}'s file list "
                "differently; install the pinned torchvision (0.29)"
            )
        paths = files
    return [Path(p) for p in paths], [int(v) for v in labels]
