"""The loader: manifest items -> decoded, transformed image batches for the batch loop.

Batches are positions in the flat list of the chunks' items, and never cross a chunk, so a
chunk's numbers do not depend on which other chunks a run computes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import torch
from torch.utils.data import DataLoader, Dataset
from torch.utils.data import default_collate as torch_collate

from seabench.data.base import DatasetAdapter


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


def available_cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def default_workers(device: str = "cpu", local_world: int = 1) -> int:
    """Loader processes for this machine.

    On a CPU the forward pass needs every core and decoding is a few percent of it, so small
    machines decode in the main process, between forward passes, on a pool of as many threads
    as the forward pass uses (:class:`ThreadedBatches`); a GPU is fed by up to 8 workers per
    rank (15 workers measured no faster on an H200 with 16 cores: see scripts/bench_extract.py
    --device cuda).
    """
    cpus = max(1, available_cpus() // max(1, local_world))
    if cpus <= 2:
        return 0
    if device.startswith("cuda"):
        return min(8, cpus - 1)
    return min(2, cpus // 4)


def batch_positions(sizes: list[int], batch_size: int) -> list[list[int]]:
    """Batches of positions in the flat item list of chunks of ``sizes``; each batch lies inside
    one chunk."""
    out, pos = [], 0
    for size in sizes:
        for s in range(0, size, batch_size):
            out.append(list(range(pos + s, pos + min(s + batch_size, size))))
        pos += size
    return out


class ThreadedBatches:
    """Batches decoded by a pool of ``threads`` threads of this process, one batch at a time.

    PIL releases the GIL while it decodes and resizes, so the pool decodes a batch on every core
    in the gap between two forward passes (which use every core), where ``DataLoader`` with no
    workers decodes on one core and worker processes preempt the forward pass's threads.  (On a
    shared 2-core machine, decoding the next batch while the forward pass ran measured no faster:
    the threads compete with the forward pass's own.)"""

    def __init__(
        self, data: Dataset, batches: list[list[int]], collate: Callable | None, threads: int
    ):
        self.data, self.batches, self.threads = data, batches, threads
        self.collate = collate or torch_collate

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Iterator:
        with ThreadPoolExecutor(self.threads, thread_name_prefix="seabench-decode") as pool:
            for batch in self.batches:
                yield self.collate(list(pool.map(self.data.__getitem__, batch)))


def make_loader(
    data: Dataset,
    batches: list[list[int]],
    collate,
    workers: int,
    pin_memory: bool,
    threads: int | None = None,
) -> DataLoader | ThreadedBatches:
    """``workers`` loader processes, or with none a pool of ``threads`` decoding threads (the
    forward pass's intra-op threads by default)."""
    threads = torch.get_num_threads() if threads is None else threads
    if workers == 0 and threads > 1 and not pin_memory:
        return ThreadedBatches(data, batches, collate, threads)
    return DataLoader(
        data,
        batch_sampler=batches,
        collate_fn=collate,
        num_workers=workers,
        pin_memory=pin_memory,
        persistent_workers=False,
        **({"prefetch_factor": 4} if workers > 0 else {}),
    )
