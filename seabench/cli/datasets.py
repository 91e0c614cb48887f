"""`seabench datasets`: the dataset registry and what is on disk."""

from __future__ import annotations

import click

from seabench.cli._common import (
    CONTEXT,
    data_root_option,
    table_console,
)


@click.command(context_settings=CONTEXT)
@data_root_option
@click.option("--layout", "show_layout", is_flag=True, hidden=True)  # kept: always shown now
def datasets(data_root, show_layout):
    """List the datasets: classes, split sizes, metric, val split, whether the data is here,
    and what to place where under the data root.

    \b
    Examples:
      seabench datasets --data-root ~/data
    Literature names work too (food101, flowers102, stanford_cars, ...).
    """
    from rich.markup import escape
    from rich.table import Table

    from seabench.data.catalog import dataset_rows

    root = escape(str(data_root))
    table = Table(title=f"datasets (data root: {root})")
    places = Table(title=f"what goes where under {root}")
    places.add_column("name", no_wrap=True)
    places.add_column("place", overflow="fold")
    for col in ("name", "classes", "train / val / test", "metric", "val", "found", "download"):
        table.add_column(col)
    for r in dataset_rows(data_root):
        found = {True: "[green]yes[/]", False: "[dim]no[/]", None: ""}[r["found"]]
        text = [r["name"], r["classes"], r["sizes"], r["metric"], r["val"]]
        cells = [*(escape(str(c)) for c in text), found, "yes" if r["download"] else ""]
        table.add_row(*cells)
        places.add_row(escape(str(r["name"])), escape(str(r["layout"])))
    console = table_console()
    console.print(table)
    console.print(places)
