"""Plots for the HTML report, drawn with matplotlib (no pyplot, no display) as inline SVG."""

from __future__ import annotations

import io

import pandas as pd

from seabench.report.names import break_name
from seabench.report.tables import METHOD_ORDER, Report, label

COLORS = {
    "none": "#8c8c8c",
    "sea": "#1f77b4",
    "finetune": "#d62728",
    "views": "#ff7f0e",
    "sla": "#2ca02c",
    "lbfgs": "#9467bd",
    "knn": "#7f7f00",
    "adv": "#8c564b",
    "random": "#e377c2",
    "noise": "#bcbd22",
    "dropout": "#17becf",
    "mixup": "#aec7e8",
    "nn": "#ffbb78",
}
OTHER = "#444444"  # methods without a colour of their own (published rows, new augmentations)
TICK_WIDTH = 24  # characters of a dataset name per line under a bar; longer names wrap


def _color(method: str) -> str:
    return COLORS.get(method, OTHER)


def _svg(fig) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    text = buf.getvalue()
    return text[text.index("<svg") :]  # drop the XML prolog: the SVG goes inline in HTML


def _figure(width: float, height: float):
    import matplotlib

    matplotlib.rcParams["svg.hashsalt"] = "seabench"  # stable ids, so reports diff cleanly
    matplotlib.rcParams["svg.fonttype"] = "none"
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _errors(values, lows, highs):
    """matplotlib's (2, n) yerr from intervals; 0 where a number has no interval."""
    lo = [v - x if pd.notna(x) else 0.0 for v, x in zip(values, lows, strict=True)]
    hi = [x - v if pd.notna(x) else 0.0 for v, x in zip(values, highs, strict=True)]
    return [[max(0.0, e) for e in lo], [max(0.0, e) for e in hi]]


def grouped_bars(
    table: pd.DataFrame, backbone: str, summary: pd.DataFrame | None = None
) -> str | None:
    """Per dataset, one bar per method of the table (linear, linear+SeA, fine-tune, ...), with
    the score's interval as an error bar where it has one."""
    methods = [m for m in METHOD_ORDER if m in table and table[m].notna().any()]
    data = table.drop(index="average", errors="ignore")
    if not methods or data.empty:
        return None
    fig = _figure(max(4.0, (0.3 * len(methods) + 0.4) * len(data) + 2.5), 3.2)
    ax = fig.add_subplot()
    width = 0.8 / len(methods)
    for i, m in enumerate(methods):
        xs = [j + (i - (len(methods) - 1) / 2) * width for j in range(len(data))]
        values = data[m].fillna(0).to_numpy()
        yerr = None
        if summary is not None and "ci_low" in summary:
            part = summary[(summary.backbone == backbone) & (summary.method == m)].set_index(
                "dataset"
            )
            lows = [part["ci_low"].get(d) for d in data.index]
            highs = [part["ci_high"].get(d) for d in data.index]
            yerr = _errors(values, lows, highs)
        ax.bar(
            xs, values, width, label=label(m), color=_color(m), yerr=yerr, capsize=2,
            error_kw={"elinewidth": 0.8},
        )  # fmt: skip
    ax.set_xticks(range(len(data)), _names(data.index), rotation=20, ha="right")
    lo = float(data[methods].min().min())
    ax.set_ylim(max(0.0, lo - 10), 100)
    ax.set_ylabel("test score (%)")
    # title and legend above the plot, at its left: seen without scrolling a wide plot sideways
    ax.legend(
        loc="lower left", bbox_to_anchor=(0.0, 1.01), ncols=min(len(methods), 6),
        fontsize="small", frameon=False, title=f"{backbone}: test score per method",
        title_fontsize="medium", alignment="left",
    )  # fmt: skip
    return _svg(fig)


def _names(index) -> list[str]:
    return [break_name(str(d), TICK_WIDTH) for d in index]


