"""A feature-cache entry: its key, its sidecar and the checks that make a damaged or stale
entry an error instead of numbers.

An entry's key hashes everything that changes the numbers (backbone identity and weights hash,
layout, pooling, transform, dataset, split-manifest hash, dtype, cache format).  An entry is a
directory ``<home>/features/<key>/`` holding ``features.safetensors`` (``{split}_x``,
``{split}_y``; ``{split}_x`` is (N, d), or (N, M, d) for an entry of M views per image),
``manifest.json`` and ``meta.json`` (the key's inputs, counts, a sha256 of the
tensors file, the seabench version and the wall time).  Its checksum is verified on every
read, and a damaged or stale entry raises :class:`CorruptEntry` instead of being used.

The sidecar itself carries ``meta_sha256``, a hash of its canonical JSON (every field but that
one), checked whenever it is read: the fields that drive numbers but are not key inputs (metric,
backbone_name, num_classes, multilabel, val_source, counts, dim) cannot be edited unnoticed.  An
entry written before sidecar hashes existed has none and is treated as stale: `seabench extract`
rebuilds it under the same key, so recorded rows still match it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from seabench._io import canonical_json, file_sha256
from seabench.backbones.names import spellings
from seabench.data.splits import SPLITS, SplitManifest
from seabench.errors import SeabenchError

if TYPE_CHECKING:  # torch loads with the tensors, so a missing entry is reported at once
    import torch

FORMAT_VERSION = 1
TENSORS = "features.safetensors"
PARTIAL = ".partial"
TMP_PREFIX = ".tmp-"
META_HASH = "meta_sha256"
REBUILD = "run the same `seabench extract` again to rebuild it"
#: ``FeatureCache.find(views=MULTI)``: any multi-view entry (rot4, flip2, crops5 ...)
MULTI = "multi"


def cache_key(inputs: dict) -> str:
    """The entry name: a hash of the key's inputs and the cache format version."""
    return hashlib.sha256(
        canonical_json({"format": FORMAT_VERSION, **inputs}).encode()
    ).hexdigest()[:20]


class CorruptEntry(SeabenchError):
    """A cache entry whose files do not match its sidecar (damaged, truncated or stale)."""


def sidecar_sha256(meta: dict) -> str:
    """The hash of a sidecar: its canonical JSON without the hash field itself."""
    return hashlib.sha256(
        canonical_json({k: v for k, v in meta.items() if k != META_HASH}).encode()
    ).hexdigest()


def seal(meta: dict) -> dict:
    """The sidecar with its ``meta_sha256`` (set last, over every other field)."""
    return {**meta, META_HASH: sidecar_sha256(meta)}


def check_sidecar(key: str, meta: dict) -> None:
    """Raise CorruptEntry unless the sidecar belongs to ``key`` and matches its own hash."""
    if meta.get("key") != key or cache_key(meta.get("inputs", {})) != key:
        raise CorruptEntry(
            f"cache entry {key} is stale (its key inputs hash to another key, or it was "
            f"written by another cache format); {REBUILD}"
        )
    if META_HASH not in meta:
        raise CorruptEntry(
            f"cache entry {key} is stale (written before sidecar checksums); {REBUILD}"
        )
    if meta[META_HASH] != sidecar_sha256(meta):
        raise CorruptEntry(
            f"cache entry {key} has a damaged meta.json (it does not match its checksum); {REBUILD}"
        )


