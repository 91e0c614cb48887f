"""The writer: finished chunks on disk, each with a checksum of its tensor, and the final merge.

Each split is cut into chunks of ``chunk_size`` images.  Every finished chunk is written
atomically (one fsync, at its commit) to ``<key>.partial/`` with the key, its row count and the
SHA-256 of its tensor, so an interrupted run resumes from the chunks that verify.  When all
chunks exist they are merged into a cache entry that is committed by an atomic rename.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save

from seabench import __version__
from seabench._io import atomic_write_bytes
from seabench.backbones.base import Backbone
from seabench.data.base import DatasetAdapter
from seabench.data.splits import SPLITS, SplitManifest
from seabench.data.views import view_names
from seabench.errors import SeabenchError
from seabench.features.cache import CacheEntry, FeatureCache
from seabench.features.plan import DTYPES, KeyPlan

DEFAULT_CHUNK = 1024
CHUNK_ENV = "SEABENCH_CHUNK_SIZE"


@dataclass(frozen=True)
class Chunk:
    split: str
    start: int
    stop: int

    @property
    def size(self) -> int:
        return self.stop - self.start

    def file(self, partial: Path) -> Path:
        return partial / f"{self.split}-{self.start:09d}-{self.stop:09d}.safetensors"


def default_chunk_size() -> int:
    raw = os.environ.get(CHUNK_ENV)
    if raw is None:
        return DEFAULT_CHUNK
    try:
        return int(raw)
    except ValueError:
        raise SeabenchError(f"${CHUNK_ENV} must be a whole number of images, not {raw!r}") from None


def plan_chunks(manifest: SplitManifest, chunk_size: int) -> list[Chunk]:
    return [
        Chunk(split, start, min(start + chunk_size, len(manifest.items(split))))
        for split in SPLITS
        for start in range(0, len(manifest.items(split)), chunk_size)
    ]


def tensor_sha256(x: torch.Tensor) -> str:
    return hashlib.sha256(x.contiguous().numpy().tobytes()).hexdigest()


def write_chunk(path: Path, x: torch.Tensor, key: str) -> None:
    x = x.contiguous()
    meta = {"key": key, "rows": str(x.shape[0]), "sha256": tensor_sha256(x)}
    atomic_write_bytes(path, save({"x": x}, metadata=meta))


def read_chunk(path: Path, key: str, rows: int) -> torch.Tensor | None:
    """A finished chunk's features, or None if it is absent, foreign, truncated or damaged."""
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
            x = fh.get_tensor("x")
    except Exception:
        return None
    if meta.get("key") != key or x.shape[0] != rows or meta.get("sha256") != tensor_sha256(x):
        return None
    return x


def labels_tensor(manifest: SplitManifest, split: str) -> torch.Tensor:
    labels = manifest.labels(split)
    if manifest.multilabel:
        return torch.tensor(labels, dtype=torch.uint8).reshape(len(labels), manifest.num_classes)
    return torch.tensor(labels, dtype=torch.int64)


def merge_and_commit(
    cache: FeatureCache,
    plan: KeyPlan,
    backbone: Backbone,
    adapter: DatasetAdapter,
    chunks: list[Chunk],
    partial: Path,
    extra: dict,
) -> CacheEntry:
    """Merge every chunk (each verified again) into the entry of ``plan.key`` and commit it."""
    tensors = {}
    for split in SPLITS:
        parts = []
        for c in (c for c in chunks if c.split == split):
            x = read_chunk(c.file(partial), plan.key, c.size)
            if x is None:
                raise SeabenchError(
                    f"chunk {c.file(partial).name} of an extraction is missing or damaged; under "
                    "torchrun --home must be on a filesystem every rank sees. Run the same "
                    "command again to compute what is missing"
                )
            parts.append(x)
        names = view_names(plan.views)
        empty = (0, backbone.dim) if plan.views == "none" else (0, len(names), backbone.dim)
        tensors[f"{split}_x"] = (
            torch.cat(parts) if parts else torch.empty(empty, dtype=DTYPES[plan.inputs["dtype"]])
        )
        tensors[f"{split}_y"] = labels_tensor(plan.manifest, split)
    merged = partial / "merged.safetensors"
    atomic_write_bytes(merged, save(tensors))
    manifest = plan.manifest
    entry = cache.commit(
        plan.key,
        plan.inputs,
        manifest,
        merged,
        {
            "backbone_name": backbone.name,
            # which weights the name meant (printed at extraction; every row carries them)
            "weights_source": backbone.source or backbone.identity.get("layout", "?"),
            "weights_tag": backbone.weights_tag or "?",
            "dim": backbone.dim,
            "metric": adapter.metric,
            "num_classes": manifest.num_classes,
            "multilabel": manifest.multilabel,
            "val_source": manifest.val_source,
            "views": plan.views,
            "view_names": list(view_names(plan.views)),
            "seabench": __version__,
            "torch": torch.__version__,
            **extra,
        },
    )
    shutil.rmtree(partial, ignore_errors=True)
    return entry
