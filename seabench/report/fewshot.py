"""Few-shot results: their own table (datasets x shots x method) and a curve per dataset.

Few-shot rows (those with ``shots``) are a different protocol from the full-data probe and never
enter the main table.  A cell is the mean over draws of the test score (seeds of one draw are
averaged first) with the standard deviation over draws: the spread that the random choice of k
images per class causes, which is what a few-shot comparison has to beat.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import pandas as pd

SPREAD = "± std over draws"


def split_fewshot(rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(full-data rows, few-shot rows)."""
    if "shots" not in rows:
        return rows, rows.iloc[0:0]
    few = rows["shots"].notna()
    return rows[~few].copy(), rows[few].copy()


@dataclass
class FewShot:
    """One line per (backbone, dataset, method, shots): mean, std over draws, draws, metric."""

    summary: pd.DataFrame
    backbones: list[str]
    display: dict[str, pd.DataFrame]


def _method(row: pd.Series) -> str:
    from seabench.report.tables import method_of

    return method_of(row)


def fewshot_report(rows: pd.DataFrame) -> FewShot:
    from seabench.report.tables import METHOD_ORDER, label

    df = rows.copy()
    df["method"] = df.apply(_method, axis=1)
    df["shots"] = df["shots"].astype(int)
    keys = ["backbone", "dataset", "method", "shots"]
    per_draw = df.groupby([*keys, "draw"], sort=False).agg(
        test=("test", "mean"), metric=("metric", "first")
    )
    summary = (
        per_draw.reset_index()
        .groupby(keys, sort=False)
        .agg(
            test=("test", "mean"),
            std=("test", "std"),
            draws=("test", "size"),
            metric=("metric", "first"),
        )
        .reset_index()
    )
    summary["std"] = summary["std"].fillna(0.0)
    rank = {m: i for i, m in enumerate(METHOD_ORDER)}
    summary["rank"] = summary["method"].map(lambda m: rank.get(m, len(rank)))
    summary = summary.sort_values(["backbone", "dataset", "shots", "rank", "method"])
    summary = summary.drop(columns="rank").reset_index(drop=True)
    summary["label"] = summary["method"].map(label)
    backbones = sorted(summary["backbone"].unique())
    display = {}
    for b in backbones:
        part = summary[summary["backbone"] == b]
        cols = list(dict.fromkeys(zip(part["shots"], part["label"], strict=True)))
        table = {}
        for d, dpart in part.groupby("dataset", sort=True):
            cells = {
                (r.shots, r.label): f"{r.test:.2f}" + (f" ± {r.std:.2f}" if r.draws > 1 else "")
                for r in dpart.itertuples()
            }
            table[d] = {"metric": dpart["metric"].iloc[0]} | {
                f"{k}-shot {lab}": cells.get((k, lab), "-") for k, lab in cols
            }
        out = pd.DataFrame.from_dict(table, orient="index")
        out.index.name = "dataset"
        display[b] = out
    return FewShot(summary, backbones, display)


def caption(fs: FewShot, b: str) -> str:
    """The title of a backbone's few-shot table: what a cell is, over how many draws."""
    draws = sorted(set(fs.summary.loc[fs.summary["backbone"] == b, "draws"]))
    return f"{b}: few-shot test score (%), mean {SPREAD} ({'/'.join(map(str, draws))} draws)"


def markdown_parts(fs: FewShot | None, md_table) -> list[str]:
    return [
        f"## {b}: few-shot\n\n{caption(fs, b)}\n\n{md_table(fs.display[b].reset_index())}"
        for b in (fs.backbones if fs else [])
    ]


def json_part(fs: FewShot | None) -> list[dict]:
    import json

    return json.loads(fs.summary.to_json(orient="records")) if fs else []


def curve(fs: FewShot, backbone: str, dataset: str) -> str | None:
    """Score against shots (log axis), one line per method, the band its std over draws."""
    from matplotlib.ticker import FixedLocator, FormatStrFormatter, NullLocator

    from seabench.report.plots import _color, _figure, _svg

    part = fs.summary[(fs.summary["backbone"] == backbone) & (fs.summary["dataset"] == dataset)]
    if part.empty:
        return None
    fig = _figure(5.0, 3.2)
    ax = fig.add_subplot()
    for m, mp in part.groupby("method", sort=False):
        mp = mp.sort_values("shots")
        x, y, s = mp["shots"].to_numpy(), mp["test"].to_numpy(), mp["std"].to_numpy()
        ax.plot(x, y, marker="o", color=_color(m), label=mp["label"].iloc[0])
        ax.fill_between(x, y - s, y + s, color=_color(m), alpha=0.2, linewidth=0)
    shots = sorted(part["shots"].unique())
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(FixedLocator(shots))
    ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel("training images per class (shots)")
    ax.set_ylabel(f"test score (%), {part['metric'].iloc[0]}")
    ax.set_title(f"{backbone} / {dataset}: few-shot")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    return _svg(fig)


def html_parts(fs: FewShot | None, table, figure) -> list[str]:
    out = []
    for b in fs.backbones if fs else []:
        out += [
            f"<h2>{html.escape(b)}: few-shot</h2>",
            f"<p>{html.escape(caption(fs, b))}</p>",
            table(fs.display[b].reset_index()),
        ]
        for d in fs.display[b].index:
            out.append(
                figure(curve(fs, b, d), f"{b} / {d}: test score against shots, band {SPREAD}")
            )
    return out
