"""The report's tables in a terminal (rich), fitted to its width.

A table wider than the terminal first gets short headers (with a legend of the abbreviations),
then wraps: long names wrap at ``/`` (paths) or fold, numbers wrap at their spaces.  The names of
datasets and backbones are never cut short with an ellipsis: they are what a reader needs to tell
rows apart (``imagefolder:/data/a/set`` and ``imagefolder:/data/b/set``).  ``wide`` prints every
column unabbreviated and unwrapped, however wide that is.
"""

from __future__ import annotations

import re

import pandas as pd
from rich.console import Console, Group
from rich.markup import escape
from rich.table import Table

from seabench.report import fewshot
from seabench.report.cost import cost_display
from seabench.report.names import break_name
from seabench.report.tables import Report, margin_line

#: short forms of header words, tried in this order at each position of a header
ABBREVIATIONS = {
    "delta (SeA-linear)": "SeA-lin",
    "gap to fine-tune": "SeA-FT",
    "logreg (L-BFGS)": "L-BFGS",
    "linear+SeA": "SeA",
    "fine-tune": "FT",
    "linear": "lin",
    "fixed hyperparameters": "fixed",
    "(published)": "(pub.)",
    "extraction": "extract",
    "probe search": "probe",
}
_ABBREV = re.compile("|".join(re.escape(k) for k in ABBREVIATIONS))
#: an identity column (dataset, backbone) takes at most this share of the width before wrapping
ID_SHARE = 3
ID_MIN = 16
#: what a cell's line never breaks inside: a number, or ``± 0.71`` (a spread with its sign)
_UNBROKEN = re.compile(r"± \S+|\S+")


def abbreviate(header: str) -> tuple[str, list[str]]:
    """The short header and the long forms it shortened (for the legend)."""
    used: list[str] = []

    def short(m: re.Match) -> str:
        used.append(m.group(0))
        return ABBREVIATIONS[m.group(0)]

    return _ABBREV.sub(short, header), used


def _pieces(header: str) -> list[str]:
    """A header's pieces that stay on one line: split after spaces and hyphens."""
    return re.findall(r"[^ -]*-|[^ -]+", header) or [header]


def _measures(cells: list[list[str]], heads: list[str]) -> dict[str, list[int]]:
    """Per column: its natural width, its widest cell, its widest unbreakable token (a number,
    ``± 0.71``) and its header's longest word."""
    cols = list(zip(*cells, strict=True)) if cells else [()] * len(heads)
    cell = [max([1, *(len(v) for v in c)]) for c in cols]
    return {
        "natural": [max(len(h), cell[i]) for i, h in enumerate(heads)],
        "cell": cell,
        "token": [max([1, *(len(t) for v in c for t in _UNBROKEN.findall(v))]) for c in cols],
        "word": [max([1, *(len(t) for t in _pieces(h))]) for h in heads],
    }


def _layout(cells: list[list[str]], heads: list[str], ids: int, room: int) -> list[int] | None:
    """Column widths that fit ``room`` characters of content, or None where even the narrowest
    layout does not.

    Number columns are sized first, at the widest of three levels that fits: every cell and
    header on one line; cells on one line and headers wrapped at their words; cells wrapped at
    their spaces (``80.50`` / ``± 0.71``).  A number never breaks inside.  Name columns then get
    what is left, up to their own width, but at least a fair share (``ID_MIN`` characters, else
    10), so that a long path wraps over a few lines rather than into a sliver."""
    m = _measures(cells, heads)
    natural, n = m["natural"], len(heads)
    levels = (
        natural,
        [max(m["cell"][i], m["word"][i]) for i in range(n)],
        [max(m["token"][i], m["word"][i]) for i in range(n)],
    )
    for level in levels:
        numbers = sum(level[ids:])
        for least in (ID_MIN, 10):
            widths = [min(natural[i], least) for i in range(ids)] + level[ids:]
            if numbers + sum(widths[:ids]) <= room:
                for i in range(ids):  # names take what is left, in order, up to their width
                    widths[i] += min(natural[i] - widths[i], room - sum(widths))
                return widths
    return None


def _groups(cells: list[list[str]], heads: list[str], ids: int, width: int) -> list[list[int]]:
    """The number columns in runs that each fit ``width`` beside the name columns (at 10
    characters, each number column at its narrowest unbroken width)."""
    m = _measures(cells, heads)
    names = sum(min(m["natural"][i], 10) + 3 for i in range(ids)) + 1
    groups: list[list[int]] = [[]]
    used = names
    for i in range(ids, len(heads)):
        need = max(m["token"][i], m["word"][i]) + 3
        if groups[-1] and used + need > width:
            groups.append([])
            used = names
        groups[-1].append(i)
        used += need
    return groups


