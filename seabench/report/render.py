"""The report's files: Markdown, CSV and JSON here; LaTeX in ``render_latex``, self-contained
HTML in ``render_html`` (the terminal's tables are in ``terminal``)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from seabench._io import atomic_write_text
from seabench.errors import SeabenchError
from seabench.report import fewshot
from seabench.report.cost import cost_display
from seabench.report.provenance import lines as provenance_lines
from seabench.report.render_html import html_text
from seabench.report.render_latex import latex
from seabench.report.tables import Report, margin_line

FORMATS = ("markdown", "csv", "latex", "html", "json")
FILENAMES = {
    "markdown": "report.md",
    "csv": "report.csv",
    "latex": "report.tex",
    "html": "report.html",
    "json": "report.json",
}


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
        parts.append("## Cost (seconds)\n\n" + _md_table(cost_display(report)))
    parts += [f"- {n}" for n in report.notes]
    if report.sources:
        parts.append(
            "## Sources\n\n" + "\n".join(f"{i}. {s}" for i, s in enumerate(report.sources, 1))
        )
    if report.provenance:
        facts = provenance_lines(report.provenance)
        parts.append("## Provenance\n\n" + "\n".join(f"- **{k}**: {v}" for k, v in facts))
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
        "tag",
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
        "provenance": report.provenance,
    }
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


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
