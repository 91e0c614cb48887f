"""`seabench report`: the comparison tables, in the terminal and as files."""

from __future__ import annotations

import click

from seabench import options
from seabench.cli._common import (
    CONTEXT,
    _home,
    _write_report,
    err,
    home_option,
    read_rows,
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
@click.option(
    "--intervals",
    is_flag=True,
    help="Show every interval in the terminal tables (files always have them).",
)
@click.option(
    "--wide",
    is_flag=True,
    help="Print every column with its full header, nothing wrapped, however wide the tables are "
    "(default: fit the terminal, abbreviating headers and wrapping long names).",
)
@option(options.PROBE["bootstrap"], "--bootstrap", "resamples", default=10_000, show_default=True)
@option(options.PROBE["confidence"], default=0.95, show_default=True)
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Seed of the bootstrap's generator (the same seed gives the same intervals).",
)
@click.option(
    "--compare",
    nargs=2,
    default=None,
    metavar="A B",
    help="Paired table of A - B across datasets, for two methods (e.g. sea none) or two "
    "backbones, with the average over datasets and its interval.",
)
@click.option(
    "--verbose",
    "-v",
    is_flag=True,
    help="Also list the rows left out because a later row repeats their configuration and "
    "seed (file and line of each).",
)
@home_option
def report(
    formats,
    out,
    dataset,
    backbone,
    baselines,
    margin,
    strict,
    intervals,
    wide,
    resamples,
    confidence,
    seed,
    compare,
    verbose,
    home,
):
    """Tables of linear vs linear+SeA vs fine-tuning per backbone and dataset, with costs.

    \b
    Examples:
      seabench report
      seabench report --format markdown --format html --out reports/
      seabench report --baselines examples/baselines.csv --margin 0.5 --format all
      seabench report --intervals --bootstrap 2000
      seabench report --compare sea none
      seabench report --wide | less -S
      seabench report --verbose
    """
    from seabench import report as rep
    from seabench.results import ResultsStore

    h = _home(home)
    rows, skipped = read_rows(ResultsStore(h.results), strict)
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
    from seabench.report.intervals import IntervalSettings
    from seabench.stats.bootstrap import check_settings

    check_settings(resamples, confidence)
    settings = IntervalSettings(resamples, confidence, seed)
    if compare:
        from seabench.cli._common import table_console
        from seabench.report.compare import compare_display, compare_table
        from seabench.report.terminal import print_wide, rich_frame

        table = compare_table(rows, *compare, ResultsStore(h.results).predictions(), settings)
        shown = compare_display(table, confidence)
        console = table_console()
        title = f"{compare[0]} - {compare[1]} (paired)"
        print_wide(console, rich_frame(shown, title, console.width, wide), wide)
        err.print(
            f"paired bootstrap over the same resampled test images ({resamples:,} resamples, "
            f"seed {seed}); * = the interval excludes 0; average: each dataset resampled "
            "within itself, then averaged",
            highlight=False,
        )
        return _list_superseded(rows) if verbose else None
    formats = rep.FORMATS if "all" in formats else formats
    _write_report(
        h,
        rows,
        formats,
        out,
        baselines=None,
        margin=margin,
        settings=settings,
        intervals=intervals,
        wide=wide,
        skipped=skipped,
    )
    if verbose:
        _list_superseded(rows)


def _list_superseded(rows) -> None:
    """--verbose: the rows a later row of the same configuration and seed left out, and where."""
    from seabench.cli._common import table_console
    from seabench.report.seeds import distinct_seeds, superseded_lines

    for line in superseded_lines(distinct_seeds(rows)[1]):
        table_console().print(line, highlight=False, markup=False, soft_wrap=True)
