"""The ``sgd`` method: the batched linear probe with a feature augmentation (SeA, ...).

L2-normalised features; lr x wd x strength searched on val (or by k-fold over train+val, all
configurations x folds as one masked batch: ``selection.kfold_sgd``), refit on train+val.
Multi-view augmentations (views, sla, sla+sea) train here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict
from functools import partial
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from seabench.probe.augment import get_augmentation
from seabench.probe.checks import finite_configs
from seabench.probe.metrics import score
from seabench.probe.multiview import aggregate, flatten, output_classes, parse
from seabench.probe.registry import Fit, register_method
from seabench.probe.selection import kfold_sgd, make_pool, mode_for, optimism, rank, selected_on
from seabench.probe.trainer import Pruning, best_half, predict, train_linear

if TYPE_CHECKING:
    from seabench.probe.options import ProbeOptions
    from seabench.probe.splits import FeatureSet, Splits

#: searches of at least this many configurations keep the better half (on val) at mid-training
PRUNE_MIN_CONFIGS = 12


def _probs(logits: torch.Tensor, multilabel: bool, lamda: float) -> torch.Tensor:
    """The trainer's loss is ``lamda * CE(z / lamda)``: its probabilities are softmax(z / lamda)."""
    z = logits / lamda
    return torch.sigmoid(z) if multilabel else torch.softmax(z, dim=-1)


def _refit_probs(
    final: torch.Tensor, mode: str | None, m: int, multilabel: bool, lamda: float, x
) -> torch.Tensor:
    """The refit classifier's class probabilities of raw features ``x`` (N, d), or (N, M, d)
    for a multi-view ``mode`` with ``m`` views."""
    x = F.normalize(x.to(device=final.device, dtype=final.dtype), dim=-1)
    if mode is not None:
        x = x.reshape(-1, x.shape[-1])
    logits = predict(x, final)
    logits = logits if mode is None else aggregate(logits, m, mode)
    return _probs(logits[0], multilabel, lamda)


