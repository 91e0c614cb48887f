"""The probe protocol: search on train, select on val, refit on train+val, score once on test.

Test data never influences a choice: the grid is scored on the validation split only, and the
test split is touched once, by the refit classifier.  Every row says what it was selected on.

Two solvers share the protocol: ``sgd`` (the batched trainer, with a feature augmentation such as
SeA, on L2-normalised features; lr x wd x strength searched) and ``lbfgs`` (the classic
L2-regularised logistic regression of the transfer literature; its L2 weight searched, see
``lbfgs``).  Both produce class probabilities, which is what ensembles average.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace

import torch
import torch.nn.functional as F

from seabench.errors import SeabenchError
from seabench.probe.augment import get_augmentation
from seabench.probe.lbfgs import L2_GRID, fit_logreg, lbfgs_search
from seabench.probe.metrics import check_metric, score
from seabench.probe.multiview import aggregate, check_aug, flatten, output_classes, parse
from seabench.probe.trainer import Pruning, TrainSettings, best_half, predict, train_linear

LR_GRID = (0.2, 0.8, 1.6)
WD_GRID = (1e-6, 1e-4)
#: searches of at least this many configurations keep the better half (on val) at mid-training
PRUNE_MIN_CONFIGS = 12


SOLVERS = ("sgd", "lbfgs")


@dataclass
class FeatureSet:
    """Features and labels of the three splits; ``val_x`` may be None (a holdout is then drawn).

    Labels are class indices (N,) or, with ``multilabel``, multi-hot rows (N, num_classes).
    """

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
    #: for multi-view features (N, M, d): the view that plain probes use (the unaltered image)
    reference_view: int = 0


@dataclass
class ProbeOptions:
    aug: str = "sea"
    search: bool = True
    #: halve the search at mid-training on val (``--no-prune``: train every configuration)
    prune: bool = True
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
    solver: str = "sgd"
    l2: float | None = None
    l2_grid: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        check_aug(self.aug)
        if self.solver not in SOLVERS:
            raise SeabenchError(
                f"unknown solver {self.solver!r}; choose one of: {', '.join(SOLVERS)}"
            )
        if self.solver == "lbfgs":
            if self.aug != "none":
                raise SeabenchError(
                    "--solver lbfgs is the classic probe without augmentation; "
                    "use --aug none with it (or --solver sgd for --aug "
                    f"{self.aug})"
                )
            if not self.search and self.l2 is None:
                raise SeabenchError(
                    "--solver lbfgs --no-search needs --l2 (the L2 weight, scikit-learn's 1/C)"
                )

    def grid(self) -> list[tuple[float, float, float]]:
        """The (lr, wd, strength) configurations of the SGD solver."""
        aug = get_augmentation(parse(self.aug)[1])
        if not self.search:
            return [(self.lr, self.wd, aug.default if self.strength is None else self.strength)]
        strengths = self.strength_grid or aug.grid
        return list(itertools.product(self.lr_grid, self.wd_grid, strengths))

    def l2_values(self) -> tuple[float, ...]:
        """The L2 weights of the L-BFGS solver."""
        if not self.search:
            return (float(self.l2),)
        return tuple(self.l2_grid or L2_GRID)


@dataclass
class Splits:
    """The three splits as used for one protocol run (the holdout already drawn)."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    val_source: str
    device: str


@dataclass
class Fit:
    """One seed's outcome: the selected configuration's class probabilities on val (fit on train)
    and the refit classifier's on test, with what was chosen and what it cost."""

    val_probs: torch.Tensor
    test_probs: torch.Tensor
    val_score: float
    hparams: dict
    configs_searched: int
    search_seconds: float
    seconds: float
    configs_pruned: int = 0


def stratified_holdout(labels: torch.Tensor, fraction: float = 0.2, seed: int = 0):
    """Indices (keep, held) with ``fraction`` of each class held out, at least one per class.

    Multi-hot labels are stratified by their first positive class.
    """
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


