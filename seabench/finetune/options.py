"""Fine-tuning options and the hyperparameter grid of the transfer literature.

The default grid is ssl-transfer's (Ericsson et al. 2021): lr in logspace(-4, -1, 4) x weight
decay in {0} + logspace(-6, -3, 4) / lr, 5,000 SGD steps with Nesterov momentum and a cosine
schedule.  ``small`` (one configuration) and explicit lr / wd lists make a CPU run affordable.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass

from seabench.errors import SeabenchError

LR_GRID = (1e-4, 1e-3, 1e-2, 1e-1)
WD_SCALES = (1e-6, 1e-5, 1e-4, 1e-3)
SMALL = (1e-2, 0.0)
GRIDS = ("full", "small")


@dataclass
class FinetuneOptions:
    max_steps: int = 5000
    batch_size: int = 64
    grid: str = "full"
    lr: tuple[float, ...] | None = None
    wd: tuple[float, ...] | None = None
    momentum: float = 0.9
    image_size: int | None = None
    crop_pct: float | None = None
    subset: int | None = None
    seed: int = 0
    device: str | None = None
    workers: int | None = None
    checkpoint_every: int = 100
    eval_batch_size: int = 128

    def check(self) -> None:
        if self.grid not in GRIDS:
            raise SeabenchError(f"unknown --grid {self.grid!r}; choose one of: {', '.join(GRIDS)}")
        if self.max_steps < 1:
            raise SeabenchError("--max-steps must be at least 1")
        if self.batch_size < 2:
            raise SeabenchError("--batch-size must be at least 2 (batch norm needs two images)")
        for name, values in (("--lr", self.lr), ("--wd", self.wd)):
            if values is not None and (not values or any(v < 0 for v in values)):
                raise SeabenchError(f"{name} needs one or more non-negative numbers")
        if self.lr is not None and any(v == 0 for v in self.lr):
            raise SeabenchError("--lr must be positive")

    def configs(self) -> list[tuple[float, float]]:
        """The (lr, wd) pairs to search; weight decay follows ssl-transfer's wd / lr rule."""
        self.check()
        lrs = self.lr or (LR_GRID if self.grid == "full" else (SMALL[0],))
        if self.wd is not None:
            return list(itertools.product(lrs, self.wd))
        if self.grid == "small":
            return [(lr, SMALL[1]) for lr in lrs]
        return [(lr, wd) for lr in lrs for wd in (0.0, *(s / lr for s in WD_SCALES))]

    def identity(self) -> dict:
        """What of the options changes the numbers (not the device, workers or checkpointing)."""
        d = asdict(self)
        for k in (
            "device",
            "workers",
            "checkpoint_every",
            "eval_batch_size",
            "grid",
            "lr",
            "wd",
            "seed",
        ):
            d.pop(k)
        d["configs"] = [list(c) for c in self.configs()]
        return d
