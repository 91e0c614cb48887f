"""Recipes run and planned: every cell of a grid through the stages, skipping finished work.

``run_recipe`` extracts, probes, fine-tunes cell by cell (a failing cell is reported at the end,
the others still run); the dry run's plan is in :mod:`seabench.recipe_plan`.  The stages
themselves are in :mod:`seabench.runner`.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from seabench.backbones.provenance import weights_in_effect
from seabench.data import get_dataset
from seabench.home import Home
from seabench.runner import (
    extract,
    feature_set,
    options_hash,
    probe_fewshot,
    probe_options,
    recorded_seeds,
)

if TYPE_CHECKING:
    from seabench.features.extract import ExtractResult
    from seabench.probe import ProbeOptions


def _extract_cell(home: Home, recipe, spec, dataset: str, progress) -> ExtractResult:
    """Features of one recipe cell (a backbone table's checkpoint file included)."""
    kwargs = dict(recipe.extract)
    if spec.pooling is not None:
        kwargs["pooling"] = spec.pooling
    return extract(
        home,
        dataset,
        spec.arch,
        data_root=recipe.data_root,
        weights=spec.weights,
        weights_format=spec.format,
        progress=progress,
        **kwargs,
    )


def _method_options(method: str, recipe) -> ProbeOptions:
    """Probe options of a recipe method; ``lbfgs`` is the L-BFGS solver with aug none."""
    from dataclasses import fields

    from seabench.errors import SeabenchError
    from seabench.probe import ProbeOptions

    settings = dict(recipe.probe)
    if method == "knn":
        settings = {k: v for k, v in settings.items() if k in ("device", "search", "k", "k_grid")}
        return probe_options("none", {**settings, "solver": "knn"}, seeds=recipe.seeds)
    settings.pop("k", None)
    settings.pop("k_grid", None)
    if method == "lbfgs":
        if "solver" not in {f.name for f in fields(ProbeOptions)}:
            raise SeabenchError(
                "this seabench has no L-BFGS solver (ProbeOptions.solver); "
                "remove 'lbfgs' from the recipe's augs"
            )
        lbfgs_keys = ("device", "search", "l2", "l2_grid", "select", "folds")
        settings = {k: v for k, v in settings.items() if k in lbfgs_keys}
        return probe_options("none", {**settings, "solver": "lbfgs"}, seeds=recipe.seeds)
    settings.pop("l2", None)
    settings.pop("l2_grid", None)
    return probe_options(method, settings, seeds=recipe.seeds)


def check_names(recipe) -> None:
    """Unknown dataset and backbone names of a recipe, refused before any work and before torch
    loads, one line per problem (with the closest known names)."""
    from seabench.backbones.names import check_name
    from seabench.errors import SeabenchError

    problems = []
    for d in recipe.datasets:
        try:
            get_dataset(d, recipe.data_root)
        except SeabenchError as exc:
            problems.append(str(exc))
    for spec in recipe.backbones:
        try:
            check_name(spec.arch, with_weights=spec.weights is not None)
        except SeabenchError as exc:
            problems.append(f"backbone {spec.name}: {exc}")
    if problems:
        raise SeabenchError("\n".join(f"recipe {recipe.path}: {p}" for p in problems))


def blocked_cells(recipe) -> dict[tuple[str, str], str]:
    """(backbone name, dataset) -> why the cell cannot run: its data folder or checkpoint file is
    missing (checked without torch)."""
    from pathlib import Path

    from seabench.errors import SeabenchError

    missing_data = {}
    for d in recipe.datasets:
        adapter = get_dataset(d, recipe.data_root, bool(recipe.extract.get("download")))
        if not adapter.is_available() and not adapter.download:
            try:
                adapter.missing()
            except SeabenchError as exc:
                missing_data[d] = str(exc)
    blocked = {}
    for spec, d in recipe.cells():
        if spec.weights is not None and not Path(spec.weights).is_file():
            blocked[spec.name, d] = f"checkpoint {spec.weights} does not exist"
        elif d in missing_data:
            blocked[spec.name, d] = missing_data[d]
    return blocked


def check_runnable(recipe) -> None:
    """A run in which no cell can run fails at once, before torch loads, one line per cause (a
    run where some can runs them and lists the others at the end)."""
    from seabench.errors import SeabenchError

    blocked = blocked_cells(recipe)
    if blocked and len(blocked) == len(recipe.cells()):
        causes = dict.fromkeys(blocked.values())
        raise SeabenchError(
            "\n".join(f"recipe {recipe.path}: no cell can run: {c}" for c in causes)
        )


def check_recipe(recipe) -> None:
    """Build every method's options once, so that what the per-key schema cannot see (a
    combination such as lbfgs without search and without l2) fails before any work, one line
    per problem."""
    from seabench.errors import SeabenchError

    problems = []
    for method in recipe.probe_methods:
        try:
            _method_options(method, recipe)
        except SeabenchError as exc:
            problems.append(f"method {method}: {exc}")
    if "finetune" in recipe.augs:
        try:
            recipe.finetune_options(0).configs()
        except SeabenchError as exc:
            problems.append(f"[finetune]: {exc}")
    if problems:
        raise SeabenchError("\n".join(f"recipe {recipe.path}: {p}" for p in problems))


def run_recipe(
    recipe,
    home: Home,
    log: Callable[[str], None],
    extract_progress=None,
    probe_progress=None,
    finetune_progress=None,
) -> list[str]:
    """Run every cell of a recipe; return the list of failures (cell: reason)."""
    from seabench.errors import SeabenchError, UnsafeFileError
    from seabench.finetune import finetune_cell
    from seabench.probe import run_probe
    from seabench.results import ResultsStore, test_text

    failures = []
    plan = recipe.fewshot_plan()
    for spec, dataset in recipe.cells():
        backbone = spec.name
        if recipe.probe_methods or recipe.fewshot_methods:
            try:
                result = _extract_cell(home, recipe, spec, dataset, extract_progress)
            except UnsafeFileError:
                raise  # a planted file stops the run: it is not one more failed cell
            except SeabenchError as exc:
                failures.append(f"{backbone} / {dataset}: {exc}")
                log(f"skip {backbone} / {dataset}: {exc}")
                continue
            entry = result.entry
            # a preprocessing other than the layout's own stays in the label (name[...])
            backbone = spec.name + entry.backbone[len(entry.backbone.split("[")[0]) :]
            log(
                f"features {backbone} / {dataset}: "
                + (
                    "cached"
                    if result.cached
                    else f"extracted {result.images} images in {result.seconds:.1f} s "
                    f"({result.images_per_second:.0f} img/s)"
                )
                + f" {entry.key}, weights {' '.join(weights_in_effect(entry.meta).values())}"
            )
        for method in recipe.probe_methods:
            try:
                opts = _method_options(method, recipe)
                ohash = options_hash(opts)
                done = recorded_seeds(home, entry.key, opts.aug, ohash)
                todo = [s for s in range(recipe.seeds) if s not in done]
                if not todo:
                    log(f"probe {backbone} / {dataset} / {method}: recorded")
                    continue
                fs = feature_set(entry)
                fs.backbone = backbone  # the recipe's label (checkpoints of one arch differ)
                fs.info["options_hash"] = ohash
                for seed in todo:
                    opts.first_seed, opts.seeds = seed, 1
                    new = run_probe(fs, opts, progress=probe_progress)
                    for r in new:  # logged before storing: a full disk does not lose it
                        log(
                            f"probe {backbone} / {dataset} / {method} seed {r['seed']}: "
                            f"val {r['val']:.2f}  {test_text(r)}  "
                            f"({r['configs_searched']} configs, {r['search_seconds']:.1f} s)"
                        )
                    ResultsStore(home.results).append(new)
            except SeabenchError as exc:
                failures.append(f"{backbone} / {dataset} / {method}: {exc}")
                log(f"failed {backbone} / {dataset} / {method}: {exc}")
        for method in recipe.fewshot_methods:
            where = f"{backbone} / {dataset} / {method} few-shot"
            try:
                opts = _method_options(method, recipe)
                fs = feature_set(entry)
                fs.backbone = backbone
                fs.info["options_hash"] = options_hash(opts)
                t0 = time.perf_counter()
                rows = probe_fewshot(home, fs, opts, plan, probe_progress, skip_recorded=True)
                by_shots: dict[int, list[float]] = {}
                for r in rows:
                    by_shots.setdefault(r["shots"], []).append(r["test"])
                done = "  ".join(
                    f"{k}-shot {statistics.fmean(v):.2f} ± {_spread(v)}"
                    for k, v in sorted(by_shots.items())
                )
                log(
                    f"probe {where}: "
                    + (
                        f"{done} (mean ± sd of the draws; intervals in `seabench report`, "
                        f"{time.perf_counter() - t0:.1f} s)"
                        if rows
                        else "recorded"
                    )
                )
            except SeabenchError as exc:
                failures.append(f"{where}: {exc}")
                log(f"failed {where}: {exc}")
        if "finetune" not in recipe.augs:
            continue
        for seed in range(recipe.seeds):
            try:
                row, recorded = finetune_cell(
                    home.root,
                    dataset,
                    spec.arch,
                    recipe.finetune_options(seed),
                    data_root=recipe.data_root,
                    weights=spec.weights,
                    weights_format=spec.format,
                    label=backbone,
                    skip_recorded=True,
                    progress=finetune_progress,
                    log=log,
                )
            except SeabenchError as exc:
                failures.append(f"{backbone} / {dataset} / finetune seed {seed}: {exc}")
                log(f"failed {backbone} / {dataset} / finetune seed {seed}: {exc}")
                break
            log(
                f"finetune {backbone} / {dataset} seed {seed}: "
                + (
                    "recorded"
                    if recorded
                    else f"{test_text(row)} ({row['configs_searched'] or 1} config(s), "
                    f"{row['wall_seconds']:.1f} s)"
                )
            )
    return failures


def _spread(scores: list[float]) -> str:
    """The sd of a few-shot score over its draws, or why there is none."""
    return f"{statistics.stdev(scores):.2f}" if len(scores) > 1 else "? (one draw: no spread)"