@register_method(
    "sgd", help="the batched probe with --aug (lr x wd x strength searched)", multiview=True
)
def fit_sgd(
    s: Splits,
    fs: FeatureSet,
    opts: ProbeOptions,
    seed: int,
    progress: Callable[[str, int], None] | None = None,
) -> Fit:
    """Batched SGD over the lr x wd x strength grid on train, select on val, refit on train+val.

    Searches of ``PRUNE_MIN_CONFIGS`` or more keep, at half the epochs, the half of the
    configurations that score best on val (successive halving, one round): the kept ones train
    on exactly as in a full search, so only a configuration that was in the worse half at mid-
    training and would have overtaken every kept one is lost; ``prune=False`` trains them all.
    """
    mode, inner = parse(opts.aug)
    aug = get_augmentation(inner)
    xtr, xva = (F.normalize(t, dim=-1) for t in (s.train_x, s.val_x))
    ytr, yva = s.train_y, s.val_y
    num_classes, m, yva_flat = fs.num_classes, 1, yva
    select = mode_for(opts, s.train_y, s.val_y)
    if mode is not None:
        # Multi-view: train on all N*M view features (plain or joint labels), score aggregated.
        m = xtr.shape[1]
        num_classes = output_classes(fs.num_classes, m, mode)
        (xtr, ytr), (xva, yva_flat) = flatten(xtr, ytr, mode), flatten(xva, yva, mode)

    def scores(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        logits = predict(x, w)
        return logits if mode is None else aggregate(logits, m, mode)

    grid = opts.grid()
    lr, wd, st = (torch.tensor(col, dtype=torch.float32) for col in zip(*grid, strict=True))
    common = dict(
        num_classes=num_classes, aug=inner, settings=opts.settings, multilabel=fs.multilabel
    )
    lamda = opts.settings.lamda
    t0 = time.perf_counter()
    # progress(phase, epochs) may return the per-epoch advance(n) that the trainer calls
    folds = f" x {opts.folds} folds" if select == "kfold" else ""
    tick = (
        progress(
            f"search {opts.aug} ({len(grid)} config{'s' if len(grid) != 1 else ''}{folds}, "
            f"seed {seed})",
            opts.settings.epochs,
        )
        if progress
        else None
    )

    def val_scores_of(logits: torch.Tensor) -> list[float]:
        return [score(fs.metric, logits[k], s.val_y) for k in range(len(logits))]

    prune_epoch = None
    if opts.search and opts.prune and len(grid) >= PRUNE_MIN_CONFIGS and opts.settings.epochs > 1:
        prune_epoch = opts.settings.epochs // 2
    if select == "kfold":

        def train(x, y, expand, mask=None, prune=None):
            cfg = dict(lr=lr[expand], wd=wd[expand], strength=st[expand])
            # the batched run ticks per epoch; the fold-by-fold fallback does not
            tk = tick if mask is not None else None
            run = dict(seed=seed, mask=mask, prune=prune, progress=tk)
            return train_linear(x, y, **cfg, **run, **common)

        pool = make_pool(
            torch.cat([xtr, xva]),
            torch.cat([ytr, yva_flat]),
            torch.cat([s.train_y, s.val_y]),
            m,
            opts.folds,
        )
        sel = kfold_sgd(pool, train, scores, fs.metric, len(grid), aug.masks, prune_epoch)
        kept, best, chosen_logits, chosen_score = sel.kept, sel.index, sel.logits, sel.score
        sel_optimism, sel_labels = sel.optimism, sel.labels
    else:
        prune = None
        if prune_epoch is not None:
            prune = Pruning(prune_epoch, lambda w: best_half(val_scores_of(scores(xva, w))))
        weights = train_linear(
            xtr, ytr, lr=lr, wd=wd, strength=st, seed=seed, prune=prune, progress=tick, **common
        )
        kept = prune.kept.tolist() if prune and prune.kept is not None else list(range(len(grid)))
        val_logits = scores(xva, weights)
        val_kept = val_scores_of(val_logits)
        order = rank(val_kept)  # ties: the earlier configuration
        finite = finite_configs(val_logits)  # a diverged configuration is never chosen
        order = sorted(order, key=lambda i: not finite[i])
        pos = order[0]
        best, chosen_logits, chosen_score = kept[pos], val_logits[pos], val_kept[pos]
        sel_optimism = optimism(fs.metric, chosen_score, val_logits, s.val_y, order)
        sel_labels = None
    search_seconds = time.perf_counter() - t0
    b_lr, b_wd, b_st = grid[best]
    t1 = time.perf_counter()
    tick = (
        progress(f"refit {opts.aug} on train+val (seed {seed})", opts.settings.epochs)
        if progress
        else None
    )
    final = train_linear(
        torch.cat([xtr, xva]),
        torch.cat([ytr, s.val_y if mode is None else yva_flat]),
        lr=lr[best : best + 1],
        wd=wd[best : best + 1],
        strength=st[best : best + 1],
        seed=seed,
        progress=tick,
        **common,
    )
    seconds = time.perf_counter() - t1
    hparams = {"lr": b_lr, "wd": b_wd, **asdict(opts.settings)}
    if aug.strength_name:
        hparams[aug.strength_name] = b_st
    if inner != "sea":
        hparams.pop("alpha", None)
    if mode is not None:
        hparams.update(views=fs.info.get("views", f"{m} views"), num_views=m)

    # a module-level function with its state bound: picklable, as a fitted estimator must be
    predict_proba = partial(_refit_probs, final, mode, m, fs.multilabel, lamda)

    return Fit(
        _probs(chosen_logits, fs.multilabel, lamda),
        predict_proba(s.test_x),
        chosen_score,
        hparams,
        len(grid) if opts.search else 0,
        search_seconds,
        seconds,
        len(grid) - len(kept),
        predict_proba,
        selected_on(select, opts.folds),
        sel_optimism,
        sel_labels,
    )
