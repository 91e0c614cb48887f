"""The seabench command line: parse options, call the library, print.  Nothing else lives here."""

from __future__ import annotations

import json
import os
import sys
from contextlib import contextmanager

import click
from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)

from seabench import __version__
from seabench.errors import SeabenchError

err = Console(stderr=True)
CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class SeabenchGroup(click.Group):
    """Turns library errors into one line and exit code 2; internal errors into exit code 1."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except SeabenchError as exc:
            err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            ctx.exit(2)
        except KeyboardInterrupt:
            err.print("interrupted: finished work is kept; run the same command again to resume")
            ctx.exit(130)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as exc:
            if os.environ.get("SEABENCH_DEBUG"):
                raise
            err.print(f"[bold red]internal error:[/] {type(exc).__name__}: {exc} "
                      "(set SEABENCH_DEBUG=1 for the traceback)", highlight=False, soft_wrap=True)
            ctx.exit(1)


home_option = click.option(
    "--home", envvar="SEABENCH_HOME", default="seabench-home", show_default=True,
    type=click.Path(file_okay=False), help="Where features/, results/ and reports/ live "
    "(env SEABENCH_HOME).")


def _home(path):
    from seabench.home import Home

    return Home.resolve(path)


@contextmanager
def progress_bar(transient: bool = False):
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                  console=err, transient=transient, disable=not err.is_terminal and
                  bool(os.environ.get("SEABENCH_NO_PROGRESS"))) as bar:
        yield bar


def extract_callback(bar: Progress):
    """A progress(split, done, total) that drives one bar per split, with images/s."""
    tasks: dict[str, int] = {}

    def update(split: str, done: int, total: int) -> None:
        if split not in tasks:
            tasks[split] = bar.add_task(f"extract {split}", total=total, completed=done, rate="")
        task = bar.tasks[[t.id for t in bar.tasks].index(tasks[split])]
        bar.update(tasks[split], completed=done,
                   rate=f"{task.speed:.0f} img/s" if task.speed else "")

    return update


def probe_callback(bar: Progress):
    """A progress(phase, epochs) that starts a bar; the trainer advances it per epoch."""
    state: dict = {}

    def start(phase: str, epochs: int):
        if "task" in state:
            bar.update(state["task"], completed=bar.tasks[-1].total)
        state["task"] = bar.add_task(phase, total=epochs, rate="epochs")

    return start


@click.group(cls=SeabenchGroup, context_settings=CONTEXT)
@click.version_option(__version__, prog_name="seabench")
def cli():
    """Linear-probe benchmarking of frozen vision backbones, with SeA.

    \b
    Quick start (offline, embedded MNIST digits + ImageNet EfficientNet-Lite0):
      seabench run recipes/quickstart.toml
    The three stages:
      seabench extract --dataset mnist5k --backbone efficientnet_lite0 --image-size 96
      seabench probe --dataset mnist5k --backbone efficientnet_lite0 --aug sea
      seabench report --format markdown --out reports/
    """


@cli.command(context_settings=CONTEXT)
@click.option("--dataset", required=True, help="Dataset name (see `seabench datasets`).")
@click.option("--backbone", required=True, help="Offline name, timm or torchvision model name.")
@click.option("--weights", type=click.Path(dir_okay=False), help="Checkpoint file to load.")
@click.option("--weights-format", default="auto", show_default=True,
              help="Layout of --weights (see `seabench backbones`).")
@click.option("--data-root", type=click.Path(file_okay=False), default="data", show_default=True,
              help="Folder holding the datasets in their original layouts.")
@click.option("--download", is_flag=True, help="Download the dataset where torchvision can.")
@click.option("--image-size", type=click.IntRange(16, 1024), default=None,
              help="Crop size; default: the backbone's own (224 for most).")
@click.option("--crop-pct", type=click.FloatRange(0.1, 1.0), default=None,
              help="Resize to size / crop-pct before the centre crop; default: the backbone's.")
@click.option("--dtype", type=click.Choice(["fp16", "fp32"]), default="fp16", show_default=True,
              help="Storage dtype of the cached features.")
@click.option("--batch-size", type=click.IntRange(1), default=64, show_default=True)
@click.option("--workers", type=click.IntRange(0), default=None,
              help="Data-loading processes; default: sized to the machine.")
@click.option("--subset", type=click.IntRange(1), default=None,
              help="Only the first N items of each split (a smoke test; its own cache entry).")
@click.option("--device", default=None, help="cpu, cuda, cuda:1 ...; default: cuda if available.")
@home_option
def extract(dataset, backbone, weights, weights_format, data_root, download, image_size,
            crop_pct, dtype, batch_size, workers, subset, device, home):
    """Extract frozen features of every split into the cache (reused when already there).

    \b
    Examples:
      seabench extract --dataset mnist5k --backbone efficientnet_lite0 --image-size 96
      seabench extract --dataset cifar10 --backbone resnet50 --data-root ~/data --download
      seabench extract --dataset pets --backbone resnet50 --weights mocov2.pth.tar \\
          --weights-format mocov2
    """
    from seabench import runner

    h = _home(home)
    with progress_bar() as bar:
        result = runner.extract(
            h, dataset, backbone, data_root=data_root, download=download, weights=weights,
            weights_format=weights_format, image_size=image_size, crop_pct=crop_pct, dtype=dtype,
            batch_size=batch_size, workers=workers, subset=subset, device=device,
            progress=extract_callback(bar))
    e = result.entry
    if result.cached:
        err.print(f"cached: {e.path} (no extraction needed)")
    else:
        err.print(f"extracted {result.images} images in {result.seconds:.1f} s "
                  f"({result.images_per_second:.1f} images/s) -> {e.path}")
    err.print(f"counts {e.meta['counts']}, dim {e.meta['dim']}, key {e.key}", highlight=False)


@cli.command(context_settings=CONTEXT)
@click.option("--dataset", required=True, help="Dataset of the cached features.")
@click.option("--backbone", required=True, help="Backbone of the cached features.")
@click.option("--image-size", type=int, default=None,
              help="Pick the cache entry of this crop size (default: the newest).")
@click.option("--aug", default="sea", show_default=True,
              help="Feature augmentation: none, sea, adv, random, noise, dropout, mixup, nn.")
@click.option("--search/--no-search", default=True, show_default=True,
              help="Search lr x wd (x strength) on val, or train one configuration.")
@click.option("--seeds", type=click.IntRange(1), default=1, show_default=True)
@click.option("--epochs", type=click.IntRange(1), default=100, show_default=True)
@click.option("--batch-size", type=click.IntRange(1), default=256, show_default=True)
@click.option("--lr", type=click.FloatRange(0, min_open=True), default=1.6, show_default=True,
              help="With --no-search.")
@click.option("--wd", type=click.FloatRange(0), default=1e-6, show_default=True,
              help="With --no-search.")
@click.option("--eta", "--strength", "strength", type=click.FloatRange(0), default=None,
              help="Augmentation strength with --no-search (SeA's eta; default 0.8).")
@click.option("--alpha", type=click.FloatRange(0, min_open=True), default=0.01,
              show_default=True, help="SeA attention temperature.")
@click.option("--lamda", type=click.FloatRange(0, min_open=True), default=0.1,
              show_default=True, help="Loss temperature.")
@click.option("--delta", type=float, default=0.0, show_default=True, help="Logit margin.")
@click.option("--device", default=None, help="cpu or cuda; default: cuda if available.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per result row.")
@home_option
def probe(dataset, backbone, image_size, aug, search, seeds, epochs, batch_size, lr, wd,
          strength, alpha, lamda, delta, device, as_json, home):
    """Train linear probes on cached features: search on val, refit on train+val, test once.

    \b
    Examples:
      seabench probe --dataset mnist5k --backbone efficientnet_lite0 --aug none
      seabench probe --dataset mnist5k --backbone efficientnet_lite0 --aug sea --seeds 3
      seabench probe --dataset mnist5k --backbone efficientnet_lite0 --aug sea \\
          --no-search --lr 1.6 --eta 0.2 --json
    """
    from seabench import runner
    from seabench.probe import get_augmentation

    get_augmentation(aug)
    opts = runner.probe_options(aug, {
        "search": search, "lr": lr, "wd": wd, "strength": strength, "device": device,
        "epochs": epochs, "batch_size": batch_size, "alpha": alpha, "lamda": lamda,
        "delta": delta}, seeds=seeds)
    with progress_bar(transient=True) as bar:
        rows = runner.probe_cached(_home(home), dataset, backbone, opts,
                                   progress=probe_callback(bar), image_size=image_size)
    for r in rows:
        if as_json:
            click.echo(json.dumps(r, sort_keys=True))
        err.print(f"{r['dataset']} / {r['backbone']} / {r['aug']} seed {r['seed']}: "
                  f"val {r['val']:.2f}  test {r['test']:.2f} ({r['metric']}), "
                  f"chosen {r['hparams']} from {r['configs_searched']} configs "
                  f"in {r['search_seconds']:.1f} s", highlight=False, soft_wrap=True)


@cli.command(context_settings=CONTEXT)
@click.option("--format", "formats", multiple=True, type=click.Choice(["markdown", "csv"]),
              help="Also write the report in this format (repeatable).")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Folder for written reports; default: <home>/reports.")
@click.option("--dataset", multiple=True, help="Only these datasets (repeatable).")
@click.option("--backbone", multiple=True, help="Only these backbones (repeatable).")
@home_option
def report(formats, out, dataset, backbone, home):
    """Tables of linear vs linear+SeA (and other methods) per backbone and dataset.

    \b
    Examples:
      seabench report
      seabench report --format markdown --format csv --out reports/
    """
    from seabench import report as rep
    from seabench.results import ResultsStore

    h = _home(home)
    rows = ResultsStore(h.results).frame()
    if rows.empty:
        raise SeabenchError(f"no results in {h.results}; run `seabench probe` "
                            "or `seabench run recipes/quickstart.toml` first")
    if dataset:
        rows = rows[rows["dataset"].isin(dataset)]
    if backbone:
        rows = rows[rows["backbone"].isin(backbone)]
    if rows.empty:
        raise SeabenchError("no rows match --dataset/--backbone")
    rep.print_tables(rows, Console())
    for path in rep.write_reports(rows, out or h.reports, formats):
        err.print(f"wrote {path}")


@cli.command(context_settings=CONTEXT)
@click.argument("recipe", type=click.Path(dir_okay=False))
@home_option
def run(recipe, home):
    """Run a recipe: extract, probe and report over its grid, skipping finished cells.

    \b
    Example:
      seabench run recipes/quickstart.toml
    """
    from seabench import report as rep
    from seabench import runner
    from seabench.recipe import Recipe
    from seabench.results import ResultsStore

    r = Recipe.load(recipe)
    h = _home(home)
    err.print(f"recipe {r.path.name}: {len(r.backbones)} backbone(s) x {len(r.datasets)} "
              f"dataset(s) x {len(r.augs)} aug(s) x {r.seeds} seed(s); home {h.root}")
    with progress_bar(transient=True) as bar:
        failures = runner.run_recipe(r, h, lambda m: bar.console.print(m, highlight=False),
                                     extract_callback(bar), probe_callback(bar))
    rows = ResultsStore(h.results).frame()
    if not rows.empty:
        rows = rows[rows["dataset"].isin(r.datasets) & rows["backbone"].isin(r.backbones)]
    if not rows.empty:
        rep.print_tables(rows, Console())
        formats = tuple(r.report.get("formats", ("markdown", "csv")))
        for path in rep.write_reports(rows, h.reports, formats):
            err.print(f"wrote {path}")
    if failures:
        err.print(f"[bold red]{len(failures)} cell(s) failed:[/]")
        for f in failures:
            err.print(f"  {f}", highlight=False)
        sys.exit(1 if rows.empty else 0)


def main() -> None:
    cli(prog_name="seabench")


if __name__ == "__main__":
    main()