def _rows(indices: torch.Tensor) -> str:
    shown = ", ".join(str(i) for i in indices[:5].tolist())
    return shown + (" ..." if len(indices) > 5 else "")


def _check_split(name: str, x: torch.Tensor, y: torch.Tensor, fs: FeatureSet) -> None:
    if x.ndim not in (2, 3):
        raise SeabenchError(
            f"{name} features must be 2-d (samples x dim), or 3-d (samples x views x dim) for "
            f"multi-view features, got shape {tuple(x.shape)}"
        )
    x = x.reshape(len(x), -1)  # a sample's views are checked together
    if len(x) != len(y):
        raise SeabenchError(
            f"{name} has {len(x)} feature rows but {len(y)} labels; pass matching files"
        )
    if len(x) == 0:
        raise SeabenchError(f"{name} split is empty")
    if not (x.dtype.is_floating_point or x.dtype == torch.bool):
        x = x.float()
    bad = torch.nonzero(~torch.isfinite(x).all(dim=1)).flatten()
    if len(bad):
        raise SeabenchError(
            f"{name} features contain NaN or inf in rows {_rows(bad)}; "
            "re-extract them or drop those rows"
        )
    if y.dtype.is_floating_point and not fs.multilabel:
        raise SeabenchError(f"{name} labels must be integer class indices, got {y.dtype}")
    if fs.multilabel:
        if y.ndim != 2 or y.shape[1] != fs.num_classes:
            raise SeabenchError(
                f"{name} labels must be (N, {fs.num_classes}) multi-hot rows, "
                f"got shape {tuple(y.shape)}"
            )
        bad = torch.nonzero(~((y == 0) | (y == 1)).all(dim=1)).flatten()
        if len(bad):
            raise SeabenchError(
                f"{name} multi-hot labels must be 0 or 1; rows {_rows(bad)} hold other values"
            )
    else:
        if y.ndim != 1:
            raise SeabenchError(f"{name} labels must be 1-d class indices, got {tuple(y.shape)}")
        out = torch.nonzero((y < 0) | (y >= fs.num_classes)).flatten()
        if len(out):
            raise SeabenchError(
                f"{name} labels outside 0..{fs.num_classes - 1} at rows {_rows(out)}; "
                "fix the labels or --num-classes"
            )


def validate(fs: FeatureSet) -> None:
    """Exit-2 errors for every inconsistency a probe would otherwise silently train through."""
    check_metric(fs.metric, fs.multilabel)
    splits = [("train", fs.train_x, fs.train_y), ("test", fs.test_x, fs.test_y)]
    if fs.val_x is not None or fs.val_y is not None:
        if fs.val_x is None or fs.val_y is None:
            raise SeabenchError(
                "validation features and labels go together: pass both "
                "--val-features and --val-labels, or neither"
            )
        splits.insert(1, ("val", fs.val_x, fs.val_y))
    for name, x, y in splits:
        _check_split(name, x, y, fs)
    dims = {name: x.shape[-1] for name, x, _ in splits}
    if len(set(dims.values())) > 1:
        raise SeabenchError(
            f"feature dimensions differ across splits: {dims}; the splits must "
            "come from the same backbone"
        )
    if fs.multilabel:
        present = set(torch.nonzero(fs.train_y.sum(0) > 0).flatten().tolist())
    else:
        present = set(torch.unique(fs.train_y).tolist())
    missing = sorted(set(range(fs.num_classes)) - present)
    if missing:
        shown = ", ".join(map(str, missing[:10])) + (" ..." if len(missing) > 10 else "")
        raise SeabenchError(
            f"classes {shown} have no training example; every class needs one to be learned"
        )


def _versions() -> dict:
    import seabench

    return {"seabench": seabench.__version__, "torch": torch.__version__}


def resolve_device(device: str | None) -> str:
    return device or ("cuda" if torch.cuda.is_available() else "cpu")