@dataclass
class CacheEntry:
    key: str
    path: Path
    meta: dict

    @property
    def dataset(self) -> str:
        return self.meta["inputs"]["dataset"]["name"]

    @property
    def backbone(self) -> str:
        return self.meta["backbone_name"]

    @property
    def views(self) -> str:
        """The views mode (``none`` for single-view entries, older ones included); keyed."""
        return self.meta["inputs"].get("views", "none")

    @property
    def created_unix(self) -> float:
        """When the entry was committed (meta's timestamp; the sidecar's mtime for old entries)."""
        if "created_unix" in self.meta:
            return float(self.meta["created_unix"])
        return (self.path / "meta.json").stat().st_mtime

    def manifest(self) -> SplitManifest:
        return SplitManifest.load(self.path / "manifest.json")

    def verify(self, data: bytes | None = None) -> None:
        """Raise CorruptEntry if a file is missing, the checksum differs or the key is stale.

        ``data``: the tensors file's bytes when the caller has read them already.
        """
        rebuild = REBUILD
        check_sidecar(self.key, self.meta)
        tensors = self.path / TENSORS
        if data is None and not tensors.is_file():
            raise CorruptEntry(f"cache entry {self.key} has no tensors file; {rebuild}")
        digest = file_sha256(tensors) if data is None else hashlib.sha256(data).hexdigest()
        if digest != self.meta.get("sha256"):
            raise CorruptEntry(
                f"cache entry {self.key} is corrupted (checksum mismatch); {rebuild}"
            )
        try:
            manifest = self.manifest()
        except (OSError, ValueError, KeyError, SeabenchError) as exc:
            raise CorruptEntry(
                f"cache entry {self.key} has a damaged manifest.json; {rebuild}"
            ) from exc
        if manifest.hash != self.meta["inputs"].get("manifest"):
            raise CorruptEntry(
                f"cache entry {self.key}: manifest.json is not the keyed split; {rebuild}"
            )

    def load(self, verify: bool = True) -> dict[str, torch.Tensor]:
        """The tensors ``{split}_x`` / ``{split}_y``, checked against the sidecar first.

        The file is read once and the checked bytes are decoded (no memory map), so the tensors
        are exactly what was verified and do not change if the file does.
        """
        try:
            data = (self.path / TENSORS).read_bytes()
        except FileNotFoundError as exc:
            raise CorruptEntry(
                f"cache entry {self.key} has no tensors file; "
                "run the same `seabench extract` again to rebuild it"
            ) from exc
        if verify:
            self.verify(data)
        import safetensors.torch

        tensors = safetensors.torch.load(data)
        ndim = 2 if self.views == "none" else 3
        dim = self.meta.get("dim")
        for split, n in self.meta["counts"].items():
            x = tensors[f"{split}_x"]
            if (
                x.shape[0] != n
                or tensors[f"{split}_y"].shape[0] != n
                or x.ndim != ndim
                or (dim is not None and x.shape[-1] != dim)
            ):
                raise CorruptEntry(
                    f"cache entry {self.key}: {split} counts or shape differ from its meta"
                )
        return tensors

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.path.iterdir() if p.is_file())


@dataclass
class BrokenEntry:
    """A directory that looks like an entry but whose sidecar is unreadable, stale or damaged
    (``meta``: what it says, untrusted, when it parses)."""

    key: str
    path: Path
    reason: str
    meta: dict | None = None

    def may_be(self, dataset: str, backbone: str) -> bool:
        """Whether this could be the entry of a dataset and backbone (unknown: yes)."""
        if self.meta is None:
            return True

        def table(d: object, key: str) -> dict:  # untrusted: any field may be of any type
            value = d.get(key) if isinstance(d, dict) else None
            return value if isinstance(value, dict) else {}

        inputs = table(self.meta, "inputs")
        given = (self.meta.get("backbone_name"), table(inputs, "backbone").get("name"))
        names = {n for n in given if isinstance(n, str)}
        same_data = table(inputs, "dataset").get("name") == dataset
        return same_data and not names.isdisjoint(spellings(backbone))


def describe(entry: CacheEntry) -> dict:
    """One row for `seabench cache ls`: what the entry holds and what made it."""
    inputs = entry.meta.get("inputs", {})
    return {
        "key": entry.key,
        "dataset": entry.dataset,
        "backbone": entry.backbone,
        "size": inputs.get("transform", {}).get("size"),
        "dtype": inputs.get("dtype"),
        "views": inputs.get("views", "none"),
        "counts": "/".join(str(entry.meta["counts"].get(s, 0)) for s in SPLITS),
        "bytes": entry.size_bytes(),
        "created": entry.meta.get("created", ""),
        "weights": inputs.get("backbone", {}).get("weights_sha256", "")[:12]
        or str(inputs.get("backbone", {}).get("weights", "")),
    }
