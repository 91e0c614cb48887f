"""What `seabench datasets` shows: each registered dataset, its protocol, whether it is here."""

from __future__ import annotations

from pathlib import Path

from seabench.data.base import DATASETS
from seabench.data.folders import ImageFolderDataset

METRIC_NAMES = {"top1": "top-1", "mean_per_class": "mean per-class acc", "map11": "11-point mAP"}


def dataset_rows(root: str | Path | None) -> list[dict]:
    """One row per dataset (plus the ``imagefolder:PATH`` form), in name order.

    ``found`` is the adapter's cheap presence check under ``root``; nothing is read or scanned.
    """
    rows = []
    for name in sorted(DATASETS):
        adapter = DATASETS[name](root)
        rows.append(_row(adapter, adapter.is_available()))
    generic = ImageFolderDataset("PATH", root)
    rows.append(
        {
            **_row(generic, None),
            "name": "imagefolder:PATH",
            "classes": "any",
            "val": "val/ or holdout20",
        }
    )
    return rows


def _row(adapter, found: bool | None) -> dict:
    return {
        "name": adapter.name,
        "classes": str(adapter.num_classes) + (" (multi-label)" if adapter.multilabel else ""),
        "sizes": adapter.sizes,
        "metric": METRIC_NAMES.get(adapter.metric, adapter.metric),
        "val": adapter.val_source,
        "found": found,
        "download": adapter.downloadable,
        "layout": adapter.layout,
        "description": adapter.description,
    }
