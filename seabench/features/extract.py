"""The extraction engine: run a frozen backbone once over each split, in resumable chunks.

Each split is cut into chunks of ``chunk_size`` images (batches never cross a chunk, so a chunk's
numbers do not depend on which other chunks a run computes).  Every finished chunk is written
atomically to ``<key>.partial/`` with a checksum of its tensor, so an interrupted run (Ctrl-C,
kill -9) resumes from its finished chunks.  When all chunks exist they are merged into a cache
entry by an atomic rename.  Under torchrun the chunks are shared out over the ranks; rank 0 merges.

With ``views`` (rot4, flip2, crops5) every image is seen in M fixed views: the loader yields
(B, M, 3, H, W), the backbone runs once on the (B*M, 3, H, W) stack and ``{split}_x`` is (N, M, d),
so chunks, resume, checksums and sharding work per image exactly as for single-view features.

The parts: :mod:`~seabench.features.plan` (the key), :mod:`~seabench.features.loader` (decoding
and batching), :mod:`~seabench.features.batch_loop` (the forward passes) and
:mod:`~seabench.features.chunks` (the chunk files and the merge); this module holds the locking,
resume and commit around them.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
from filelock import Timeout

from seabench._io import storage_fix, storage_problem
from seabench.backbones.base import Backbone
from seabench.data.base import DatasetAdapter
from seabench.errors import SeabenchError, StorageError
from seabench.features import distributed
from seabench.features.batch_loop import run_chunks
from seabench.features.cache import CacheEntry, CorruptEntry, FeatureCache
from seabench.features.chunks import (
    CHUNK_ENV,
    DEFAULT_CHUNK,
    Chunk,
    default_chunk_size,
    labels_tensor,
    merge_and_commit,
    plan_chunks,
    read_chunk,
    tensor_sha256,
    write_chunk,
)
from seabench.features.estimate import record_throughput
from seabench.features.loader import ManifestImages, available_cpus, default_workers
from seabench.features.plan import (
    DECODES,
    DTYPES,
    KeyPlan,
    autocast_name,
    decode_mode,
    key_inputs,
    plan_key,
)

#: the names callers have imported from here since before the split
__all__ = [
    "CHUNK_ENV",
    "DECODES",
    "DEFAULT_CHUNK",
    "DTYPES",
    "Chunk",
    "ExtractResult",
    "KeyPlan",
    "ManifestImages",
    "available_cpus",
    "decode_mode",
    "default_chunk_size",
    "default_workers",
    "extract_features",
    "key_inputs",
    "labels_tensor",
    "plan_chunks",
    "plan_key",
    "read_chunk",
    "tensor_sha256",
    "write_chunk",
]


@dataclass
class ExtractResult:
    entry: CacheEntry
    cached: bool
    #: images run through the backbone by this call (all ranks together under torchrun)
    images: int
    seconds: float
    #: images taken from the finished chunks of an interrupted earlier run
    resumed: int = 0

    @property
    def images_per_second(self) -> float:
        return self.images / self.seconds if self.seconds > 0 else float("nan")


def extract_features(
    adapter: DatasetAdapter,
    backbone: Backbone,
    cache: FeatureCache,
    *,
    image_size: int | None = None,
    crop_pct: float | None = None,
    dtype: str = "fp16",
    batch_size: int = 64,
    chunk_size: int | None = None,
    workers: int | None = None,
    subset: int | None = None,
    device: str | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    views: str = "none",
    decode: str = "draft",
) -> ExtractResult:
    """Extract (or reuse) features of every split into the cache; return the entry.

    Concurrent calls for the same key (threads, processes, jobs) serialise on the key's file
    lock: one computes, the others then find the entry.  ``progress(split, done, total)`` is
    called after every batch with host-side counts only (it never synchronises the device).
    ``views`` (see :mod:`seabench.data.views`): M views per image, stored as (N, M, d); counts,
    ``batch_size`` and ``chunk_size`` stay in images (a batch is B*M backbone inputs).
    ``decode``: "draft" (JPEG files decoded at the smallest DCT scale covering the resize, keyed),
    "full" (full-size decoding, the key of entries made before "draft" existed) or "device"
    (decode, resize and normalise on ``device``, keyed; see :mod:`seabench.features.decode`).
    """
    chunk_size = default_chunk_size() if chunk_size is None else chunk_size
    if batch_size < 1 or chunk_size < 1:
        raise SeabenchError("--batch-size and --chunk-size must be positive")
    if chunk_size < batch_size:
        batch_size = chunk_size
    else:  # whole batches per chunk
        chunk_size = chunk_size // batch_size * batch_size
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    plan = plan_key(
        adapter,
        backbone,
        image_size=image_size,
        crop_pct=crop_pct,
        dtype=dtype,
        subset=subset,
        views=views,
        device=device,
        decode=decode,
    )
    key, manifest = plan.key, plan.manifest
    dist = distributed.from_env(device)
    if dist.world > 1 and device == "cuda":
        device = f"cuda:{dist.local_rank}"
    t0 = time.perf_counter()
    try:
        with ExitStack() as held:
            # a committed entry that verifies is read without the lock (a read-only shared
            # cache works); anything else is built, or rebuilt, under the key's lock
            held.enter_context(_storage(cache, key))
            entry = _committed(cache, key) if dist.is_main else None
            if dist.is_main and entry is None:
                if not cache.directory.is_dir():
                    cache.directory.mkdir(parents=True, exist_ok=True)
                held.enter_context(cache.lock(key))
                entry = _reusable(cache, key)
                if entry is None:
                    cache.clean_leftovers(key)
                else:  # a run killed between its commit and its clean-up left its chunks
                    shutil.rmtree(cache.partial_path(key), ignore_errors=True)
            if dist.broadcast(entry is not None):
                if dist.is_main:
                    _drop_committed_partial(cache, key)
                return ExtractResult(entry or cache.get(key), True, 0, 0.0)
            partial = cache.partial_path(key)
            chunks = plan_chunks(manifest, chunk_size)
            todo = None
            if dist.is_main:
                partial.mkdir(parents=True, exist_ok=True)
                todo = [
                    i
                    for i, c in enumerate(chunks)
                    if read_chunk(c.file(partial), key, c.size) is None
                ]
            todo = dist.broadcast(todo)
            mine = [chunks[i] for i in todo[dist.rank :: dist.world]]
            extracted = sum(chunks[i].size for i in todo)
            resumed = sum(c.size for c in chunks) - extracted
            run_chunks(
                adapter,
                backbone,
                manifest,
                mine,
                partial,
                key,
                plan.transform,
                plan.views,
                plan.decode,
                batch_size,
                default_workers(device, dist.local_world) if workers is None else workers,
                device,
                DTYPES[dtype],
                progress if dist.is_main else None,
            )
            dist.barrier()  # every rank's chunks are on disk
            if dist.is_main:
                seconds = time.perf_counter() - t0
                entry = merge_and_commit(
                    cache,
                    plan,
                    backbone,
                    adapter,
                    chunks,
                    partial,
                    {
                        "wall_seconds": round(seconds, 3),
                        "device": device,
                        "world_size": dist.world,
                        "images_extracted": extracted,
                        "images_resumed": resumed,
                        "batch_size": batch_size,
                        "chunk_size": chunk_size,
                        "autocast": autocast_name(device, dtype),
                        **_overrides(backbone, image_size, crop_pct),
                        "decode": plan.decode or "full",
                    },
                )
                record_throughput(
                    cache.directory,
                    backbone.identity.get("name", backbone.name),
                    plan.transform["size"],
                    device,
                    extracted,
                    seconds,
                    default_size=image_size is None,
                    views=plan.views,
                )
            dist.barrier()  # the entry is committed
            entry = entry or cache.get(key)
            return ExtractResult(entry, False, extracted, time.perf_counter() - t0, resumed)
    finally:
        dist.close()


def _committed(cache: FeatureCache, key: str) -> CacheEntry | None:
    """The committed entry if it is there and verifies, read without the lock; else None (a
    damaged one is left for the locked path to rebuild)."""
    try:
        entry = cache.get(key)
        if entry is not None:
            entry.verify()
        return entry
    except (CorruptEntry, OSError):
        return None


@contextmanager
def _storage(cache: FeatureCache, key: str) -> Iterator[None]:
    """Turn a full disk, a quota or a read-only cache into one line that says what was kept."""
    try:
        yield
    except OSError as exc:
        problem = storage_problem(exc)
        outside = exc.filename and not _inside(exc.filename, cache.directory)
        if problem is None or outside:  # e.g. an unreadable image: not the cache's storage
            raise
        partial = cache.partial_path(key)
        chunks = partial.glob("*.safetensors") if partial.is_dir() else []
        kept = sum(1 for c in chunks if c.name != "merged.safetensors")
        where = Path(exc.filename).parent if exc.filename else cache.directory
        raise StorageError(
            f"{problem}: {where}; "
            + (f"{kept} finished chunk(s) kept in {partial}; " if kept else "")
            + f"{storage_fix(problem)} and run the same command to "
            + ("resume" if kept else "extract")
        ) from exc


def _inside(path: str | os.PathLike, directory: Path) -> bool:
    return Path(os.path.abspath(path)).is_relative_to(Path(os.path.abspath(directory)))


def _drop_committed_partial(cache: FeatureCache, key: str) -> None:
    """The chunks of an extraction killed after its commit (a copy of the entry's numbers) are
    deleted by the next run that finds the entry, if no run of the key holds the lock."""
    partial = cache.partial_path(key)
    if not partial.is_dir():
        return
    try:
        with cache.lock(key, timeout=0):
            shutil.rmtree(partial, ignore_errors=True)
    except (Timeout, OSError):  # being written by a run of the key, or a read-only cache
        pass


def _reusable(cache: FeatureCache, key: str) -> CacheEntry | None:
    """The committed entry if it verifies; a damaged or stale one is deleted (then rebuilt)."""
    try:
        entry = cache.get(key)
        if entry is not None:
            entry.verify()
        return entry
    except CorruptEntry:
        shutil.rmtree(cache.entry_path(key), ignore_errors=True)
        return None


def _overrides(backbone: Backbone, image_size: int | None, crop_pct: float | None) -> dict:
    """The user's changes to the model's own preprocessing, recorded beside the key."""
    given = {"image_size": image_size, "crop_pct": crop_pct}
    given = {k: v for k, v in given.items() if v is not None}
    if not given:
        return {}
    return {
        "preprocess_overrides": given,
        "model_input_size": int(backbone.data_config["input_size"][-1]),
    }