def frame_table(
    df: pd.DataFrame,
    title: str,
    width: int,
    ids: int = 1,
    caption: str = "",
    wide: bool = False,
    bold: str | None = "average",
    constant: tuple[str, ...] = ("metric",),
) -> Table | Group:
    """A rich table of a frame of strings whose first ``ids`` columns name things (left, never
    cut), fitted to ``width`` columns unless ``wide``; where it does not fit, a ``constant``
    column holding one value throughout moves into the title, headers take their short forms
    (with a legend), then wrap, and a terminal too narrow for every column gets the table in
    parts."""
    headers = [str(c) for c in df.columns]
    cells = [[str(v) for v in r] for r in df.itertuples(index=False)]

    def build(heads: list[str], legend: str = "", widths: list[int] | None = None) -> Table:
        table = Table(
            title=escape(title),
            title_justify="left",
            caption=escape("\n".join(filter(None, [caption, legend]))) or None,
            caption_justify="left",
        )
        for i, h in enumerate(heads):
            table.add_column(
                escape(break_name(h, widths[i], " -") if widths else h),
                justify="left" if i < ids else "right",
                overflow="fold",
                no_wrap=wide,
                width=widths[i] if widths else None,
            )
        for r in cells:
            named = [break_name(v, widths[i]) if widths else v for i, v in enumerate(r[:ids])]
            style = "bold" if bold is not None and bold in r[:ids] else None
            table.add_row(*(escape(v) for v in [*named, *r[ids:]]), style=style)
        return table

    full = build(headers)
    if wide or _natural(full) <= width:
        return full
    for col in [c for c in constant if c in headers]:  # one value throughout: say it once
        i = headers.index(col)
        values = {r[i] for r in cells} - {""}
        if len(values) == 1:
            title += f", {col} {values.pop()}"
            del headers[i]
            cells = [r[:i] + r[i + 1 :] for r in cells]
    room = width - 3 * len(headers) - 1  # each column's padding and rule, and the last rule
    natural = _measures(cells, headers)["natural"]
    widths = _layout(cells, headers, ids, room)
    if widths is not None and widths[ids:] == natural[ids:]:
        return build(headers, "", widths)  # every header whole: nothing to abbreviate
    short, legend = [], {}
    for i, h in enumerate(headers):
        s, used = abbreviate(h) if i >= ids else (h, [])
        short.append(s)
        legend.update({ABBREVIATIONS[u]: u for u in used})
    note = f"({'; '.join(f'{k} = {v}' for k, v in legend.items())})" if legend else ""
    widths = _layout(cells, short, ids, room)
    if widths is not None:
        return build(short, note, widths)
    # too narrow for every column at once: the table in parts, each repeating the names,
    # rather than numbers broken inside
    everything, parts = cells, []
    groups = _groups(everything, short, ids, width)
    for n, group in enumerate(groups, 1):
        keep = [*range(ids), *group]
        cells = [[r[i] for i in keep] for r in everything]
        heads = [short[i] for i in keep]
        widths = _layout(cells, heads, ids, width - 3 * len(keep) - 1)
        part = build(heads, note, widths)
        part.title = escape(f"{title} ({n}/{len(groups)})")
        if n < len(groups):
            part.caption = None  # the caption and legend once, under the last part
        parts.append(part)
    return Group(*parts)


def _natural(table: Table) -> int:
    """The width ``table`` takes when nothing wraps."""
    return Console(width=100_000).measure(table).maximum


def rich_tables(
    report: Report, width: int, intervals: bool = False, wide: bool = False
) -> list[Table]:
    """Compact tables (significant deltas marked); ``intervals`` adds every interval."""
    out = []
    for b in report.backbones:
        df = (report.display_ci if intervals else report.display)[b].reset_index()
        out.append(frame_table(df, f"{b}: test score (%)", width, 1, margin_line(report, b), wide))
    fs = report.fewshot
    for b in fs.backbones if fs else []:
        df = fs.display[b].reset_index()
        out.append(frame_table(df, fewshot.caption(fs, b), width, 1, wide=wide, bold=None))
    cost = cost_display(report)
    if not cost.empty:
        out.append(frame_table(cost, "cost (seconds)", width, 2, wide=wide, bold=None))
    return out


def rich_frame(df: pd.DataFrame, title: str, width: int, wide: bool = False) -> Table:
    """A rich table of a frame of strings (e.g. the --compare table), two name columns first."""
    return frame_table(df, title, width, 2, wide=wide)


def print_wide(console: Console, table: Table, wide: bool) -> None:
    """Print ``table``; ``wide`` widens the console to the table first (nothing wraps)."""
    if not wide:
        console.print(table)
        return
    before = console.width
    console.width = max(before, _natural(table))
    try:
        console.print(table)
    finally:
        console.width = before


def print_report(
    report: Report, console: Console, intervals: bool = False, wide: bool = False
) -> None:
    """The tables, notes and sources, as the terminal shows them."""
    for table in rich_tables(report, console.width, intervals, wide):
        print_wide(console, table, wide)
    for note in report.notes:
        console.print(f"note: {note}", highlight=False, markup=False)
    ci = report.summary.get("ci_low")
    if not intervals and ci is not None and ci.notna().any():
        console.print(
            "note: the scores' and deltas' intervals are left out here: `seabench report "
            "--intervals` shows them (the written files always do)",
            highlight=False,
        )
    for i, s in enumerate(report.sources, 1):
        console.print(f"[{i}] {s}", highlight=False, markup=False)
