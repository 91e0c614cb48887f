"""Choosing a configuration: on the validation split (holdout) or by stratified k-fold
cross-validation over train+val, and how optimistic the chosen configuration's score is.

- ``holdout``: every configuration trains on train and is scored on val; the best val score wins.
- ``kfold``: train+val is cut into ``folds`` stratified folds; every configuration trains ``folds``
  times, each time without one fold, and is scored on the fold it did not see; the best mean fold
  score wins.  For the SGD solver all configurations x folds train as one batched program (each
  copy with a mask over its examples, see ``trainer``); an augmentation that cannot honour a mask
  (mixup, nn) trains fold by fold.  Successive halving prunes on the mean fold score.  L-BFGS runs
  its warm-started path once per fold.

Either way the refit is on train+val and test is scored once, by the caller.

Optimism (``optimism`` in the rows): the chosen configuration's selection score minus a
bias-corrected estimate of what the selection procedure's choice scores on examples it was not
chosen on, by bootstrap bias correction of the held-out predictions (BBC-CV, Tsamardinos et al.,
Machine Learning 2018): resample the held-out examples (val, or every train+val example's
out-of-fold prediction) with replacement, choose the best configuration on the resample, score
that choice on the examples the resample left out, and average.  It is the same measure for both
modes, needs no test data and no extra training, and is the winner's curse of the search: a
larger grid or a smaller val split gives a larger optimism.  It is computed over the
(at most ``BBC_CONFIGS``) best configurations of the search (the others almost never win a
resample), with ``BBC_RESAMPLES`` resamples (``BBC_LOOPED`` for 11-point mAP, whose resamples are
scored one by one).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from seabench.errors import SeabenchError
from seabench.probe.metrics import score
from seabench.probe.settings import DEFAULT_FOLDS, SELECTIONS, check_selection  # noqa: F401

#: ``auto`` picks k-fold when the smallest class has fewer train+val examples than this (see
#: scripts/selection_optimism.py for the measurement behind it), else the holdout.
AUTO_KFOLD_BELOW = 200
BBC_CONFIGS = 8
BBC_RESAMPLES = 200
BBC_LOOPED = 32
FOLD_SEED = 0


def class_key(labels: torch.Tensor) -> torch.Tensor:
    """The class each example is stratified by: its label, or its first positive (multi-hot)."""
    return labels if labels.ndim == 1 else labels.float().argmax(-1)


def smallest_class(labels: torch.Tensor) -> tuple[int, int]:
    """(class, count) of the class with the fewest examples (by ``class_key``)."""
    classes, counts = torch.unique(class_key(labels).cpu(), return_counts=True)
    i = int(counts.argmin())
    return int(classes[i]), int(counts[i])


def resolve(select: str, folds: int, labels: torch.Tensor) -> str:
    """``holdout`` or ``kfold`` for these train+val labels; ``auto`` applies ``AUTO_KFOLD_BELOW``
    (and takes the holdout where a class has fewer examples than folds)."""
    check_selection(select, folds)
    cls, n = smallest_class(labels)
    if select == "auto":
        return "kfold" if folds <= n < AUTO_KFOLD_BELOW else "holdout"
    if select == "kfold" and n < folds:
        raise SeabenchError(
            f"--folds {folds} is more than the {n} train+val examples of class {cls}; "
            f"use --folds {max(n, 2)} or fewer, or --select holdout"
            if n >= 2
            else f"class {cls} has {n} train+val example, too few for k-fold; use --select holdout"
        )
    return select


def mode_for(opts, train_y: torch.Tensor, val_y: torch.Tensor) -> str:
    """``holdout`` or ``kfold`` for a method's run (``opts``: ProbeOptions); no search: holdout."""
    if not opts.search:
        return "holdout"
    return resolve(opts.select, opts.folds, torch.cat([train_y, val_y]))


def selected_on(mode: str, folds: int) -> str:
    return f"kfold{folds}" if mode == "kfold" else "val"


