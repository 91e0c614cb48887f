"""A recipe's dry run: what data and checkpoints are missing, what each method will run, each
cell's state and an estimate of the work, without loading a backbone."""

from __future__ import annotations

from seabench.data import get_dataset
from seabench.home import Home
from seabench.recipe_run import _method_options


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