def prepare(fs: FeatureSet, device: str) -> Splits:
    """Validate, draw the seeded stratified 20% holdout when there is no val split, move to device.

    The holdout depends on the labels only, so every seed and every ensemble member sees the same
    split.
    """
    validate(fs)
    train_x, train_y = fs.train_x, fs.train_y
    val_x, val_y, val_source = fs.val_x, fs.val_y, fs.val_source
    if val_x is None:
        keep, held = stratified_holdout(train_y, 0.2, seed=0)
        if len(held) == 0 or len(keep) == 0:
            raise SeabenchError(
                "too few training examples to hold out a validation split; "
                "pass --val-features/--val-labels"
            )
        val_x, val_y = train_x[held], train_y[held]
        train_x, train_y = train_x[keep], train_y[keep]
        val_source = "holdout20"

    def feats(t):
        return t.to(device=device, dtype=torch.float32)

    return Splits(
        feats(train_x),
        train_y.to(device),
        feats(val_x),
        val_y.to(device),
        feats(fs.test_x),
        fs.test_y.to(device),
        val_source,
        device,
    )


def _probs(logits: torch.Tensor, multilabel: bool, lamda: float) -> torch.Tensor:
    """The trainer's loss is ``lamda * CE(z / lamda)``: its probabilities are softmax(z / lamda)."""
    z = logits / lamda
    return torch.sigmoid(z) if multilabel else torch.softmax(z, dim=-1)


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
    xtr, xva, xte = (F.normalize(t, dim=-1) for t in (s.train_x, s.val_x, s.test_x))
    ytr, yva = s.train_y, s.val_y
    num_classes = fs.num_classes
    if mode is not None:
        # Multi-view: train on all N*M view features (plain or joint labels), score aggregated.
        m = xtr.shape[1]
        num_classes = output_classes(fs.num_classes, m, mode)
        (xtr, ytr), (xva, yva_flat) = flatten(xtr, ytr, mode), flatten(xva, yva, mode)
        xte = xte.reshape(-1, xte.shape[-1])

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
    if progress:
        progress(f"search {opts.aug} ({len(grid)} configs, seed {seed})", opts.settings.epochs)

    def val_scores_of(logits: torch.Tensor) -> list[float]:
        return [score(fs.metric, logits[k], s.val_y) for k in range(len(logits))]

    prune = None
    if opts.search and opts.prune and len(grid) >= PRUNE_MIN_CONFIGS and opts.settings.epochs > 1:
        prune = Pruning(
            opts.settings.epochs // 2, lambda w: best_half(val_scores_of(scores(xva, w)))
        )
    weights = train_linear(xtr, ytr, lr=lr, wd=wd, strength=st, seed=seed, prune=prune, **common)
    kept = prune.kept.tolist() if prune and prune.kept is not None else list(range(len(grid)))
    val_logits = scores(xva, weights)
    val_kept = val_scores_of(val_logits)
    pos = max(range(len(kept)), key=lambda i: (val_kept[i], -kept[i]))
    best = kept[pos]
    search_seconds = time.perf_counter() - t0
    b_lr, b_wd, b_st = grid[best]
    t1 = time.perf_counter()
    if progress:
        progress(f"refit {opts.aug} on train+val (seed {seed})", opts.settings.epochs)
    final = train_linear(
        torch.cat([xtr, xva]),
        torch.cat([ytr, s.val_y if mode is None else yva_flat]),
        lr=lr[best : best + 1],
        wd=wd[best : best + 1],
        strength=st[best : best + 1],
        seed=seed,
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
    return Fit(
        _probs(val_logits[pos], fs.multilabel, lamda),
        _probs(scores(xte, final)[0], fs.multilabel, lamda),
        val_kept[pos],
        hparams,
        len(grid) if opts.search else 0,
        search_seconds,
        seconds,
        len(grid) - len(kept),
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
    if progress:
        progress(f"lbfgs search ({len(grid)} L2 weights, seed {seed})", len(grid))
    found = lbfgs_search(
        s.train_x, s.train_y, s.val_x, s.val_y, metric=fs.metric, grid=grid, **common
    )
    t1 = time.perf_counter()
    if progress:
        progress(f"lbfgs refit on train+val (seed {seed})", 1)
    final = fit_logreg(
        torch.cat([s.train_x, s.val_x]),
        torch.cat([s.train_y, s.val_y]),
        l2=found.l2,
        init=found.model,
        **common,
    )
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
    )


def fit(
    s: Splits,
    fs: FeatureSet,
    opts: ProbeOptions,
    seed: int,
    progress: Callable[[str, int], None] | None = None,
) -> Fit:
    """Selection on val and refit on train+val with the solver of ``opts``."""
    solver = fit_lbfgs if opts.solver == "lbfgs" else fit_sgd
    return solver(s, fs, opts, seed, progress)


def make_row(
    fs: FeatureSet, opts: ProbeOptions, s: Splits, result: Fit, test: float, seed: int
) -> dict:
    """The result row of one seed (the fields DESIGN.md promises, and provenance)."""
    return {
        "dataset": fs.dataset,
        "backbone": fs.backbone,
        "aug": opts.aug,
        "solver": opts.solver,
        "metric": fs.metric,
        "val": round(result.val_score, 4),
        "test": round(test, 4),
        "hparams": result.hparams,
        "seed": seed,
        "seconds": round(result.seconds, 3),
        "search_seconds": round(result.search_seconds, 3),
        "configs_searched": result.configs_searched,
        "configs_pruned": result.configs_pruned,
        "selected_on": "val" if opts.search else "none (fixed hyperparameters)",
        "val_source": s.val_source,
        "n_train": len(s.train_x),
        "n_val": len(s.val_x),
        "n_test": len(s.test_x),
        "num_classes": fs.num_classes,
        "multilabel": fs.multilabel,
        "dim": s.train_x.shape[-1],
        "device": s.device,
        "versions": _versions(),
        **fs.info,
    }


def _views_for(fs: FeatureSet, opts: ProbeOptions) -> FeatureSet:
    """Plain probes on multi-view features use the reference view; view modes need views."""
    mode, _ = parse(opts.aug)
    multiview = fs.train_x.ndim == 3
    if mode is None and multiview:
        v = fs.reference_view
        pick = {k: getattr(fs, k)[:, v] for k in ("train_x", "test_x")}
        if fs.val_x is not None:
            pick["val_x"] = fs.val_x[:, v]
        # the probe saw one view: the row says so, and which entry's view it was
        info = {**fs.info, "views": "none", "view_of": f"{fs.info.get('views', 'multi')}[{v}]"}
        return replace(fs, **pick, info=info)
    if mode is not None:
        if not multiview:
            raise SeabenchError(
                f"--aug {opts.aug} needs multi-view features; extract them with "
                "`seabench extract ... --views rot4` (or flip2, crops5)"
            )
        if opts.solver != "sgd":
            raise SeabenchError(f"--aug {opts.aug} trains with --solver sgd only")
        if mode == "sla" and fs.multilabel:
            raise SeabenchError("--aug sla needs a single-label dataset (joint labels (y, view))")
        n_views = {t.shape[1] for t in (fs.train_x, fs.test_x, fs.val_x) if t is not None}
        if len(n_views) > 1:
            raise SeabenchError(f"splits have different numbers of views: {sorted(n_views)}")
    return fs


def run_probe(
    fs: FeatureSet,
    opts: ProbeOptions,
    progress: Callable[[str, int], None] | None = None,
) -> list[dict]:
    """Run the protocol for each seed and return one result row per seed.

    ``progress(phase, total)`` is called when a training phase starts and the returned rows are
    the ones that the results store appends.
    """
    fs = _views_for(fs, opts)
    s = prepare(fs, resolve_device(opts.device))
    rows = []
    for seed in range(opts.first_seed, opts.first_seed + opts.seeds):
        result = fit(s, fs, opts, seed, progress)
        test = score(fs.metric, result.test_probs, s.test_y)
        rows.append(make_row(fs, opts, s, result, test, seed))
    return rows
