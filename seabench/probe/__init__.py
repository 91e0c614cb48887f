"""Probe: the linear classifier, its batched trainer, augmentations, the protocol and metrics.

The names are resolved lazily, so ``seabench.probe.names`` (the augmentation and method names the
CLI and recipes check) loads without torch.
"""

from __future__ import annotations

from seabench._lazy import lazy_exports

__getattr__, __all__ = lazy_exports(
    __name__,
    {
        "AUGMENTATIONS": "seabench.probe.augment",
        "get_augmentation": "seabench.probe.augment",
        "register": "seabench.probe.augment",
        "FeatureSet": "seabench.probe.protocol",
        "ProbeOptions": "seabench.probe.options",
        "run_probe": "seabench.probe.protocol",
        "sea_augment": "seabench.probe.sea",
        "TrainSettings": "seabench.probe.settings",
        "train_linear": "seabench.probe.trainer",
    },
)
