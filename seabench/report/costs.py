"""The cost table's cells as text, with readable headers: shared by every renderer."""

from __future__ import annotations

import pandas as pd

from seabench.report.tables import Report

COST_LABELS = {
    "extract_s": "extraction s",
    "probe_s": "probe search s",
    "finetune_s": "fine-tune s",
    "finetune_cpu_s": "fine-tune CPU s",
    "finetune_gpu_s": "fine-tune GPU s",
}


def cost_display(report: Report) -> pd.DataFrame:
    """Seconds with one decimal, ``-`` where nothing was spent or measured."""
    cost = report.cost.copy()
    for col in COST_LABELS:
        cost[col] = cost[col].map(lambda v: "-" if v is None or pd.isna(v) else f"{v:.1f}")
    return cost.rename(columns=COST_LABELS)
