"""Glue between the stages: cached features become a probe's FeatureSet, rows go to the store.

The probe never imports the image side; this module is where the two meet, for the CLI and for
recipes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from seabench.backbones.readout_options import check_layers_text, check_readout_pooling
from seabench.data import get_dataset
from seabench.data.base import canonical_name
from seabench.home import Home

if TYPE_CHECKING:  # the heavy stages are imported where used: bad input fails before torch
    from seabench.features import FeatureCache
    from seabench.features.cache import CacheEntry
    from seabench.features.extract import ExtractResult
    from seabench.fewshot_plan import FewShotPlan
    from seabench.probe import FeatureSet, ProbeOptions


def extract(
    home: Home,
    dataset: str,
    backbone: str,
    *,
    data_root=None,
    download=False,
    weights=None,
    weights_format="auto",
    pooling=None,
    layers=None,
    progress=None,
    **options,
) -> ExtractResult:
    # bad names and options, then missing data: all before torch or any weights load
    check_backbone_args(backbone, weights, weights_format)
    check_readout_pooling(pooling)
    check_layers_text(layers)
    adapter = get_dataset(dataset, data_root, download)
    adapter.manifest()
    from seabench.backbones import create_backbone
    from seabench.backbones.names import remember_names
    from seabench.features import FeatureCache, extract_features

    remember_names()
    model = create_backbone(
        backbone,
        weights=weights,
        weights_format=weights_format,
        pooling=pooling,
        layers=layers,
        image_size=options.get("image_size"),
    )
    crop = options.get("crop_pct")
    if weights is not None and crop is not None and crop != model.data_config.get("crop_pct"):
        model.name = f"{model.name}[crop={crop:g}]"  # not the layout's protocol: said in labels
    return extract_features(
        adapter, model, FeatureCache(home.features), progress=progress, **options
    )


def check_backbone_args(backbone: str, weights, weights_format: str) -> None:
    """What can be checked about a backbone without importing torch: the weights file, the
    format name, and the name against the last known list of model names."""
    from pathlib import Path

    from seabench.backbones.layouts import get_layout
    from seabench.backbones.names import check_name
    from seabench.errors import DataNotFoundError, SeabenchError

    if weights is None and weights_format != "auto":
        raise SeabenchError(
            f"--weights-format {weights_format} needs a checkpoint: add --weights FILE"
        )
    if weights_format != "auto":
        get_layout(weights_format)
    if weights is not None and not Path(weights).is_file():
        raise DataNotFoundError(
            f"checkpoint {weights} does not exist; pass an existing --weights file"
        )
    check_name(backbone, with_weights=weights is not None)


def feature_set(entry: CacheEntry) -> FeatureSet:
    from seabench.backbones.provenance import weights_in_effect
    from seabench.predictions import items_hash
    from seabench.probe import FeatureSet

    t = entry.load()
    meta = entry.meta
    manifest = entry.manifest()
    return FeatureSet(
        train_x=t["train_x"],
        train_y=t["train_y"],
        val_x=t["val_x"],
        val_y=t["val_y"],
        test_x=t["test_x"],
        test_y=t["test_y"],
        num_classes=meta["num_classes"],
        metric=meta["metric"],
        multilabel=meta["multilabel"],
        dataset=entry.dataset,
        backbone=entry.backbone,
        val_source=meta["val_source"],
        info={
            "features_key": entry.key,
            # the source and weights tag in effect (a bare resnet50 says whose weights it was)
            **weights_in_effect(meta),
            "manifest_hash": meta["inputs"]["manifest"],
            "image_size": meta["inputs"]["transform"]["size"],
            # the readout: every row says which blocks and which pooling made its features
            "layers": meta["inputs"]["backbone"].get("layers", "last1"),
            "pooling": meta["inputs"]["backbone"].get("pooling"),
            **(
                {"preprocess_overrides": meta["preprocess_overrides"]}
                if "preprocess_overrides" in meta
                else {}
            ),
            # the test items in order: rows are paired (intervals of deltas) only when equal
            "test_items": items_hash(manifest.items("test"), manifest.labels("test")),
            # multi-view entries hold (N, M, d) tensors; the probe's views/sla modes use them
            "views": entry.views,
        },
        reference_view=_reference_view(meta.get("view_names", [])),
    )


def _reference_view(names: list[str]) -> int:
    """The view a plain probe uses on multi-view features: the centre crop, else the identity."""
    return names.index("center") if "center" in names else 0


def require_cached(home: Home, dataset: str, backbone: str) -> None:
    """Fail at once (before torch loads) where no features of these names were ever extracted."""
    from seabench.features.cache import FeatureCache

    cache = FeatureCache(home.features)
    for name in [b.strip() for b in backbone.split(",") if b.strip()]:
        cache.find(canonical_name(dataset), name, views=None)


def find_features(cache: FeatureCache, dataset: str, backbone: str, multiview: bool, match: dict):
    """View modes take the newest multi-view entry; the others the single-view one, or, where only
    multi-view features were extracted, the reference view of a multi-view entry."""
    from seabench.errors import DataNotFoundError
    from seabench.features.cache import MULTI

    dataset = canonical_name(dataset)
    if multiview:
        return cache.find(dataset, backbone, views=MULTI, **match)
    try:
        return cache.find(dataset, backbone, views="none", **match)
    except DataNotFoundError:
        try:
            return cache.find(dataset, backbone, views=MULTI, **match)
        except DataNotFoundError:
            pass
        raise


def probe_cached(
    home: Home,
    dataset: str,
    backbone: str,
    opts: ProbeOptions,
    progress: Callable[[str, int], None] | None = None,
    image_size: int | None = None,
    ensemble: str | None = None,
    fewshot: FewShotPlan | None = None,
) -> list[dict]:
    """Probe cached features; ``backbone`` "a,b,c" with ``ensemble`` concat|logits ensembles them
    (their cache entries must share the split manifest); ``fewshot`` runs the few-shot draws
    instead of the full training set.  Rows are appended to the store."""
    from seabench.errors import SeabenchError
    from seabench.features import FeatureCache
    from seabench.probe.ensemble import run_ensemble
    from seabench.probe.multiview import MULTIVIEW_AUGS
    from seabench.results import ResultsStore, RowSink

    match = {"size": image_size} if image_size else {}
    multiview = opts.aug in MULTIVIEW_AUGS
    names = [b.strip() for b in backbone.split(",") if b.strip()]
    if not names:
        raise SeabenchError("--backbone is empty; name one backbone, or several as a,b,c")
    if len(names) > 1 and ensemble is None:
        raise SeabenchError(
            f"{len(names)} backbones given; add --ensemble concat or --ensemble "
            "logits to ensemble them, or probe them one at a time"
        )
    if ensemble is not None and fewshot is not None:
        raise SeabenchError("--shots probes one backbone at a time; drop --ensemble")
    cache = FeatureCache(home.features)
    sink = RowSink(ResultsStore(home.results))  # each seed's row stored as soon as it exists
    if ensemble is not None:
        sets = [feature_set(find_features(cache, dataset, b, multiview, match)) for b in names]
        info = {"options_hash": options_hash(opts)}
        return sink.finish(run_ensemble(sets, ensemble, opts, progress, info, sink))
    fs = feature_set(find_features(cache, dataset, names[0], multiview, match))
    fs.info["options_hash"] = options_hash(opts)
    if fewshot is not None:
        return probe_fewshot(home, fs, opts, fewshot, progress)
    return sink.finish(_seeds(sink, fs, opts, progress))


def _seeds(sink, fs: FeatureSet, opts: ProbeOptions, progress) -> list[dict]:
    """Each seed's row stored as soon as it is scored; an interrupted run continued."""
    from seabench.probe import run_probe
    from seabench.probe_resume import run_seeds

    return run_seeds(sink.store, fs, opts, lambda f, o: run_probe(f, o, progress, sink))


