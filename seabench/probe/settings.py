"""The probe's settings and the checks of their combinations, without torch: a probe that cannot
run with what it was asked (``--solver lbfgs --aug sea``, ``--folds 1``) says so before torch
loads, on the command line and in a recipe.

``ProbeOptions`` (``seabench.probe.options``) runs these checks; the trainer, the selection and
the methods, which need torch, import the settings from here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from seabench.errors import SeabenchError

SELECTIONS = ("auto", "holdout", "kfold")
DEFAULT_FOLDS = 5


@dataclass(frozen=True)
class TrainSettings:
    """Settings shared by every configuration of one batched run (the official defaults)."""

    epochs: int = 100
    batch_size: int = 256
    momentum: float = 0.9
    alpha: float = 0.01
    lamda: float = 0.1
    delta: float = 0.0


def check_selection(select: str, folds: int) -> None:
    """One-line errors for a selection mode or fold count that cannot work."""
    if select not in SELECTIONS:
        raise SeabenchError(f"unknown --select {select!r}; choose one of: {', '.join(SELECTIONS)}")
    if folds < 2:
        raise SeabenchError(
            f"--folds {folds}: k-fold selection needs at least 2 folds (5 is usual); "
            "or use --select holdout"
        )


def check_lbfgs(opts: Any) -> None:
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


def check_knn(opts: Any) -> None:
    """k-NN has no augmentation; a fixed run names its k."""
    if opts.aug != "none":
        raise SeabenchError(
            f"--method knn has no feature augmentation; use --aug none with it (or --method sgd "
            f"for --aug {opts.aug})"
        )
    if not opts.search and opts.k is None:
        raise SeabenchError("--method knn --no-search needs --k (the number of neighbours)")
    for k in (opts.k, *(opts.k_grid or ())):
        if k is not None and (int(k) != k or k < 1):
            raise SeabenchError(f"k-NN k must be a positive integer, got {k}")


#: the built-in methods' checks of their options (registered with them, ``register_method``)
METHOD_CHECKS: dict[str, Callable[[Any], None] | None] = {
    "sgd": None,
    "lbfgs": check_lbfgs,
    "knn": check_knn,
}