def stratified_folds(labels: torch.Tensor, folds: int, seed: int = FOLD_SEED) -> torch.Tensor:
    """Fold index (N,) of each example: each class is shuffled (seeded) and dealt round-robin,
    continuing where the previous class stopped, so every fold gets floor or ceil of each class's
    count / folds and the folds' sizes differ by at most one."""
    gen = torch.Generator().manual_seed(seed)
    key = class_key(labels).cpu()
    fold = torch.empty(len(key), dtype=torch.long)
    start = 0
    for c in torch.unique(key):
        idx = torch.nonzero(key == c).flatten()
        idx = idx[torch.randperm(len(idx), generator=gen)]
        fold[idx] = (start + torch.arange(len(idx))) % folds
        start = (start + len(idx)) % folds
    return fold


@dataclass
class Selection:
    """The chosen configuration and its selection evidence."""

    index: int  # into the search grid
    score: float  # its selection score: val score, or mean held-out fold score
    logits: torch.Tensor  # its scores (N, C) on the selection examples (val, or out-of-fold)
    labels: torch.Tensor  # their labels
    optimism: float | None
    kept: list[int]  # the grid indices that finished training (not pruned)
    fold_scores: list[float] | None = None  # the chosen configuration's score on each fold


# ---- optimism (bootstrap bias correction) ----------------------------------------------------


