"""The extraction engine: run a frozen backbone once over each split, in resumable chunks.

Each split is cut into chunks of ``chunk_size`` images (batches never cross a chunk, so a chunk's
numbers do not depend on which other chunks a run computes).  Every finished chunk is written
atomically to ``<key>.partial/`` with a checksum of its tensor, so an interrupted run (Ctrl-C,
kill -9) resumes from its finished chunks.  When all chunks exist they are merged into a cache
entry by an atomic rename.  Under torchrun the chunks are shared out over the ranks; rank 0 merges.

With ``views`` (rot4, flip2, crops5) every image is seen in M fixed views: the loader yields
(B, M, 3, H, W), the backbone runs once on the (B*M, 3, H, W) stack and ``{split}_x`` is (N, M, d),
so chunks, resume, checksums and sharding work per image exactly as for single-view features.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save
from torch.utils.data import DataLoader, Dataset

from seabench import __version__
from seabench._io import atomic_write_bytes, storage_fix, storage_problem
from seabench.backbones.base import Backbone
from seabench.data.base import DatasetAdapter
from seabench.data.splits import SPLITS, SplitManifest
from seabench.data.transforms import (
    BatchNormalize,
    build_eval_transform,
    eval_transform_config,
    resize_side,
)
from seabench.data.views import ViewTransform, view_names
from seabench.errors import SeabenchError, StorageError
from seabench.features import distributed
from seabench.features.cache import CacheEntry, CorruptEntry, FeatureCache, cache_key
from seabench.features.estimate import record_throughput

DTYPES = {"fp16": torch.float16, "fp32": torch.float32}
#: how image files are decoded: "draft" at the smallest JPEG DCT scale that still covers the
#: resize (the default), "full" at full size (the numbers of entries cached before "draft"),
#: "device" on the extraction device (nvJPEG on a GPU; see seabench.features.decode)
DECODES = ("draft", "full", "device")
DEFAULT_CHUNK = 1024
CHUNK_ENV = "SEABENCH_CHUNK_SIZE"


class ManifestImages(Dataset):
    """Images of a list of manifest items, transformed, in the list's order.

    ``min_side``: decode files at the smallest scale whose sides are both at least this."""

    def __init__(
        self, adapter: DatasetAdapter, items: list, transform, min_side: int | None = None
    ):
        self.adapter, self.items, self.transform = adapter, items, transform
        self.min_side = min_side

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> torch.Tensor:
        if self.min_side is None:
            return self.transform(self.adapter.open(self.items[i]))
        return self.transform(self.adapter.open_scaled(self.items[i], self.min_side))


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


@dataclass
class KeyPlan:
    """What an extraction would produce: its key, the key's inputs, the manifest and transform."""

    key: str
    inputs: dict
    manifest: SplitManifest
    transform: dict
    views: str = "none"
    #: the keyed decode path ("draft", "torchvision:<device kind>"), None for the original one
    decode: str | None = None


