"""Backbones: the registry, checkpoint layouts and the offline weights.

The names are resolved lazily, so ``seabench.backbones.layouts`` (and the CLI's checks of a
--weights-format) load without torch or timm.
"""

from __future__ import annotations

from seabench._lazy import lazy_exports

__getattr__, __all__ = lazy_exports(
    __name__,
    {
        "Backbone": "seabench.backbones.base",
        "FORMATS": "seabench.backbones.layouts",
        "LAYOUTS": "seabench.backbones.layouts",
        "describe_layouts": "seabench.backbones.layouts",
        "OFFLINE": "seabench.backbones.registry",
        "create_backbone": "seabench.backbones.registry",
        "offline_backbones": "seabench.backbones.registry",
    },
)
