"""Backbones: the registry, checkpoint layouts and the offline weights.

The names are resolved lazily, so ``seabench.backbones.layouts`` (and the CLI's checks of a
--weights-format) load without torch or timm.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "Backbone": "seabench.backbones.base",
    "FORMATS": "seabench.backbones.layouts",
    "LAYOUTS": "seabench.backbones.layouts",
    "describe_layouts": "seabench.backbones.layouts",
    "OFFLINE": "seabench.backbones.registry",
    "create_backbone": "seabench.backbones.registry",
    "offline_backbones": "seabench.backbones.registry",
}


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = sorted(_EXPORTS)