def available_cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def default_workers(device: str = "cpu", local_world: int = 1) -> int:
    """Loader processes for this machine.

    On a CPU the forward pass needs every core and decoding is a few percent of it, so small
    machines decode in the main process; a GPU is fed by up to 8 workers per rank (15 workers
    measured no faster on an H200 with 16 cores: see scripts/bench_extract.py --device cuda).
    """
    cpus = max(1, available_cpus() // max(1, local_world))
    if cpus <= 2:
        return 0
    if device.startswith("cuda"):
        return min(8, cpus - 1)
    return min(2, cpus // 4)


def default_chunk_size() -> int:
    raw = os.environ.get(CHUNK_ENV)
    if raw is None:
        return DEFAULT_CHUNK
    try:
        return int(raw)
    except ValueError:
        raise SeabenchError(f"${CHUNK_ENV} must be a whole number of images, not {raw!r}") from None


def labels_tensor(manifest: SplitManifest, split: str) -> torch.Tensor:
    labels = manifest.labels(split)
    if manifest.multilabel:
        return torch.tensor(labels, dtype=torch.uint8).reshape(len(labels), manifest.num_classes)
    return torch.tensor(labels, dtype=torch.int64)


def key_inputs(
    adapter: DatasetAdapter,
    backbone: Backbone,
    manifest: SplitManifest,
    transform_cfg: dict,
    dtype: str,
    views: str = "none",
    autocast: str | None = None,
    decode: str | None = None,
) -> dict:
    """The key's inputs; ``views`` enters only when not "none", ``autocast`` (the reduced
    precision of a GPU forward pass) and ``decode`` (a reduced-scale decode of image files) only
    when set, so full-precision single-view full-decode keys (and the entries cached before any
    of them existed) stay what they were."""
    inputs = {
        "backbone": backbone.identity,
        "transform": transform_cfg,
        "dataset": adapter.identity(),
        "manifest": manifest.hash,
        "dtype": dtype,
    }
    if views != "none":
        inputs["views"] = views
    if autocast is not None:
        inputs["autocast"] = autocast
    if decode is not None:
        inputs["decode"] = decode
    return inputs


def decode_mode(
    adapter: DatasetAdapter, decode: str = "draft", device: str = "cpu", views: str = "none"
) -> str | None:
    """The keyed decode path: "draft" for datasets of image files, None (unkeyed, as before)
    for in-memory ones (mnist5k, CIFAR) and for ``decode="full"``, "torchvision:<device kind>"
    for decoding on the device."""
    if decode not in DECODES:
        raise SeabenchError(f"unknown --decode {decode!r}; choose one of: {', '.join(DECODES)}")
    if decode == "device":
        if not adapter.scaled_decode:
            raise SeabenchError(
                f"--decode device decodes image files; {adapter.name} is held in memory: "
                "use --decode draft"
            )
        if views != "none":
            raise SeabenchError("--decode device works with --views none only; use --decode draft")
        return f"torchvision:{device.split(':', 1)[0]}"
    return "draft" if decode == "draft" and adapter.scaled_decode else None


def plan_key(
    adapter: DatasetAdapter,
    backbone: Backbone,
    *,
    image_size: int | None = None,
    crop_pct: float | None = None,
    dtype: str = "fp16",
    subset: int | None = None,
    views: str = "none",
    device: str = "cpu",
    decode: str = "draft",
) -> KeyPlan:
    """The cache key of an extraction, without running it (it reads the split manifest).

    ``device``: features computed under bf16/fp16 autocast on a GPU differ from full-precision
    ones by more than fp16 storage rounding, so they get their own key.  ``decode``: see
    :data:`DECODES` and :func:`decode_mode`."""
    if dtype not in DTYPES:
        raise SeabenchError(f"unknown --dtype {dtype!r}; choose one of: {', '.join(DTYPES)}")
    view_names(views)  # an unknown name is bad input, before any work
    keyed_decode = decode_mode(adapter, decode, device, views)
    manifest = adapter.manifest()
    if subset is not None:
        manifest = manifest.subset(subset)
    tcfg = eval_transform_config(backbone.data_config, image_size, crop_pct)
    inputs = key_inputs(
        adapter, backbone, manifest, tcfg, dtype, views, _autocast_name(device, dtype), keyed_decode
    )
    return KeyPlan(cache_key(inputs), inputs, manifest, tcfg, views, keyed_decode)


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
            if dist.broadcast(entry is not None):
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
            _run_chunks(
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
                entry = _merge_and_commit(
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
                        "autocast": _autocast_name(device, dtype),
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


def _autocast_name(device: str, dtype: str) -> str | None:
    """Reduced-precision compute on GPUs when the features are stored in fp16 anyway."""
    if not device.startswith("cuda") or dtype != "fp16":
        return None
    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


def _merge_and_commit(
    cache: FeatureCache,
    plan: KeyPlan,
    backbone: Backbone,
    adapter: DatasetAdapter,
    chunks: list[Chunk],
    partial: Path,
    extra: dict,
) -> CacheEntry:
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


def _batches(chunks: list[Chunk], batch_size: int) -> list[list[int]]:
    """Batches of positions in the flat item list; each batch lies inside one chunk."""
    out, pos = [], 0
    for c in chunks:
        for s in range(0, c.size, batch_size):
            out.append(list(range(pos + s, pos + min(s + batch_size, c.size))))
        pos += c.size
    return out


@torch.inference_mode()
def _run_chunks(
    adapter,
    backbone,
    manifest,
    chunks,
    partial,
    key,
    tcfg,
    views,
    decode,
    batch_size,
    workers,
    device,
    dtype,
    progress,
) -> int:
    """Compute and write ``chunks``; device results stay pending until a chunk is complete."""
    totals = {s: len(manifest.items(s)) for s in SPLITS}
    done = {s: totals[s] - sum(c.size for c in chunks if c.split == s) for s in SPLITS}
    if progress:
        for s in SPLITS:
            progress(s, done[s], totals[s])
    if not chunks:
        return 0
    cuda = device.startswith("cuda")
    model = backbone.model.to(device).eval()
    if cuda:
        model = model.to(memory_format=torch.channels_last)
    amp = _autocast_name(device, "fp16" if dtype == torch.float16 else "fp32")
    items = [manifest.items(c.split)[i] for c in chunks for i in range(c.start, c.stop)]
    # views "none" keeps the plain (3, H, W) item: its numbers are those of older entries.  It
    # travels as uint8 (a quarter of the bytes to collate, pin and copy) and is normalised on the
    # device by the same float operations as the per-image transform (bitwise the same numbers).
    if views == "none":
        transform, normalize = build_eval_transform(tcfg, normalize=False), BatchNormalize(tcfg)
    else:
        transform, normalize = ViewTransform(tcfg, views), None
    min_side = resize_side(tcfg) if decode == "draft" else None
    on_device = decode is not None and decode.startswith("torchvision:")
    if on_device:  # workers read bytes; the device decodes, resizes and crops
        from seabench.features.decode import DeviceDecoder, ManifestBytes, collate_bytes

        data, collate, decoder = (
            ManifestBytes(adapter, items),
            collate_bytes,
            DeviceDecoder(tcfg, device),
        )
    else:
        data, collate, decoder = ManifestImages(adapter, items, transform, min_side), None, None
    loader = DataLoader(
        data,
        batch_sampler=_batches(chunks, batch_size),
        collate_fn=collate,
        num_workers=workers,
        pin_memory=cuda and not on_device,
        persistent_workers=False,
        **({"prefetch_factor": 4} if workers > 0 else {}),
    )
    pending: list[torch.Tensor] = []
    pending_n = 0
    current = iter(chunks)
    chunk = next(current)
    for images in loader:
        if decoder is not None:
            images = decoder(images)
        n = images.shape[0]  # images; with views the item is (M, 3, H, W)
        m = images.shape[1] if images.ndim == 5 else 0
        if m:
            images = images.flatten(0, 1)  # (B*M, 3, H, W): one forward pass for every view
        images = images.to(device, non_blocking=True)  # from pinned memory on a GPU: async
        if normalize is not None:
            images = normalize(images)
        if cuda:
            images = images.contiguous(memory_format=torch.channels_last)
        with torch.autocast(
            device_type="cuda",
            dtype=torch.bfloat16 if amp == "bf16" else torch.float16,
            enabled=amp is not None,
        ):
            feats = model(images)
        if m:
            feats = feats.reshape(n, m, feats.shape[-1])  # (B, M, d): view m of image b
        pending.append(feats.to(dtype))  # stays on the device: no per-batch synchronisation
        pending_n += n
        done[chunk.split] += n
        if progress:
            progress(chunk.split, done[chunk.split], totals[chunk.split])
        if pending_n == chunk.size:
            write_chunk(chunk.file(partial), torch.cat(pending).cpu(), key)  # one sync per chunk
            pending, pending_n = [], 0
            chunk = next(current, None)
    return len(items)
