"""`seabench probe`: linear probes on cached features or feature files."""

from __future__ import annotations

import json

import click

from seabench import options
from seabench.cli._common import (
    CONTEXT,
    _choice,
    _home,
    err,
    home_option,
    probe_callback,
    progress_bar,
)
from seabench.cli._options import option
from seabench.errors import SeabenchError, StorageError

PROBE = options.PROBE


@click.command(context_settings=CONTEXT)
@option(
    options.DATASET,
    default=None,
    help="Dataset of the cached features (with feature files: the rows' name).",
)
@option(
    options.BACKBONE,
    default=None,
    help="Backbone of the cached features; a,b,c with --ensemble (with feature files: "
    "the rows' name).",
)
@option(
    options.IMAGE_SIZE,
    default=None,
    help="Pick the cache entry of this crop size (default: the newest).",
)
@option(options.AUG, default="sea", show_default=True)
@option(PROBE["search"], "--search/--no-search", default=True, show_default=True)
@option(PROBE["prune"], "--prune/--no-prune", default=True, show_default=True)
@option(PROBE["select"], default="auto", show_default=True)
@option(PROBE["folds"], default=5, show_default=True)
@option(options.SEEDS, default=1, show_default=True)
@option(PROBE["epochs"], default=100, show_default=True)
@option(PROBE["batch_size"], default=256, show_default=True)
@option(PROBE["lr"], default=1.6, show_default=True)
@option(PROBE["wd"], default=1e-6, show_default=True)
@option(PROBE["strength"], "--eta", "--strength", "strength", default=None)
@option(PROBE["alpha"], default=0.01, show_default=True)
@option(PROBE["lamda"], default=0.1, show_default=True)
@option(PROBE["delta"], default=0.0, show_default=True)
@option(PROBE["device"], default=None, help="cpu or cuda; default: cuda if available.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per result row.")
@option(PROBE["solver"], "--method", "--solver", "solver", default="sgd", show_default=True)
@option(PROBE["k"], "--k", "knn_k", default=None)
@click.option(
    "--shots",
    default=None,
    help="Few-shot probes: images per class drawn from train, e.g. 1,2,4,8,16 (test unchanged).",
)
@option(
    options.FEWSHOT["draws"],
    default=5,
    show_default=True,
    help="Random draws per --shots value (the same draws for every method).",
)
@option(
    options.FEWSHOT["val_shots"],
    default=None,
    help="Val images per class drawn from the validation split with --shots (default min(k, 4)).",
)
@option(PROBE["l2"], default=None)
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
@option(PROBE["bootstrap"], "--bootstrap", "resamples", default=10_000, show_default=True)
@option(PROBE["confidence"], default=0.95, show_default=True)
@home_option
def probe(
    dataset,
    backbone,
    image_size,
    aug,
    search,
    prune,
    select,
    folds,
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
    knn_k,
    shots,
    draws,
    val_shots,
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
      seabench probe --dataset mnist5k --backbone efficientnet_lite0 --method knn
      seabench probe --dataset mnist5k --backbone efficientnet_lite0 --aug sea \\
          --shots 1,2,4,8,16 --draws 5
      seabench probe --dataset mnist5k --backbone a,b --ensemble logits --aug sea
      seabench probe --train-features tr.pt --train-labels tr_y.pt \\
          --test-features te.pt --test-labels te_y.pt --aug sea --json
    """
    from seabench import runner

    plan = None  # few-shot: checked first, before anything loads
    draws_given = click.get_current_context().get_parameter_source("draws")
    if shots is not None:
        from seabench.fewshot_plan import make_plan

        plan = make_plan(shots, draws, val_shots)
    elif draws_given != click.core.ParameterSource.DEFAULT or val_shots is not None:
        raise SeabenchError("--draws and --val-shots go with --shots (e.g. --shots 1,4,16)")
    source = click.get_current_context().get_parameter_source("aug")
    if solver != "sgd" and source == click.core.ParameterSource.DEFAULT:
        aug = "none"
    # the whole set of options is checked (without torch) before any features are looked for
    opts = runner.probe_options(
        aug,
        {
            "search": search,
            "prune": prune,
            "select": select,
            "folds": folds,
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
            "k": knn_k,
            "bootstrap": resamples,
            "confidence": confidence,
        },
        seeds=seeds,
    )
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
        from seabench.probe.input_paths import check_files

        check_files(files)  # before torch loads
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
    try:
        rows = _probe_rows(
            home,
            external,
            files,
            opts,
            dataset,
            backbone,
            metric,
            num_classes,
            image_size,
            ensemble,
            plan,
        )
    except StorageError as exc:
        _print_rows(exc.kept or [], as_json)  # computed: shown even though it was not stored
        raise
    _print_rows(rows, as_json)


def _probe_rows(
    home, external, files, opts, dataset, backbone, metric, num_classes, image_size, ensemble, plan
) -> list[dict]:
    from seabench import runner

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
                fewshot=plan,
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
                fewshot=plan,
            )
    return rows


def _print_rows(rows: list[dict], as_json: bool) -> None:
    """Each row: a JSON object on stdout with --json, and its summary line on stderr."""
    from seabench.results import test_text

    for r in rows:
        if as_json:
            click.echo(json.dumps(r, sort_keys=True))
        method = r["aug"] if r["solver"] == "sgd" else r["solver"]
        shot = f" {r['shots']}-shot draw {r['draw']}" if "shots" in r else ""
        err.print(
            f"{r['dataset']} / {r['backbone']} / {method}{shot} seed {r['seed']}: "
            f"val {r['val']:.2f}  {test_text(r)}, " + _choice(r),
            highlight=False,
            soft_wrap=True,
            markup=False,
        )
