"""The report's cells with their intervals: score cells, paired delta cells with a significance
marker, the long table of every delta (interval and p-value), and the non-inferiority count.

Cell styles: ``84.00 ± 1.41 (83.1-84.9)`` (seed std, then the interval of the seed-averaged
score); deltas ``+4.00* (+3.1, +4.9)``, ``*`` when the interval excludes 0.  ``†`` marks a
number without interval because its rows have no stored predictions.
"""

from __future__ import annotations

import pandas as pd

from seabench.report.budget import column_tags
from seabench.report.intervals import NO_PREDICTIONS, PUBLISHED, Intervals
from seabench.report.tables import PUBLISHED as PUBLISHED_SUFFIX
from seabench.report.tables import comparison, label
from seabench.stats.paired import Delta

MARK = "*"
NO_CI = "†"
DELTA_COLUMNS = {"delta": ("sea", "none"), "gap": ("sea", "finetune")}


def _mark(why: str, anywhere: bool) -> str:
    """The marker of a number without interval: † for missing predictions (when other numbers
    have intervals; if none has, a note says so once), nothing for published numbers."""
    return f" {NO_CI}" if anywhere and why not in (PUBLISHED, "missing", "") else ""


def delta_text(d: Delta | str, value: float, show: bool, anywhere: bool) -> str:
    if isinstance(d, str):
        return f"{value:+.2f}{_mark(d, anywhere)}"
    text = f"{d.delta:+.2f}{MARK if d.significant else ''}"
    return text + (f" ({d.low:+.1f}, {d.high:+.1f})" if show else "")


def score_text(
    value: float, std: float, seeds: int, ci: tuple[float, float] | str | None, show: bool
) -> str:
    text = f"{value:.2f}" + (f" ± {std:.2f}" if seeds > 1 else "")
    if show and isinstance(ci, tuple):
        text += f" ({ci[0]:.1f}-{ci[1]:.1f})"
    return text


def display(
    summary: pd.DataFrame, backbone: str, iv: Intervals, show: bool, anywhere: bool
) -> pd.DataFrame:
    """The comparison as strings, intervals shown (``show``) or only the delta markers."""
    wide = comparison(summary, backbone)
    datasets = [d for d in wide.index if d != "average"]
    part = summary[summary.backbone == backbone]
    header, tagged = column_tags(part, wide.columns)
    part = part.set_index(["dataset", "method"])
    out = pd.DataFrame(index=wide.index)
    for col in wide.columns:
        cells = []
        for d in wide.index:
            v = wide.loc[d, col]
            if pd.isna(v):
                cells.append("-")
                continue
            if col in DELTA_COLUMNS:
                a, b = DELTA_COLUMNS[col]
                if d == "average":
                    used = [x for x in datasets if pd.notna(wide.loc[x, col])]
                    dd = iv.average_delta(backbone, used, a, b)
                else:
                    dd = iv.delta(backbone, d, a, b)
                cells.append(delta_text(dd, v, show, anywhere))
            elif d == "average":
                used = [x for x in datasets if pd.notna(wide.loc[x, col])]
                ci = iv.average(backbone, used, col)
                cells.append(score_text(v, 0.0, 1, ci, show) + _why(ci, anywhere))
            else:
                r = part.loc[(d, col)]
                ci = iv.score(backbone, d, col)
                cell = iv.cell(backbone, d, col)
                why = "" if ci is not None else (cell.why if cell else "")
                text = score_text(v, r["std"], r["seeds"], ci, show) + _mark(why, anywhere)
                cells.append(text + (f" ({tagged[d, col]})" if (d, col) in tagged else ""))
        if "average" in wide.index:
            k = int(wide.loc[datasets, col].notna().sum())
            if k < len(datasets) and cells[-1] != "-":
                cells[-1] += f" ({k}/{len(datasets)})"
        out[col] = cells
    metric = summary[summary.backbone == backbone].groupby("dataset")["metric"].first()
    out.insert(0, "metric", [metric.get(d, "") if d != "average" else "" for d in out.index])
    out.columns = [
        "metric",
        *[label(c) + (f" ({header[c]})" if header.get(c) else "") for c in wide.columns],
    ]
    out.index.name = "dataset"
    return out


def _why(ci, anywhere: bool) -> str:
    return _mark(ci, anywhere) if isinstance(ci, str) else ""


def deltas(summary: pd.DataFrame, iv: Intervals) -> pd.DataFrame:
    """Every delta the report can show: each method - linear, each method - fine-tune, per
    dataset and averaged over datasets, with interval, p-value and significance."""
    out = []
    for b in sorted(summary["backbone"].unique()):
        wide = comparison(summary, b)
        methods = [
            m
            for m in wide.columns
            if m not in DELTA_COLUMNS and not str(m).endswith(PUBLISHED_SUFFIX)
        ]
        datasets = [d for d in wide.index if d != "average"]
        for base in ("none", "finetune"):
            if base not in methods:
                continue
            for m in methods:
                if m == base:
                    continue
                used = [
                    d for d in datasets if pd.notna(wide.loc[d, m]) and pd.notna(wide.loc[d, base])
                ]
                for d in [*used, "average"] if len(used) > 1 else used:
                    if d == "average":
                        value = float((wide.loc[used, m] - wide.loc[used, base]).mean())
                        dd = iv.average_delta(b, used, m, base)
                    else:
                        value = float(wide.loc[d, m] - wide.loc[d, base])
                        dd = iv.delta(b, d, m, base)
                    out.append(_delta_row(b, d, m, base, value, dd))
    cols = [
        "backbone", "dataset", "method", "baseline", "label", "delta",
        "ci_low", "ci_high", "p", "significant", "note",
    ]  # fmt: skip
    return pd.DataFrame(out, columns=cols)


def _delta_row(b: str, d: str, m: str, base: str, value: float, dd: Delta | str) -> dict:
    row = {
        "backbone": b,
        "dataset": d,
        "method": m,
        "baseline": base,
        "label": f"{label(m)} - {label(base)}",
        "delta": round(value, 4),
    }
    if isinstance(dd, Delta):
        row.update(
            ci_low=round(dd.low, 4),
            ci_high=round(dd.high, 4),
            p=round(dd.p, 5),
            significant=dd.significant,
            note="",
        )
    else:
        row.update(ci_low=None, ci_high=None, p=None, significant=None, note=dd)
    return row


def noninferiority(summary: pd.DataFrame, backbone: str, iv: Intervals, margin: float) -> dict:
    """Tasks where the lower end of the interval of (SeA - fine-tune) lies above -margin."""
    wide = comparison(summary, backbone).drop(index="average", errors="ignore")
    if "gap" not in wide:
        return {"k": 0, "n": 0, "without_interval": 0, "datasets": []}
    ok, n, missing = [], 0, 0
    for d in wide["gap"].dropna().index:
        dd = iv.delta(backbone, d, "sea", "finetune")
        if isinstance(dd, str):
            missing += 1
            continue
        n += 1
        if dd.low > -margin:
            ok.append(str(d))
    return {"k": len(ok), "n": n, "without_interval": missing, "datasets": ok}


def noninferiority_sentence(m: dict, margin: float, confidence: float) -> str:
    if not m["n"] and not m["without_interval"]:
        return ""
    if not m["n"]:
        return f"non-inferiority: no interval ({NO_PREDICTIONS})"
    text = (
        f"non-inferior (lower end of the {100 * confidence:g}% interval of SeA - fine-tune "
        f"above -{margin:g}) on {m['k']} of {m['n']}"
    )
    if m["without_interval"]:
        text += f" ({m['without_interval']} without interval: {NO_PREDICTIONS})"
    return text
