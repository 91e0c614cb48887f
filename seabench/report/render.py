"""Renderers: rich for the terminal, Markdown and CSV for files."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table

from seabench._io import atomic_write_text
from seabench.report.tables import display_table, summarise

FORMATS = ("markdown", "csv")


def rich_tables(summary: pd.DataFrame) -> list[Table]:
    tables = []
    for backbone in sorted(summary["backbone"].unique()):
        df = display_table(summary, backbone)
        table = Table(title=f"{backbone}: test score (%)", title_justify="left")
        table.add_column("dataset")
        for col in df.columns:
            table.add_column(str(col), justify="right")
        for dataset, row in df.iterrows():
            style = "bold" if dataset == "average" else None
            table.add_row(str(dataset), *[str(v) for v in row.values], style=style)
        tables.append(table)
    return tables


def markdown(summary: pd.DataFrame) -> str:
    parts = []
    for backbone in sorted(summary["backbone"].unique()):
        df = display_table(summary, backbone).reset_index()
        header = "| " + " | ".join(map(str, df.columns)) + " |"
        sep = "|" + "|".join("---" for _ in df.columns) + "|"
        body = ["| " + " | ".join(map(str, r)) + " |" for r in df.itertuples(index=False)]
        parts.append(f"## {backbone}\n\n" + "\n".join([header, sep, *body]))
    return "\n\n".join(parts) + "\n"


def write_reports(rows: pd.DataFrame, out_dir: Path, formats: tuple[str, ...]) -> list[Path]:
    summary = summarise(rows)
    written = []
    for fmt in formats:
        path = Path(out_dir) / ("report.md" if fmt == "markdown" else f"report.{fmt}")
        if fmt == "markdown":
            atomic_write_text(path, markdown(summary))
        elif fmt == "csv":
            atomic_write_text(path, summary.to_csv(index=False))
        written.append(path)
    return written


def print_tables(rows: pd.DataFrame, console: Console) -> None:
    for table in rich_tables(summarise(rows)):
        console.print(table)
