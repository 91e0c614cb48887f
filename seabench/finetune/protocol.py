"""The fine-tuning protocol: search (lr, wd) on val, refit on train+val, score once on test.

Same split manifest as the probes (the dataset adapter's), same metric, and a result row in the
same store, so the report can put fine-tuning beside linear and linear+SeA with its cost.
Finished runs leave a small ``.done.json`` under ``<root>/<key>/``; a run interrupted midway
leaves a checkpoint and continues from it when the same command is run again.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from seabench._io import atomic_write, atomic_write_json, canonical_json
from seabench.backbones import Backbone, create_backbone
from seabench.data import DatasetAdapter, get_dataset
from seabench.data.splits import SplitManifest
from seabench.data.transforms import build_eval_transform, eval_transform_config
from seabench.finetune.loop import (
    Diverged,
    ManifestImages,
    Progress,
    RunSettings,
    build_model,
    predict,
    train,
)
from seabench.finetune.options import FinetuneOptions
from seabench.predictions import TestPredictions, items_hash
from seabench.probe.metrics import score
from seabench.probe.rows import versions
from seabench.probe.scoring import finish_row
from seabench.results import ResultsStore
from seabench.stats.bootstrap import DEFAULT_CONFIDENCE, DEFAULT_RESAMPLES

TRAIN_AUGMENT = "timm RandomResizedCrop(0.08-1) + horizontal flip"


def train_transform(cfg: dict):
    """Standard train-time augmentation at the evaluation transform's size, mean and std."""
    from timm.data import create_transform

    return create_transform(
        input_size=(3, cfg["size"], cfg["size"]),
        is_training=True,
        interpolation=cfg["interpolation"],
        mean=tuple(cfg["mean"]),
        std=tuple(cfg["std"]),
        color_jitter=None,
    )


def default_workers() -> int:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return 0 if (cpus or 1) <= 2 else min(8, cpus - 1)


def _labels(manifest: SplitManifest, splits: tuple[str, ...]) -> torch.Tensor:
    labels = [lab for s in splits for lab in manifest.labels(s)]
    if manifest.multilabel:
        return torch.tensor(labels, dtype=torch.float32).reshape(len(labels), manifest.num_classes)
    return torch.tensor(labels, dtype=torch.int64)


def _items(manifest: SplitManifest, splits: tuple[str, ...]) -> list:
    return [item for s in splits for item in manifest.items(s)]


def finetune_key(inputs: dict) -> str:
    return hashlib.sha256(canonical_json(inputs).encode()).hexdigest()[:20]


def cell_inputs(
    adapter: DatasetAdapter, backbone: Backbone, opts: FinetuneOptions
) -> tuple[SplitManifest, dict, dict, str]:
    """The manifest, transform, key inputs and key of one fine-tuning cell."""
    manifest = adapter.manifest()
    if opts.subset is not None:
        manifest = manifest.subset(opts.subset)
    tcfg = eval_transform_config(backbone.data_config, opts.image_size, opts.crop_pct)
    inputs = {
        "backbone": backbone.identity,
        "dataset": adapter.identity(),
        "manifest": manifest.hash,
        "transform": tcfg,
        "train_augment": TRAIN_AUGMENT,
        "options": opts.identity(),
    }
    return manifest, tcfg, inputs, finetune_key(inputs)


