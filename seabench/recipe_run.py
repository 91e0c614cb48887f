"""Recipes run and planned: every cell of a grid through the stages, skipping finished work.

``run_recipe`` extracts, probes, fine-tunes cell by cell (a failing cell is reported at the end,
the others still run); ``plan_recipe`` says what a run would do and what it would cost, without
loading a backbone.  The stages themselves are in :mod:`seabench.runner`.
"""

from __future__ import annotations

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
    from seabench.results import ResultsStore

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
                            f"val {r['val']:.2f}  test {r['test']:.2f}  "
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
                    f"{k}-shot {sum(v) / len(v):.2f}" for k, v in sorted(by_shots.items())
                )
                log(
                    f"probe {where}: "
                    + (
                        f"{done} (mean of draws, {time.perf_counter() - t0:.1f} s)"
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
                    else f"test {row['test']:.2f} ({row['configs_searched'] or 1} config(s), "
                    f"{row['wall_seconds']:.1f} s)"
                )
            )
    return failures


def _recorded_methods(home: Home) -> dict[tuple[str, str, str], set[int]]:
    """Seeds recorded per (backbone, dataset, method), method as a recipe names it."""
    from seabench.results import ResultsStore

    out: dict[tuple[str, str, str], set[int]] = {}
    for r in ResultsStore(home.results).rows():
        if r.get("shots") is not None:
            continue
        method = r.get("aug") if r.get("solver", "sgd") == "sgd" else r.get("solver")
        out.setdefault((r.get("backbone"), r.get("dataset"), method), set()).add(r.get("seed"))
    return out


