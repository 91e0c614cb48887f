"""Comparison tables from result rows: per backbone, datasets x methods, with deltas and costs.

Rows from different protocols are never averaged together.  Inside one cell (backbone, dataset,
method) the rows averaged over seeds must agree on the selection, the validation source and the
metric, or the report refuses with a message saying which.  Rows of one dataset made on different
splits or image sizes (say a ``--subset`` smoke run beside the full run) are shown as separate
dataset rows, labelled with their split, rather than merged.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from seabench.errors import SeabenchError
from seabench.report import budget
from seabench.report.fewshot import FewShot, fewshot_report, split_fewshot
from seabench.report.seeds import distinct_seeds, superseded_note

#: must agree inside a cell, or the report refuses
PROTOCOL_FIELDS = ("selected_on", "val_source", "metric")
#: where these differ, one dataset becomes several labelled rows
VARIANT_FIELDS = ("manifest_hash", "image_size")
METHOD_ORDER = [
    "none",
    "sea",
    "finetune",
    "adv",
    "random",
    "noise",
    "dropout",
    "mixup",
    "nn",
    "views",
    "sla",
    "lbfgs",
    "knn",
]
LABELS = {
    "none": "linear",
    "sea": "linear+SeA",
    "lbfgs": "logreg (L-BFGS)",
    "knn": "k-NN",
    "finetune": "fine-tune",
    "delta": "delta (SeA-linear)",
    "gap": "gap to fine-tune",
}
PUBLISHED = " (published)"


def method_of(row: pd.Series) -> str:
    """The report's method of a row: its aug for the SGD probe, else its solver (``lbfgs``,
    ``knn``, ``finetune``), or published."""
    if row.get("external") in (True,):  # numpy and Python booleans; NaN is not external
        return f"{row['aug']}{PUBLISHED}"
    solver = row.get("solver")
    return solver if isinstance(solver, str) and solver != "sgd" else row["aug"]


def label(method: str) -> str:
    """Display name: "sea" -> "linear+SeA", "sea (published)" -> "linear+SeA (published)"."""
    base, sep, rest = method.partition(" (")
    return LABELS.get(base, base) + sep + rest


def _fixed_apart(df: pd.DataFrame) -> None:
    """Probe rows of one method with fixed hyperparameters beside searched ones become their own
    method (``sea (fixed hyperparameters)``): a different protocol, never averaged in."""
    probes = df[~df["external"] & (df["method"] != "finetune")]
    for _, part in probes.groupby(["backbone", "dataset", "method"]):
        chosen = part["selected_on"].astype(str)
        if chosen.nunique() < 2 or not (chosen == "val").any():
            continue
        other = part.index[chosen != "val"]
        df.loc[other, "method"] = [
            f"{m} ({'fixed hyperparameters' if c.startswith('none') else 'selected on ' + c})"
            for m, c in zip(df.loc[other, "method"], chosen[chosen != "val"], strict=True)
        ]


def _num(df: pd.DataFrame, col: str) -> pd.Series:
    return pd.to_numeric(df[col], errors="coerce") if col in df else pd.Series(0.0, df.index)


def prepare(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows with ``method`` and a ``dataset`` label that keeps protocol variants apart."""
    if rows.empty:
        raise SeabenchError("no result rows yet; run `seabench probe` (or `make demo`) first")
    df = rows.copy().reset_index(drop=True)
    df["external"] = df["external"].eq(True) if "external" in df else False
    for col in (*PROTOCOL_FIELDS, *VARIANT_FIELDS, "source", "features_key"):
        if col not in df:
            df[col] = None
    if "seed" not in df:
        df["seed"] = None
    df["seed"] = df["seed"].where(df["seed"].notna(), pd.Series(-1 - df.index, df.index))
    df["method"] = df.apply(method_of, axis=1)
    _fixed_apart(df)
    df["dataset_name"] = df["dataset"]
    measured = df[~df["external"]]
    for (_b, d), part in measured.groupby(["backbone", "dataset"]):
        variants = part[list(VARIANT_FIELDS)].astype(str).drop_duplicates()
        if len(variants) < 2:
            continue
        for _, v in variants.iterrows():
            mask = (
                df.index.isin(part.index)
                & (df["manifest_hash"].astype(str) == v.manifest_hash)
                & (df["image_size"].astype(str) == v.image_size)
            )
            size = str(v.image_size).removesuffix(".0")  # str(): a row without one is NaN
            df.loc[mask, "dataset"] = f"{d} [split {str(v.manifest_hash)[:6]}, {size} px]"
    budget.add_budget(df)  # after the split variants: a --subset run is not a budget
    keys = ["backbone", "dataset", "method"]
    for col in PROTOCOL_FIELDS:
        seen = df.groupby(keys)[col].agg(lambda s: sorted(set(map(str, s))))
        clash = seen[seen.map(len) > 1]
        if len(clash):
            (b, d, m), values = clash.index[0], clash.iloc[0]
            raise SeabenchError(
                f"rows for {b} / {d} / {m} come from different protocols ({col}: "
                f"{' vs '.join(values)}); they cannot be averaged together: keep such runs "
                "in separate --home directories and report each one"
            )
    return df