def run_finetune(
    adapter: DatasetAdapter,
    backbone: Backbone,
    opts: FinetuneOptions,
    root: Path,
    progress: Progress | None = None,
    log: Callable[[str], None] | None = None,
) -> dict:
    """Fine-tune for one seed and return the result row (not yet stored).

    ``root`` holds the checkpoints (``<root>/<key>/``); ``progress`` is called after each step.
    """
    configs = opts.configs()
    manifest, tcfg, inputs, key = cell_inputs(adapter, backbone, opts)
    run_dir = Path(root) / key
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(run_dir / "inputs.json", inputs)
    device = opts.device or ("cuda" if torch.cuda.is_available() else "cpu")
    workers = default_workers() if opts.workers is None else opts.workers
    train_tf, eval_tf = train_transform(tcfg), build_eval_transform(tcfg)

    def images(splits, tf):
        return ManifestImages(adapter, _items(manifest, splits), _labels(manifest, splits), tf)

    def run(phase: str, lr: float, wd: float, fit: tuple, score_on: str) -> dict:
        tag = f"{phase}-lr{lr:g}-wd{wd:g}-seed{opts.seed}"
        done = run_dir / f"{tag}.done.json"
        preds_path = run_dir / f"{tag}.test-predictions.safetensors"
        finished = _finished_run(done, preds_path if score_on == "test" else None, log)
        _drop_leftovers(run_dir, tag, finished is not None)
        if finished is not None:
            return finished
        settings = RunSettings(
            lr,
            wd,
            opts.max_steps,
            opts.batch_size,
            opts.momentum,
            opts.seed,
            device,
            workers,
            opts.checkpoint_every,
            manifest.multilabel,
        )
        model = build_model(backbone.model, backbone.dim, manifest.num_classes, opts.seed)
        ckpt = run_dir / f"{tag}.ckpt.pt"
        if log and ckpt.is_file():
            log(f"resuming {tag} from {ckpt}")
        try:
            cost = train(model, images(fit, train_tf), settings, ckpt, tag, progress)
        except Diverged as exc:
            if phase != "search":
                raise
            if log:
                log(f"{tag}: {exc}; this configuration is not selected")
            result = {
                "score": None,
                "diverged": True,
                "lr": lr,
                "wd": wd,
                "steps": 0,
                "wall_seconds": 0.0,
                "cpu_seconds": 0.0,
            }
            atomic_write_json(done, result)
            ckpt.unlink(missing_ok=True)
            return result
        t0, c0 = time.perf_counter(), time.process_time()
        data = images((score_on,), eval_tf)
        logits = predict(
            model,
            data,
            device,
            opts.eval_batch_size,
            workers,
            progress,
            f"{tag} scoring {score_on}",
        )
        if score_on == "test":  # kept with the run, so a resumed run still has them for its row
            probs = torch.sigmoid(logits) if manifest.multilabel else torch.softmax(logits, -1)
            preds = TestPredictions.from_scores(probs, data.labels)
            atomic_write(preds_path, lambda p: save_file(preds.tensors(), str(p)))
        result = {
            "score": score(adapter.metric, logits, data.labels),
            "lr": lr,
            "wd": wd,
            "steps": cost["steps"],
            "wall_seconds": cost["wall_seconds"] + time.perf_counter() - t0,
            "cpu_seconds": cost["cpu_seconds"] + time.process_time() - c0,
        }
        atomic_write_json(done, result)
        ckpt.unlink(missing_ok=True)
        return result

    searched = []
    if len(configs) > 1:
        searched = [run("search", lr, wd, ("train",), "val") for lr, wd in configs]
        best = max(
            range(len(configs)),
            key=lambda k: (-1.0 if searched[k]["score"] is None else searched[k]["score"], -k),
        )
        lr, wd = configs[best]
    else:
        lr, wd = configs[0]
    final = run("refit", lr, wd, ("train", "val"), "test")
    preds_file = run_dir / f"refit-lr{lr:g}-wd{wd:g}-seed{opts.seed}.test-predictions.safetensors"
    search_wall = sum(r["wall_seconds"] for r in searched)
    wall = search_wall + final["wall_seconds"]
    row = {
        "dataset": adapter.name,
        "backbone": backbone.name,
        "weights_source": backbone.source,
        "weights_tag": backbone.weights_tag,
        "aug": "finetune",
        "solver": "finetune",
        "metric": adapter.metric,
        "val": round(searched[best]["score"], 4) if searched else None,
        "test": round(final["score"], 4),
        "hparams": {
            "lr": lr,
            "wd": wd,
            "steps": opts.max_steps,
            "batch_size": opts.batch_size,
            "momentum": opts.momentum,
            "nesterov": opts.momentum > 0,
            "schedule": "cosine",
            "augment": TRAIN_AUGMENT,
        },
        "seed": opts.seed,
        "seconds": round(final["wall_seconds"], 3),
        "search_seconds": round(search_wall, 3),
        "wall_seconds": round(wall, 3),
        "cpu_seconds": round(sum(r["cpu_seconds"] for r in [*searched, final]), 3),
        "gpu_seconds": round(wall, 3) if device.startswith("cuda") else 0.0,
        "configs_searched": len(configs) if searched else 0,
        "selected_on": "val" if searched else "none (fixed hyperparameters)",
        "val_source": manifest.val_source,
        "n_train": len(manifest.items("train")),
        "n_val": len(manifest.items("val")),
        "n_test": len(manifest.items("test")),
        "num_classes": manifest.num_classes,
        "device": device,
        "versions": versions(),
        "manifest_hash": manifest.hash,
        "image_size": tcfg["size"],
        "finetune_key": key,
        "options_hash": finetune_key(opts.identity())[:12],
    }
    test_items = items_hash(manifest.items("test"), manifest.labels("test"))
    if not preds_file.is_file():  # a run finished before predictions were kept
        return {**row, "test_items": test_items}
    preds = TestPredictions.from_tensors(load_file(str(preds_file)))
    return finish_row(row, preds, test_items, DEFAULT_RESAMPLES, DEFAULT_CONFIDENCE)


