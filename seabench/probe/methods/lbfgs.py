"""The ``lbfgs`` method: classic L2-regularised logistic regression (see ``probe.lbfgs``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch

from seabench.errors import SeabenchError
from seabench.probe.lbfgs import fit_logreg, lbfgs_search
from seabench.probe.registry import Fit, register_method

if TYPE_CHECKING:
    from seabench.probe.options import ProbeOptions
    from seabench.probe.splits import FeatureSet, Splits


def check_lbfgs(opts: ProbeOptions) -> None:
    """The classic probe has no augmentation, and a fixed run needs its L2 weight."""
    if opts.aug != "none":
        raise SeabenchError(
            "--solver lbfgs is the classic probe without augmentation; "
            "use --aug none with it (or --solver sgd for --aug "
            f"{opts.aug})"
        )
    if not opts.search and opts.l2 is None:
        raise SeabenchError(
            "--solver lbfgs --no-search needs --l2 (the L2 weight, scikit-learn's 1/C)"
        )


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
    """Logistic regression by L-BFGS: L2 weight chosen on val, refit on train+val.

    Deterministic (a convex problem solved from zero), so seeds repeat the same numbers.
    """
    grid = opts.l2_values()
    common = dict(num_classes=fs.num_classes, multilabel=fs.multilabel, device=s.device)
    tick = (
        progress(f"lbfgs search ({len(grid)} L2 weights, seed {seed})", len(grid))
        if progress
        else None
    )
    found = lbfgs_search(
        s.train_x, s.train_y, s.val_x, s.val_y, metric=fs.metric, grid=grid, **common
    )
    if tick:
        tick(len(grid))
    t1 = time.perf_counter()
    tick = progress(f"lbfgs refit on train+val (seed {seed})", 1) if progress else None
    final = fit_logreg(
        torch.cat([s.train_x, s.val_x]),
        torch.cat([s.train_y, s.val_y]),
        l2=found.l2,
        init=found.model,
        **common,
    )
    if tick:
        tick(1)
    seconds = time.perf_counter() - t1
    hparams = {
        "l2": found.l2,
        "C": found.C,
        "preprocess": final.preprocess,
        "bias": True,
        "loss": "sigmoid" if fs.multilabel else "multinomial",
    }
    return Fit(
        found.model.probs(s.val_x).float(),
        final.probs(s.test_x).float(),
        found.val_score,
        hparams,
        len(grid) if opts.search else 0,
        found.seconds,
        seconds,
        predict_proba=lambda x: final.probs(x.to(s.device)).float(),
    )