def probe_fewshot(
    home: Home,
    fs: FeatureSet,
    opts: ProbeOptions,
    plan: FewShotPlan,
    progress: Callable[[str, int], None] | None = None,
    skip_recorded: bool = False,
) -> list[dict]:
    """The few-shot draws of ``plan``; each draw's rows are stored as soon as they exist.

    With ``skip_recorded`` (recipes), draws already recorded for these features, method and
    options are not run again."""
    from seabench.probe.fewshot import run_fewshot
    from seabench.results import ResultsStore

    store = ResultsStore(home.results)
    skip = None
    if skip_recorded:
        done = {
            (r.get("shots"), r.get("draw"), r.get("draw_hash"), r.get("seed"))
            for r in store.rows()
            if r.get("features_key") == fs.info.get("features_key")
            and r.get("backbone") == fs.backbone
            and r.get("aug") == opts.aug
            and r.get("options_hash") == fs.info.get("options_hash")
        }
        seeds = range(opts.first_seed, opts.first_seed + opts.seeds)

        def skip(info: dict) -> bool:
            key = (info["shots"], info["draw"], info["draw_hash"])
            return all((*key, s) in done for s in seeds)

    else:  # the command line: a run stopped before its last draw is continued
        from seabench.probe_resume import fewshot_skip

        planned = {"shots": list(plan.shots), "draws": plan.draws, "val_shots": plan.val_shots}
        skip = fewshot_skip(store, fs, opts, planned)
    return run_fewshot(fs, opts, plan, progress, sink=store.append, skip=skip)