def summarise(rows: pd.DataFrame) -> pd.DataFrame:
    """One line per (backbone, dataset, method): mean and std of test over seeds, n seeds."""
    df = prepare(rows)
    df["probe_seconds"] = _num(df, "search_seconds").fillna(0) + _num(df, "seconds").fillna(0)
    df.loc[df["method"] == "finetune", "probe_seconds"] = 0.0
    df["finetune_seconds"] = _num(df, "wall_seconds").where(df["method"] == "finetune", 0.0)
    agg = df.groupby(["backbone", "dataset", "method"], sort=False).agg(
        test=("test", "mean"),
        std=("test", "std"),
        seeds=("seed", "nunique"),
        rows=("test", "size"),
        metric=("metric", "first"),
        external=("external", "first"),
        source=("source", "first"),
        probe_seconds=("probe_seconds", "sum"),
        finetune_seconds=("finetune_seconds", "sum"),
        selected_on=("selected_on", "first"),
        budget=("budget", "first"),
    )
    agg["std"] = agg["std"].fillna(0.0)
    agg["label"] = [label(m) for m in agg.index.get_level_values("method")]
    agg = agg.reset_index()
    agg["tag"] = [
        budget.cell_tag(m, b, s)
        for m, b, s in zip(agg["method"], agg["budget"], agg["selected_on"], strict=True)
    ]
    return agg


SUMMARY_COLUMNS = [
    "backbone",
    "dataset",
    "method",
    "test",
    "std",
    "seeds",
    "rows",
    "metric",
    "external",
    "source",
    "probe_seconds",
    "finetune_seconds",
    "selected_on",
    "budget",
    "label",
    "tag",
]


def column_order(methods) -> list[str]:
    methods = set(methods)
    own = [m for m in METHOD_ORDER if m in methods]
    other = sorted(m for m in methods if m not in METHOD_ORDER and not m.endswith(PUBLISHED))
    cols = own + other + sorted(m for m in methods if m.endswith(PUBLISHED))
    if {"none", "sea"} <= methods:
        cols.insert(cols.index("sea") + 1, "delta")
    if {"sea", "finetune"} <= methods:
        cols.insert(cols.index("finetune") + 1, "gap")
    return cols


def comparison(summary: pd.DataFrame, backbone: str) -> pd.DataFrame:
    """Datasets x methods (mean test), the SeA gain, the gap to fine-tuning, an average row."""
    part = summary[summary["backbone"] == backbone]
    wide = part.pivot(index="dataset", columns="method", values="test")
    wide = wide.reindex(sorted(wide.index, key=str))
    if {"none", "sea"} <= set(wide.columns):
        wide["delta"] = wide["sea"] - wide["none"]
    if {"sea", "finetune"} <= set(wide.columns):
        wide["gap"] = wide["sea"] - wide["finetune"]
    wide = wide[column_order(part["method"])]
    wide.columns.name = None
    if len(wide) > 1:
        wide.loc["average"] = wide.mean(numeric_only=True)
    return wide


def within_margin(summary: pd.DataFrame, backbone: str, margin: float = 1.0) -> dict:
    """On how many datasets linear+SeA is within ``margin`` points of fine-tuning (or above)."""
    wide = comparison(summary, backbone).drop(index="average", errors="ignore")
    if "gap" not in wide:
        return {"k": 0, "n": 0, "margin": margin, "datasets": [], "finetune": ""}
    both = wide["gap"].dropna()
    ok = both[both >= -margin]
    name = budget.finetune_name(summary[summary["backbone"] == backbone], both.index)
    return {
        "k": len(ok),
        "n": len(both),
        "margin": margin,
        "datasets": list(map(str, ok.index)),
        "finetune": name,
    }


def margin_sentence(m: dict) -> str:
    if not m["n"]:
        return "no dataset has both linear+SeA and fine-tuning results yet"
    points = "point" if m["margin"] == 1 else "points"
    against = f", against {m['finetune']}" if m.get("finetune") else ""
    return (
        f"SeA within {m['margin']:g} {points} of fine-tuning (or above it) on {m['k']} of {m['n']} "
        f"task{'s' if m['n'] != 1 else ''}{against}"
    )


