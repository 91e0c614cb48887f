"""Measured extraction throughput, and the time a plan's extractions will take from it.

Every extraction records its images/s in ``<features>/throughput.json``, per backbone, image size
and device kind (cpu, cuda), with the device's name; ``seabench run RECIPE --dry-run`` then says,
per cell whose features are not cached yet, how many images it will extract and about how long
that takes here.  With no measurement for a backbone it says so rather than guess.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock, Timeout

from seabench._io import atomic_write_json
from seabench.features.cache import FeatureCache

THROUGHPUT = "throughput.json"


def device_kind(device: str) -> str:
    """``cuda:1`` and ``cuda`` are one kind: a plan names the kind, not the index."""
    return device.split(":", 1)[0]


def device_label(device: str) -> str:
    """The device kind and, for a GPU, its name (what a measurement was taken on)."""
    kind = device_kind(device)
    if kind == "cuda":
        import torch

        return f"cuda ({torch.cuda.get_device_name(device)})"
    return kind


def _key(backbone: str, image_size: int, device: str, views: str = "none") -> str:
    """A multi-view extraction runs the backbone M times per image: its own measurement."""
    key = f"{backbone}|{image_size}|{device_kind(device)}"
    return key if views == "none" else f"{key}|{views}"


def read_throughput(directory: Path) -> dict:
    """The recorded measurements (empty when none, or the file is unreadable)."""
    try:
        data = json.loads((Path(directory) / THROUGHPUT).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def record_throughput(
    directory: Path,
    backbone: str,
    image_size: int,
    device: str,
    images: int,
    seconds: float,
    default_size: bool,
    views: str = "none",
) -> None:
    """Keep the latest images/s of an extraction (atomic write, under a lock so concurrent
    extractions do not drop each other's entries).  A measurement is a convenience: a read-only
    or full disk skips it silently rather than failing the extraction that made it."""
    if images <= 0 or seconds <= 0:
        return
    directory = Path(directory)
    try:
        (directory / ".locks").mkdir(parents=True, exist_ok=True)
        with FileLock(str(directory / ".locks" / "throughput.lock"), timeout=10):
            data = read_throughput(directory)
            data[_key(backbone, image_size, device, views)] = {
                "backbone": backbone,
                "image_size": int(image_size),
                "views": views,
                "device": device_kind(device),
                "device_name": device_label(device),
                "default_size": bool(default_size),
                "images": int(images),
                "seconds": round(float(seconds), 3),
                "images_per_second": round(images / seconds, 2),
                "measured_unix": round(time.time(), 1),
            }
            atomic_write_json(directory / THROUGHPUT, data)
    except (OSError, Timeout):
        pass


def measured(
    directory: Path, backbone: str, image_size: int | None, device: str, views: str = "none"
) -> dict | None:
    """The measurement for a backbone at an image size (None: its default size) on a device."""
    data = read_throughput(directory)
    if image_size is not None:
        return data.get(_key(backbone, image_size, device, views))
    found = [
        m
        for m in data.values()
        if isinstance(m, dict)
        and m.get("backbone") == backbone
        and m.get("device") == device_kind(device)
        and m.get("views", "none") == views
        and m.get("default_size")
    ]
    return max(found, key=lambda m: m.get("measured_unix", 0), default=None)


@dataclass(frozen=True)
class Cell:
    """One backbone x dataset cell of a plan, as the estimate needs it."""

    label: str  # the recipe's name for the backbone
    backbone: str  # the name cache entries carry (arch, or arch@checkpoint-stem)
    arch: str  # the architecture: throughput is per architecture, not per weights
    dataset: str
    images: int
    decode: str | None = None  # the keyed decode path (see extract.decode_mode)


def is_cached(cache: FeatureCache, cell: Cell, options: dict) -> bool:
    """Whether an entry of this dataset and backbone with the options' image size, views, dtype
    and decode path and the same number of images exists (judged from the sidecars: a dry run
    loads no weights, so a changed checkpoint file under the same name still looks cached)."""
    views = options.get("views", "none")
    size = options.get("image_size")
    dtype = options.get("dtype", "fp16")
    for e in cache.entries() if cache.directory.is_dir() else []:
        inputs = e.meta.get("inputs", {})
        counts = e.meta.get("counts", {})
        n = sum(counts.values()) if isinstance(counts, dict) else None
        if (
            e.dataset == cell.dataset
            and e.backbone == cell.backbone
            and e.views == views
            and inputs.get("dtype") == dtype
            and inputs.get("decode") == cell.decode
            and (size is None or inputs.get("transform", {}).get("size") == size)
            and (n is None or n == cell.images)
        ):
            return True
    return False


def format_seconds(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def extraction_estimate(
    directory: Path, cells: list[Cell], options: dict, device: str
) -> list[str]:
    """Plan lines: per cell not cached yet, its images and the time they take at the measured
    throughput of its architecture; then the total of what could be estimated."""
    cache = FeatureCache(Path(directory))
    size, views = options.get("image_size"), options.get("views", "none")
    at = (f"{size} px" if size else "default size") + ("" if views == "none" else f", {views}")
    lines = [f"extraction on {device_kind(device)} at {at} (from measured throughput):"]
    total_s, total_n, unknown = 0.0, 0, set()
    todo = [c for c in cells if not is_cached(cache, c, options)]
    for c in todo:
        m = measured(directory, c.arch, size, device, views)
        total_n += c.images
        if m is None:
            unknown.add(c.arch)
            lines.append(
                f"  {c.label} / {c.dataset}: {c.images:,} images; no throughput measured yet "
                f"for {c.arch} at {at} on {device_kind(device)}"
            )
            continue
        ips = float(m["images_per_second"])
        total_s += c.images / ips
        lines.append(
            f"  {c.label} / {c.dataset}: {c.images:,} images, about "
            f"{format_seconds(c.images / ips)} at {ips:,.0f} img/s "
            f"(measured on {m.get('device_name', m['device'])})"
        )
    cached = len(cells) - len(todo)
    summary = f"  total: {total_n:,} images to extract in {len(todo)} cell(s)"
    summary += f" ({cached} cached)" if cached else ""
    if todo and not unknown:
        summary += f", about {format_seconds(total_s)}"
    elif todo and total_s == 0:
        summary += f"; no estimate: unmeasured {', '.join(sorted(unknown))} (a `seabench extract`"
        summary += " of any dataset with the same options measures it)"
    elif todo:
        summary += (
            f", at least {format_seconds(total_s)}; unmeasured: {', '.join(sorted(unknown))} "
            "(a `seabench extract` of any dataset with it measures it)"
        )
    return [*lines, summary]
