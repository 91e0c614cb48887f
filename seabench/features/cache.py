"""The content-addressed feature cache.

An entry's key hashes everything that changes the numbers (backbone identity and weights hash,
layout, pooling, transform, dataset, split-manifest hash, dtype, cache format).  An entry is a
directory ``<home>/features/<key>/`` holding ``features.safetensors`` (``{split}_x``,
``{split}_y``; ``{split}_x`` is (N, d), or (N, M, d) for an entry of M views per image),
``manifest.json`` and ``meta.json`` (the key's inputs, counts, a sha256 of the
tensors file, the seabench version and the wall time).  It appears by an atomic rename of a
finished temp directory, so a reader never sees half of one; its checksum is verified on every
read, and a damaged or stale entry raises :class:`CorruptEntry` instead of being used.

The sidecar itself carries ``meta_sha256``, a hash of its canonical JSON (every field but that
one), checked whenever it is read: the fields that drive numbers but are not key inputs (metric,
backbone_name, num_classes, multilabel, val_source, counts, dim) cannot be edited unnoticed.  An
entry written before sidecar hashes existed has none and is treated as stale: `seabench extract`
rebuilds it under the same key, so recorded rows still match it.

Beside the entries live ``<key>.partial/`` (the finished chunks of an unfinished extraction) and
``.locks/<key>.lock`` (one extraction of a key at a time).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from filelock import FileLock, Timeout

from seabench._io import atomic_write_json, canonical_json, file_sha256
from seabench.backbones.names import spellings
from seabench.data.splits import SPLITS, SplitManifest
from seabench.errors import DataNotFoundError, SeabenchError

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
        inputs = self.meta.get("inputs") or {}
        names = {self.meta.get("backbone_name"), (inputs.get("backbone") or {}).get("name")}
        return (inputs.get("dataset") or {}).get("name") == dataset and backbone in names


class FeatureCache:
    def __init__(self, directory: Path):
        self.directory = Path(directory)

    def entry_path(self, key: str) -> Path:
        return self.directory / key

    def partial_path(self, key: str) -> Path:
        return self.directory / f"{key}{PARTIAL}"

    def lock_path(self, key: str) -> Path:
        return self.directory / ".locks" / f"{key}.lock"

    @contextmanager
    def lock(self, key: str, timeout: float = -1) -> Iterator[None]:
        """Hold the key's file lock: one extraction of a key at a time, across processes."""
        path = self.lock_path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(path), timeout=timeout):
            yield

    def read_meta(self, key: str) -> dict | None:
        """The sidecar as it parses, unchecked (None: there is none)."""
        meta_path = self.entry_path(key) / "meta.json"
        if not meta_path.is_file():
            return None
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            if not isinstance(meta, dict) or "inputs" not in meta or "counts" not in meta:
                raise ValueError("not a sidecar")
        except (ValueError, UnicodeDecodeError) as exc:
            raise CorruptEntry(f"cache entry {key} has an unreadable meta.json; {REBUILD}") from exc
        return meta

    def get(self, key: str) -> CacheEntry | None:
        """The committed entry of a key, its sidecar checked (key and hash); None if absent."""
        meta = self.read_meta(key)
        if meta is None:
            return None
        check_sidecar(key, meta)
        return CacheEntry(key, self.entry_path(key), meta)

    def scan(self) -> tuple[list[CacheEntry], list[BrokenEntry]]:
        """Every committed entry, and the entry directories whose sidecar is unreadable."""
        entries: list[CacheEntry] = []
        broken: list[BrokenEntry] = []
        if not self.directory.is_dir():
            return entries, broken
        for p in sorted(self.directory.iterdir()):
            if not p.is_dir() or p.name.endswith(PARTIAL) or p.name.startswith("."):
                continue
            try:
                entry = self.get(p.name)
            except CorruptEntry as exc:
                try:
                    meta = self.read_meta(p.name)
                except CorruptEntry:
                    meta = None
                broken.append(BrokenEntry(p.name, p, str(exc), meta))
                continue
            if entry is None:
                broken.append(BrokenEntry(p.name, p, "no meta.json"))
            else:
                entries.append(entry)
        return entries, broken

    def entries(self) -> list[CacheEntry]:
        return self.scan()[0]

    def partials(self) -> list[Path]:
        """Unfinished extractions (finished chunks of a run that has not committed)."""
        if not self.directory.is_dir():
            return []
        return sorted(
            p for p in self.directory.iterdir() if p.is_dir() and p.name.endswith(PARTIAL)
        )

    def temporaries(self) -> list[Path]:
        """Temp directories a killed commit left behind."""
        if not self.directory.is_dir():
            return []
        return sorted(p for p in self.directory.iterdir() if p.name.startswith(TMP_PREFIX))

    def leftovers(self, key: str) -> list[Path]:
        """What killed commits of ``key`` left behind (a full-size copy of the entry each)."""
        return [t for t in self.temporaries() if t.name.startswith(f"{TMP_PREFIX}{key}.")]

    def clean_leftovers(self, key: str) -> list[Path]:
        """Delete ``key``'s leftovers (call with the key's lock: no commit of it is running)."""
        found = self.leftovers(key)
        for t in found:
            shutil.rmtree(t, ignore_errors=True)
        return found

    def find(
        self, dataset: str, backbone: str, *, views: str | None = "none", **match
    ) -> CacheEntry:
        """The newest entry for a dataset and backbone (optionally matching transform fields).

        ``views``: only entries of that views mode (None: any; ``MULTI``: any but "none"), so a
        single-view probe never picks up a newer (N, M, d) multi-view entry of the same backbone
        and dataset, and a multi-view probe never a single-view one.
        """
        entries, broken = self.scan()
        names = spellings(backbone)
        found = [
            e
            for e in entries
            if e.dataset == dataset
            and e.backbone in names
            and (views is None or e.views == views or (views == MULTI and e.views != "none"))
            and all(e.meta["inputs"]["transform"].get(k) == v for k, v in match.items())
        ]
        damaged = [b for b in broken if b.may_be(dataset, backbone)]
        if not found and damaged:
            raise CorruptEntry(
                f"{damaged[0].reason.split(';')[0]}, and it may be the cached features of dataset "
                f"{dataset!r} and backbone {backbone!r}; run `seabench extract --dataset "
                f"{dataset} --backbone {backbone}` (with the options it was made with) to "
                "rebuild it, or `seabench cache prune` to delete it"
            )
        if not found:
            kind = {None: "", "none": "", MULTI: " multi-view"}.get(views, f" {views}")
            with_views = {None: "", "none": "", MULTI: " --views rot4"}.get(
                views, f" --views {views}"
            )
            raise DataNotFoundError(
                f"no cached{kind} features for "
                f"dataset {dataset!r} and backbone {backbone!r} in {self.directory}; run "
                f"`seabench extract --dataset {dataset} --backbone {backbone}{with_views}` first"
            )
        return max(found, key=lambda e: e.meta.get("created", ""))

    def commit(
        self, key: str, inputs: dict, manifest: SplitManifest, tensors_file: Path, extra: dict
    ) -> CacheEntry:
        """Move a finished tensors file into a new entry, atomically (call with the key's lock)."""
        if cache_key(inputs) != key:
            raise ValueError("commit: the key does not hash the given inputs")
        tmp = self.directory / f"{TMP_PREFIX}{key}.{time.time_ns()}"
        tmp.mkdir(parents=True)
        try:
            shutil.move(str(tensors_file), tmp / TENSORS)
            manifest.save(tmp / "manifest.json")
            counts = {s: len(manifest.items(s)) for s in SPLITS}
            now = time.time()
            meta = {
                "key": key,
                "format": FORMAT_VERSION,
                "inputs": inputs,
                "counts": counts,
                "sha256": file_sha256(tmp / TENSORS),
                "created": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(now)),
                "created_unix": round(now, 3),
                **{k: v for k, v in extra.items() if k != META_HASH},
            }
            atomic_write_json(tmp / "meta.json", seal(meta))
            final = self.entry_path(key)
            if final.exists():  # a damaged entry being rebuilt: move it aside, then drop it
                old = self.directory / f"{TMP_PREFIX}{key}.old.{time.time_ns()}"
                final.rename(old)
                shutil.rmtree(old, ignore_errors=True)
            tmp.rename(final)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        return self.get(key)

    def remove(self, key: str) -> None:
        """Delete an entry and its unfinished chunks (the lock file stays: waiters may hold it)."""
        for p in (self.entry_path(key), self.partial_path(key)):
            if p.exists():
                shutil.rmtree(p)

    def prune(
        self,
        *,
        older_than_days: float | None = None,
        keys: tuple[str, ...] = (),
        partials: bool = True,
        now: float | None = None,
    ) -> list[str]:
        """Delete entries older than N days or with the given keys (unique prefixes allowed);
        always also unreadable entries and leftovers of killed commits; with ``partials``, the
        unfinished extractions (all of them, or only those older than N days / of the keys).
        Return the names removed.

        Anything whose key is locked by a running extraction is left alone.
        """
        now = time.time() if now is None else now
        entries, broken = self.scan()
        known = [e.key for e in entries] + [b.key for b in broken]
        known += [p.name[: -len(PARTIAL)] for p in self.partials()]
        for k in keys:
            if not any(key.startswith(k) for key in known):
                raise SeabenchError(
                    f"no cache entry with key {k!r} in {self.directory}; "
                    "list them with `seabench cache ls`"
                )
        cutoff = None if older_than_days is None else now - older_than_days * 86400.0

        def chosen(key: str, created: float) -> bool:
            return any(key.startswith(k) for k in keys) or (cutoff is not None and created < cutoff)

        doomed = [(e.key, e.path) for e in entries if chosen(e.key, e.created_unix)]
        doomed += [(b.key, b.path) for b in broken]
        if partials:
            pick_all = cutoff is None and not keys
            doomed += [
                (p.name[: -len(PARTIAL)], p)
                for p in self.partials()
                if pick_all or chosen(p.name[: -len(PARTIAL)], p.stat().st_mtime)
            ]
        doomed += [(t.name[len(TMP_PREFIX) :].split(".")[0], t) for t in self.temporaries()]
        removed = []
        for key, path in doomed:
            try:
                with self.lock(key, timeout=0):
                    shutil.rmtree(path, ignore_errors=True)
            except Timeout:
                continue  # an extraction of this key is running right now
            removed.append(path.name)
        return removed


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


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())