@dataclass
class Report:
    """Everything a renderer needs, computed once from the rows.

    ``display`` is the compact table (deltas marked when significant), ``display_ci`` the one
    with every interval; ``deltas`` lists every paired delta with its interval and p-value.
    """

    summary: pd.DataFrame
    backbones: list[str]
    tables: dict[str, pd.DataFrame]
    display: dict[str, pd.DataFrame]
    margins: dict[str, dict]
    cost: pd.DataFrame
    sources: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: few-shot rows: their own table and curves (``report.fewshot``), None without any
    fewshot: FewShot | None = None
    display_ci: dict[str, pd.DataFrame] = field(default_factory=dict)
    deltas: pd.DataFrame = field(default_factory=pd.DataFrame)
    confidence: float = 0.95
    #: versions, devices, selection protocol, rows counted (``provenance.collect``)
    provenance: dict = field(default_factory=dict)
    #: rows left out because a later row has the same configuration and seed (seeds.py)
    superseded: pd.DataFrame = field(default_factory=pd.DataFrame)


def margin_line(report: Report, backbone: str) -> str:
    """The plain count, and beside it the non-inferiority count where intervals exist."""
    m = report.margins[backbone]
    extra = m.get("noninferior_sentence", "")
    return margin_sentence(m) + (f"; {extra}" if extra else "")


def build_report(
    rows: pd.DataFrame,
    extraction_seconds: dict[str, float] | None = None,
    margin: float = 1.0,
    predictions=None,
    settings=None,
    skipped: int = 0,
) -> Report:
    """The report; with ``predictions`` (a PredictionStore) every score and delta gets its
    bootstrap interval (``settings``: an IntervalSettings), else each says why it has none.
    ``skipped``: unreadable lines of the results files (for the provenance block)."""
    from seabench.report import annotate, provenance
    from seabench.report.cost import cost_table
    from seabench.report.intervals import NO_PREDICTIONS, IntervalSettings, compute

    settings = settings or IntervalSettings()
    everything = rows
    rows, superseded = distinct_seeds(rows)
    rows, few = split_fewshot(rows)
    fewshot = fewshot_report(few) if len(few) else None
    notes = [superseded_note(superseded)] if len(superseded) else []
    if rows.empty and fewshot is not None:
        empty = pd.DataFrame(columns=SUMMARY_COLUMNS)
        origin = provenance.collect(everything, len(few), skipped)
        return Report(
            empty,
            [],
            {},
            {},
            {},
            pd.DataFrame(),
            [],
            notes,
            fewshot=fewshot,
            provenance=origin,
            superseded=superseded,
        )
    summary = summarise(rows)
    iv = compute(prepare(rows), predictions, settings)
    backbones = sorted(summary["backbone"].unique())
    cis = [
        iv.score(b, d, m)
        for b, d, m in zip(*(summary[k] for k in ("backbone", "dataset", "method")), strict=True)
    ]
    summary["ci_low"] = [c[0] if c else None for c in cis]
    summary["ci_high"] = [c[1] if c else None for c in cis]
    summary["ci_note"] = [
        "" if c else (iv.cell(b, d, m).why if iv.cell(b, d, m) else "")
        for c, b, d, m in zip(
            cis, summary["backbone"], summary["dataset"], summary["method"], strict=True
        )
    ]
    anywhere = any(c is not None for c in cis)
    tables = {b: comparison(summary, b) for b in backbones}
    display = {b: annotate.display(summary, b, iv, False, anywhere) for b in backbones}
    display_ci = {b: annotate.display(summary, b, iv, True, anywhere) for b in backbones}
    margins = {}
    for b in backbones:
        m = within_margin(summary, b, margin)
        ni = annotate.noninferiority(summary, b, iv, margin)
        m["noninferior"] = ni
        m["noninferior_sentence"] = annotate.noninferiority_sentence(
            ni, margin, settings.confidence
        )
        margins[b] = m
    sources = sorted({str(s) for s in summary.loc[summary["external"], "source"].dropna()})
    notes += budget.notes(summary)
    if sources:
        notes.append("(published): numbers copied from the sources below, not measured here")
    pct = f"{100 * settings.confidence:g}%"
    missing = summary[~summary["external"] & summary["ci_low"].isna()]
    if anywhere:
        notes.append(
            f"intervals: {pct} bootstrap percentile intervals over test images "
            f"({settings.resamples:,} resamples, seed {settings.seed}): test-set sampling "
            "uncertainty, not seed variation (± is the seed std); deltas are paired on the same "
            f"resampled images, {annotate.MARK} = the interval excludes 0"
        )
    if len(missing):
        notes.append(
            f"{annotate.NO_CI + ' ' if anywhere else ''}no interval: {NO_PREDICTIONS} for "
            f"{len(missing)} cell(s) (rows recorded before seabench kept test predictions); "
            "run those probes again to get intervals"
        )
    if sources:
        notes.append("(published) numbers have no interval: no predictions exist for them")
    return Report(
        summary,
        backbones,
        tables,
        display,
        margins,
        cost_table(rows, extraction_seconds),
        sources,
        notes,
        fewshot=fewshot,
        display_ci=display_ci,
        deltas=annotate.deltas(summary, iv),
        confidence=settings.confidence,
        provenance=provenance.collect(everything, int(summary["rows"].sum()) + len(few), skipped),
        superseded=superseded,
    )
