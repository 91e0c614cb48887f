"""`seabench run RECIPE`: extract, probe, fine-tune and report over a grid."""

from __future__ import annotations

import sys

import click

from seabench.cli._common import (
    CONTEXT,
    _home,
    _write_report,
    err,
    extract_callback,
    finetune_callback,
    home_option,
    print_error,
    probe_callback,
    progress_bar,
    read_rows,
)


@click.command(context_settings=CONTEXT)
@click.argument("recipe", type=click.Path(dir_okay=False))
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print the plan (cells, images, configs, what is missing) and run nothing.",
)
@home_option
def run(recipe, dry_run, home):
    """Run a recipe: extract, probe, fine-tune and report over its grid, skipping finished cells.

    \b
    Examples:
      seabench run recipes/quickstart.toml
      DATA_ROOT=~/data CKPT_DIR=~/ckpt seabench run recipes/paper.toml --dry-run
    """
    from seabench import recipe_run
    from seabench.recipe import Recipe

    r = Recipe.load(recipe)
    recipe_run.check_names(r)  # names and files before torch loads; option combinations after
    if not dry_run:
        recipe_run.check_runnable(r)
    recipe_run.check_recipe(r)
    h = _home(home)
    err.print(
        f"recipe {r.path.name}: {len(r.backbones)} backbone(s) x {len(r.datasets)} "
        f"dataset(s) x {len(r.augs)} method(s) x {r.seeds} seed(s); home {h.root}",
        highlight=False,
        markup=False,
    )
    if dry_run:
        from seabench.recipe_plan import plan_recipe

        for line in plan_recipe(r, h):
            click.echo(line)
        return
    with progress_bar(transient=True) as bar:
        failures = recipe_run.run_recipe(
            r,
            h,
            lambda m: bar.console.print(m, highlight=False, markup=False, soft_wrap=True),
            extract_callback(bar),
            probe_callback(bar),
            finetune_callback(bar),
        )
    from seabench import report as rep
    from seabench.results import ResultsStore

    rows, skipped = read_rows(ResultsStore(h.results))
    if not rows.empty:
        rows = rows[rows["dataset"].isin(r.datasets) & rows["backbone"].isin(r.backbone_names)]
    if not rows.empty:
        formats = r.report.get("formats", ["markdown", "csv"])
        _write_report(
            h,
            rows,
            rep.FORMATS if "all" in formats else tuple(formats),
            margin=float(r.report.get("margin", 1.0)),
            skipped=skipped,
        )
    if failures:
        for f in failures:
            print_error(f)
        print_error(
            f"{len(failures)} cell(s) of the recipe failed (listed above); the other cells' "
            "results are kept: fix the cause and run the same command again"
        )
        sys.exit(2)