def _correct(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(K, N) 1.0 where configuration k's top class is a true one."""
    pred = logits.argmax(-1)  # (K, N)
    if y.ndim == 2:
        return (y.T.gather(0, pred.T.long()).T > 0).double()
    return (pred == y[None]).double()


def _per_class(weights: torch.Tensor, correct: torch.Tensor, onehot: torch.Tensor):
    """Mean per-class accuracy of every configuration under each row of example ``weights``
    (B, N): (B, K)."""
    k, (n, c) = correct.shape[0], onehot.shape
    hits = weights @ (correct.T[:, :, None] * onehot[:, None, :]).reshape(n, k * c)
    total = weights @ onehot  # (B, C)
    present = total > 0
    recall = hits.view(len(weights), k, c) / total.clamp_min(1e-12)[:, None, :]
    return (recall * present[:, None, :]).sum(-1) / present.sum(-1, keepdim=True).clamp_min(1)


def bbc_estimate(
    metric: str,
    logits: torch.Tensor,
    y: torch.Tensor,
    resamples: int | None = None,
    seed: int = 0,
) -> float:
    """Bootstrap-bias-corrected score of choosing among the K configurations by ``logits``
    (K, N, C) on held-out examples with labels ``y``: the mean out-of-bag score of the
    configuration that wins each in-bag resample (ties: the first, as in the search order)."""
    logits, y = logits.float().cpu(), y.cpu()
    k, n = logits.shape[:2]
    gen = torch.Generator().manual_seed(seed)
    if metric in ("top1", "mean_per_class"):
        b = resamples or BBC_RESAMPLES
        draws = torch.randint(n, (b, n), generator=gen)
        counts = torch.zeros(b, n, dtype=torch.float64).scatter_add_(
            1, draws, torch.ones(b, n, dtype=torch.float64)
        )
        oob = (counts == 0).double()
        correct = _correct(logits, y)
        if metric == "top1":
            inbag = counts @ correct.T
            won = inbag.argmax(1)
            out = (oob * correct[won]).sum(1) / oob.sum(1).clamp_min(1)
        else:
            onehot = F.one_hot(y.long(), logits.shape[-1]).double()
            won = _per_class(counts, correct, onehot).argmax(1)
            out = _per_class(oob, correct, onehot).gather(1, won[:, None]).squeeze(1)
        return 100.0 * out.mean().item()
    outs = []
    for _ in range(resamples or BBC_LOOPED):
        draws = torch.randint(n, (n,), generator=gen)
        left = torch.ones(n, dtype=torch.bool)
        left[draws] = False
        try:
            inbag = [score(metric, logits[i, draws], y[draws]) for i in range(k)]
            won = max(range(k), key=lambda i: (inbag[i], -i))
            outs.append(score(metric, logits[won, left], y[left]))
        except SeabenchError:  # a resample without any positive: it has no score
            continue
    return sum(outs) / len(outs) if outs else float("nan")


def optimism(
    metric: str, chosen_score: float, logits: torch.Tensor, y: torch.Tensor, order: list[int]
) -> float | None:
    """``chosen_score`` minus the BBC estimate over the best ``BBC_CONFIGS`` configurations;
    ``order`` ranks the configurations (rows of ``logits``), best first."""
    if len(order) < 2:
        return 0.0
    top = order[:BBC_CONFIGS]
    est = bbc_estimate(metric, logits[top], y)
    return None if est != est else round(chosen_score - est, 4)


def rank(scores: list[float], prefer: Callable[[int], float] = lambda i: -i) -> list[int]:
    """Indices best first: highest score, ties broken by ``prefer`` (default: the earlier)."""
    return sorted(range(len(scores)), key=lambda i: (-scores[i], -prefer(i)))


# ---- k-fold for the SGD solver ---------------------------------------------------------------


@dataclass
class Pool:
    """train+val for k-fold: training rows (flattened views), per-image labels, fold of each
    image, and ``views`` rows per image (1 unless multi-view)."""

    x: torch.Tensor
    y_rows: torch.Tensor
    y: torch.Tensor
    fold: torch.Tensor
    views: int
    folds: int

    def rows(self, images: torch.Tensor) -> torch.Tensor:
        """Row indices of the given images' views."""
        m = self.views
        return (images[:, None] * m + torch.arange(m, device=images.device)).flatten()

    def held(self, f: int) -> torch.Tensor:
        return torch.nonzero(self.fold == f).flatten().to(self.x.device)

    def train_mask(self) -> torch.Tensor:
        """(folds, rows): true where fold f's copy trains on the row."""
        per_image = self.fold[None, :] != torch.arange(self.folds)[:, None]
        return per_image.repeat_interleave(self.views, dim=1)


def make_pool(
    x_rows: torch.Tensor, y_rows: torch.Tensor, y: torch.Tensor, views: int, folds: int
) -> Pool:
    return Pool(x_rows, y_rows, y, stratified_folds(y, folds), views, folds)


def fold_scores(
    pool: Pool,
    weights: torch.Tensor,
    scores: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    metric: str,
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Scores (K, F) of the (K * F, C, d) fold copies (config-major) on their held-out folds,
    and each fold's held-out logits (K, n_f, C)."""
    k = weights.shape[0] // pool.folds
    table = torch.empty(k, pool.folds, dtype=torch.float64)
    held_logits = []
    for f in range(pool.folds):
        images = pool.held(f)
        logits = scores(pool.x[pool.rows(images)], weights[f :: pool.folds])
        y = pool.y[images]
        for i in range(k):
            table[i, f] = score(metric, logits[i], y)
        held_logits.append(logits)
    return table, held_logits


def out_of_fold(pool: Pool, held_logits: list[torch.Tensor]) -> torch.Tensor:
    """(K, N, C) logits of every image from the fold copy that did not train on it."""
    k, c = held_logits[0].shape[0], held_logits[0].shape[-1]
    out = held_logits[0].new_empty(k, len(pool.y), c)
    for f, logits in enumerate(held_logits):
        out[:, pool.held(f)] = logits
    return out


def kfold_sgd(
    pool: Pool,
    train: Callable[..., torch.Tensor],
    scores: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    metric: str,
    num_configs: int,
    batched: bool,
    prune_epoch: int | None,
) -> Selection:
    """Train every configuration on every fold's complement and choose by mean fold score.

    ``train(x, y, expand, mask=None, prune=None)`` trains the configurations listed by ``expand``
    (indices into the grid) and returns their weights; ``batched`` trains all K x F copies as one
    program with masks (pruned at ``prune_epoch`` on the mean fold score when given), otherwise
    one unpruned run per fold on the fold's complement.
    """
    from seabench.probe.trainer import Pruning, best_half

    k, nf = num_configs, pool.folds
    kept = list(range(k))
    if batched:
        expand = torch.arange(k).repeat_interleave(nf)  # copy j = config j // F on fold j % F
        mask = pool.train_mask().repeat(k, 1)
        prune = None
        if prune_epoch is not None:

            def select(w: torch.Tensor) -> torch.Tensor:
                table, _ = fold_scores(pool, w, scores, metric)
                half = best_half(table.mean(1).tolist())
                return (half[:, None] * nf + torch.arange(nf)).flatten()

            prune = Pruning(prune_epoch, select)
        weights = train(pool.x, pool.y_rows, expand, mask=mask, prune=prune)
        if prune is not None and prune.kept is not None:
            kept = (prune.kept[::nf] // nf).tolist()
    else:
        per_fold = []
        for f in range(nf):
            rows = pool.rows(torch.nonzero(pool.fold != f).flatten().to(pool.x.device))
            per_fold.append(train(pool.x[rows], pool.y_rows[rows], torch.arange(k)))
        weights = torch.stack(per_fold, 1).flatten(0, 1)  # (K, F, C, d) -> config-major
    table, held_logits = fold_scores(pool, weights, scores, metric)
    mean = table.mean(1).tolist()
    order = rank(mean)
    oof = out_of_fold(pool, held_logits)
    best = order[0]
    return Selection(
        kept[best],
        mean[best],
        oof[best],
        pool.y,
        optimism(metric, mean[best], oof, pool.y, order),
        kept,
        [round(v, 4) for v in table[best].tolist()],
    )


# ---- k-fold for the L-BFGS solver ------------------------------------------------------------


def holdout_lbfgs(found, val_x: torch.Tensor, val_y: torch.Tensor) -> Selection:
    """The Selection of an ``lbfgs_search`` on val, with its optimism."""
    grid = found.grid
    order = rank(found.val_scores, prefer=lambda i: grid[i])[:BBC_CONFIGS]
    logits = torch.stack([found.models[i].logits(val_x) for i in order]).float()
    best = order[0]
    return Selection(
        best,
        found.val_scores[best],
        logits[0],
        val_y,
        optimism(found.metric, found.val_scores[best], logits, val_y, list(range(len(order)))),
        list(range(len(grid))),
    )


def kfold_lbfgs(x: torch.Tensor, y: torch.Tensor, folds: int, metric: str, grid, **common):
    """The L2 path once per fold (each fold standardised by its own training part); the L2
    weight with the best mean fold score wins (ties: the stronger).  Returns the Selection and
    the chosen weight's fold-0 model (a warm start for the refit)."""
    from seabench.probe.lbfgs import lbfgs_search

    fold = stratified_folds(y, folds).to(x.device)
    searches, helds = [], []
    for f in range(folds):
        tr, he = fold != f, fold == f
        searches.append(
            lbfgs_search(x[tr], y[tr], x[he], y[he], metric=metric, grid=grid, **common)
        )
        helds.append(torch.nonzero(he).flatten())
    grid = searches[0].grid
    mean = [sum(s.val_scores[i] for s in searches) / folds for i in range(len(grid))]
    order = rank(mean, prefer=lambda i: grid[i])
    top = order[:BBC_CONFIGS]
    oof = None
    for s, idx in zip(searches, helds, strict=True):
        part = torch.stack([s.models[i].logits(x[idx]) for i in top]).float()
        if oof is None:
            oof = part.new_empty(len(top), len(y), part.shape[-1])
        oof[:, idx.to(oof.device)] = part
    best = order[0]
    sel = Selection(
        best,
        mean[best],
        oof[0],
        y,
        optimism(metric, mean[best], oof, y, list(range(len(top)))),
        list(range(len(grid))),
        [round(s.val_scores[best], 4) for s in searches],
    )
    return sel, searches[0].models[best]
