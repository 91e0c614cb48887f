"""What a probe run is asked to do: method (solver), augmentation, search grids, seeds, device.

Building a ``ProbeOptions`` checks it whole without importing torch (``seabench.probe.settings``),
so a bad combination fails before any features load.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from seabench.probe.checks import check_options
from seabench.probe.names import MULTIVIEW_AUGS, check_aug, check_method
from seabench.probe.settings import (
    DEFAULT_FOLDS,
    METHOD_CHECKS,
    TrainSettings,
    check_selection,
)
from seabench.stats.bootstrap import DEFAULT_CONFIDENCE, DEFAULT_RESAMPLES, check_settings

LR_GRID = (0.2, 0.8, 1.6)
WD_GRID = (1e-6, 1e-4)


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
    #: choose on val (``holdout``), by k-fold over train+val (``kfold``), or by class size
    select: str = "auto"
    folds: int = DEFAULT_FOLDS
    #: k-NN: the fixed k (with --no-search) and the k searched on val (default knn.K_GRID)
    k: int | None = None
    k_grid: tuple[int, ...] | None = None

    #: the bootstrap interval of each row's test score (not part of the options hash)
    bootstrap: int = DEFAULT_RESAMPLES
    confidence: float = DEFAULT_CONFIDENCE

    def __post_init__(self) -> None:
        check_aug(self.aug)
        check_selection(self.select, self.folds)
        check_settings(self.bootstrap, self.confidence)
        check_method(self.solver)
        if self.solver in METHOD_CHECKS:
            check = METHOD_CHECKS[self.solver]
        else:  # a method registered at run time (Python API): its own check
            from seabench.probe.registry import get_method

            check = get_method(self.solver).check
        if check is not None:
            check(self)
        check_options(self)

    def grid(self) -> list[tuple[float, float, float]]:
        """The (lr, wd, strength) configurations of the SGD solver."""
        from seabench.probe.augment import get_augmentation

        aug = get_augmentation(MULTIVIEW_AUGS.get(self.aug, (None, self.aug))[1])
        if not self.search:
            return [(self.lr, self.wd, aug.default if self.strength is None else self.strength)]
        strengths = self.strength_grid or aug.grid
        return list(itertools.product(self.lr_grid, self.wd_grid, strengths))

    def l2_values(self) -> tuple[float, ...]:
        """The L2 weights of the L-BFGS solver."""
        if not self.search:
            return (float(self.l2),)
        from seabench.probe.lbfgs import L2_GRID

        return tuple(self.l2_grid or L2_GRID)