def delta_chart(
    table: pd.DataFrame, backbone: str, deltas: pd.DataFrame | None = None
) -> str | None:
    """Per dataset, the gain of SeA over the plain linear probe (points), with its paired
    interval as an error bar where it has one."""
    if "delta" not in table:
        return None
    data = table["delta"].drop(index="average", errors="ignore").dropna()
    if data.empty:
        return None
    fig = _figure(max(4.0, 0.9 * len(data) + 1.5), 2.8)
    ax = fig.add_subplot()
    yerr = None
    if deltas is not None and len(deltas):
        part = deltas[
            (deltas.backbone == backbone) & (deltas.method == "sea") & (deltas.baseline == "none")
        ].set_index("dataset")
        lows = [part["ci_low"].get(d) for d in data.index]
        highs = [part["ci_high"].get(d) for d in data.index]
        yerr = _errors(data.to_numpy(), lows, highs)
    ax.bar(
        range(len(data)),
        data.to_numpy(),
        color=["#2ca02c" if v >= 0 else "#d62728" for v in data],
        yerr=yerr,
        capsize=3,
    )
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(data)), _names(data.index), rotation=20, ha="right")
    ax.set_ylabel("SeA - linear (points)")
    ax.set_title(f"{backbone}: gain from SeA", loc="left")
    return _svg(fig)


#: tick positions a reader can name (seconds): fine, then coarser ladders for wide spans
_MINUTE, _HOUR, _DAY = 60.0, 3600.0, 86400.0
LADDERS = (
    [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 30, _MINUTE, 2 * _MINUTE, 5 * _MINUTE,
     10 * _MINUTE, 20 * _MINUTE, 30 * _MINUTE, _HOUR, 2 * _HOUR, 5 * _HOUR, 10 * _HOUR, _DAY,
     2 * _DAY, 5 * _DAY, 10 * _DAY],
    [0.01, 0.1, 1, 10, _MINUTE, 10 * _MINUTE, _HOUR, 10 * _HOUR, _DAY, 10 * _DAY, 100 * _DAY],
    [0.001, 0.1, 1, _MINUTE, _HOUR, _DAY, 10 * _DAY, 100 * _DAY, 1000 * _DAY],
)  # fmt: skip
MAX_TICKS = 7


def duration(seconds: float) -> str:
    """``0.5 s``, ``30 s``, ``2 min``, ``1 h``, ``5 d``: a tick label in the unit that reads."""
    for unit, size in (("d", _DAY), ("h", _HOUR), ("min", _MINUTE)):
        if seconds >= size:
            return f"{seconds / size:g} {unit}"
    return f"{seconds:g} s"


def time_ticks(low: float, high: float) -> list[float]:
    """Tick positions covering [low, high] (at least one below and one above every point), at
    most MAX_TICKS of them, from the finest ladder that allows it."""
    for ladder in LADDERS:
        lo = max([v for v in ladder if v <= low] or [ladder[0]])
        hi = min([v for v in ladder if v >= high] or [ladder[-1]])
        if lo == hi:  # a point on a tick: one tick either side as well
            i = ladder.index(lo)
            lo, hi = ladder[max(0, i - 1)], ladder[min(len(ladder) - 1, i + 1)]
        ticks = [v for v in ladder if lo <= v <= hi]
        if len(ticks) <= MAX_TICKS:
            return ticks
    return ticks


def cost_scatter(report: Report) -> str | None:
    """Time spent against test score, one point per backbone / dataset / method; the time axis
    is logarithmic, its ticks labelled in seconds, minutes or hours."""
    points = []
    for _, r in report.summary[~report.summary["external"]].iterrows():
        seconds = r["finetune_seconds"] if r["method"] == "finetune" else r["probe_seconds"]
        if seconds and seconds > 0 and pd.notna(r["test"]):
            points.append((r["method"], float(seconds), float(r["test"])))
    if not points:
        return None
    fig = _figure(5.0, 3.4)
    ax = fig.add_subplot()
    rank = {m: i for i, m in enumerate(METHOD_ORDER)}
    for m in sorted({p[0] for p in points}, key=lambda m: (rank.get(m, len(rank)), m)):
        xs = [p[1] for p in points if p[0] == m]
        ys = [p[2] for p in points if p[0] == m]
        ax.scatter(xs, ys, label=label(m), color=_color(m), s=36)
    from matplotlib.ticker import FixedFormatter, FixedLocator, NullLocator

    ticks = time_ticks(min(p[1] for p in points), max(p[1] for p in points))
    ax.set_xscale("log")
    ax.set_xlim(ticks[0] / 1.25, ticks[-1] * 1.25)
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FixedFormatter([duration(t) for t in ticks]))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.grid(axis="x", color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)
    ax.set_xlabel("time spent, log scale (probe search + fit, or fine-tuning)")
    ax.set_ylabel("test score (%)")
    ax.set_title("cost vs accuracy")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    return _svg(fig)
