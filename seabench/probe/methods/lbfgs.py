"""The ``lbfgs`` method: classic L2-regularised logistic regression (see ``probe.lbfgs``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

import torch

from seabench.probe.lbfgs import LogReg, fit_logreg, lbfgs_search
from seabench.probe.registry import Fit, register_method
from seabench.probe.selection import holdout_lbfgs, kfold_lbfgs, mode_for, selected_on
from seabench.probe.settings import check_lbfgs

if TYPE_CHECKING:
    from seabench.probe.options import ProbeOptions
    from seabench.probe.splits import FeatureSet, Splits


def _logreg_probs(model: LogReg, device: torch.device, x: torch.Tensor) -> torch.Tensor:
    """The refit logistic regression's probabilities (module level: a fitted estimator pickles)."""
    return model.probs(x.to(device)).float()


@register_method(
    "lbfgs",
    help="classic logistic regression (standardised features, L2 weight chosen on val)",
    check=check_lbfgs,
)
def fit_lbfgs(
    s: Splits,
    fs: FeatureSet,
    opts: ProbeOptions,
    seed: int,
    progress: Callable[[str, int], None] | None = None,
) -> Fit:
    """Logistic regression by L-BFGS: L2 weight chosen on val (or by k-fold over train+val, the
    path run once per fold), refit on train+val.

    Deterministic (a convex problem solved from zero), so seeds repeat the same numbers.
    """
    grid = opts.l2_values()
    common = dict(num_classes=fs.num_classes, multilabel=fs.multilabel, device=s.device)
    select = mode_for(opts, s.train_y, s.val_y)
    folds = f" x {opts.folds} folds" if select == "kfold" else ""
    tick = (
        progress(f"lbfgs search ({len(grid)} L2 weights{folds}, seed {seed})", len(grid))
        if progress
        else None
    )
    pool_x, pool_y = torch.cat([s.train_x, s.val_x]), torch.cat([s.train_y, s.val_y])
    t0 = time.perf_counter()
    if select == "kfold":
        sel, init = kfold_lbfgs(pool_x, pool_y, opts.folds, fs.metric, grid, **common)
    else:
        found = lbfgs_search(
            s.train_x, s.train_y, s.val_x, s.val_y, metric=fs.metric, grid=grid, **common
        )
        sel, init = holdout_lbfgs(found, s.val_x, s.val_y), found.model
    l2 = grid[sel.index]
    if tick:
        tick(len(grid))
    search_seconds = time.perf_counter() - t0
    t1 = time.perf_counter()
    tick = progress(f"lbfgs refit on train+val (seed {seed})", 1) if progress else None
    final = fit_logreg(pool_x, pool_y, l2=l2, init=init, **common)
    if tick:
        tick(1)
    seconds = time.perf_counter() - t1
    hparams = {
        "l2": l2,
        "C": 1.0 / l2,
        "preprocess": final.preprocess,
        "bias": True,
        "loss": "sigmoid" if fs.multilabel else "multinomial",
    }
    z = sel.logits.float()
    return Fit(
        torch.sigmoid(z) if fs.multilabel else torch.softmax(z, dim=-1),
        final.probs(s.test_x).float(),
        sel.score,
        hparams,
        len(grid) if opts.search else 0,
        search_seconds,
        seconds,
        predict_proba=partial(_logreg_probs, final, s.device),
        selected_on=selected_on(select, opts.folds),
        optimism=sel.optimism,
        val_labels=sel.labels if select == "kfold" else None,
    )
