"""Probe: the linear classifier, its batched trainer, augmentations, the protocol and metrics.

The names are resolved lazily, so ``seabench.probe.names`` (the augmentation and method names the
CLI and recipes check) loads without torch.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "AUGMENTATIONS": "seabench.probe.augment",
    "get_augmentation": "seabench.probe.augment",
    "register": "seabench.probe.augment",
    "FeatureSet": "seabench.probe.protocol",
    "ProbeOptions": "seabench.probe.options",
    "run_probe": "seabench.probe.protocol",
    "sea_augment": "seabench.probe.sea",
    "TrainSettings": "seabench.probe.settings",
    "train_linear": "seabench.probe.trainer",
}


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = sorted(_EXPORTS)
