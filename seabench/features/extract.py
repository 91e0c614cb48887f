"""The extraction engine: run a frozen backbone once over each split, in resumable chunks.

Each split is processed in chunks of ``chunk_size`` images; every finished chunk is written
atomically to ``<key>.partial/``, so an interrupted run (Ctrl-C, kill -9) resumes from the last
finished chunk.  When all chunks exist they are merged into a cache entry by an atomic rename.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from filelock import FileLock
from safetensors.torch import load_file, save_file
from torch.utils.data import DataLoader, Dataset

from seabench import __version__
from seabench._io import atomic_write
from seabench.backbones.base import Backbone
from seabench.data.base import DatasetAdapter
from seabench.data.splits import SPLITS, SplitManifest
from seabench.data.transforms import build_eval_transform, eval_transform_config
from seabench.errors import SeabenchError
from seabench.features.cache import CacheEntry, CorruptEntry, FeatureCache, cache_key

DTYPES = {"fp16": torch.float16, "fp32": torch.float32}


class ManifestImages(Dataset):
    """Images of a list of manifest items, transformed, in the manifest's order."""

    def __init__(self, adapter: DatasetAdapter, items: list, transform):
        self.adapter, self.items, self.transform = adapter, items, transform

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.transform(self.adapter.open(self.items[i]))


@dataclass
class ExtractResult:
    entry: CacheEntry
    cached: bool
    images: int
    seconds: float

    @property
    def images_per_second(self) -> float:
        return self.images / self.seconds if self.seconds > 0 else float("nan")


def default_workers() -> int:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return 0 if (cpus or 1) <= 2 else min(8, cpus - 1)


def labels_tensor(manifest: SplitManifest, split: str) -> torch.Tensor:
    labels = manifest.labels(split)
    if manifest.multilabel:
        return torch.tensor(labels, dtype=torch.uint8).reshape(len(labels), manifest.num_classes)
    return torch.tensor(labels, dtype=torch.int64)


def key_inputs(adapter: DatasetAdapter, backbone: Backbone, manifest: SplitManifest,
               transform_cfg: dict, dtype: str) -> dict:
    return {"backbone": backbone.identity, "transform": transform_cfg,
            "dataset": adapter.identity(), "manifest": manifest.hash, "dtype": dtype}


def _chunk_file(partial: Path, split: str, index: int) -> Path:
    return partial / f"{split}-{index:05d}.safetensors"


def _chunk_ok(path: Path, expected: int) -> bool:
    try:
        return load_file(str(path))["x"].shape[0] == expected
    except Exception:
        return False


def extract_features(
    adapter: DatasetAdapter,
    backbone: Backbone,
    cache: FeatureCache,
    *,
    image_size: int | None = None,
    crop_pct: float | None = None,
    dtype: str = "fp16",
    batch_size: int = 64,
    chunk_size: int = 1024,
    workers: int | None = None,
    subset: int | None = None,
    device: str | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> ExtractResult:
    """Extract (or reuse) features of every split into the cache; return the entry.

    ``progress(split, done, total)`` is called after every batch with host-side counts only (it
    never forces a device synchronisation).
    """
    if dtype not in DTYPES:
        raise SeabenchError(f"unknown --dtype {dtype!r}; choose one of: {', '.join(DTYPES)}")
    if batch_size < 1 or chunk_size < 1:
        raise SeabenchError("--batch-size and the chunk size must be positive")
    chunk_size = max(batch_size, chunk_size // batch_size * batch_size)
    manifest = adapter.manifest()
    if subset is not None:
        manifest = manifest.subset(subset)
    tcfg = eval_transform_config(backbone.data_config, image_size, crop_pct)
    inputs = key_inputs(adapter, backbone, manifest, tcfg, dtype)
    key = cache_key(inputs)
    cache.directory.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with FileLock(str(cache.lock_path(key))):
        try:
            entry = cache.get(key)
            if entry is not None:
                entry.verify()
                return ExtractResult(entry, True, 0, 0.0)
        except CorruptEntry:
            cache.remove(key)  # a damaged entry is rebuilt, never used
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        partial = cache.partial_path(key)
        partial.mkdir(parents=True, exist_ok=True)
        transform = build_eval_transform(tcfg)
        model = backbone.model.to(device).eval()
        if device.startswith("cuda"):
            model = model.to(memory_format=torch.channels_last)
        n_images = 0
        for split in SPLITS:
            n_images += _extract_split(
                adapter, model, manifest, split, transform, partial, chunk_size, batch_size,
                default_workers() if workers is None else workers, device, DTYPES[dtype], progress,
            )
        merged = partial / "merged.safetensors"
        tensors = {}
        for split in SPLITS:
            n = len(manifest.items(split))
            parts = [load_file(str(_chunk_file(partial, split, i)))["x"]
                     for i in range((n + chunk_size - 1) // chunk_size)]
            tensors[f"{split}_x"] = torch.cat(parts) if parts else torch.empty(0, backbone.dim)
            tensors[f"{split}_y"] = labels_tensor(manifest, split)
        atomic_write(merged, lambda p: save_file(tensors, str(p)))
        seconds = time.perf_counter() - t0
        entry = cache.commit(key, inputs, manifest, merged, {
            "backbone_name": backbone.name, "dim": backbone.dim, "metric": adapter.metric,
            "num_classes": manifest.num_classes, "multilabel": manifest.multilabel,
            "val_source": manifest.val_source, "seabench": __version__,
            "torch": torch.__version__, "wall_seconds": round(seconds, 3), "device": device,
        })
        import shutil

        shutil.rmtree(partial, ignore_errors=True)
    return ExtractResult(entry, False, n_images, seconds)


@torch.inference_mode()
def _extract_split(adapter, model, manifest, split, transform, partial, chunk_size, batch_size,
                   workers, device, dtype, progress) -> int:
    items = manifest.items(split)
    n = len(items)
    n_chunks = (n + chunk_size - 1) // chunk_size
    todo = [i for i in range(n_chunks)
            if not _chunk_ok(_chunk_file(partial, split, i), min(chunk_size, n - i * chunk_size))]
    done = n - sum(min(chunk_size, n - i * chunk_size) for i in todo)
    if progress:
        progress(split, done, n)
    if not todo:
        return 0
    order = [j for i in todo for j in range(i * chunk_size, min(n, (i + 1) * chunk_size))]
    loader = DataLoader(
        ManifestImages(adapter, [items[j] for j in order], transform),
        batch_size=batch_size, num_workers=workers, pin_memory=device.startswith("cuda"),
        persistent_workers=False,
    )
    use_amp = device.startswith("cuda")
    pending: list[torch.Tensor] = []
    pending_n = 0
    chunk_iter = iter(todo)
    current = next(chunk_iter)
    for images in loader:
        images = images.to(device, non_blocking=True)
        if use_amp:
            images = images.to(memory_format=torch.channels_last)
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=use_amp):
            feats = model(images)
        pending.append(feats.to(dtype))
        pending_n += images.shape[0]
        done += images.shape[0]
        if progress:
            progress(split, done, n)
        want = min(chunk_size, n - current * chunk_size)
        if pending_n >= want:
            x = torch.cat(pending).float().to(dtype).cpu()
            atomic_write(_chunk_file(partial, split, current),
                         lambda p, x=x[:want]: save_file({"x": x.contiguous()}, str(p)))
            rest = x[want:]
            pending, pending_n = ([rest], rest.shape[0]) if rest.shape[0] else ([], 0)
            current = next(chunk_iter, None)
    return len(order)
