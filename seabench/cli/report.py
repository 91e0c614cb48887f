"""`seabench report`: the comparison tables, in the terminal and as files."""

from __future__ import annotations

import click

from seabench import options
from seabench.cli._common import (
    CONTEXT,
    _home,
    _write_report,
    home_option,
)
from seabench.cli._options import option
from seabench.errors import SeabenchError

REPORT = options.REPORT


@click.command(context_settings=CONTEXT)
@option(
    REPORT["formats"],
    "--format",
    "formats",
    multiple=True,
)
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default=None,
    help="Folder for written reports; default: <home>/reports.",
)
@click.option("--dataset", multiple=True, help="Only these datasets (repeatable).")
@click.option("--backbone", multiple=True, help="Only these backbones (repeatable).")
@click.option(
    "--baselines",
    type=click.Path(dir_okay=False),
    default=None,
    help="CSV of published numbers (backbone,dataset,method,metric,value,source) shown "
    "as their own external columns; see examples/baselines.csv.",
)
@option(REPORT["margin"], default=1.0, show_default=True)
@click.option(
    "--strict",
    is_flag=True,
    help="Unreadable lines in a results file are an error (exit 2), not a skipped-line warning.",
)
@home_option
def report(formats, out, dataset, backbone, baselines, margin, strict, home):
    """Tables of linear vs linear+SeA vs fine-tuning per backbone and dataset, with costs.

    \b
    Examples:
      seabench report
      seabench report --format markdown --format html --out reports/
      seabench report --baselines examples/baselines.csv --margin 0.5 --format all
    """
    from seabench import report as rep
    from seabench.results import ResultsStore

    h = _home(home)
    store = ResultsStore(h.results)
    if strict:
        damaged = store.read()[1]
        if damaged:
            raise SeabenchError(
                "unreadable results (--strict): "
                + "; ".join(d.where() for d in damaged)
                + "; repair or move the file(s) away, or report without --strict to skip them"
            )
    rows = store.frame()
    if rows.empty:
        raise SeabenchError(
            f"no results in {h.results}; run `seabench run recipes/quickstart.toml`"
            " (or `seabench probe`) with this --home first"
        )
    if baselines:
        rows = rep.merge_baselines(rows, rep.load_baselines(baselines))
    if dataset:
        rows = rows[rows["dataset"].isin(dataset)]
    if backbone:
        rows = rows[rows["backbone"].isin(backbone)]
    if rows.empty:
        raise SeabenchError("no rows match --dataset/--backbone")
    formats = rep.FORMATS if "all" in formats else formats
    _write_report(h, rows, formats, out, baselines=None, margin=margin)
