"""The result row of one probe seed: the fields DESIGN.md promises, and provenance."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from seabench.probe.options import ProbeOptions
    from seabench.probe.registry import Fit
    from seabench.probe.splits import FeatureSet, Splits


def versions() -> dict:
    """What the row was computed with (the report's provenance block reads these)."""
    from importlib.metadata import version

    import seabench

    return {"seabench": seabench.__version__, "torch": torch.__version__, "timm": version("timm")}


def method_name(opts: ProbeOptions) -> str:
    """The method as recipes and reports name it: the augmentation for the SGD probe (``sea``,
    ``none``, ...), else the registered method (``lbfgs``, ``knn``)."""
    return opts.aug if opts.solver == "sgd" else opts.solver


def make_row(
    fs: FeatureSet, opts: ProbeOptions, s: Splits, result: Fit, test: float, seed: int
) -> dict:
    """The result row of one seed (the fields DESIGN.md promises, and provenance)."""
    return {
        "dataset": fs.dataset,
        "backbone": fs.backbone,
        "aug": opts.aug,
        "solver": opts.solver,
        "method": method_name(opts),
        "metric": fs.metric,
        "val": round(result.val_score, 4),
        "test": round(test, 4),
        "hparams": result.hparams,
        "seed": seed,
        "seconds": round(result.seconds, 3),
        "search_seconds": round(result.search_seconds, 3),
        "configs_searched": result.configs_searched,
        "configs_pruned": result.configs_pruned,
        "selected_on": result.selected_on if opts.search else "none (fixed hyperparameters)",
        "select": opts.select,
        "optimism": result.optimism if opts.search else None,
        "val_source": s.val_source,
        "n_train": len(s.train_x),
        "n_val": len(s.val_x),
        "n_test": len(s.test_x),
        "num_classes": fs.num_classes,
        "multilabel": fs.multilabel,
        "dim": s.train_x.shape[-1],
        "device": s.device,
        "versions": versions(),
        **fs.info,
    }


def scored_row(row: dict, fs: FeatureSet, opts: ProbeOptions, test_probs: torch.Tensor) -> dict:
    """The row with its test predictions, test items' hash and the interval of its score."""
    from seabench.predictions import TestPredictions
    from seabench.probe.scoring import finish_row, test_items_of

    items = test_items_of(fs.info, fs.test_x, fs.test_y)
    preds = TestPredictions.from_scores(test_probs, fs.test_y)
    return finish_row(row, preds, items, opts.bootstrap, opts.confidence)
