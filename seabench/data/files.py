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
from seabench.data.pixels import require_regular_file, to_rgb, too_large
from seabench.data.splits import SplitManifest, stratified_split
from seabench.errors import DataNotFoundError, SeabenchError

#: seed of every 20% holdout validation split; changing it changes every such manifest's hash
HOLDOUT_SEED = 0
HOLDOUT_FRACTION = 0.2


class FileDataset(DatasetAdapter):
    """An adapter whose items are image files under ``root / folder``."""

    #: the dataset's folder under --data-root (torchvision's name for it)
    folder: ClassVar[str] = ""
    #: other folders a copy unpacked by hand may be in (tried after ``folder``)
    other_folders: ClassVar[tuple[str, ...]] = ()
    #: paths under the folder whose presence means the data is there; a tuple entry lists
    #: alternatives (the first is the one named when all are missing)
    required: ClassVar[tuple[str | tuple[str, ...], ...]] = ()
    #: whether the items live in one folder per class (checked for presence: partial copies)
    class_folders: ClassVar[bool] = False
    scaled_decode: ClassVar[bool] = True

    @property
    def base(self) -> Path:
        """The first candidate folder holding everything required, else the most complete of
        those that exist, else the canonical one."""
        candidates = [self.root / f for f in (self.folder, *self.other_folders)]
        return min(candidates, key=lambda b: (not b.is_dir(), len(self._absent(b))))

    def _absent(self, base: Path) -> list[Path]:
        if not base.is_dir():
            return [base]
        return [self._named(base, req) for req in self.required if self._find(base, req) is None]

    @staticmethod
    def _named(base: Path, req: str | tuple[str, ...]) -> Path:
        """The path to name for a missing requirement: of alternatives, the first whose folder
        exists (the copy's own layout: Kaggle's car_devkit/devkit/), else the first."""
        options = (req,) if isinstance(req, str) else req
        return next((base / r for r in options if (base / r).parent.is_dir()), base / options[0])

    @staticmethod
    def _find(base: Path, req: str | tuple[str, ...]) -> Path | None:
        for rel in (req,) if isinstance(req, str) else req:
            if (base / rel).exists():
                return base / rel
        return None

    def located(self, req: str | tuple[str, ...]) -> Path:
        """Where a required path (or the first of its alternatives found) is."""
        return self._find(self.base, req) or self.base / (req if isinstance(req, str) else req[0])

    def first_missing(self) -> Path | None:
        """The first missing file or folder, as high up the tree as it is missing."""
        absent = self._absent(self.base)
        if not absent:
            return None
        path = absent[0]
        for parent in reversed(path.relative_to(self.root).parents):
            if str(parent) != "." and not (self.root / parent).exists():
                return self.root / parent
        return path

    def is_available(self) -> bool:
        return not self._absent(self.base)

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
        first = self.first_missing()
        where = f"{first} is missing" if first is not None else "it is incomplete"
        if self.download and not self.downloadable:
            raise DataNotFoundError(
                f"{self.name} cannot be downloaded automatically; place {self.layout} "
                f"under {self.root} ({where})"
            )
        hint = " or pass --download" if self.downloadable else ""
        raise DataNotFoundError(
            f"{self.name} not found under {self.root}: {where}{self.missing_note()}; place "
            f"{self.layout}{hint}"
        )

    def class_location(self) -> str:
        return f"{self.base} as {self.layout}"

    def check_complete(self, m: SplitManifest) -> None:
        """Also: every folder the items live in exists and holds files (one stat per folder,
        so a partial copy is named before any model is loaded, not at its first missing image)."""
        super().check_complete(m)
        if not self.class_folders:
            self.check_files(m)
            return
        folders = sorted({str(PurePosixPath(str(i)).parent) for s in m.splits for i in m.items(s)})
        absent = [f for f in folders if not (self.base / f).is_dir()]
        empty = [f for f in folders if f not in absent and not any((self.base / f).iterdir())]
        if absent or empty:
            bad = (absent or empty)[0]
            raise self.incomplete(
                f"{len(absent) + len(empty)} of the {len(folders)} folders its lists name are "
                f"{'missing' if absent else 'empty'}, e.g. {self.base / bad}",
                self.base / PurePosixPath(bad).parent if "/" in bad else self.base,
            )
        self.check_files(m)

    def check_files(self, m: SplitManifest) -> None:
        """Every image the lists name is on disk: one directory listing per folder (not one stat
        per image), so a partial copy of a flat image folder (Pets, Flowers, Aircraft, Cars,
        VOC) is named before any model loads, not at its first missing image mid-extraction."""
        import os
        from collections import defaultdict

        if not self.scaled_decode:  # items opened from memory (CIFAR's arrays), not files
            return
        wanted: dict[str, list[str]] = defaultdict(list)
        for s in m.splits:
            for item in m.items(s):
                if isinstance(item, str):
                    folder, _, name = item.rpartition("/")
                    wanted[folder].append(name)
        lost: list[str] = []
        total = 0
        for folder, names in sorted(wanted.items()):
            total += len(names)
            try:
                present = set(os.listdir(self.base / folder))
            except OSError:
                present = set()
            lost += [f"{folder}/{n}" if folder else n for n in names if n not in present]
        if lost:
            first = self.base / PurePosixPath(lost[0])
            raise self.incomplete(
                f"{len(lost)} of the {total} images its lists name are missing, e.g. {first}",
                first.parent,
            )

    def missing_note(self) -> str:
        """Words added after the missing path (e.g. which archive holds it)."""
        return ""

    def incomplete(self, what: str, where: Path) -> SeabenchError:
        """The error for a partial copy: what is missing, and where the classes should be."""
        return SeabenchError(
            f"{self.name}: the copy looks incomplete: {what}; the classes should be under "
            f"{where} (the layout is {self.layout})"
        )

    def manifest(self) -> SplitManifest:
        if self._manifest is None:
            self.ensure()
        return super().manifest()

    def path(self, item: str | int) -> Path:
        return self.base / PurePosixPath(str(item))

    def open(self, item: str | int) -> Image.Image:
        return open_rgb(self.path(item), self.name)

    def open_scaled(self, item: str | int, min_side: int) -> Image.Image:
        if not self.scaled_decode:  # a subclass that opens items from memory
            return self.open(item)
        return open_rgb(self.path(item), self.name, min_side)

    def rel(self, path: str | Path) -> str:
        """A path under the dataset folder as a manifest item (POSIX, relative)."""
        try:
            return Path(path).relative_to(self.base).as_posix()
        except ValueError:
            return Path(path).resolve().relative_to(self.base.resolve()).as_posix()

    def require(self, *paths: str | tuple[str, ...]) -> None:
        """Raise DataNotFoundError naming the first of these files that is missing."""
        for p in paths:
            if self._find(self.base, p) is None:
                raise DataNotFoundError(
                    f"{self.name}: {self.located(p)} is missing; the layout is {self.layout}"
                )

    def identity(self) -> dict:
        return {"name": self.name}


def open_rgb(path: Path, dataset: str, min_side: int | None = None) -> Image.Image:
    """Open an image file and convert it to RGB (grey, CMYK and palette images all occur).

    ``min_side``: a JPEG is decoded by libjpeg at the smallest of its DCT scales (1/1, 1/2, 1/4,
    1/8) whose width and height are both still at least ``min_side`` (PIL's ``draft``), so a
    1024 x 768 photo resized to 256 px is decoded at 512 x 384: fewer pixels to decode and to
    resize.  Other formats ignore it.
    """
    require_regular_file(path, f"{dataset}: image")
    try:
        with Image.open(path) as im:
            if min_side is not None and im.format == "JPEG":
                im.draft("RGB", (min_side, min_side))
            return to_rgb(im)
    except Image.DecompressionBombError as exc:
        raise too_large(f"{dataset}: image {path}", exc) from exc
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
