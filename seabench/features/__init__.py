"""Feature extraction and the feature cache.

Names are resolved lazily, so reading the cache's index (and reporting a missing entry) does
not import torch.
"""

from __future__ import annotations

from seabench._lazy import lazy_exports

__getattr__, __all__ = lazy_exports(
    __name__,
    {
        "CacheEntry": "seabench.features.cache",
        "CorruptEntry": "seabench.features.cache",
        "FeatureCache": "seabench.features.cache",
        "ExtractResult": "seabench.features.extract",
        "extract_features": "seabench.features.extract",
        "plan_key": "seabench.features.extract",
    },
)