def probe_external(
    home: Home,
    files: dict[str, str | None],
    opts: ProbeOptions,
    progress: Callable[[str, int], None] | None = None,
    fewshot: FewShotPlan | None = None,
    **naming,
) -> list[dict]:
    """Probe features from files (``files`` maps train/val/test_features/labels to paths);
    ``naming`` holds metric, num_classes, dataset, backbone.  Rows are appended to the store."""
    from seabench.probe.inputs import external_feature_set
    from seabench.results import ResultsStore, RowSink

    fs = external_feature_set(**files, **naming)
    fs.info["options_hash"] = options_hash(opts)
    if fewshot is not None:
        return probe_fewshot(home, fs, opts, fewshot, progress)
    sink = RowSink(ResultsStore(home.results))
    return sink.finish(_seeds(sink, fs, opts, progress))


def options_hash(opts: ProbeOptions) -> str:
    """Fingerprint of everything in the probe options that changes a row (not the seed range)."""
    import hashlib
    from dataclasses import asdict

    from seabench._io import canonical_json

    d = asdict(opts)
    for k in ("seeds", "first_seed", "device", "bootstrap", "confidence"):
        d.pop(k, None)
    for k in ("k", "k_grid"):  # k-NN's, unset elsewhere: rows recorded before them keep their hash
        if d[k] is None:
            d.pop(k)
    return hashlib.sha256(canonical_json(d).encode()).hexdigest()[:12]


def recorded_seeds(home: Home, features_key: str, aug: str, opts_hash: str) -> set[int]:
    from seabench.results import ResultsStore

    return {
        r["seed"]
        for r in ResultsStore(home.results).rows()
        if r.get("features_key") == features_key
        and r.get("aug") == aug
        and r.get("options_hash") == opts_hash
        and r.get("shots") is None  # few-shot rows are another protocol
    }


def probe_options(aug: str, settings: dict, seeds: int = 1) -> ProbeOptions:
    """ProbeOptions from a flat dict (recipe [probe] table or CLI flags)."""
    from dataclasses import fields

    from seabench.errors import SeabenchError
    from seabench.options import PROBE
    from seabench.probe import ProbeOptions, TrainSettings

    s = dict(settings)
    train_keys = {f.name for f in fields(TrainSettings)}
    unknown = set(s) - set(PROBE)
    if unknown:
        raise SeabenchError(
            f"unknown probe settings {', '.join(sorted(unknown))}; "
            f"known: {', '.join(sorted(PROBE))}"
        )
    train = TrainSettings(**{k: s.pop(k) for k in list(s) if k in train_keys})
    for k in ("lr_grid", "wd_grid", "strength_grid", "l2_grid"):
        if k in s and s[k] is not None:
            s[k] = tuple(float(v) for v in s[k])
    if s.get("k_grid") is not None:
        s["k_grid"] = tuple(int(v) for v in s["k_grid"])
    return ProbeOptions(aug=aug, settings=train, seeds=seeds, **s)
