"""The content-addressed feature cache: entries found, committed, locked and pruned.

What an entry is (its key, sidecar and checks) is in :mod:`seabench.features.entry`; its names
are re-exported here.  An entry appears by an atomic rename of a finished temp directory, so a
reader never sees half of one.  Beside the entries live ``<key>.partial/`` (the finished chunks
of an unfinished extraction) and ``.locks/<key>.lock`` (one extraction of a key at a time).
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from seabench._io import atomic_write_json, file_sha256
from seabench.backbones.names import spellings
from seabench.data.splits import SPLITS, SplitManifest
from seabench.errors import DataNotFoundError, SeabenchError
from seabench.features.entry import (
    FORMAT_VERSION,
    META_HASH,
    MULTI,
    PARTIAL,
    REBUILD,
    TENSORS,
    TMP_PREFIX,
    BrokenEntry,
    CacheEntry,
    CorruptEntry,
    cache_key,
    check_sidecar,
    describe,
    seal,
    sidecar_sha256,
)


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
            if not (
                isinstance(meta, dict)
                and isinstance(meta.get("inputs"), dict)
                and isinstance(meta.get("counts"), dict)
            ):
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


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


__all__ = [
    "BrokenEntry",
    "CacheEntry",
    "CorruptEntry",
    "FORMAT_VERSION",
    "FeatureCache",
    "META_HASH",
    "MULTI",
    "PARTIAL",
    "REBUILD",
    "TENSORS",
    "TMP_PREFIX",
    "cache_key",
    "check_sidecar",
    "describe",
    "dir_bytes",
    "seal",
    "sidecar_sha256",
]
