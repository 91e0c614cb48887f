"""The classic probe: L2-regularised logistic regression by full-batch L-BFGS (Kornblith et al.
2019, Ericsson et al. 2021), so the literature's number can sit beside the SeA number.

Protocol decisions (documented because the papers' code differs in details):

- Features are *standardised* (per-dimension mean and population std of the fitting split; a
  constant dimension keeps scale 1), as in the scikit-learn pipelines of the transfer literature.
  They are not L2-normalised: that is SeA's preprocessing, not the classic one.
  ``preprocess="l2"`` or ``"none"`` are available for comparisons.
- The model has a bias, which is not regularised.  Single-label data use the multinomial
  (softmax) loss, multi-label data one sigmoid per class.
- The L2 weight ``l2`` uses scikit-learn's parametrisation ``C = 1 / l2``: the objective is
  ``sum_i loss_i + l2 / 2 * ||W||^2``.  L-BFGS minimises the same objective divided by N.
- The grid is ``logspace(-6, 5, 45)``; it is walked from strong to weak regularisation, each fit
  warm-started from the previous two solutions extrapolated linearly in log(l2) (on the uniform
  default grid, ``2 W_prev - W_before``: about 40% fewer L-BFGS steps than starting from the
  previous solution), and the L2 weight with the best validation score wins (ties: the stronger).
- Stopping: the largest entry of the gradient of the per-example objective below ``tol`` (1e-4,
  scikit-learn's default, on the same scaling).  Arithmetic is float32: the products over the
  (N, d) features are memory-bound, so float32 is twice as fast on CPU, and with the change
  tolerance set below float32's own noise it still stops on the gradient criterion (on the
  embedded default its objective is within 2e-7 of a float64 solve to 1e-8).

The gradient has a closed form (``R^T X / N`` with ``R = p - Y``), so L-BFGS (with a strong-Wolfe
line search) runs without autograd.
"""

from __future__ import annotations

import math
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F

from seabench.errors import SeabenchError
from seabench.probe.arrays import tensor
from seabench.probe.metrics import score

L2_GRID: tuple[float, ...] = tuple(torch.logspace(-6, 5, 45, dtype=torch.float64).tolist())
PREPROCESS = ("standardize", "l2", "none")
SMALL_PROBLEM = 2e7  # multiply-adds per product (N x d x C) below which one thread is faster


@dataclass
class LogReg:
    """A fitted linear classifier ``z = prep(x) W^T + b`` with its preprocessing."""

    weight: torch.Tensor  # (C, d)
    bias: torch.Tensor  # (C,)
    l2: float
    multilabel: bool = False
    preprocess: str = "standardize"
    mean: torch.Tensor | None = None
    scale: torch.Tensor | None = None
    iterations: int = 0

    @property
    def C(self) -> float:  # noqa: N802 (scikit-learn's name)
        return 1.0 / self.l2

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        x = tensor(x).to(device=self.weight.device, dtype=self.weight.dtype)
        if self.preprocess == "standardize":
            return (x - self.mean) / self.scale
        if self.preprocess == "l2":
            return F.normalize(x, dim=-1)
        return x

    @torch.no_grad()
    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.transform(x) @ self.weight.T + self.bias

    @torch.no_grad()
    def probs(self, x: torch.Tensor) -> torch.Tensor:
        z = self.logits(x)
        return torch.sigmoid(z) if self.multilabel else torch.softmax(z, dim=-1)


@dataclass
class LbfgsSearch:
    """What ``lbfgs_search`` found: the chosen L2 weight, its model (fit on train) and the curve."""

    l2: float
    model: LogReg
    val_score: float
    grid: tuple[float, ...]
    val_scores: list[float]
    metric: str
    seconds: float
    iterations: list[int] = field(default_factory=list)
    #: the model fit for each grid value (k-fold selection scores them on the held-out fold)
    models: list[LogReg] = field(default_factory=list)

    @property
    def C(self) -> float:  # noqa: N802
        return 1.0 / self.l2


def _targets(y: torch.Tensor, num_classes: int, multilabel: bool, dtype) -> torch.Tensor:
    if multilabel:
        return y.to(dtype)
    return F.one_hot(y.long(), num_classes).to(dtype)


