"""The content-addressed feature cache.

An entry's key hashes everything that changes the numbers (backbone identity and weights hash,
transform, dataset, split-manifest hash, dtype, cache format).  An entry is a directory
``<home>/features/<key>/`` holding ``features.safetensors`` (``{split}_x``, ``{split}_y``),
``manifest.json`` and ``meta.json`` (the key's inputs, counts, a sha256 of the tensors file).
It appears by an atomic rename of a finished temp directory, so a reader never sees half of one;
its checksum is verified on every read.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file

from seabench._io import atomic_write_json, canonical_json
from seabench.backbones.base import file_sha256
from seabench.data.splits import SPLITS, SplitManifest
from seabench.errors import DataNotFoundError, SeabenchError

FORMAT_VERSION = 1
TENSORS = "features.safetensors"


def cache_key(inputs: dict) -> str:
    return hashlib.sha256(canonical_json({"format": FORMAT_VERSION, **inputs}).encode()).hexdigest()[:20]


class CorruptEntry(SeabenchError):
    pass


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

    def manifest(self) -> SplitManifest:
        return SplitManifest.load(self.path / "manifest.json")

    def verify(self) -> None:
        """Raise CorruptEntry if the tensors file is missing or its checksum differs."""
        tensors = self.path / TENSORS
        if not tensors.is_file():
            raise CorruptEntry(f"cache entry {self.key} has no tensors file")
        if file_sha256(tensors) != self.meta.get("sha256"):
            raise CorruptEntry(
                f"cache entry {self.key} is corrupted (checksum mismatch); "
                f"delete it with `seabench cache prune --key {self.key}` and extract again"
            )

    def load(self, verify: bool = True) -> dict[str, torch.Tensor]:
        if verify:
            self.verify()
        tensors = load_file(str(self.path / TENSORS))
        for split, n in self.meta["counts"].items():
            if tensors[f"{split}_x"].shape[0] != n or tensors[f"{split}_y"].shape[0] != n:
                raise CorruptEntry(f"cache entry {self.key}: {split} counts differ from its meta")
        return tensors

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.path.iterdir() if p.is_file())


class FeatureCache:
    def __init__(self, directory: Path):
        self.directory = Path(directory)

    def entry_path(self, key: str) -> Path:
        return self.directory / key

    def partial_path(self, key: str) -> Path:
        return self.directory / f"{key}.partial"

    def lock_path(self, key: str) -> Path:
        return self.directory / f"{key}.lock"

    def get(self, key: str) -> CacheEntry | None:
        meta_path = self.entry_path(key) / "meta.json"
        if not meta_path.is_file():
            return None
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise CorruptEntry(f"cache entry {key} has an unreadable meta.json") from exc
        return CacheEntry(key, self.entry_path(key), meta)

    def entries(self) -> list[CacheEntry]:
        if not self.directory.is_dir():
            return []
        out = []
        for p in sorted(self.directory.iterdir()):
            if p.is_dir() and not p.name.endswith(".partial") and (p / "meta.json").is_file():
                try:
                    entry = self.get(p.name)
                except CorruptEntry:
                    continue
                if entry is not None:
                    out.append(entry)
        return out

    def find(self, dataset: str, backbone: str, **match) -> CacheEntry:
        """The newest entry for a dataset and backbone (optionally matching transform fields)."""
        found = [e for e in self.entries() if e.dataset == dataset and e.backbone == backbone
                 and all(e.meta["inputs"]["transform"].get(k) == v for k, v in match.items())]
        if not found:
            raise DataNotFoundError(
                f"no cached features for dataset {dataset!r} and backbone {backbone!r} in "
                f"{self.directory}; run `seabench extract --dataset {dataset} --backbone {backbone}` "
                "first"
            )
        return max(found, key=lambda e: e.meta.get("created", ""))

    def commit(self, key: str, inputs: dict, manifest: SplitManifest,
               tensors_file: Path, extra: dict) -> CacheEntry:
        """Move a finished tensors file into a new entry, atomically."""
        tmp = self.directory / f".{key}.{time.time_ns()}.tmp"
        tmp.mkdir(parents=True)
        try:
            shutil.move(str(tensors_file), tmp / TENSORS)
            manifest.save(tmp / "manifest.json")
            counts = {s: len(manifest.items(s)) for s in SPLITS}
            meta = {"key": key, "format": FORMAT_VERSION, "inputs": inputs, "counts": counts,
                    "sha256": file_sha256(tmp / TENSORS),
                    "created": time.strftime("%Y-%m-%dT%H:%M:%S"), **extra}
            atomic_write_json(tmp / "meta.json", meta)
            final = self.entry_path(key)
            if final.exists():
                shutil.rmtree(final)
            tmp.rename(final)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        return self.get(key)

    def remove(self, key: str) -> None:
        for p in (self.entry_path(key), self.partial_path(key)):
            if p.exists():
                shutil.rmtree(p)
        self.lock_path(key).unlink(missing_ok=True)
