"""Feature extraction and the feature cache.

Names are resolved lazily, so reading the cache's index (and reporting a missing entry) does
not import torch.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "CacheEntry": "seabench.features.cache",
    "CorruptEntry": "seabench.features.cache",
    "FeatureCache": "seabench.features.cache",
    "ExtractResult": "seabench.features.extract",
    "extract_features": "seabench.features.extract",
    "plan_key": "seabench.features.extract",
}


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = sorted(_EXPORTS)
