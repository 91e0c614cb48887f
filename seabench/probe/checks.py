"""Checks that keep absurd values from becoming a result row.

A probe trained with ``lr = nan``, on features with a 1e30 entry, or that diverged, still ends
with a number: chance-level accuracy, recorded as if it were a finding.  These checks refuse the
hyperparameters (against the same specs as the CLI options and the recipe, ``seabench.options``),
refuse empty splits, warn on features of absurd scale, and refuse a fit whose chosen
configuration or refit ended with non-finite scores.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

from seabench.errors import SeabenchError, SeabenchWarning
from seabench.options import PROBE

if TYPE_CHECKING:  # torch is imported where tensors are checked: options are checked without it
    import torch

#: feature entries beyond this magnitude draw a warning (extracted features are O(1) to O(100))
SCALE_LIMIT = 1e6


def check_options(opts) -> None:
    """Every setting of a ``ProbeOptions`` (and its ``TrainSettings``) that has a spec in
    ``seabench.options.PROBE`` within the spec's type and bounds."""
    for key, spec in PROBE.items():
        value = getattr(opts, key, getattr(opts.settings, key, None))
        if value is None:
            continue
        plain = list(value) if isinstance(value, tuple | list) else value
        if spec.kind == "float":
            plain = [_float(v) for v in plain] if isinstance(plain, list) else _float(plain)
        if not spec.check(plain):
            raise SeabenchError(
                f"probe setting {key} = {_show(value)} is out of bounds: it must be "
                f"{spec.describe()} (e.g. {key} = {spec.example}; {spec.flag} on the command line)"
            )


def _float(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return v


def _show(value) -> str:
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return _sci(value) if isinstance(value, float) else str(value)


def _sci(v: float) -> str:
    """1e+30 -> 1e30, 0.2 -> 0.2."""
    return f"{v:.3g}".replace("e+0", "e").replace("e+", "e").replace("e-0", "e-")


def check_not_empty(name: str, x: torch.Tensor) -> None:
    """A split without rows cannot be trained on or scored."""
    if len(x) == 0:
        raise SeabenchError(
            f"{name} split has no rows (features of shape {tuple(x.shape)}); every split needs "
            f"examples: check the {name} feature file, or re-extract the features"
        )


def warn_scale(name: str, x: torch.Tensor) -> None:
    """One warning line when finite features hold entries beyond ``SCALE_LIMIT``."""
    import torch

    if x.dtype == torch.bool or x.numel() == 0:
        return
    peak = x.abs().amax(dim=1)
    rows = torch.nonzero(peak > SCALE_LIMIT).flatten()
    if len(rows):
        shown = ", ".join(str(i) for i in rows[:5].tolist()) + (" ..." if len(rows) > 5 else "")
        warnings.warn(
            f"{name} features have entries beyond {_sci(SCALE_LIMIT)} in magnitude (largest "
            f"{_sci(float(peak.max()))}, rows {shown}); features of this scale usually come from "
            "a broken extraction or file: check them, the probe may learn nothing from them",
            SeabenchWarning,
            stacklevel=2,
        )


def finite_configs(logits: torch.Tensor) -> list[bool]:
    """Per configuration of (K, N, C) logits: whether all are finite (a diverged one is not)."""
    import torch

    return torch.isfinite(logits).flatten(1).all(dim=1).tolist()


def check_fit(fit, method: str, seed: int) -> None:
    """Refuse a fit whose chosen configuration (scored on val) or refit (scored on test) ended
    with non-finite scores: it diverged, and its chance-level score is no result."""
    import torch

    if not torch.isfinite(fit.val_probs).all():
        stage = "training on train (the chosen configuration, scored on val)"
    elif not torch.isfinite(fit.test_probs).all():
        stage = "the refit on train+val"
    else:
        return
    hp = fit.hparams
    shown = ", ".join(
        f"{k} {_sci(float(hp[k]))}"
        for k in ("lr", "wd", "eta", "sigma", "p", "beta", "t", "l2", "delta", "lamda")
        if isinstance(hp.get(k), int | float) and not isinstance(hp[k], bool)
    )
    raise SeabenchError(
        f"the probe diverged: {method} with {shown} (seed {seed}) ended with non-finite weights "
        f"or scores in {stage}; nothing was recorded: lower the learning rate or weight decay "
        "(--lr/--wd, or the recipe's [probe] lr, wd, lr_grid, wd_grid), or check the features' "
        "scale"
    )
