"""`seabench probe`: linear probes on cached features or feature files."""

from __future__ import annotations

import json

import click

from seabench.cli._common import (
    CONTEXT,
    _choice,
    _home,
    err,
    home_option,
    probe_callback,
    progress_bar,
)
from seabench.errors import SeabenchError


@click.command(context_settings=CONTEXT)
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
@click.option(
    "--bootstrap",
    "resamples",
    type=click.IntRange(1),
    default=10_000,
    show_default=True,
    help="Resamples of the test set for each row's interval (ci_low/ci_high).",
)
@click.option(
    "--confidence",
    type=float,
    default=0.95,
    show_default=True,
    help="Coverage of the percentile interval.",
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
    resamples,
    confidence,
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
        runner.require_cached(_home(home), dataset, backbone)
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
            "bootstrap": resamples,
            "confidence": confidence,
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
            f"val {r['val']:.2f}  test {r['test']:.2f} "
            f"({100 * confidence:g}% interval {r['ci_low']:.2f}-{r['ci_high']:.2f}, "
            f"{r['metric']}), " + _choice(r),
            highlight=False,
            soft_wrap=True,
        )