def _stats(x: torch.Tensor, preprocess: str):
    if preprocess not in PREPROCESS:
        raise SeabenchError(
            f"unknown preprocessing {preprocess!r}; choose one of: {', '.join(PREPROCESS)}"
        )
    if preprocess != "standardize":
        return None, None
    mean = x.mean(0)
    std = x.std(0, correction=0)
    return mean, torch.where(std > 1e-12, std, torch.ones_like(std))


@contextmanager
def _threads_for(xa: torch.Tensor, num_classes: int):
    """One CPU thread for small problems: L-BFGS runs thousands of tiny matrix products, where
    OpenMP's per-call fork/join costs more than it saves (and far more on a busy machine)."""
    small = xa.device.type == "cpu" and xa.numel() * num_classes < SMALL_PROBLEM
    before = torch.get_num_threads()
    if small:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if small:
            torch.set_num_threads(before)


def _default_dtype(device: torch.device) -> torch.dtype:
    return torch.float32  # see the module docstring; float64 stays available with dtype=


@dataclass
class _Problem:
    """Features preprocessed once (with the bias column) and targets, solved for many L2 weights."""

    xa: torch.Tensor  # (N, d + 1): prep(x) and a constant bias column
    t: torch.Tensor  # (N, C) one-hot or multi-hot
    bias_col: float
    template: LogReg  # preprocessing statistics, dtype and device of the solutions

    @classmethod
    def build(cls, x, y, num_classes, multilabel, preprocess, device, dtype) -> _Problem:
        device = torch.device(device) if device is not None else x.device
        dtype = dtype or _default_dtype(device)
        x = x.to(device=device, dtype=dtype)
        mean, scale = _stats(x, preprocess)
        template = LogReg(
            torch.zeros(num_classes, x.shape[1], device=device, dtype=dtype),
            torch.zeros(num_classes, device=device, dtype=dtype),
            0.0,
            multilabel,
            preprocess,
            mean,
            scale,
        )
        xt = template.transform(x)
        del x
        # The bias is fit as the weight of a constant column of the rows' RMS norm, so that its
        # curvature matches the weights' (L-BFGS converges slowly on badly scaled directions);
        # the bias is not regularised, so this scaling does not change the optimum.
        bias_col = float(xt.square().sum(1).mean().sqrt().clamp(min=1.0))
        xa = torch.cat([xt, torch.full((len(xt), 1), bias_col, device=device, dtype=dtype)], 1)
        t = _targets(y.to(device), num_classes, multilabel, dtype)
        return cls(xa, t, bias_col, template)

    def solve(self, l2: float, init: LogReg | None, max_iter: int, tol: float) -> LogReg:
        if l2 <= 0:
            raise SeabenchError(f"the L2 weight must be positive, got {l2}")
        xa, t, multilabel = self.xa, self.t, self.template.multilabel
        n, (num_classes, device, dtype) = len(xa), (t.shape[1], xa.device, xa.dtype)
        theta = torch.zeros(num_classes, xa.shape[1], device=device, dtype=dtype)
        if init is not None:
            theta[:, :-1] = init.weight.to(device=device, dtype=dtype)
            theta[:, -1] = init.bias.to(device=device, dtype=dtype) / self.bias_col
        reg = torch.full((1, xa.shape[1]), l2 / n, device=device, dtype=dtype)
        reg[0, -1] = 0.0  # the bias is not regularised
        evals = [0]

        def closure() -> torch.Tensor:
            evals[0] += 1
            z = xa @ theta.T
            if multilabel:
                loss = F.binary_cross_entropy_with_logits(z, t, reduction="sum") / n
                r = torch.sigmoid(z) - t
            else:
                lse = torch.logsumexp(z, dim=1)
                loss = (lse - (z * t).sum(1)).mean()
                r = torch.exp(z - lse[:, None]) - t
            loss = loss + 0.5 * (reg * theta * theta).sum()
            theta.grad = r.T @ xa / n + reg * theta
            return loss

        # stop on the gradient criterion: a change tolerance near float32's epsilon would stop
        # L-BFGS early, at objective gaps ~1e-4 (measured), before the gradient reaches ``tol``
        change_tol = min(64 * torch.finfo(dtype).eps, 1e-9)
        opt = torch.optim.LBFGS(
            [theta],
            lr=1.0,
            max_iter=max_iter,
            max_eval=max_iter * 5 // 4,
            tolerance_grad=tol,
            tolerance_change=change_tol,
            history_size=20,
            line_search_fn="strong_wolfe",
        )
        with torch.no_grad(), _threads_for(xa, num_classes):
            opt.step(closure)
        if not torch.isfinite(theta).all():
            raise SeabenchError(
                f"L-BFGS diverged at l2={l2:g}; check the features for extreme values"
            )
        return replace(
            self.template,
            weight=theta[:, :-1].contiguous(),
            bias=theta[:, -1] * self.bias_col,
            l2=float(l2),
            iterations=evals[0],
        )


