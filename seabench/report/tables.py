"""Comparison tables from result rows: per backbone, datasets x methods, with deltas.

Rows from different protocols (a different split manifest or selection) are never averaged
together: a cell whose rows disagree on the protocol is an error that says so.
"""

from __future__ import annotations

import pandas as pd

from seabench.errors import SeabenchError

PROTOCOL_FIELDS = ("manifest_hash", "selected_on", "val_source", "metric")
METHOD_ORDER = ["none", "sea", "adv", "random", "noise", "dropout", "mixup", "nn", "views", "sla",
                "lbfgs", "finetune"]
LABELS = {"none": "linear", "sea": "linear+SeA", "lbfgs": "logreg (L-BFGS)",
          "finetune": "fine-tune"}


def method_of(row: pd.Series) -> str:
    return "lbfgs" if row.get("solver") == "lbfgs" else row["aug"]


def summarise(rows: pd.DataFrame) -> pd.DataFrame:
    """One line per (backbone, dataset, method): mean and std of test over seeds, n seeds."""
    if rows.empty:
        raise SeabenchError("no result rows yet; run `seabench probe` (or `make demo`) first")
    df = rows.copy()
    df["method"] = df.apply(method_of, axis=1)
    for col in PROTOCOL_FIELDS:
        if col not in df:
            df[col] = None
    keys = ["backbone", "dataset", "method"]
    clash = df.groupby(keys)[list(PROTOCOL_FIELDS)].nunique(dropna=False).max(axis=1) > 1
    if clash.any():
        b, d, m = clash[clash].index[0]
        raise SeabenchError(
            f"rows for {b} / {d} / {m} come from different protocols (split or selection); "
            "report them from separate --home directories or filter with --dataset/--backbone"
        )
    agg = df.groupby(keys).agg(test=("test", "mean"), std=("test", "std"),
                               seeds=("test", "size"), metric=("metric", "first"),
                               seconds=("seconds", "sum"))
    agg["std"] = agg["std"].fillna(0.0)
    return agg.reset_index()


def comparison(summary: pd.DataFrame, backbone: str) -> pd.DataFrame:
    """Datasets x methods (mean test), with the SeA gain, and an average row."""
    part = summary[summary["backbone"] == backbone]
    wide = part.pivot(index="dataset", columns="method", values="test")
    cols = [m for m in METHOD_ORDER if m in wide.columns] + sorted(
        c for c in wide.columns if c not in METHOD_ORDER)
    wide = wide[cols]
    if {"none", "sea"} <= set(wide.columns):
        wide["sea-none"] = wide["sea"] - wide["none"]
    if {"sea", "finetune"} <= set(wide.columns):
        wide["sea-finetune"] = wide["sea"] - wide["finetune"]
    if len(wide) > 1:
        wide.loc["average"] = wide.mean(numeric_only=True)
    return wide


def cell_text(summary: pd.DataFrame, backbone: str, dataset: str, method: str) -> str:
    hit = summary[(summary.backbone == backbone) & (summary.dataset == dataset)
                  & (summary.method == method)]
    if hit.empty:
        return "-"
    r = hit.iloc[0]
    return f"{r.test:.2f}" + (f" ± {r['std']:.2f}" if r.seeds > 1 else "")


def display_table(summary: pd.DataFrame, backbone: str) -> pd.DataFrame:
    """The comparison as strings (mean ± std where there are several seeds)."""
    wide = comparison(summary, backbone)
    out = pd.DataFrame(index=wide.index)
    for col in wide.columns:
        if col in ("sea-none", "sea-finetune"):
            out[col] = wide[col].map(lambda v: "-" if pd.isna(v) else f"{v:+.2f}")
        else:
            out[col] = [cell_text(summary, backbone, d, col) if d != "average"
                        else ("-" if pd.isna(wide.loc[d, col]) else f"{wide.loc[d, col]:.2f}")
                        for d in wide.index]
    metric = summary[summary.backbone == backbone].groupby("dataset")["metric"].first()
    out.insert(0, "metric", [metric.get(d, "") for d in out.index])
    out.columns = [LABELS.get(c, c) for c in out.columns]
    return out
