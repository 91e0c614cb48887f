"""Intervals for the report: every score and every delta it shows, from the stored predictions.

For each backbone and dataset the rows scored on the same test items (equal ``test_items``) are
bootstrapped together, so every method and seed sees the same resamples: a cell's interval is
that of its seed-averaged score, a delta's is paired (the difference per replicate).  The average
row resamples each dataset within itself, then averages.  A number without predictions (rows from
before seabench kept them, published baselines) keeps its value and says why it has no interval.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from seabench.predictions import PredictionStore
from seabench.stats.bootstrap import (
    DEFAULT_CONFIDENCE,
    DEFAULT_RESAMPLES,
    DEFAULT_SEED,
    interval,
    replicates,
)
from seabench.stats.paired import Delta, dataset_average, paired_delta, seed_average

NO_PREDICTIONS = "no predictions stored"
PUBLISHED = "published: no interval"
NOT_PAIRED = "not paired: different test items"


@dataclass(frozen=True)
class IntervalSettings:
    resamples: int = DEFAULT_RESAMPLES
    confidence: float = DEFAULT_CONFIDENCE
    seed: int = DEFAULT_SEED


@dataclass
class Cell:
    """One (backbone, dataset, method): its replicates (seed-averaged) or why there are none."""

    point: float
    reps: np.ndarray | None = None
    items: str | None = None
    why: str = ""


@dataclass
class Intervals:
    settings: IntervalSettings
    cells: dict[tuple[str, str, str], Cell] = field(default_factory=dict)

    def cell(self, backbone: str, dataset: str, method: str) -> Cell | None:
        return self.cells.get((backbone, dataset, method))

    def score(self, backbone: str, dataset: str, method: str) -> tuple[float, float] | None:
        c = self.cell(backbone, dataset, method)
        if c is None or c.reps is None:
            return None
        return interval(c.reps, self.settings.confidence)

    def delta(self, backbone: str, dataset: str, a: str, b: str) -> Delta | str:
        """``a - b`` on one dataset, paired, or the reason it has no interval."""
        ca, cb = self.cell(backbone, dataset, a), self.cell(backbone, dataset, b)
        if ca is None or cb is None:
            return "missing"
        if ca.reps is None or cb.reps is None:
            return ca.why or cb.why
        if ca.items != cb.items:
            return NOT_PAIRED
        return paired_delta(ca.point, cb.point, ca.reps, cb.reps, self.settings.confidence)

    def average(self, backbone: str, datasets: list[str], method: str) -> tuple[float, float] | str:
        cells = [self.cell(backbone, d, method) for d in datasets]
        cells = [c for c in cells if c is not None]
        if not cells or any(c.reps is None for c in cells):
            return next((c.why for c in cells if c.why), NO_PREDICTIONS)
        _, reps = dataset_average([c.point for c in cells], [c.reps for c in cells])
        return interval(reps, self.settings.confidence)

    def average_delta(self, backbone: str, datasets: list[str], a: str, b: str) -> Delta | str:
        """The mean over datasets of ``a - b``, each dataset resampled within itself."""
        pairs = [(self.cell(backbone, d, a), self.cell(backbone, d, b)) for d in datasets]
        pairs = [(x, y) for x, y in pairs if x is not None and y is not None]
        if not pairs:
            return "missing"
        for x, y in pairs:
            if x.reps is None or y.reps is None:
                return x.why or y.why
            if x.items != y.items:
                return NOT_PAIRED
        pa, ra = dataset_average([x.point for x, _ in pairs], [x.reps for x, _ in pairs])
        pb, rb = dataset_average([y.point for _, y in pairs], [y.reps for _, y in pairs])
        return paired_delta(pa, pb, ra, rb, self.settings.confidence)


def _stream(settings: IntervalSettings, items: str) -> int:
    """The generator seed of one test set: reproducible, and independent across test sets."""
    return int(hashlib.sha256(f"{settings.seed}:{items}".encode()).hexdigest()[:15], 16)


def compute(
    prepared: pd.DataFrame,
    store: PredictionStore | None,
    settings: IntervalSettings,
) -> Intervals:
    """Cells of every (backbone, dataset, method) of ``prepared`` rows (tables.prepare's output).

    Rows of one backbone and dataset on the same test items are bootstrapped together.
    """
    out = Intervals(settings)
    for (backbone, dataset, method), part in prepared.groupby(
        ["backbone", "dataset", "method"], sort=False
    ):
        point = float(part["test"].mean())
        if bool(part["external"].any()):
            out.cells[backbone, dataset, method] = Cell(point, why=PUBLISHED)
        else:
            out.cells[backbone, dataset, method] = Cell(point, why=NO_PREDICTIONS)
    if store is None:
        return out
    measured = prepared[~prepared["external"]]
    if "row_id" not in measured or "test_items" not in measured:
        return out
    sizes = prepared.groupby(["backbone", "dataset", "method"]).size()
    groups = [
        (backbone, dataset, items, part)
        for (backbone, dataset), group in measured.groupby(["backbone", "dataset"], sort=False)
        for items, part in group.groupby(group["test_items"].astype(str), sort=False)
        if items not in ("None", "nan", "")
    ]
    # Each test set has its own seeded stream and its own cells, so the groups run in threads
    # (numpy releases the GIL in the heavy parts) and give the same numbers in any order.
    workers = min(
        len(groups),
        len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1),
    )
    with ThreadPoolExecutor(max_workers=max(workers, 1)) as pool:
        for done in [
            pool.submit(_bootstrap_group, out, *g[:3], g[3], store, settings, sizes) for g in groups
        ]:
            done.result()
    return out


def _bootstrap_group(
    out: Intervals,
    backbone: str,
    dataset: str,
    items: str,
    part: pd.DataFrame,
    store: PredictionStore,
    settings: IntervalSettings,
    sizes: pd.Series,
) -> None:
    """One backbone and dataset on one test set: every method's seeds on the same resamples.

    A cell gets an interval only when every one of its rows (seeds) has predictions on these
    test items; otherwise the seed-averaged score it shows could not be resampled as a whole.
    """
    metric = str(part["metric"].iloc[0])
    loaded, methods = [], {}
    for method, rows in part.groupby("method", sort=False):
        if len(rows) != sizes[backbone, dataset, method]:
            out.cells[backbone, dataset, method].why = NOT_PAIRED
            continue
        preds = [store.read(str(r)) if isinstance(r, str) else None for r in rows["row_id"]]
        if any(p is None for p in preds):
            continue
        methods[method] = (len(loaded), len(preds), rows["test"].to_numpy(dtype=float))
        loaded += preds
    if not loaded:
        return
    labels = loaded[0].labels
    if not all(p.labels.shape == labels.shape and np.array_equal(p.labels, labels) for p in loaded):
        return  # equal hashes but different labels: never paired; the cells keep their reason
    columns = [p.column(metric) for p in loaded]
    _, reps = replicates(metric, labels, columns, settings.resamples, _stream(settings, items))
    for method, (start, count, tests) in methods.items():
        mean, seed_reps, _ = seed_average(tests, reps[:, start : start + count])
        out.cells[backbone, dataset, method] = Cell(mean, seed_reps, items, "")
