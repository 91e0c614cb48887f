"""Renderers: rich for the terminal; Markdown, CSV, LaTeX, self-contained HTML and JSON files."""

from __future__ import annotations

import html
import json
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from seabench._io import atomic_write_text
from seabench.errors import SeabenchError
from seabench.report import fewshot
from seabench.report.tables import Report, margin_line

FORMATS = ("markdown", "csv", "latex", "html", "json")
FILENAMES = {
    "markdown": "report.md",
    "csv": "report.csv",
    "latex": "report.tex",
    "html": "report.html",
    "json": "report.json",
}
COST_LABELS = {
    "extract_s": "extraction s",
    "probe_s": "probe search s",
    "finetune_s": "fine-tune s",
    "finetune_cpu_s": "fine-tune CPU s",
    "finetune_gpu_s": "fine-tune GPU s",
}


def _cost_display(report: Report) -> pd.DataFrame:
    cost = report.cost.copy()
    for col in COST_LABELS:
        cost[col] = cost[col].map(lambda v: "-" if v is None or pd.isna(v) else f"{v:.1f}")
    return cost.rename(columns=COST_LABELS)


def _text(*values) -> list[str]:
    """Table cells as text: names and values print as they are, never as rich markup."""
    return [escape(str(v)) for v in values]


def rich_tables(report: Report, intervals: bool = False) -> list:
    """Compact tables (significant deltas marked); ``intervals`` adds every interval."""
    out = []
    for b in report.backbones:
        df = (report.display_ci if intervals else report.display)[b]
        table = Table(
            title=f"{escape(str(b))}: test score (%)",
            title_justify="left",
            caption=escape(margin_line(report, b)),
            caption_justify="left",
        )
        table.add_column("dataset")
        for col in df.columns:
            table.add_column(escape(str(col)), justify="right")
        for dataset, row in df.iterrows():
            table.add_row(
                *_text(dataset, *row.values), style="bold" if dataset == "average" else None
            )
        out.append(table)
    out += fewshot.rich_tables(report.fewshot)
    cost = _cost_display(report)
    if not cost.empty:
        table = Table(title="cost (seconds)", title_justify="left")
        for col in cost.columns:
            table.add_column(
                escape(str(col)), justify="left" if col in ("backbone", "dataset") else "right"
            )
        for row in cost.itertuples(index=False):
            table.add_row(*_text(*row))
        out.append(table)
    return out


def rich_frame(df: pd.DataFrame, title: str) -> Table:
    """A plain rich table of a frame of strings (e.g. the --compare table)."""
    table = Table(title=escape(title), title_justify="left")
    for i, col in enumerate(df.columns):
        table.add_column(escape(str(col)), justify="left" if i < 2 else "right")
    for row in df.itertuples(index=False):
        table.add_row(*_text(*row), style="bold" if "average" in map(str, row) else None)
    return table


def print_report(report: Report, console: Console, intervals: bool = False) -> None:
    for table in rich_tables(report, intervals):
        console.print(table)
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


def _md_table(df: pd.DataFrame) -> str:
    def cell(v) -> str:
        return str(v).replace("|", "\\|")

    header = "| " + " | ".join(cell(c) for c in df.columns) + " |"
    sep = "|" + "|".join("---" if i == 0 else "---:" for i in range(len(df.columns))) + "|"
    body = ["| " + " | ".join(cell(v) for v in r) + " |" for r in df.itertuples(index=False)]
    return "\n".join([header, sep, *body])


def markdown(report: Report) -> str:
    parts = ["# seabench report"]
    for b in report.backbones:
        parts.append(
            f"## {b}\n\ntest score (%)\n\n{_md_table(report.display_ci[b].reset_index())}"
            f"\n\n{margin_line(report, b)}."
        )
    parts += fewshot.markdown_parts(report.fewshot, _md_table)
    if not report.cost.empty:
        parts.append("## Cost (seconds)\n\n" + _md_table(_cost_display(report)))
    parts += [f"- {n}" for n in report.notes]
    if report.sources:
        parts.append(
            "## Sources\n\n" + "\n".join(f"{i}. {s}" for i, s in enumerate(report.sources, 1))
        )
    return "\n\n".join(parts) + "\n"


def csv_text(report: Report) -> str:
    """One line per backbone, dataset and method: the numbers behind every table."""
    cols = [
        "backbone",
        "dataset",
        "method",
        "label",
        "metric",
        "test",
        "std",
        "seeds",
        "external",
        "source",
        "selected_on",
        "probe_seconds",
        "finetune_seconds",
        "ci_low",
        "ci_high",
        "ci_note",
    ]
    scores = report.summary[cols].assign(kind="score", p=None)
    d = report.deltas
    deltas = pd.DataFrame(
        {
            "backbone": d["backbone"],
            "dataset": d["dataset"],
            "method": d["method"] + " - " + d["baseline"],
            "label": d["label"],
            "test": d["delta"],
            "ci_low": d["ci_low"],
            "ci_high": d["ci_high"],
            "ci_note": d["note"],
            "p": d["p"],
            "kind": "delta",
        }
    )
    return pd.concat([scores, deltas], ignore_index=True)[[*cols, "p", "kind"]].to_csv(index=False)


LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def _tex(value) -> str:
    text = "".join(LATEX_SPECIAL.get(ch, ch) for ch in str(value))
    return text.replace("±", r"$\pm$").replace("†", r"$\dagger$")


def _latex_table(df: pd.DataFrame, caption: str) -> str:
    spec = "l" + "r" * (len(df.columns) - 1)
    lines = [
        r"\begin{table}[ht]",
        r"\centering",
        rf"\begin{{tabular}}{{{spec}}}",
        r"\hline",
        " & ".join(_tex(c) for c in df.columns) + r" \\",
        r"\hline",
    ]
    for r in df.itertuples(index=False):
        lines.append(" & ".join(_tex(v) for v in r) + r" \\")
    lines += [r"\hline", r"\end{tabular}", rf"\caption{{{_tex(caption)}}}", r"\end{table}"]
    return "\n".join(lines)


def latex(report: Report) -> str:
    parts = ["% seabench report: \\usepackage{booktabs} is not needed; plain tabular"]
    for b in report.backbones:
        parts.append(
            _latex_table(
                report.display_ci[b].reset_index(),
                f"{b}: test score (%). {margin_line(report, b)}.",
            )
        )
    parts += fewshot.latex_parts(report.fewshot, _latex_table)
    if not report.cost.empty:
        parts.append(_latex_table(_cost_display(report), "Cost in seconds."))
    parts += [rf"\noindent{{\small {_tex(n)}}}\par" for n in report.notes]
    return "\n\n".join(parts) + "\n"


def json_text(report: Report) -> str:
    def records(df: pd.DataFrame) -> list[dict]:
        return json.loads(df.to_json(orient="records"))

    doc = {
        "backbones": {
            b: {
                "table": json.loads(report.tables[b].to_json(orient="index")),
                "within_margin": report.margins[b],
            }
            for b in report.backbones
        },
        "summary": records(report.summary),
        "deltas": records(report.deltas),
        "cost": records(report.cost),
        "fewshot": fewshot.json_part(report.fewshot),
        "notes": report.notes,
        "sources": report.sources,
    }
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


CSS = """body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:70em}
table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:.3em .6em}
td{text-align:right}td:first-child{text-align:left}th{background:#f3f3f3}
figure{margin:1em 0}figcaption{color:#555}
.plot svg{max-width:100%;height:auto}"""


def html_text(report: Report) -> str:
    from seabench.report.plots import cost_scatter, delta_chart, grouped_bars

    def table(df: pd.DataFrame) -> str:
        return df.to_html(index=False, border=0, escape=True)

    def figure(svg: str | None, caption: str) -> str:
        if svg is None:
            return ""
        return f'<figure class="plot">{svg}<figcaption>{html.escape(caption)}</figcaption></figure>'

    body = ["<h1>seabench report</h1>"]
    for b in report.backbones:
        t = report.tables[b]
        body += [
            f"<h2>{html.escape(b)}</h2>",
            "<p>test score (%)</p>",
            table(report.display_ci[b].reset_index()),
            f"<p><strong>{html.escape(margin_line(report, b))}</strong></p>",
            figure(grouped_bars(t, b, report.summary), f"{b}: test score per dataset"),
            figure(delta_chart(t, b, report.deltas), f"{b}: SeA minus linear, points"),
        ]
    body += fewshot.html_parts(report.fewshot, table, figure)
    if not report.cost.empty:
        body += [
            "<h2>Cost (seconds)</h2>",
            table(_cost_display(report)),
            figure(cost_scatter(report), "seconds against test score"),
        ]
    body += [f"<p class=note>{html.escape(n)}</p>" for n in report.notes]
    if report.sources:
        body.append(
            "<h2>Sources</h2><ol>"
            + "".join(f"<li>{html.escape(s)}</li>" for s in report.sources)
            + "</ol>"
        )
    return (
        "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
        "<meta name=viewport content='width=device-width,initial-scale=1'>"
        f"<title>seabench report</title><style>{CSS}</style></head>\n<body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


RENDERERS = {
    "markdown": markdown,
    "csv": csv_text,
    "latex": latex,
    "html": html_text,
    "json": json_text,
}


def write_reports(report: Report, out_dir: str | Path, formats) -> list[Path]:
    """Write each requested format to ``out_dir`` (atomically); return the paths written."""
    written = []
    for fmt in dict.fromkeys(formats):
        if fmt not in RENDERERS:
            raise SeabenchError(f"unknown report format {fmt!r}; choose from {', '.join(FORMATS)}")
        path = Path(out_dir) / FILENAMES[fmt]
        atomic_write_text(path, RENDERERS[fmt](report))
        written.append(path)
    return written