def plan_recipe(recipe, home: Home) -> list[str]:
    """The dry-run plan: what data and checkpoints are missing, what each method will run, a
    backbone x dataset grid per method with each cell's state, and an estimate of the work."""
    from pathlib import Path

    from seabench.backbones.layouts import FORMATS
    from seabench.errors import SeabenchError, UnsafeFileError

    lines = [f"plan for {recipe.path} (home {home.root})"]
    if recipe.description:
        lines.append(f"  {recipe.description}")
    lines.append(f"datasets (data root {recipe.data_root or 'data'}):")
    images: dict[str, int] = {}
    bad_data: dict[str, str] = {}
    subset = recipe.extract.get("subset")
    for d in recipe.datasets:
        try:
            adapter = get_dataset(d, recipe.data_root)
            if not adapter.is_available():
                adapter.missing()
            m = adapter.manifest()
            m = m.subset(subset) if subset else m
            c = m.counts()
            images[d] = sum(c.values())
            lines.append(
                f"  ok       {d}: {c['train']:,} / {c['val']:,} / {c['test']:,} images "
                f"(train / val / test), val split: {m.val_source}"
            )
        except UnsafeFileError:
            raise  # a planted file stops even a dry run (exit 2), not one more missing dataset
        except SeabenchError as exc:
            bad_data[d] = "unknown" if str(exc).startswith("unknown dataset") else "no data"
            lines.append(f"  MISSING  {d}: {exc}")
    lines.append("backbones:")
    bad_ckpt: dict[str, str] = {}
    for spec in recipe.backbones:
        if spec.format not in FORMATS:
            bad_ckpt[spec.name] = "bad fmt"
            lines.append(
                f"  ERROR    {spec.name}: unknown format {spec.format!r}; choose one of: "
                f"{', '.join(FORMATS)}"
            )
        elif spec.weights and not Path(spec.weights).is_file():
            bad_ckpt[spec.name] = "no ckpt"
            lines.append(
                f"  MISSING  {spec.name}: checkpoint {spec.weights} does not exist; "
                f"put the {spec.format} {spec.arch} checkpoint there (or set the "
                "recipe's path variable, e.g. CKPT_DIR)"
            )
        else:
            src = f"checkpoint {spec.weights} ({spec.format})" if spec.weights else "built-in"
            lines.append(f"  ok       {spec.name}: {spec.arch}, {src}")
    recorded = _recorded_methods(home)
    cells = len(recipe.backbones) * len(recipe.datasets)
    ready = [
        (b.name, d)
        for b in recipe.backbones
        for d in recipe.datasets
        if b.name not in bad_ckpt and d not in bad_data
    ]
    width = max(8, *(len(d) for d in recipe.datasets))
    name_w = max(len(b) for b in recipe.backbone_names)
    work = {"probe": 0, "steps": 0}
    for method in recipe.augs:
        try:
            if method == "finetune":
                fo = recipe.finetune_options(0)
                n_cfg = len(fo.configs())
                what = f"{n_cfg} config(s) x {fo.max_steps:,} steps of batch {fo.batch_size}" + (
                    ", selected on val, + refit on train+val" if n_cfg > 1 else ""
                )
                per_seed_steps = (n_cfg + (1 if n_cfg > 1 else 0)) * fo.max_steps
            else:
                opts = _method_options(method, recipe)
                if opts.solver == "lbfgs":
                    n_cfg = len(opts.l2_values())
                    what = f"L-BFGS logistic regression, {n_cfg} L2 values"
                elif opts.solver == "knn":
                    from seabench.probe.knn import K_GRID

                    n_cfg = len(opts.k_grid or K_GRID) if opts.search else 1
                    what = f"weighted k-NN, {n_cfg} values of k"
                else:
                    n_cfg = len(opts.grid())
                    what = f"{n_cfg} configs x {opts.settings.epochs} epochs"
                per_seed_steps = 0
        except SeabenchError as exc:
            lines.append(f"method {method}: ERROR {exc}")
            continue
        states = {}
        for b in recipe.backbone_names:
            for d in recipe.datasets:
                done = len(recorded.get((b, d, method), set()) & set(range(recipe.seeds)))
                states[b, d] = (
                    bad_ckpt.get(b)
                    or bad_data.get(d)
                    or (
                        "done"
                        if done == recipe.seeds
                        else f"{done}/{recipe.seeds}"
                        if done
                        else "todo"
                    )
                )
        todo = [k for k in ready if states[k] != "done"]
        work["probe"] += 0 if method == "finetune" else len(todo) * recipe.seeds * n_cfg
        work["steps"] += len(todo) * recipe.seeds * per_seed_steps
        lines.append(
            f"method {method}: {cells} cells ({len(recipe.backbones)} backbones x "
            f"{len(recipe.datasets)} datasets) x {recipe.seeds} seed(s); {what}; "
            f"{len(todo)} cell(s) to run, {cells - len(ready)} blocked"
        )
        header = " ".join(f"{d:>{width}}" for d in recipe.datasets)
        lines.append("  " + " " * name_w + "  " + header)
        for b in recipe.backbone_names:
            lines.append(
                f"  {b:<{name_w}}  " + " ".join(f"{states[b, d]:>{width}}" for d in recipe.datasets)
            )
    try:
        plan = recipe.fewshot_plan()
        if plan is not None:
            lines.append(
                f"few-shot: {', '.join(recipe.fewshot_methods)} at "
                f"{', '.join(map(str, plan.shots))} shots x {plan.draws} draws per cell"
            )
    except SeabenchError as exc:
        lines.append(f"few-shot: ERROR {exc}")
    extract_images = sum(images.get(d, 0) for _, d in ready) if recipe.probe_methods else 0
    unknown = sorted(bad_data)
    lines.append(
        f"estimate: {len(ready)} of {cells} cells ready; at most {extract_images:,} images to "
        f"extract (cached ones are reused); {work['probe']:,} probe configurations; "
        f"{work['steps']:,} fine-tuning steps"
        + (f"; image counts unknown for {', '.join(unknown)} (no data)" if unknown else "")
    )
    if recipe.probe_methods:
        lines += _extraction_plan(recipe, home, images, ready)
    return lines


def _extraction_plan(recipe, home: Home, images: dict[str, int], ready: list) -> list[str]:
    """Per cell whose features are not cached: images to extract and the measured-time estimate."""
    from pathlib import Path

    import torch

    from seabench.backbones.checkpoints import display_name
    from seabench.features.estimate import Cell, extraction_estimate
    from seabench.features.extract import decode_mode

    specs = {b.name: b for b in recipe.backbones}
    options = dict(recipe.extract)
    device = options.get("device") or ("cuda" if torch.cuda.is_available() else "cpu")
    cells = []
    for name, d in ready:
        spec = specs[name]
        cells.append(
            Cell(
                name,
                display_name(spec.arch, Path(spec.weights)) if spec.weights else spec.arch,
                spec.arch,
                get_dataset(d, recipe.data_root).name,
                images[d],
                decode_mode(get_dataset(d, recipe.data_root), options.get("decode", "draft")),
            )
        )
    return extraction_estimate(home.features, cells, options, device)
