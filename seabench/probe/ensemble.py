"""Ensembles over backbones (pre-training objectives), as in the SeA paper's ensemble table.

- ``concat``: each backbone's features are L2-normalised, then concatenated; one probe (with its
  own search) is trained on the joint features.
- ``logits``: one probe per backbone, each with its own search on val and refit on train+val;
  their class probabilities are averaged (on val for the reported val score, on test once).

Members must describe the very same examples: the same split manifest (its hash, when the
features came from the cache), the same labels and sizes in every split.  Anything else is
refused, since silently averaging over different splits would give a meaningless number.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import torch
import torch.nn.functional as F

from seabench.errors import SeabenchError
from seabench.probe.metrics import score
from seabench.probe.protocol import (
    FeatureSet,
    Fit,
    ProbeOptions,
    fit,
    make_row,
    prepare,
    resolve_device,
    run_probe,
    scored_row,
)

MODES = ("concat", "logits")


def ensemble_id(mode: str, backbones: list[str]) -> str:
    """The backbone id that ensemble rows are recorded under, e.g. ``ens-concat(a+b)``."""
    return f"ens-{mode}({'+'.join(backbones)})"


def check_members(sets: list[FeatureSet]) -> None:
    """Refuse members that do not share splits, labels, classes and metric."""
    if len(sets) < 2:
        raise SeabenchError("an ensemble needs at least two backbones: --backbone a,b")
    names = [fs.backbone for fs in sets]
    if len(set(names)) != len(names):
        raise SeabenchError(f"backbone listed twice in the ensemble: {', '.join(names)}")
    first = sets[0]
    hashes = {fs.backbone: fs.info.get("manifest_hash") for fs in sets}
    if len(set(hashes.values())) > 1:
        shown = ", ".join(f"{b}: {h}" for b, h in hashes.items())
        raise SeabenchError(
            f"the backbones' features come from different split manifests ({shown}); extract "
            "them all from the same dataset and split (same --subset) before ensembling"
        )
    for fs in sets[1:]:
        for field_ in ("dataset", "num_classes", "multilabel", "metric"):
            if getattr(fs, field_) != getattr(first, field_):
                raise SeabenchError(
                    f"ensemble members differ in {field_}: {first.backbone} has "
                    f"{getattr(first, field_)!r}, {fs.backbone} has {getattr(fs, field_)!r}"
                )
        for split in ("train", "val", "test"):
            a, b = getattr(first, f"{split}_y"), getattr(fs, f"{split}_y")
            if (a is None) != (b is None) or (a is not None and not torch.equal(a.cpu(), b.cpu())):
                raise SeabenchError(
                    f"ensemble members {first.backbone} and {fs.backbone} have different "
                    f"{split} labels; they must be features of the same examples in the same order"
                )


def _merged_info(sets: list[FeatureSet], mode: str) -> dict:
    info = {
        "ensemble": mode,
        "members": [fs.backbone for fs in sets],
        "manifest_hash": sets[0].info.get("manifest_hash"),
    }
    if sets[0].info.get("test_items"):  # members share their test items (checked above)
        info["test_items"] = sets[0].info["test_items"]
    keys = [fs.info.get("features_key") for fs in sets]
    if all(keys):
        info["features_key"] = "+".join(keys)
    return info


def concat_features(sets: list[FeatureSet]) -> FeatureSet:
    """One FeatureSet of per-backbone L2-normalised features, concatenated along the dimension."""
    check_members(sets)

    def cat(split: str) -> torch.Tensor | None:
        parts = [getattr(fs, f"{split}_x") for fs in sets]
        if parts[0] is None:
            return None
        return torch.cat([F.normalize(p.float(), dim=-1) for p in parts], dim=1)

    first = sets[0]
    return replace(
        first,
        train_x=cat("train"),
        val_x=cat("val"),
        test_x=cat("test"),
        backbone=ensemble_id("concat", [fs.backbone for fs in sets]),
        info=_merged_info(sets, "concat"),
    )


def run_ensemble(
    sets: list[FeatureSet],
    mode: str,
    opts: ProbeOptions,
    progress: Callable[[str, int], None] | None = None,
    info: dict | None = None,
    sink: Callable[[list[dict]], None] | None = None,
) -> list[dict]:
    """Rows (one per seed) of an ensemble of the backbones' probes, recorded as its own backbone.

    ``info`` is merged into every row (e.g. the options hash); ``sink`` gets each seed's row as
    soon as it is scored (see :func:`~seabench.probe.protocol.run_probe`).
    """
    if mode not in MODES:
        raise SeabenchError(f"unknown ensemble {mode!r}; choose one of: {', '.join(MODES)}")
    if mode == "concat":
        joint = concat_features(sets)
        joint.info.update(info or {})
        return run_probe(joint, opts, progress, sink)
    check_members(sets)
    device = resolve_device(opts.device)
    splits = [prepare(fs, device) for fs in sets]
    first = sets[0]
    merged = replace(
        first,
        backbone=ensemble_id(mode, [fs.backbone for fs in sets]),
        info={**_merged_info(sets, mode), **(info or {})},
    )
    rows = []
    for seed in range(opts.first_seed, opts.first_seed + opts.seeds):
        fits = [fit(s, fs, opts, seed, progress) for s, fs in zip(splits, sets, strict=True)]
        val_probs = torch.stack([f.val_probs for f in fits]).mean(0)
        test_probs = torch.stack([f.test_probs for f in fits]).mean(0)
        # k-fold members' val_probs are out-of-fold over train+val (same folds: same labels)
        sel_y = fits[0].val_labels if fits[0].val_labels is not None else splits[0].val_y
        combined = Fit(
            val_probs,
            test_probs,
            score(first.metric, val_probs, sel_y),
            {"members": {fs.backbone: f.hparams for fs, f in zip(sets, fits, strict=True)}},
            sum(f.configs_searched for f in fits),
            sum(f.search_seconds for f in fits),
            sum(f.seconds for f in fits),
            selected_on=fits[0].selected_on,
        )
        test = score(first.metric, test_probs, splits[0].test_y)
        row = make_row(merged, opts, splits[0], combined, test, seed)
        row["dim"] = sum(s.train_x.shape[1] for s in splits)
        rows.append(scored_row(row, merged, opts, test_probs))
        if sink is not None:
            sink(rows[-1:])
    return rows