def _shape(y: torch.Tensor, num_classes: int | None, multilabel: bool | None):
    multilabel = y.ndim == 2 if multilabel is None else multilabel
    if num_classes is None:
        num_classes = y.shape[1] if multilabel else int(y.max()) + 1
    return num_classes, multilabel


def fit_logreg(
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    l2: float,
    num_classes: int | None = None,
    multilabel: bool | None = None,
    preprocess: str = "standardize",
    init: LogReg | None = None,
    max_iter: int = 1000,
    tol: float = 1e-4,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
) -> LogReg:
    """Minimise ``sum_i loss_i + l2/2 ||W||^2`` (scikit-learn's ``C = 1/l2``) by L-BFGS.

    ``x`` (N, d) raw features, ``y`` (N,) class indices or (N, C) multi-hot rows.  ``init``
    warm-starts from another solution (its weights, not its preprocessing statistics).
    Stops when the largest gradient entry of the per-example objective is below ``tol``.
    """
    x, y = tensor(x), tensor(y)
    num_classes, multilabel = _shape(y, num_classes, multilabel)
    problem = _Problem.build(x, y, num_classes, multilabel, preprocess, device, dtype)
    return problem.solve(l2, init, max_iter, tol)


def lbfgs_search(
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    val_x: torch.Tensor,
    val_y: torch.Tensor,
    *,
    num_classes: int | None = None,
    metric: str = "top1",
    multilabel: bool | None = None,
    grid: tuple[float, ...] | None = None,
    preprocess: str = "standardize",
    max_iter: int = 1000,
    tol: float = 1e-4,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
) -> LbfgsSearch:
    """Choose the L2 weight on the validation split (the Kornblith / Ericsson protocol).

    Fits one classifier per ``grid`` value (default ``L2_GRID``, logspace(-6, 5, 45)) on
    ``train_x`` / ``train_y``, from the strongest regularisation to the weakest, each warm-started
    from the path of the previous two, and scores each on ``val_x`` / ``val_y`` with ``metric``.
    Returns the chosen ``l2`` (``C = 1 / l2``), its model (fit on train only) and every
    validation score.  Refit on train+val with ``fit_logreg(..., l2=result.l2, init=result.model)``.
    """
    t0 = time.perf_counter()
    grid = tuple(float(v) for v in (grid or L2_GRID))
    if not grid:
        raise SeabenchError("the L2 grid is empty")
    train_x, train_y, val_x, val_y = (tensor(v) for v in (train_x, train_y, val_x, val_y))
    num_classes, multilabel = _shape(train_y, num_classes, multilabel)
    problem = _Problem.build(train_x, train_y, num_classes, multilabel, preprocess, device, dtype)
    order = sorted(range(len(grid)), key=lambda i: -grid[i])  # strong -> weak
    scores: list[float] = [float("nan")] * len(grid)
    models: dict[int, LogReg] = {}
    prev = before = None
    for i in order:
        init = prev
        if prev is not None and before is not None and prev.l2 != before.l2:
            # linear extrapolation of the solution path along log(l2)
            f = math.log(grid[i] / prev.l2) / math.log(prev.l2 / before.l2)
            f = min(max(f, 0.0), 2.0)
            init = LogReg(
                prev.weight + f * (prev.weight - before.weight),
                prev.bias + f * (prev.bias - before.bias),
                prev.l2,
            )
        before = prev
        prev = problem.solve(grid[i], init, max_iter, tol)
        models[i] = prev
        scores[i] = score(metric, prev.logits(val_x), val_y)
    best = max(order, key=lambda i: (scores[i], grid[i]))
    return LbfgsSearch(
        grid[best],
        models[best],
        scores[best],
        grid,
        scores,
        metric,
        time.perf_counter() - t0,
        [models[i].iterations for i in range(len(grid))],
        [models[i] for i in range(len(grid))],
    )
