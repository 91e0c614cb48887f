"""`seabench report --compare A B`: the paired table of two methods (or two backbones) across
datasets, with the average over datasets and its own interval (each dataset resampled within
itself, then averaged)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from seabench.errors import SeabenchError
from seabench.predictions import PredictionStore
from seabench.report.intervals import NO_PREDICTIONS, NOT_PAIRED, IntervalSettings, _stream
from seabench.report.seeds import distinct_seeds
from seabench.report.tables import LABELS, label, prepare
from seabench.stats.bootstrap import interval, replicates
from seabench.stats.paired import Delta, dataset_average, paired_delta, seed_average


def _method_key(name: str, methods: set[str]) -> str | None:
    if name in methods:
        return name
    by_label = {label(m): m for m in methods}
    return by_label.get(name) or {v: k for k, v in LABELS.items()}.get(name)


def _side(rows: pd.DataFrame, store: PredictionStore) -> tuple[list, str | None, str]:
    """The predictions of a cell's rows (all seeds), their test items, or why not."""
    if rows["external"].any():
        return [], None, "published: no interval"
    items = set(rows["test_items"].astype(str)) if "test_items" in rows else {"None"}
    if len(items) != 1 or items & {"None", "nan", ""}:
        return [], None, NO_PREDICTIONS if items & {"None", "nan", ""} else NOT_PAIRED
    ids = rows["row_id"] if "row_id" in rows else [None] * len(rows)
    preds = [store.read(str(r)) if isinstance(r, str) else None for r in ids]
    if any(p is None for p in preds):
        return [], None, NO_PREDICTIONS
    return preds, items.pop(), ""


def compare_table(
    rows: pd.DataFrame, a: str, b: str, store: PredictionStore | None, settings: IntervalSettings
) -> pd.DataFrame:
    """One line per (group, dataset) and an average line per group: A, B, A - B, interval, p."""
    df = prepare(distinct_seeds(rows)[0])  # each seed once, as in the report's tables
    methods, backbones = set(df["method"]), set(df["backbone"])
    ma, mb = _method_key(a, methods), _method_key(b, methods)
    if ma and mb:
        pairs = [(bk, (bk, ma), (bk, mb)) for bk in sorted(backbones)]
        kind = "backbone"
    elif a in backbones and b in backbones:
        pairs = [(m, (a, m), (b, m)) for m in sorted(methods)]
        kind = "method"
    else:
        known = ", ".join(sorted(methods | backbones))
        raise SeabenchError(
            f"--compare {a} {b}: name two methods or two backbones of these rows ({known})"
        )
    store = store or PredictionStore(".nonexistent")
    out = []
    for group, (ba, xa), (bb, xb) in pairs:
        per = []  # (dataset, point a, point b, reps a, reps b)
        for d in sorted(set(df["dataset"]), key=str):
            ra = df[(df.backbone == ba) & (df.dataset == d) & (df.method == xa)]
            rb = df[(df.backbone == bb) & (df.dataset == d) & (df.method == xb)]
            if ra.empty or rb.empty:
                continue
            pa, pb = float(ra["test"].mean()), float(rb["test"].mean())
            line = {kind: group, "dataset": d, "a": pa, "b": pb, "delta": pa - pb}
            preds_a, items_a, why_a = _side(ra, store)
            preds_b, items_b, why_b = _side(rb, store)
            why = why_a or why_b or ("" if items_a == items_b else NOT_PAIRED)
            if not why:
                labels = preds_a[0].labels
                if not all(np.array_equal(p.labels, labels) for p in preds_a + preds_b):
                    why = NOT_PAIRED
            if why:
                out.append({**line, "note": why})
                per.append(None)
                continue
            metric = str(ra["metric"].iloc[0])
            cols = [p.column(metric) for p in preds_a + preds_b]
            _, reps = replicates(
                metric, labels, cols, settings.resamples, _stream(settings, items_a)
            )
            _, rep_a, _ = seed_average(ra["test"].to_numpy(float), reps[:, : len(preds_a)])
            _, rep_b, _ = seed_average(rb["test"].to_numpy(float), reps[:, len(preds_a) :])
            dd = paired_delta(pa, pb, rep_a, rep_b, settings.confidence)
            out.append({**line, **_stats(dd)})
            per.append((pa, pb, rep_a, rep_b))
        if len(per) > 1:
            line = {kind: group, "dataset": "average"}
            if any(p is None for p in per):
                vals = [r for r in out if r[kind] == group and r["dataset"] != "average"]
                pa = float(np.mean([r["a"] for r in vals]))
                pb = float(np.mean([r["b"] for r in vals]))
                out.append({**line, "a": pa, "b": pb, "delta": pa - pb, "note": NO_PREDICTIONS})
                continue
            pa, rep_a = dataset_average([p[0] for p in per], [p[2] for p in per])
            pb, rep_b = dataset_average([p[1] for p in per], [p[3] for p in per])
            dd = paired_delta(pa, pb, rep_a, rep_b, settings.confidence)
            out.append({**line, "a": pa, "b": pb, "delta": pa - pb, **_stats(dd)})
    if not out:
        raise SeabenchError(f"--compare {a} {b}: no dataset has rows of both")
    cols = [kind, "dataset", "a", "b", "delta", "ci_low", "ci_high", "p", "significant", "note"]
    table = pd.DataFrame(out).reindex(columns=cols)
    table.attrs["names"] = (a, b)
    return table


def _stats(d: Delta) -> dict:
    return {
        "ci_low": d.low,
        "ci_high": d.high,
        "p": d.p,
        "significant": d.significant,
        "note": "",
    }


def compare_display(table: pd.DataFrame, confidence: float) -> pd.DataFrame:
    """Strings for the terminal: ``+0.60* (+0.1, +1.1)`` and ``p`` beside."""
    a, b = table.attrs.get("names", ("A", "B"))
    kind = table.columns[0]
    out = pd.DataFrame(
        {
            kind: table[kind],
            "dataset": table["dataset"],
            a: table["a"].map(lambda v: f"{v:.2f}"),
            b: table["b"].map(lambda v: f"{v:.2f}"),
        }
    )
    pct = f"{100 * confidence:g}%"
    out[f"{a} - {b}"] = [
        f"{r.delta:+.2f}" + ("*" if r.significant is True else "")
        if pd.notna(r.ci_low)
        else f"{r.delta:+.2f} ({r.note})"
        for r in table.itertuples()
    ]
    out[f"{pct} interval"] = [
        f"{r.ci_low:+.2f} to {r.ci_high:+.2f}" if pd.notna(r.ci_low) else "-"
        for r in table.itertuples()
    ]
    out["p"] = [f"{r.p:.4f}" if pd.notna(r.p) else "-" for r in table.itertuples()]
    return out


__all__ = ["compare_display", "compare_table", "interval"]
