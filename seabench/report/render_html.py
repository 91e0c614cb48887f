"""The report as one self-contained HTML file: tables, inline SVG plots, provenance.

Plots keep their own size (fonts in points, as drawn): a wide plot scrolls sideways inside its
box rather than being scaled down to fit, which would shrink its text with every dataset added.
"""

from __future__ import annotations

import html

import pandas as pd

from seabench.report import fewshot
from seabench.report.cost import cost_display
from seabench.report.provenance import lines as provenance_lines
from seabench.report.tables import Report, margin_line

CSS = """body{font-family:system-ui,sans-serif;font-size:16px;margin:2em;color:#222;max-width:70em}
table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:.3em .6em}
td{text-align:right}th{background:#f3f3f3}
td:first-child,.names2 td:nth-child(2){text-align:left;overflow-wrap:anywhere}
figure{margin:1em 0}figcaption{color:#555}
.plot{overflow-x:auto;max-width:100%}.plot svg{display:block;max-width:none}
.provenance dl{display:grid;grid-template-columns:max-content auto;gap:.2em 1em;margin:0}
.provenance dt{font-weight:600}.provenance dd{margin:0}"""


def provenance_html(p: dict) -> str:
    """The provenance block: what computed the numbers, when, and from how many rows."""
    items = "".join(
        f"<dt>{html.escape(what)}</dt><dd>{html.escape(value)}</dd>"
        for what, value in provenance_lines(p)
    )
    head = '<section class="provenance" id="provenance"><h2>Provenance</h2>'
    return f"{head}<dl>{items}</dl></section>"


def html_text(report: Report) -> str:
    from seabench.report.plots import cost_scatter, delta_chart, grouped_bars

    def table(df: pd.DataFrame, names: int = 1) -> str:
        return df.to_html(index=False, border=0, escape=True, classes=f"names{names}")

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
            table(cost_display(report), names=2),
            figure(cost_scatter(report), "time spent (log scale) against test score"),
        ]
    body += [f"<p class=note>{html.escape(n)}</p>" for n in report.notes]
    if report.sources:
        body.append(
            "<h2>Sources</h2><ol>"
            + "".join(f"<li>{html.escape(s)}</li>" for s in report.sources)
            + "</ol>"
        )
    if report.provenance:
        body.append(provenance_html(report.provenance))
    return (
        "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
        "<meta name=viewport content='width=device-width,initial-scale=1'>"
        f"<title>seabench report</title><style>{CSS}</style></head>\n<body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )
