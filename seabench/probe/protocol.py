"""The probe protocol: search on train, select on val, refit on train+val, score once on test.

Test data never influences a choice: the grid is scored on the validation split only, and the
test split is touched once, by the refit classifier.  Every row says what it was selected on.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F

from seabench.errors import SeabenchError
from seabench.probe.augment import get_augmentation
from seabench.probe.metrics import score
from seabench.probe.trainer import TrainSettings, predict, train_linear

LR_GRID = (0.2, 0.8, 1.6)
WD_GRID = (1e-6, 1e-4)


@dataclass
class FeatureSet:
    """Features and labels of the three splits; ``val_x`` may be None (a holdout is then drawn)."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor | None
    val_y: torch.Tensor | None
    test_x: torch.Tensor
    test_y: torch.Tensor
    num_classes: int
    metric: str = "top1"
    multilabel: bool = False
    dataset: str = "external"
    backbone: str = "external"
    val_source: str = "given"
    info: dict = field(default_factory=dict)


@dataclass
class ProbeOptions:
    aug: str = "sea"
    search: bool = True
    lr: float = 1.6
    wd: float = 1e-6
    strength: float | None = None
    lr_grid: tuple[float, ...] = LR_GRID
    wd_grid: tuple[float, ...] = WD_GRID
    strength_grid: tuple[float, ...] | None = None
    settings: TrainSettings = field(default_factory=TrainSettings)
    seeds: int = 1
    first_seed: int = 0
    device: str | None = None

    def grid(self) -> list[tuple[float, float, float]]:
        aug = get_augmentation(self.aug)
        if not self.search:
            return [(self.lr, self.wd, aug.default if self.strength is None else self.strength)]
        strengths = self.strength_grid or aug.grid
        return list(itertools.product(self.lr_grid, self.wd_grid, strengths))


def stratified_holdout(labels: torch.Tensor, fraction: float = 0.2, seed: int = 0):
    """Indices (keep, held) with ``fraction`` of each class held out, at least one per class."""
    gen = torch.Generator().manual_seed(seed)
    key = labels if labels.ndim == 1 else labels.float().argmax(-1)
    keep, held = [], []
    for c in torch.unique(key):
        idx = torch.nonzero(key == c).flatten()
        idx = idx[torch.randperm(len(idx), generator=gen)]
        n_held = max(1, round(fraction * len(idx))) if len(idx) > 1 else 0
        held.append(idx[:n_held])
        keep.append(idx[n_held:])
    return torch.sort(torch.cat(keep)).values, torch.sort(torch.cat(held)).values


def _check_split(name: str, x: torch.Tensor, y: torch.Tensor, fs: FeatureSet) -> None:
    if x.ndim != 2:
        raise SeabenchError(f"{name} features must be 2-d (samples x dim), got shape {tuple(x.shape)}")
    if len(x) != len(y):
        raise SeabenchError(
            f"{name} has {len(x)} feature rows but {len(y)} labels; pass matching files"
        )
    if len(x) == 0:
        raise SeabenchError(f"{name} split is empty")
    bad = torch.nonzero(~torch.isfinite(x).all(dim=1)).flatten()
    if len(bad):
        rows = ", ".join(str(i) for i in bad[:5].tolist()) + (" ..." if len(bad) > 5 else "")
        raise SeabenchError(f"{name} features contain NaN or inf in rows {rows}; re-extract them")
    if fs.multilabel:
        if y.ndim != 2 or y.shape[1] != fs.num_classes:
            raise SeabenchError(f"{name} labels must be (N, {fs.num_classes}) multi-hot rows")
    else:
        if y.ndim != 1:
            raise SeabenchError(f"{name} labels must be 1-d class indices, got {tuple(y.shape)}")
        out = torch.nonzero((y < 0) | (y >= fs.num_classes)).flatten()
        if len(out):
            raise SeabenchError(
                f"{name} labels outside 0..{fs.num_classes - 1} at rows "
                f"{', '.join(str(i) for i in out[:5].tolist())}; fix the labels or --num-classes"
            )


def validate(fs: FeatureSet) -> None:
    """Exit-2 errors for every inconsistency a probe would otherwise silently train through."""
    splits = [("train", fs.train_x, fs.train_y), ("test", fs.test_x, fs.test_y)]
    if fs.val_x is not None:
        if fs.val_y is None:
            raise SeabenchError("validation features were given without validation labels")
        splits.insert(1, ("val", fs.val_x, fs.val_y))
    for name, x, y in splits:
        _check_split(name, x, y, fs)
    dims = {name: x.shape[1] for name, x, _ in splits}
    if len(set(dims.values())) > 1:
        raise SeabenchError(f"feature dimensions differ across splits: {dims}")
    if not fs.multilabel:
        missing = sorted(set(range(fs.num_classes)) - set(torch.unique(fs.train_y).tolist()))
        if missing:
            shown = ", ".join(map(str, missing[:10])) + (" ..." if len(missing) > 10 else "")
            raise SeabenchError(
                f"classes {shown} have no training example; every class needs one to be learned"
            )


def _prepare(x: torch.Tensor, device: str) -> torch.Tensor:
    return F.normalize(x.to(device=device, dtype=torch.float32), dim=-1)


def _versions() -> dict:
    import seabench

    return {"seabench": seabench.__version__, "torch": torch.__version__}


def run_probe(
    fs: FeatureSet,
    opts: ProbeOptions,
    progress: Callable[[str, int], None] | None = None,
) -> list[dict]:
    """Run the protocol for each seed and return one result row per seed.

    ``progress(phase, total_epochs)`` is called when a training phase starts and the returned
    rows are the ones that the results store appends.
    """
    validate(fs)
    device = opts.device or ("cuda" if torch.cuda.is_available() else "cpu")
    aug = get_augmentation(opts.aug)
    train_x, train_y = fs.train_x, fs.train_y
    val_x, val_y, val_source = fs.val_x, fs.val_y, fs.val_source
    if val_x is None:
        keep, held = stratified_holdout(train_y, 0.2, seed=0)
        val_x, val_y = train_x[held], train_y[held]
        train_x, train_y = train_x[keep], train_y[keep]
        val_source = "holdout20"
    xtr, xva, xte = (_prepare(t, device) for t in (train_x, val_x, fs.test_x))
    ytr, yva = train_y.to(device), val_y.to(device)
    grid = opts.grid()
    lr, wd, st = (torch.tensor(col, dtype=torch.float32) for col in zip(*grid))
    common = dict(num_classes=fs.num_classes, aug=opts.aug, settings=opts.settings,
                  multilabel=fs.multilabel)
    rows = []
    for seed in range(opts.first_seed, opts.first_seed + opts.seeds):
        t0 = time.perf_counter()
        if progress:
            progress(f"search {opts.aug} ({len(grid)} configs, seed {seed})", opts.settings.epochs)
        weights = train_linear(xtr, ytr, lr=lr, wd=wd, strength=st, seed=seed, **common)
        val_logits = predict(xva, weights)
        val_scores = [score(fs.metric, val_logits[k], yva) for k in range(len(grid))]
        best = max(range(len(grid)), key=lambda k: (val_scores[k], -k))
        search_seconds = time.perf_counter() - t0
        b_lr, b_wd, b_st = grid[best]
        t1 = time.perf_counter()
        if progress:
            progress(f"refit {opts.aug} on train+val (seed {seed})", opts.settings.epochs)
        final = train_linear(
            torch.cat([xtr, xva]), torch.cat([ytr, yva]),
            lr=lr[best:best + 1], wd=wd[best:best + 1], strength=st[best:best + 1],
            seed=seed, **common,
        )
        fit_seconds = time.perf_counter() - t1
        test = score(fs.metric, predict(xte, final)[0], fs.test_y)
        hparams = {"lr": b_lr, "wd": b_wd, **replace(opts.settings).__dict__}
        if aug.strength_name:
            hparams[aug.strength_name] = b_st
        if opts.aug not in ("sea",):
            hparams.pop("alpha", None)
        rows.append({
            "dataset": fs.dataset,
            "backbone": fs.backbone,
            "aug": opts.aug,
            "solver": "sgd",
            "metric": fs.metric,
            "val": round(val_scores[best], 4),
            "test": round(test, 4),
            "hparams": hparams,
            "seed": seed,
            "seconds": round(fit_seconds, 3),
            "search_seconds": round(search_seconds, 3),
            "configs_searched": len(grid) if opts.search else 0,
            "selected_on": "val" if opts.search else "none (fixed hyperparameters)",
            "val_source": val_source,
            "n_train": len(xtr),
            "n_val": len(xva),
            "n_test": len(xte),
            "num_classes": fs.num_classes,
            "dim": xtr.shape[1],
            "device": device,
            "versions": _versions(),
            **fs.info,
        })
    return rows
