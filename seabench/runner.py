"""Glue between the stages: cached features become a probe's FeatureSet, rows go to the store.

The probe never imports the image side; this module is where the two meet, for the CLI and for
recipes.
"""

from __future__ import annotations

from collections.abc import Callable

from seabench.backbones import create_backbone
from seabench.data import get_dataset
from seabench.features import FeatureCache, extract_features
from seabench.features.cache import CacheEntry
from seabench.features.extract import ExtractResult
from seabench.home import Home
from seabench.probe import FeatureSet, ProbeOptions, run_probe
from seabench.results import ResultsStore


def extract(home: Home, dataset: str, backbone: str, *, data_root=None, download=False,
            weights=None, weights_format="auto", progress=None, **options) -> ExtractResult:
    adapter = get_dataset(dataset, data_root, download)
    adapter.manifest()  # fail on missing data before loading any weights
    model = create_backbone(backbone, weights=weights, weights_format=weights_format)
    return extract_features(adapter, model, FeatureCache(home.features), progress=progress,
                            **options)


def feature_set(entry: CacheEntry) -> FeatureSet:
    t = entry.load()
    meta = entry.meta
    return FeatureSet(
        train_x=t["train_x"], train_y=t["train_y"], val_x=t["val_x"], val_y=t["val_y"],
        test_x=t["test_x"], test_y=t["test_y"], num_classes=meta["num_classes"],
        metric=meta["metric"], multilabel=meta["multilabel"], dataset=entry.dataset,
        backbone=entry.backbone, val_source=meta["val_source"],
        info={"features_key": entry.key, "manifest_hash": meta["inputs"]["manifest"],
              "image_size": meta["inputs"]["transform"]["size"]},
    )


def probe_cached(home: Home, dataset: str, backbone: str, opts: ProbeOptions,
                 progress: Callable[[str, int], None] | None = None,
                 image_size: int | None = None) -> list[dict]:
    match = {"size": image_size} if image_size else {}
    entry = FeatureCache(home.features).find(dataset, backbone, **match)
    fs = feature_set(entry)
    fs.info["options_hash"] = options_hash(opts)
    rows = run_probe(fs, opts, progress=progress)
    ResultsStore(home.results).append(rows)
    return rows


def options_hash(opts: ProbeOptions) -> str:
    """Fingerprint of everything in the probe options that changes a row (not the seed range)."""
    import hashlib
    from dataclasses import asdict

    from seabench._io import canonical_json

    d = asdict(opts)
    for k in ("seeds", "first_seed", "device"):
        d.pop(k)
    return hashlib.sha256(canonical_json(d).encode()).hexdigest()[:12]


def recorded_seeds(home: Home, features_key: str, aug: str, opts_hash: str) -> set[int]:
    return {r["seed"] for r in ResultsStore(home.results).rows()
            if r.get("features_key") == features_key and r.get("aug") == aug
            and r.get("options_hash") == opts_hash}


def probe_options(aug: str, settings: dict, seeds: int = 1) -> ProbeOptions:
    """ProbeOptions from a flat dict (recipe [probe] table or CLI flags)."""
    from seabench.errors import SeabenchError
    from seabench.probe import TrainSettings

    s = dict(settings)
    train_keys = {"epochs", "batch_size", "momentum", "alpha", "lamda", "delta"}
    opt_keys = {"search", "lr", "wd", "strength", "lr_grid", "wd_grid", "strength_grid", "device"}
    unknown = set(s) - train_keys - opt_keys
    if unknown:
        raise SeabenchError(
            f"unknown probe settings {', '.join(sorted(unknown))}; "
            f"known: {', '.join(sorted(train_keys | opt_keys))}"
        )
    train = TrainSettings(**{k: s.pop(k) for k in list(s) if k in train_keys})
    for k in ("lr_grid", "wd_grid", "strength_grid"):
        if k in s and s[k] is not None:
            s[k] = tuple(float(v) for v in s[k])
    return ProbeOptions(aug=aug, settings=train, seeds=seeds, **s)


def run_recipe(recipe, home: Home, log: Callable[[str], None],
               extract_progress=None, probe_progress=None) -> list[str]:
    """Run every cell of a recipe; return the list of failures (cell: reason)."""
    from seabench.errors import SeabenchError

    failures = []
    for backbone, dataset in recipe.cells():
        try:
            result = extract(home, dataset, backbone, data_root=recipe.data_root,
                             progress=extract_progress, **recipe.extract)
        except SeabenchError as exc:
            failures.append(f"{backbone} / {dataset}: {exc}")
            log(f"[red]skip[/] {backbone} / {dataset}: {exc}")
            continue
        entry = result.entry
        log(f"features {backbone} / {dataset}: "
            + ("cached" if result.cached else
               f"extracted {result.images} images in {result.seconds:.1f} s "
               f"({result.images_per_second:.0f} img/s)") + f" [dim]{entry.key}[/]")
        for aug in recipe.augs:
            try:
                opts = probe_options(aug, recipe.probe, seeds=recipe.seeds)
                ohash = options_hash(opts)
                done = recorded_seeds(home, entry.key, aug, ohash)
                todo = [s for s in range(recipe.seeds) if s not in done]
                if not todo:
                    log(f"probe {backbone} / {dataset} / {aug}: recorded")
                    continue
                fs = feature_set(entry)
                fs.info["options_hash"] = ohash
                rows = []
                for seed in todo:
                    opts.first_seed, opts.seeds = seed, 1
                    new = run_probe(fs, opts, progress=probe_progress)
                    ResultsStore(home.results).append(new)
                    rows += new
                for r in rows:
                    log(f"probe {backbone} / {dataset} / {aug} seed {r['seed']}: "
                        f"val {r['val']:.2f}  test {r['test']:.2f}  "
                        f"({r['configs_searched']} configs, {r['search_seconds']:.1f} s)")
            except SeabenchError as exc:
                failures.append(f"{backbone} / {dataset} / {aug}: {exc}")
                log(f"[red]failed[/] {backbone} / {dataset} / {aug}: {exc}")
    return failures
