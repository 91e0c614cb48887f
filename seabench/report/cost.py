"""The cost table: seconds spent per backbone and dataset on extraction, probes and fine-tuning,
over the rows the report counts (each configuration and seed once), and its cells as text for
every renderer."""

from __future__ import annotations

import pandas as pd

from seabench.report.tables import Report, _num, prepare

COST_LABELS = {
    "extract_s": "extraction s",
    "probe_s": "probe search s",
    "finetune_s": "fine-tune s",
    "finetune_cpu_s": "fine-tune CPU s",
    "finetune_gpu_s": "fine-tune GPU s",
}


def cost_table(
    rows: pd.DataFrame, extraction_seconds: dict[str, float] | None = None
) -> pd.DataFrame:
    """Seconds spent per backbone and dataset: extraction (from the cache), probes, fine-tuning."""
    df = prepare(rows)
    df = df[~df["external"]]
    extraction_seconds = extraction_seconds or {}
    out = []
    for (b, d), part in df.groupby(["backbone", "dataset"], sort=True):
        keys = {k for k in part["features_key"].dropna().astype(str) if k}
        known = [extraction_seconds[k] for k in keys if extraction_seconds.get(k) is not None]
        probe = part[part["method"] != "finetune"]
        ft = part[part["method"] == "finetune"]
        out.append(
            {
                "backbone": b,
                "dataset": d,
                "extract_s": round(sum(known), 1) if known else None,
                "probe_s": round(
                    float(
                        (
                            _num(probe, "search_seconds").fillna(0)
                            + _num(probe, "seconds").fillna(0)
                        ).sum()
                    ),
                    1,
                )
                if len(probe)
                else None,
                "finetune_s": round(float(_num(ft, "wall_seconds").fillna(0).sum()), 1)
                if len(ft)
                else None,
                "finetune_cpu_s": round(float(_num(ft, "cpu_seconds").fillna(0).sum()), 1)
                if len(ft)
                else None,
                "finetune_gpu_s": round(float(_num(ft, "gpu_seconds").fillna(0).sum()), 1)
                if len(ft)
                else None,
            }
        )
    return pd.DataFrame(
        out,
        columns=[
            "backbone",
            "dataset",
            "extract_s",
            "probe_s",
            "finetune_s",
            "finetune_cpu_s",
            "finetune_gpu_s",
        ],
    )


def cost_display(report: Report) -> pd.DataFrame:
    """Seconds with one decimal, ``-`` where nothing was spent or measured (readable headers)."""
    cost = report.cost.copy()
    for col in COST_LABELS:
        cost[col] = cost[col].map(lambda v: "-" if v is None or pd.isna(v) else f"{v:.1f}")
    return cost.rename(columns=COST_LABELS)