def _drop_leftovers(run_dir: Path, tag: str, finished: bool) -> None:
    """What a run killed at an unlucky moment left (kill -9 skips every clean-up): the temp file
    of a checkpoint being written (a model's size each time), and the checkpoint of a run that
    had already written its result."""
    for tmp in run_dir.glob(f".{tag}.*.tmp"):
        tmp.unlink(missing_ok=True)
    if finished:
        (run_dir / f"{tag}.ckpt.pt").unlink(missing_ok=True)


def _finished_run(done: Path, preds: Path | None, log: Callable[[str], None] | None) -> dict | None:
    """The recorded result of a finished run, or None to run it (again).

    A marker (or its kept test predictions) that cannot be read is damaged, not finished: the
    run is redone rather than failing the whole command on a file it can rebuild.
    """
    if not done.is_file():
        return None
    try:
        result = json.loads(done.read_text(encoding="utf-8"))
        if not isinstance(result, dict) or "score" not in result or "wall_seconds" not in result:
            raise ValueError("missing fields")
        if preds is not None and preds.is_file():
            load_file(str(preds))
    except (OSError, ValueError, UnicodeDecodeError, SafetensorError) as exc:
        if log:
            run = done.name.removesuffix(".done.json")
            log(f"{done.name} is damaged ({exc}); running {run} again")
        done.unlink(missing_ok=True)
        if preds is not None:
            preds.unlink(missing_ok=True)
        return None
    return result


def finetune_cell(
    home_root: Path,
    dataset: str,
    backbone: str,
    opts: FinetuneOptions,
    *,
    data_root: str | None = None,
    weights: str | None = None,
    weights_format: str = "auto",
    label: str | None = None,
    skip_recorded: bool = False,
    progress: Progress | None = None,
    log: Callable[[str], None] | None = None,
) -> tuple[dict, bool]:
    """Fine-tune one backbone on one dataset and append the row to ``<home>/results``.

    Returns ``(row, recorded)``; with ``skip_recorded`` a row already in the store for the same
    key and seed is returned instead of fine-tuning again (``recorded`` is then True).
    """
    opts.check()
    adapter = get_dataset(dataset, data_root)
    adapter.manifest()  # fail on missing data before loading any weights
    model = create_backbone(backbone, weights=weights, weights_format=weights_format)
    if label:
        model.name = label
    store = ResultsStore(Path(home_root) / "results")
    if skip_recorded:
        key = cell_inputs(adapter, model, opts)[3]
        for r in store.rows():
            if r.get("finetune_key") == key and r.get("seed") == opts.seed:
                return r, True
    row = run_finetune(adapter, model, opts, Path(home_root) / "finetune", progress, log)
    store.append([row])
    return row, False
