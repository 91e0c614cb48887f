"""Probe methods (protocols), registered by name the way augmentations are.

A method takes the prepared splits and returns a ``Fit``: the selected configuration's class
probabilities on val, the refit's on test, and what was chosen.  Adding a method is one new file
in ``seabench/probe/methods/`` whose function is decorated with ``register_method``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from seabench.probe import names


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
    #: the refit classifier: features (N, d) -> class probabilities (N, C); what the Python
    #: estimator predicts with (None for a method that keeps no classifier)
    predict_proba: Callable[[torch.Tensor], torch.Tensor] | None = None
    #: ``val`` or ``kfoldK`` (``selection.selected_on``)
    selected_on: str = "val"
    #: selection score minus its bias-corrected estimate (``selection.optimism``)
    optimism: float | None = None
    #: labels of the examples ``val_probs`` cover (None: the val split; k-fold: train+val)
    val_labels: torch.Tensor | None = None


#: fit(splits, feature_set, options, seed, progress) -> Fit
FitFn = Callable[..., Fit]
#: check(options) raises SeabenchError for options the method cannot run with
CheckFn = Callable[[Any], None]


@dataclass(frozen=True)
class Method:
    name: str
    fit: FitFn
    help: str
    check: CheckFn | None = None
    #: whether the method trains on multi-view features (--aug views, sla, sla+sea)
    multiview: bool = False


METHODS: dict[str, Method] = {}


def register_method(
    name: str, *, help: str, check: CheckFn | None = None, multiview: bool = False
) -> Callable[[FitFn], FitFn]:
    """Register ``fit`` as the probe method ``name`` (``--solver``/``--method`` NAME)."""

    def deco(fn: FitFn) -> FitFn:
        names.declare(names.METHODS, name)
        METHODS[name] = Method(name, fn, help, check, multiview)
        return fn

    return deco


def get_method(name: str) -> Method:
    import seabench.probe.methods  # noqa: F401  (registers every method)

    if name not in METHODS:
        raise names.unknown("solver", name, tuple(METHODS))
    return METHODS[name]
